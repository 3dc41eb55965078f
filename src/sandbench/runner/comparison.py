"""Comparing a run's scores and output with what came before it.

Before means the previous attempt of each rerun scorer in the same run when there are
reruns (what the rerun changed), otherwise the previous run of the same scenario. Output
diffs are bounded: a scorer printing megabytes must not stall whoever asks.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sandbench.model.runs import ScenarioRun, ScorerResult, latest_attempts, weighted_total

DIFF_INPUT_LINES = 2000  # the tail of each output that is compared
DIFF_LINE_CHARS = 400  # longer lines are cut before comparing
DIFF_MAX_LINES = 400  # lines of diff kept


class Against(StrEnum):
    ATTEMPTS = "attempts"  # the previous attempt of each rerun scorer, same run
    RUN = "run"  # the previous run of the same scenario


@dataclass(frozen=True)
class ScorerChange:
    """One scorer, before and after; None where it did not run."""

    name: str
    type: str
    weight: float
    before: ScorerResult | None
    after: ScorerResult | None
    diff: str  # a unified diff of the output (bounded), empty when it is the same

    @property
    def same_attempt(self) -> bool:
        """Both sides are one attempt: compared with attempts, this scorer was not rerun."""
        return (
            self.before is not None and self.after is not None and self.before.id == self.after.id
        )

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        if self.before.score is None or self.after.score is None:
            return None
        return self.after.score - self.before.score

    @property
    def duration_delta_ms(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        if self.before.duration_ms is None or self.after.duration_ms is None:
            return None
        return self.after.duration_ms - self.before.duration_ms


@dataclass(frozen=True)
class RunComparison:
    run_id: str
    against: Against
    previous: ScenarioRun | None  # the run compared with (without results), for RUN
    changes: tuple[ScorerChange, ...]
    total_before: float | None
    total_after: float | None

    @property
    def total_delta(self) -> float | None:
        if self.total_before is None or self.total_after is None:
            return None
        return self.total_after - self.total_before

    def change(self, name: str) -> ScorerChange | None:
        return next((c for c in self.changes if c.name == name), None)


def output_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    """A unified diff of two outputs, of their tails and cut to ``DIFF_MAX_LINES``."""

    def lines(text: str) -> list[str]:
        kept = text.splitlines()[-DIFF_INPUT_LINES:]
        return [line[:DIFF_LINE_CHARS] for line in kept]

    diff = list(
        difflib.unified_diff(
            lines(before), lines(after), fromfile=before_name, tofile=after_name, lineterm=""
        )
    )
    if len(diff) > DIFF_MAX_LINES:
        more = len(diff) - DIFF_MAX_LINES
        diff = [*diff[:DIFF_MAX_LINES], f"… {more} more lines of diff not shown"]
    return "\n".join(diff)


def _names(order: Sequence[str], *runs: ScenarioRun) -> list[str]:
    names = list(dict.fromkeys(order))
    for run in runs:
        for result in run.scorer_results:
            if result.name not in names:
                names.append(result.name)
    return names


def _change(
    name: str, before: ScorerResult | None, after: ScorerResult | None, names: tuple[str, str]
) -> ScorerChange:
    known = after or before
    assert known is not None
    same = before is not None and after is not None and before.id == after.id
    diff = ""
    if not same:
        diff = output_diff(before.output if before else "", after.output if after else "", *names)
    return ScorerChange(name, known.type, known.weight, before, after, diff)


def compare_attempts(run: ScenarioRun, order: Sequence[str] = ()) -> RunComparison | None:
    """Each rerun scorer's latest attempt against the one before it (the others are the
    same on both sides); None when no scorer was rerun."""
    by_name: dict[str, list[ScorerResult]] = {}
    for result in run.scorer_results:
        by_name.setdefault(result.name, []).append(result)
    if not any(len(attempts) > 1 for attempts in by_name.values()):
        return None
    changes = []
    for name in _names(order, run):
        attempts = sorted(by_name.get(name, []), key=lambda r: r.attempt)
        if not attempts:
            continue
        after = attempts[-1]
        before = attempts[-2] if len(attempts) > 1 else after
        labels = (f"attempt {before.attempt}", f"attempt {after.attempt}")
        changes.append(_change(name, before, after, labels))
    befores = [c.before for c in changes if c.before is not None]
    after_total = run.score if run.score is not None else weighted_total(run.scorer_results)
    return RunComparison(
        run.id, Against.ATTEMPTS, None, tuple(changes), weighted_total(befores), after_total
    )


def compare_runs(
    run: ScenarioRun, previous: ScenarioRun, order: Sequence[str] = ()
) -> RunComparison:
    """The latest attempt of each scorer in ``run`` against the same in ``previous``."""
    before = {r.name: r for r in latest_attempts(previous.scorer_results)}
    after = {r.name: r for r in latest_attempts(run.scorer_results)}
    labels = (f"run {previous.id}", f"run {run.id}")
    changes = tuple(
        _change(name, before.get(name), after.get(name), labels)
        for name in _names(order, run, previous)
        if name in before or name in after
    )
    return RunComparison(
        run.id,
        Against.RUN,
        previous.model_copy(update={"scorer_results": []}),
        changes,
        previous.score,
        run.score,
    )
