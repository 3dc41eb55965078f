"""Two benchmark runs side by side, scenario by scenario, and a benchmark's score history.

A run's score for a scenario is the mean over its scored repeats when the run has repeats
(from the run's ``scenario_stats``, or worked out from its cases while those are not
stored yet), else the score of the case's run. Scenarios are matched by id, so two runs
of different benchmarks compare on the scenarios they share; the others are listed as in
one run only. The delta is B - A (A the baseline, B the run looked at).

Rows come regressions first (most negative delta first), then improvements (largest
first), then unchanged, then scenarios without a score on one side (not started, failed:
their state and reason say why; a missing score is never counted as 0), then those in
one run only. A flip is a scenario that passed in one run and not in the other, both
scored: a pass is a total of 1.0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sandbench.errors import NotFound
from sandbench.model.benchmark import BenchmarkCase, BenchmarkRun, CaseState, ScenarioStats
from sandbench.model.runs import RunState
from sandbench.runner.benchmark_runs import scenario_stats
from sandbench.store import Store

EPSILON = 1e-9
HISTORY_LIMIT = 100  # runs of a benchmark its history goes back over, at most


def passed(score: float | None) -> bool:
    return score is not None and score >= 1.0 - EPSILON


class Change(StrEnum):
    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    UNSCORED = "unscored"  # in both runs, without a score in at least one
    ONLY_A = "only_a"
    ONLY_B = "only_b"


class Flip(StrEnum):
    PASS_TO_FAIL = "pass_to_fail"
    FAIL_TO_PASS = "fail_to_pass"


FLIP_TEXT = {Flip.PASS_TO_FAIL: "pass→fail", Flip.FAIL_TO_PASS: "fail→pass"}
ORDER = list(Change)


@dataclass(frozen=True)
class ScenarioScore:
    """What one run says of one scenario."""

    scenario_id: str
    name: str
    version: int | None
    score: float | None  # the mean over scored repeats, or the one case's score
    runs: int  # scored repeats (0 or 1 without repeats)
    cases: int  # repeats asked for
    state: str  # completed, or why there is no score (the most frequent unscored state)
    reason: str | None = None


@dataclass(frozen=True)
class ScenarioDelta:
    scenario_id: str
    name: str
    a: ScenarioScore | None
    b: ScenarioScore | None
    change: Change
    delta: float | None = None  # B - A, both scored
    flip: Flip | None = None

    @property
    def score_a(self) -> float | None:
        return self.a.score if self.a else None

    @property
    def score_b(self) -> float | None:
        return self.b.score if self.b else None


@dataclass(frozen=True)
class RunSide:
    """One of the two runs, as the comparison's head shows it."""

    id: str
    benchmark_id: str | None
    benchmark_name: str | None
    name: str | None
    state: str
    score: float | None
    start_time_ms: int
    repeats: int
    solution: str


@dataclass(frozen=True)
class HistoryPoint:
    run_id: str
    start_time_ms: int
    state: str
    score: float | None
    repeats: int


@dataclass(frozen=True)
class ScoreHistory:
    """A benchmark's runs, oldest first (the newest ``HISTORY_LIMIT``)."""

    benchmark_id: str
    benchmark_name: str
    points: list[HistoryPoint]


@dataclass(frozen=True)
class BenchmarkComparison:
    a: RunSide
    b: RunSide
    rows: list[ScenarioDelta]
    histories: list[ScoreHistory] = field(default_factory=list)  # B's benchmark, then A's

    @property
    def delta(self) -> float | None:
        if self.a.score is None or self.b.score is None:
            return None
        return self.b.score - self.a.score

    @property
    def same_benchmark(self) -> bool:
        return self.a.benchmark_id == self.b.benchmark_id

    @property
    def counts(self) -> dict[str, int]:
        """Rows by change, and the flips each way (every key present)."""
        counts = Counter(row.change.value for row in self.rows)
        flips = Counter(row.flip.value for row in self.rows if row.flip)
        return {
            **{change.value: counts.get(change.value, 0) for change in Change},
            **{flip.value: flips.get(flip.value, 0) for flip in Flip},
        }

    @property
    def regressions(self) -> list[ScenarioDelta]:
        return [row for row in self.rows if row.change == Change.REGRESSED]

    @property
    def flips(self) -> list[ScenarioDelta]:
        return [row for row in self.rows if row.flip is not None]


