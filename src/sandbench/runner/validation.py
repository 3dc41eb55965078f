"""Scenario validation: do the scorers separate a solved environment from an unsolved one?

FORWARD: the reference solution must total 1.0. REVERSE: the baseline must total below
1.0. Per scorer, the report says which one fails to tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sandbench.errors import SandbenchError
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

    @property
    def reason(self) -> str:
        """One line: why it fails, the first rule broken; or the two totals."""
        if not self.forward_ok:
            return _broken("reference", self.forward, "reference scored")
        if not self.reverse_ok:
            return _broken("baseline", self.reverse, "baseline also scores")
        return f"reference scored 1, baseline {self.reverse.score:g}"


def _broken(kind: str, run: ScenarioRun, scored: str) -> str:
    if run.state != RunState.COMPLETED or run.score is None:
        why = f": {run.failure_reason}" if run.failure_reason else ""
        return f"{kind} run {run.state.value}{why}"
    return f"{scored} {run.score:g}"


@dataclass
class TaskCheck:
    """One scenario's check in a set: its report, or why it could not be checked."""

    scenario: str
    report: CheckReport | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    @property
    def reason(self) -> str:
        return self.error if self.report is None else self.report.reason


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


def check_many(
    runner: Runner,
    scenario_refs: list[str],
    *,
    jobs: int = 1,
    use_cache: bool = True,
    env: dict[str, str] | None = None,
    on_done: Callable[[TaskCheck], None] | None = None,
) -> list[TaskCheck]:
    """``check`` for each scenario, ``jobs`` at a time: the quickest way to find the broken
    tasks of a set. A scenario that cannot run at all is a failed check, not an abort.
    Results in the order asked; ``on_done`` hears each as it finishes."""

    def one(ref: str) -> TaskCheck:
        try:
            found = TaskCheck(ref, check(runner, ref, use_cache=use_cache, env=env))
        except SandbenchError as error:
            found = TaskCheck(ref, error=str(error))
        if on_done is not None:
            on_done(found)
        return found

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="check") as pool:
        return list(pool.map(one, scenario_refs))
