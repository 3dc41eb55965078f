"""Comparing a run with its previous attempts or with the previous run (no Podman)."""

from __future__ import annotations

import pytest

from sandbench.model.runs import RunState, ScenarioRun, ScorerResult, ScorerState, Solution
from sandbench.runner.comparison import (
    DIFF_MAX_LINES,
    Against,
    compare_attempts,
    compare_runs,
    output_diff,
)
from tests.engine_support import scorer_result as result


def run(run_id: str, results: list[ScorerResult], score: float | None) -> ScenarioRun:
    return ScenarioRun(
        id=run_id,
        scenario_id="scn_x",
        scenario_version=1,
        state=RunState.COMPLETED,
        solution=Solution.REFERENCE,
        score=score,
        start_time_ms=0,
        scorer_results=results,
    )


def test_without_reruns_there_are_no_attempts_to_compare() -> None:
    assert compare_attempts(run("scr_a", [result("a", 1.0), result("b", 0.0)], 0.5)) is None


def test_a_rerun_scorer_against_its_previous_attempt() -> None:
    current = run(
        "scr_a",
        [
            result("a", 0.0, state=ScorerState.ERROR, output="boom\n", duration_ms=500),
            result("a", 1.0, attempt=2, output="fine\n", duration_ms=2500),
            result("b", 1.0, output="same\n"),
        ],
        1.0,
    )
    comparison = compare_attempts(current, ["b", "a"])
    assert comparison is not None and comparison.against == Against.ATTEMPTS
    assert [c.name for c in comparison.changes] == ["b", "a"]  # the scenario's order
    rerun = comparison.change("a")
    assert rerun is not None and not rerun.same_attempt
    assert rerun.delta == pytest.approx(1.0) and rerun.duration_delta_ms == 2000
    assert "-boom" in rerun.diff and "+fine" in rerun.diff
    assert "--- attempt 1" in rerun.diff and "+++ attempt 2" in rerun.diff
    untouched = comparison.change("b")
    assert untouched is not None and untouched.same_attempt and untouched.diff == ""
    assert comparison.total_before == pytest.approx(0.5)  # a's first attempt errored
    assert comparison.total_after == pytest.approx(1.0)
    assert comparison.total_delta == pytest.approx(0.5)


def test_against_the_previous_run_with_a_scorer_added_and_one_gone() -> None:
    previous = run("scr_old", [result("a", 1.0, run_id="scr_old"), result("gone", 0.0)], 0.5)
    current = run("scr_new", [result("a", 0.0, run_id="scr_new"), result("new", 1.0)], 0.5)
    comparison = compare_runs(current, previous, ["a", "new"])
    assert comparison.against == Against.RUN
    assert comparison.previous is not None and comparison.previous.id == "scr_old"
    assert comparison.previous.scorer_results == []  # outputs stay with the changes only
    assert [c.name for c in comparison.changes] == ["a", "new", "gone"]
    assert comparison.change("a").delta == pytest.approx(-1.0)  # type: ignore[union-attr]
    new, gone = comparison.change("new"), comparison.change("gone")
    assert new is not None and new.before is None and new.delta is None
    assert gone is not None and gone.after is None
    assert comparison.total_delta == pytest.approx(0.0)


def test_a_huge_output_gives_a_bounded_diff() -> None:
    before = "".join(f"line {i}\n" for i in range(100_000))
    after = "".join(f"line {i} changed\n" for i in range(100_000))
    diff = output_diff(before, after, "a", "b").splitlines()
    assert len(diff) == DIFF_MAX_LINES + 1
    assert diff[-1].startswith("… ") and "more lines of diff not shown" in diff[-1]
    assert output_diff("same\n", "same\n", "a", "b") == ""
