"""Scenario validation: do the scorers separate a solved environment from an unsolved one?

FORWARD: the reference solution must total 1.0. REVERSE: the baseline must total below
1.0. Per scorer, the report says which one fails to tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbench.model.runs import RunState, ScenarioRun, Solution, latest_attempts
from sandbench.runner.scenario_runs import Runner

EPSILON = 1e-9


@dataclass
class ScorerVerdict:
    name: str
    reference: float | None
    baseline: float | None

    @property
    def problem(self) -> str:
        if self.reference is None:
            return "did not score the reference (error or timeout)"
        if self.reference < 1.0 - EPSILON:
            return f"scores the reference {self.reference:g}, not 1"
        if self.baseline is not None and self.baseline >= self.reference - EPSILON:
            return "scores the baseline as high as the reference: it does not separate them"
        return ""


def forward_ok(run: ScenarioRun) -> bool:
    """FORWARD's rule for a finished reference run: it completed with a total of 1.0."""
    return run.state == RunState.COMPLETED and run.score is not None and run.score >= 1.0 - EPSILON


def reverse_ok(run: ScenarioRun) -> bool:
    """REVERSE's rule for a finished baseline run: it completed with a total below 1.0."""
    return run.state == RunState.COMPLETED and run.score is not None and run.score < 1.0 - EPSILON


@dataclass
class CheckReport:
    scenario: str
    forward: ScenarioRun
    reverse: ScenarioRun
    scorers: list[ScorerVerdict] = field(default_factory=list)

    @property
    def forward_ok(self) -> bool:
        return forward_ok(self.forward)

    @property
    def reverse_ok(self) -> bool:
        return reverse_ok(self.reverse)

    @property
    def ok(self) -> bool:
        return self.forward_ok and self.reverse_ok


def check(
    runner: Runner,
    scenario_ref: str,
    *,
    use_cache: bool = True,
    env: dict[str, str] | None = None,
    on_created: Callable[[ScenarioRun], None] | None = None,
) -> CheckReport:
    """FORWARD then REVERSE, one after the other (blocks). ``on_created`` hears each run as
    soon as it exists, before its events, so a live display can follow both."""
    record = runner.store.get_scenario(scenario_ref)
    common = {
        "version": record.version,
        "use_cache": use_cache,
        "env": env,
        "keep_sandbox": False,
        "on_created": on_created,
    }
    forward = runner.run(record.id, solution=Solution.REFERENCE, **common)
    reverse = runner.run(record.id, solution=Solution.BASELINE, **common)
    scores = {
        kind: {
            r.name: (r.score if r.state.value == "complete" else None)
            for r in latest_attempts(run.scorer_results)
        }
        for kind, run in (("reference", forward), ("baseline", reverse))
    }
    verdicts = [
        ScorerVerdict(f.name, scores["reference"].get(f.name), scores["baseline"].get(f.name))
        for f in record.scenario.scorers
    ]
    return CheckReport(record.scenario.name, forward, reverse, verdicts)
