"""The local SQLite store: scenarios and their versions, benchmarks, runs and their output."""

from __future__ import annotations

from pathlib import Path

from sandbench import paths
from sandbench.store.benchmark_cases import BenchmarkCaseStore
from sandbench.store.custom_scorers import CustomScorerStore
from sandbench.store.executions import ExecutionStore
from sandbench.store.network_policies import NetworkPolicyStore
from sandbench.store.objects import ObjectStore
from sandbench.store.pagination import DEFAULT_LIMIT, Page
from sandbench.store.request_keys import RequestKeyStore
from sandbench.store.runs import RunStore
from sandbench.store.sandboxes import SandboxStore
from sandbench.store.scenarios import ImportAction, ImportResult, ScenarioRecord
from sandbench.store.secret_records import SecretRecordStore


class Store(
    RunStore,
    SandboxStore,
    CustomScorerStore,
    ExecutionStore,
    ObjectStore,
    NetworkPolicyStore,
    SecretRecordStore,
    RequestKeyStore,
    BenchmarkCaseStore,
):
    """Everything the store holds, behind one object (one connection per thread)."""


def open_store(path: Path | None = None) -> Store:
    return Store(path or paths.database_path())


__all__ = [
    "DEFAULT_LIMIT",
    "ImportAction",
    "ImportResult",
    "Page",
    "ScenarioRecord",
    "Store",
    "open_store",
]
