"""Benchmarks (named sets of scenarios) and their runs.

``BenchmarkRun`` carries Runloop's ``BenchmarkRunView`` fields plus the bookkeeping of a
bench-run record (cases, cache hits, cost, status mix). ``to_runloop_dict`` projects it onto
the public schema, which forbids extra properties.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1)
    scenario_ids: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    create_time_ms: int
    description: str | None = None
    attribution: str | None = None
    required_environment_variables: list[str] | None = None
    required_secret_names: list[str] | None = None
    archived: bool = False


BENCHMARK_EXTRAS = (
    "description",
    "attribution",
    "required_environment_variables",
    "required_secret_names",
)


class BenchmarkRunState(StrEnum):
    RUNNING = "running"
    CANCELED = "canceled"
    COMPLETED = "completed"
    FAILED = "failed"


RUNLOOP_BENCHMARK_RUN_FIELDS = (
    "id",
    "benchmark_id",
    "name",
    "start_time_ms",
    "duration_ms",
    "state",
    "score",
    "metadata",
    "purpose",
    "environment_variables",
    "secrets_provided",
)


class BenchmarkRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Runloop BenchmarkRunView
    id: str
    benchmark_id: str | None = None
    name: str | None = None
    start_time_ms: int
    duration_ms: int | None = None
    state: BenchmarkRunState
    score: float | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    purpose: str | None = None
    environment_variables: dict[str, str] | None = None
    # env var name -> secret name; never secret values
    secrets_provided: dict[str, str] | None = None
    # bench-run record bookkeeping
    triggered_by: str | None = None
    completed_at_ms: int | None = None
    total_cases: int = 0
    ok_cases: int = 0
    cache_hit_cases: int = 0
    status_breakdown: dict[str, int] = Field(default_factory=dict)
    total_cost_usd: float = 0.0
    case_filter: list[str] | None = None
    notes: str | None = None

    def to_runloop_dict(self) -> dict[str, Any]:
        """The public ``BenchmarkRunView`` shape: schema fields only, unset ones omitted."""
        data = self.model_dump(mode="json", include=set(RUNLOOP_BENCHMARK_RUN_FIELDS))
        return {k: v for k, v in data.items() if v is not None or k == "metadata"}
