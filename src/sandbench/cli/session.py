"""Open the store and the engine for one CLI command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sandbench.cli.output import note
from sandbench.engine import Engine
from sandbench.runner.reconcile import reconcile
from sandbench.store import Store, open_store


@contextlib.contextmanager
def acting_store() -> Iterator[Store]:
    """The store, once runs left unfinished by a process that died are reconciled."""
    with open_store() as store:
        reconciled = reconcile(store)
        if reconciled.scenario_runs:
            note(
                f"sandbench: {len(reconciled.scenario_runs)} run(s) left by a process that"
                " exited are now failed (interrupted)"
            )
        for run_id in reconciled.benchmark_runs:
            note(
                f"sandbench: benchmark run {run_id} was interrupted;"
                f" `sandbench benchmarks resume {run_id}` finishes it"
            )
        yield store


@contextlib.contextmanager
def engine_session(*, recover: bool = True) -> Iterator[tuple[Store, Engine]]:
    with acting_store() as store, Engine(store, recover=recover, monitor=False) as engine:
        yield store, engine
