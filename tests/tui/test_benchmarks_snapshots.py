"""Snapshots of the benchmarks screen at 80x24 and 160x48, from fixed data: a benchmark run
in progress (selected) and finished ones; "now" is frozen (no store, no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_benchmarks_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from sandbench.model.benchmark import BenchmarkRun, BenchmarkRunState
from sandbench.model.runs import RunState, ScenarioRun, Solution
from sandbench.tui.app import SandbenchApp
from sandbench.tui.benchmarks import BenchmarksScreen
from sandbench.tui.workbench import BenchmarkRow, BenchmarkRunCases
from tests.tui.support import NOW_MS, FixedWorkbench, fixed_rows, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]

BENCHMARKS = [
    BenchmarkRow("bmk_01fixedbench00001", "core-regressions", 4, "bmr_01fixedrun00000002",
                 "running", None, NOW_MS - 40_000),
    BenchmarkRow("bmk_01fixedbench00002", "nightly-arm64", 2, "bmr_01fixedrun00000009",
                 "completed", 0.5, NOW_MS - 5 * 3600_000),
    BenchmarkRow("bmk_01fixedbench00003", "smoke", 1),
]  # fmt: skip

RUNS = [
    BenchmarkRun(
        id="bmr_01fixedrun00000002",
        benchmark_id="bmk_01fixedbench00001",
        name="core-regressions (reference)",
        start_time_ms=NOW_MS - 40_000,
        state=BenchmarkRunState.RUNNING,
        total_cases=4,
    ),
    BenchmarkRun(
        id="bmr_01fixedrun00000001",
        benchmark_id="bmk_01fixedbench00001",
        name="core-regressions (reference)",
        start_time_ms=NOW_MS - 26 * 3600_000,
        duration_ms=95_300,
        state=BenchmarkRunState.COMPLETED,
        score=0.8125,
        total_cases=4,
        ok_cases=4,
        cache_hit_cases=1,
        status_breakdown={"completed": 4},
    ),
    BenchmarkRun(
        id="bmr_01fixedrun00000000",
        benchmark_id="bmk_01fixedbench00001",
        name="core-regressions (reference)",
        start_time_ms=NOW_MS - 3 * 86400_000,
        duration_ms=12_000,
        state=BenchmarkRunState.CANCELED,
        score=1.0,
        total_cases=4,
        ok_cases=1,
        status_breakdown={"completed": 1, "canceled": 1, "not_started": 2},
    ),
]


def case(index: int, name: str, state: RunState, **more: object) -> ScenarioRun:
    values: dict[str, object] = {
        "id": f"scr_01fixedcase{index:09d}",
        "scenario_id": f"scn_01fixedscenario{index:05d}",
        "scenario_version": 1,
        "name": name,
        "state": state,
        "solution": Solution.REFERENCE,
        "benchmark_run_id": "bmr_01fixedrun00000002",
        "start_time_ms": NOW_MS - 38_000,
        **more,
    }
    return ScenarioRun(**values)  # type: ignore[arg-type]


CASES = [
    case(1, "http-retry-with-backoff", RunState.COMPLETED, score=0.85, duration_ms=21_400),
    case(2, "add-dry-run-flag", RunState.COMPLETED, score=1.0, duration_ms=0, cache_hit=True),
    case(5, "fix-backup-rotation-idle-suspend", RunState.SCORING, start_time_ms=NOW_MS - 12_500),
]


class FixedBenchmarksWorkbench(FixedWorkbench):
    def benchmark_rows(self) -> list[BenchmarkRow]:
        return BENCHMARKS

    def benchmark_runs(self, benchmark_id: str, limit: int = 50) -> list[BenchmarkRun]:
        return [r for r in RUNS if r.benchmark_id == benchmark_id]

    def benchmark_run_cases(self, benchmark_run_id: str) -> BenchmarkRunCases:
        run = next(r for r in RUNS if r.id == benchmark_run_id)
        cases = CASES if run.state == BenchmarkRunState.RUNNING else []
        return BenchmarkRunCases(run, cases, run.total_cases - len(cases))


async def open_benchmarks(pilot: Pilot) -> None:
    await settle(pilot)
    app = pilot.app
    await pilot.press("B")
    await wait_for(pilot, lambda: isinstance(app.screen, BenchmarksScreen), "the benchmarks")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loaded_once, "the lists")  # type: ignore[attr-defined]
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_benchmarks_screen(snap_compare, size: tuple[int, int]) -> None:
    app = SandbenchApp(FixedBenchmarksWorkbench(fixed_rows()))
    assert snap_compare(app, terminal_size=size, run_before=open_benchmarks)


def test_benchmarks_screen_empty(snap_compare) -> None:
    class Empty(FixedWorkbench):
        def benchmark_rows(self) -> list[BenchmarkRow]:
            return []

    app = SandbenchApp(Empty(fixed_rows()))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_benchmarks)