# ---------------------------------------------------------------------------- per run


def scenario_scores(store: Store, run: BenchmarkRun) -> dict[str, ScenarioScore]:
    """Per scenario id, in the run's order, what the run says of it."""
    cases = store.cases_of(run.id)
    if cases:
        return _from_cases(run, cases)
    return _from_runs(store, run)


def _from_cases(run: BenchmarkRun, cases: list[BenchmarkCase]) -> dict[str, ScenarioScore]:
    by_scenario: dict[str, list[BenchmarkCase]] = {}
    for case in cases:
        by_scenario.setdefault(case.scenario_id, []).append(case)
    repeats = run.settings.repeats
    stats: dict[str, ScenarioStats] = {}
    if repeats > 1:
        stored = run.scenario_stats or scenario_stats(cases, repeats)
        stats = {s.scenario_id: s for s in stored}
    found: dict[str, ScenarioScore] = {}
    for scenario_id, group in by_scenario.items():
        done = [c for c in group if c.state == CaseState.DONE and c.score is not None]
        if repeats > 1 and scenario_id in stats:
            score, runs = stats[scenario_id].mean_score, stats[scenario_id].runs
        elif done:
            score, runs = done[-1].score, len(done)
        else:
            score, runs = None, 0
        unscored = [c for c in group if c not in done]
        state, reason = CaseState.DONE.value, None
        if score is None and unscored:
            state = Counter(c.state.value for c in unscored).most_common(1)[0][0]
            reason = next((c.reason for c in unscored if c.state == state and c.reason), None)
        first = group[0]
        found[scenario_id] = ScenarioScore(
            scenario_id=scenario_id,
            name=first.scenario_name or scenario_id,
            version=first.scenario_version,
            score=score,
            runs=runs,
            cases=len(group),
            state=state,
            reason=reason,
        )
    return found


def _from_runs(store: Store, run: BenchmarkRun) -> dict[str, ScenarioScore]:
    """A run with no cases (a client drove it through the API): its scenario runs, the
    completed ones' mean per scenario."""
    found: dict[str, ScenarioScore] = {}
    grouped: dict[str, list[Any]] = {}
    for scenario_run in store.runs_of_benchmark_run(run.id, with_output=False):
        grouped.setdefault(scenario_run.scenario_id, []).append(scenario_run)
    for scenario_id, runs in grouped.items():
        scored = [r.score for r in runs if r.state == RunState.COMPLETED and r.score is not None]
        last = runs[-1]
        name = last.name
        if not name:
            try:
                name = store.get_scenario(scenario_id, last.scenario_version).scenario.name
            except NotFound:
                name = scenario_id
        found[scenario_id] = ScenarioScore(
            scenario_id=scenario_id,
            name=name,
            version=last.scenario_version,
            score=sum(scored) / len(scored) if scored else None,
            runs=len(scored),
            cases=len(runs),
            state=RunState.COMPLETED.value if scored else last.state.value,
            reason=None if scored else last.failure_reason,
        )
    return found


# ---------------------------------------------------------------------------- comparing


def compare_scores(a: dict[str, ScenarioScore], b: dict[str, ScenarioScore]) -> list[ScenarioDelta]:
    """The rows, in the order the module docstring gives."""
    rows: list[ScenarioDelta] = []
    for scenario_id in [*a, *(i for i in b if i not in a)]:
        left, right = a.get(scenario_id), b.get(scenario_id)
        name = (right or left).name  # type: ignore[union-attr]
        if right is None:
            rows.append(ScenarioDelta(scenario_id, name, left, None, Change.ONLY_A))
            continue
        if left is None:
            rows.append(ScenarioDelta(scenario_id, name, None, right, Change.ONLY_B))
            continue
        if left.score is None or right.score is None:
            rows.append(ScenarioDelta(scenario_id, name, left, right, Change.UNSCORED))
            continue
        delta = right.score - left.score
        if delta < -EPSILON:
            change = Change.REGRESSED
        elif delta > EPSILON:
            change = Change.IMPROVED
        else:
            change, delta = Change.UNCHANGED, 0.0
        flip = None
        if passed(left.score) and not passed(right.score):
            flip = Flip.PASS_TO_FAIL
        elif passed(right.score) and not passed(left.score):
            flip = Flip.FAIL_TO_PASS
        rows.append(ScenarioDelta(scenario_id, name, left, right, change, delta, flip))

    def key(row: ScenarioDelta) -> tuple[int, float, str]:
        delta = row.delta or 0.0
        within = delta if row.change == Change.REGRESSED else -delta
        return ORDER.index(row.change), within, row.name.lower()

    return sorted(rows, key=key)


