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


class CaseState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "completed"  # scored: its run completed
    FAILED = "failed"  # its run failed: the task's failure, or infrastructure past retries
    NOT_STARTED = "not_started"  # a check before any sandbox failed (the reason says which)
    CANCELED = "canceled"
    INTERRUPTED = "interrupted"  # the process running it died

    @property
    def finished(self) -> bool:
        """Kept by a resume; the others run again."""
        return self in (CaseState.DONE, CaseState.FAILED)


class BenchmarkCase(BaseModel):
    """One scenario (at its pinned version) times one repeat."""

    model_config = ConfigDict(extra="forbid")

    benchmark_run_id: str
    position: int
    repeat_index: int = 0
    scenario_id: str
    scenario_version: int
    scenario_name: str | None = None
    state: CaseState = CaseState.PENDING
    run_id: str | None = None
    attempts: int = 0
    reason: str | None = None
    score: float | None = None


class ScenarioStats(BaseModel):
    """What the repeats of one scenario say: a pass is a total of 1.0."""

    model_config = ConfigDict(extra="forbid")

    scenario_id: str
    name: str | None = None
    runs: int  # scored repeats
    passes: int
    mean_score: float | None = None
    score_std: float | None = None
    pass_at_1: float | None = None
    pass_at_k: float | None = None
    k: int
    flaky: bool = False


class BenchmarkSettings(BaseModel):
    """How the run was asked for: a resume runs the rest the same way."""

    model_config = ConfigDict(extra="forbid")

    solution: str = "reference"
    agent_command: str | None = None
    jobs: int = 2
    repeats: int = 1
    retries: int = 1
    use_cache: bool = True
    cluster: str | None = None  # the Ray address its cases went to (None: this machine)


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
    settings: BenchmarkSettings = Field(default_factory=BenchmarkSettings)
    scenario_stats: list[ScenarioStats] = Field(default_factory=list)

    @property
    def flaky(self) -> list[str]:
        return [s.name or s.scenario_id for s in self.scenario_stats if s.flaky]

    def to_runloop_dict(self) -> dict[str, Any]:
        """The public ``BenchmarkRunView`` shape: schema fields only, unset ones omitted."""
        data = self.model_dump(mode="json", include=set(RUNLOOP_BENCHMARK_RUN_FIELDS))
        return {k: v for k, v in data.items() if v is not None or k == "metadata"}
