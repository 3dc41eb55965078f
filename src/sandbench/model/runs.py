"""Scenario runs and scorer results.

A run pins the scenario *version* it ran, so a later edit never changes what a past run
means. Scorer results keep every attempt; the run's total uses the latest attempt of each
scorer.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunState(StrEnum):
    RUNNING = "running"
    SCORING = "scoring"
    SCORED = "scored"
    COMPLETED = "completed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED_RUN_STATES


FINISHED_RUN_STATES = frozenset(
    {RunState.COMPLETED, RunState.CANCELED, RunState.TIMEOUT, RunState.FAILED}
)


class Solution(StrEnum):
    BASELINE = "baseline"
    REFERENCE = "reference"
    AGENT = "agent"
    INTERACTIVE = "interactive"
    # a client of the API works in the sandbox, then asks for scoring (Runloop's flow)
    EXTERNAL = "external"


class ScorerState(StrEnum):
    RUNNING = "running"  # row exists while output streams in
    COMPLETE = "complete"
    ERROR = "error"
    TIMEOUT = "timeout"


class Usage(BaseModel):
    """What an agent solution reported spending."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class ScorerResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    run_id: str
    name: str
    type: str
    weight: float
    attempt: int = Field(ge=1)
    state: ScorerState
    score: float | None = Field(default=None, ge=0, le=1)
    output: str = ""
    exit_code: int | None = None
    started_at_ms: int
    duration_ms: int | None = None
    # type-specific facts: test pass/fail counts, ast-grep matches, error reason
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def contribution(self) -> float:
        """Weighted contribution to the run's total (0 unless the scorer completed)."""
        if self.state != ScorerState.COMPLETE or self.score is None:
            return 0.0
        return self.weight * self.score


def latest_attempts(results: Iterable[ScorerResult]) -> list[ScorerResult]:
    """The newest attempt of each scorer, in first-seen scorer order."""
    latest: dict[str, ScorerResult] = {}
    for result in results:
        current = latest.get(result.name)
        if current is None or result.attempt > current.attempt:
            latest[result.name] = result
    return list(latest.values())


def weighted_total(results: Iterable[ScorerResult]) -> float | None:
    """Total = sum(weight * score) / sum(weight) over the latest attempts.

    ``None`` until every scorer has finished; an errored or timed-out scorer adds 0.
    """
    latest = latest_attempts(results)
    if not latest or any(r.state == ScorerState.RUNNING for r in latest):
        return None
    weights = sum(r.weight for r in latest)
    return sum(r.contribution for r in latest) / weights if weights else None


class ScenarioRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    scenario_id: str
    scenario_version: int = Field(ge=1)
    name: str | None = None
    state: RunState
    solution: Solution
    benchmark_run_id: str | None = None
    sandbox_id: str | None = None
    score: float | None = Field(default=None, ge=0, le=1)
    start_time_ms: int
    duration_ms: int | None = None
    failure_reason: str | None = None
    cache_key: str | None = None
    cache_hit: bool = False
    usage: Usage | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    environment_variables: dict[str, str] | None = None
    secrets_provided: dict[str, str] | None = None  # env var -> secret *name*
    purpose: str | None = None
    node: str | None = None  # the cluster node that ran it (None: this machine)
    scorer_results: list[ScorerResult] = Field(default_factory=list)