def side(store: Store, run: BenchmarkRun) -> RunSide:
    name = None
    if run.benchmark_id:
        try:
            name = store.get_benchmark(run.benchmark_id).name
        except NotFound:
            name = None
    return RunSide(
        id=run.id,
        benchmark_id=run.benchmark_id,
        benchmark_name=name,
        name=run.name,
        state=run.state.value,
        score=run.score,
        start_time_ms=run.start_time_ms,
        repeats=run.settings.repeats,
        solution=run.settings.solution,
    )


def score_history(store: Store, benchmark_id: str, limit: int = HISTORY_LIMIT) -> ScoreHistory:
    """The benchmark's newest ``limit`` runs, oldest first."""
    benchmark = store.get_benchmark(benchmark_id)
    page = store.page_benchmark_runs(benchmark_id=benchmark.id, limit=limit)
    points = [
        HistoryPoint(r.id, r.start_time_ms, r.state.value, r.score, r.settings.repeats)
        for r in reversed(page.items)
    ]
    return ScoreHistory(benchmark.id, benchmark.name, points)


def compare_benchmark_runs(store: Store, run_a: str, run_b: str) -> BenchmarkComparison:
    """A against B (``NotFound`` naming the id that is not a benchmark run)."""
    first = store.get_benchmark_run(run_a)
    second = store.get_benchmark_run(run_b)
    rows = compare_scores(scenario_scores(store, first), scenario_scores(store, second))
    histories = []
    for benchmark_id in dict.fromkeys(r.benchmark_id for r in (second, first)):
        if benchmark_id is None:
            continue
        try:
            histories.append(score_history(store, benchmark_id))
        except NotFound:
            continue
    return BenchmarkComparison(side(store, first), side(store, second), rows, histories)


# ---------------------------------------------------------------------------- --json


def _score_document(score: ScenarioScore | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {
        "score": score.score,
        "version": score.version,
        "runs": score.runs,
        "cases": score.cases,
        "state": score.state,
        "reason": score.reason,
    }


def comparison_document(comparison: BenchmarkComparison) -> dict[str, Any]:
    """``benchmarks compare --json``: both runs, every row in order, counts, histories."""

    def run(item: RunSide) -> dict[str, Any]:
        return {
            "id": item.id,
            "benchmark_id": item.benchmark_id,
            "benchmark_name": item.benchmark_name,
            "name": item.name,
            "state": item.state,
            "score": item.score,
            "start_time_ms": item.start_time_ms,
            "repeats": item.repeats,
            "solution": item.solution,
        }

    return {
        "a": run(comparison.a),
        "b": run(comparison.b),
        "delta": comparison.delta,
        "same_benchmark": comparison.same_benchmark,
        "counts": comparison.counts,
        "scenarios": [
            {
                "scenario_id": row.scenario_id,
                "name": row.name,
                "change": row.change.value,
                "score_a": row.score_a,
                "score_b": row.score_b,
                "delta": row.delta,
                "flip": row.flip.value if row.flip else None,
                "a": _score_document(row.a),
                "b": _score_document(row.b),
            }
            for row in comparison.rows
        ],
        "histories": [
            {
                "benchmark_id": history.benchmark_id,
                "benchmark_name": history.benchmark_name,
                "runs": [
                    {
                        "id": p.run_id,
                        "start_time_ms": p.start_time_ms,
                        "state": p.state,
                        "score": p.score,
                        "repeats": p.repeats,
                    }
                    for p in history.points
                ],
            }
            for history in comparison.histories
        ],
    }
