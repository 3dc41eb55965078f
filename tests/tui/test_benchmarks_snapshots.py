"""Snapshots of the benchmarks screen at 80x24 and 160x48, from fixed data: a benchmark run
in progress (selected) whose cases show their state, attempts and reasons, and finished
ones; a run with repeats and its per-scenario stats; two runs compared, with the plots of
the deltas and of the score history; the start dialog naming bad input. "Now" is frozen
(no store, no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_benchmarks_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from sandbench.model.benchmark import (
    BenchmarkCase,
    BenchmarkRun,
    BenchmarkRunState,
    BenchmarkSettings,
    CaseState,
)
from sandbench.model.runs import RunState, ScenarioRun, Solution
from sandbench.runner.benchmark_comparison import (
    BenchmarkComparison,
    HistoryPoint,
    RunSide,
    ScenarioScore,
    ScoreHistory,
    compare_scores,
)
from sandbench.runner.benchmark_options import resume_refusal
from sandbench.runner.benchmark_runs import scenario_stats
from sandbench.tui.app import SandbenchApp
from sandbench.tui.benchmark_compare import BenchmarkCompareScreen
from sandbench.tui.benchmark_dialogs import BenchmarkStartScreen
from sandbench.tui.benchmarks import BenchmarksScreen
from sandbench.tui.workbench import BenchmarkRow, BenchmarkRunCases
from tests.tui.support import NOW_MS, FixedWorkbench, fixed_rows, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]

BENCHMARKS = [
    BenchmarkRow("bmk_01fixedbench00001", "core-regressions", 4, "bmr_01fixedrun00000002",
                 "running", None, NOW_MS - 40_000),
    BenchmarkRow("bmk_01fixedbench00002", "nightly-arm64", 2, "bmr_01fixedrun00000009",
                 "completed", 1 / 3, NOW_MS - 5 * 3600_000),
    BenchmarkRow("bmk_01fixedbench00003", "smoke", 1),
]  # fmt: skip

CORE = "bmk_01fixedbench00001"
NIGHTLY = "bmk_01fixedbench00002"
GOING = "bmr_01fixedrun00000002"
REPEATED = "bmr_01fixedrun00000009"


def bench_run(run_id: str, benchmark_id: str, ago_ms: int, **more: object) -> BenchmarkRun:
    values: dict[str, object] = {
        "id": run_id,
        "benchmark_id": benchmark_id,
        "name": "core-regressions (reference)",
        "start_time_ms": NOW_MS - ago_ms,
        "state": BenchmarkRunState.COMPLETED,
        "total_cases": 4,
        **more,
    }
    return BenchmarkRun(**values)  # type: ignore[arg-type]


RUNS = [
    bench_run(GOING, CORE, 40_000, state=BenchmarkRunState.RUNNING),
    bench_run(
        "bmr_01fixedrun00000001", CORE, 26 * 3600_000,
        duration_ms=95_300, score=0.8125, ok_cases=4, cache_hit_cases=1,
        status_breakdown={"completed": 4},
    ),
    bench_run(
        "bmr_01fixedrun00000000", CORE, 3 * 86400_000,
        duration_ms=81_000, score=0.875, ok_cases=4, status_breakdown={"completed": 4},
    ),
    bench_run(
        REPEATED, NIGHTLY, 5 * 3600_000,
        name="nightly-arm64 (reference)", duration_ms=140_200, score=1 / 3, total_cases=6,
        ok_cases=5, status_breakdown={"completed": 5, "failed": 1, "retried": 1},
        settings=BenchmarkSettings(repeats=3, jobs=2),
    ),
]  # fmt: skip


def case(index: int, name: str, state: RunState, **more: object) -> ScenarioRun:
    values: dict[str, object] = {
        "id": f"scr_01fixedcase{index:09d}",
        "scenario_id": f"scn_01fixedscenario{index:05d}",
        "scenario_version": 1,
        "name": name,
        "state": state,
        "solution": Solution.REFERENCE,
        "benchmark_run_id": GOING,
        "start_time_ms": NOW_MS - 38_000,
        **more,
    }
    return ScenarioRun(**values)  # type: ignore[arg-type]


CASES = [
    case(1, "http-retry-with-backoff", RunState.COMPLETED, score=0.85, duration_ms=21_400),
    case(2, "add-dry-run-flag", RunState.COMPLETED, score=1.0, duration_ms=0, cache_hit=True),
    case(5, "fix-backup-rotation-idle-suspend", RunState.SCORING, start_time_ms=NOW_MS - 12_500),
]
NO_TOKEN = (
    "scenario 'weather-report' needs environment variables WEATHER_BASE_URL (set them)"
    " and secrets WEATHER_API_TOKEN (`sandbench secrets set NAME`, value on stdin)"
)


def state_of(
    benchmark_run_id: str, position: int, name: str, state: CaseState, **more: object
) -> BenchmarkCase:
    values: dict[str, object] = {
        "benchmark_run_id": benchmark_run_id,
        "position": position,
        "scenario_id": f"scn_01fixedscenario{position + 1:05d}",
        "scenario_version": 1,
        "scenario_name": name,
        "state": state,
        **more,
    }
    return BenchmarkCase(**values)  # type: ignore[arg-type]


STATES = {
    GOING: [
        state_of(GOING, 0, "http-retry-with-backoff", CaseState.DONE, score=0.85,
                 run_id=CASES[0].id, attempts=1),
        state_of(GOING, 1, "add-dry-run-flag", CaseState.DONE, score=1.0, run_id=CASES[1].id,
                 attempts=1),
        state_of(GOING, 2, "fix-backup-rotation-idle-suspend", CaseState.RUNNING,
                 run_id=CASES[2].id, attempts=2),
        state_of(GOING, 3, "weather-report", CaseState.NOT_STARTED, reason=NO_TOKEN),
    ],
    REPEATED: [
        *(
            state_of(REPEATED, 0, "arm64-release-asset-name", CaseState.DONE, repeat_index=i,
                     score=0.0, attempts=1)
            for i in range(2)
        ),
        state_of(REPEATED, 0, "arm64-release-asset-name", CaseState.FAILED, repeat_index=2,
                 attempts=2, reason="infrastructure: the Podman service stopped answering"),
        *(
            state_of(REPEATED, 1, "add-dry-run-flag", CaseState.DONE, repeat_index=i,
                     score=score, attempts=1)
            for i, score in enumerate((1.0, 0.0, 1.0))
        ),
    ],
}  # fmt: skip

# what each finished core-regressions run scored, per scenario
SCORES = {
    "bmr_01fixedrun00000000": {"http-retry-with-backoff": 1.0, "add-dry-run-flag": 1.0,
                               "fix-backup-rotation-idle-suspend": 0.5,
                               "csv-quoted-fields": 1.0},
    "bmr_01fixedrun00000001": {"http-retry-with-backoff": 0.85, "add-dry-run-flag": 1.0,
                               "fix-backup-rotation-idle-suspend": 1.0,
                               "csv-quoted-fields": 0.4},
}  # fmt: skip
HISTORY = [0.5, 0.625, None, 0.75]  # older runs of core-regressions (one failed)


def fixed_comparison(run_a: str, run_b: str) -> BenchmarkComparison:
    def scores(run_id: str) -> dict[str, ScenarioScore]:
        return {
            name: ScenarioScore(name, name, 1, score, 1, 1, "completed")
            for name, score in SCORES[run_id].items()
        }

    def side(run: BenchmarkRun) -> RunSide:
        return RunSide(run.id, run.benchmark_id, "core-regressions", run.name, run.state.value,
                       run.score, run.start_time_ms, 1, "reference")  # fmt: skip

    runs = {r.id: r for r in RUNS}
    older = [
        HistoryPoint(f"bmr_01fixedold{i:010d}", NOW_MS - (9 - i) * 86400_000,
                     "completed" if score is not None else "failed", score, 1)
        for i, score in enumerate(HISTORY)
    ]  # fmt: skip
    recorded = [
        HistoryPoint(r.id, r.start_time_ms, r.state.value, r.score, 1)
        for r in reversed(RUNS)
        if r.benchmark_id == CORE
    ]
    return BenchmarkComparison(
        side(runs[run_a]),
        side(runs[run_b]),
        compare_scores(scores(run_a), scores(run_b)),
        [ScoreHistory(CORE, "core-regressions", older + recorded)],
    )


class FixedBenchmarksWorkbench(FixedWorkbench):
    def benchmark_rows(self) -> list[BenchmarkRow]:
        return BENCHMARKS

    def benchmark_runs(self, benchmark_id: str, limit: int = 50) -> list[BenchmarkRun]:
        return [r for r in RUNS if r.benchmark_id == benchmark_id]

    def benchmark_run_cases(self, benchmark_run_id: str) -> BenchmarkRunCases:
        run = next(r for r in RUNS if r.id == benchmark_run_id)
        cases = CASES if run.id == GOING else []
        states = STATES.get(run.id, [])
        queued = sum(1 for c in states if c.state == CaseState.PENDING)
        stats = scenario_stats(states, run.settings.repeats) if states else []
        return BenchmarkRunCases(run, cases, queued, states, stats, resume_refusal(run, states))

    def compare_benchmark_runs(self, run_a: str, run_b: str) -> BenchmarkComparison:
        return fixed_comparison(run_a, run_b)

    def benchmark_jobs(self) -> int:
        return 4

    def benchmark_retries(self) -> int:
        return 1

    def secret_names(self) -> list[str]:
        return ["WEATHER_TOKEN"]


def fixed_app() -> SandbenchApp:
    return SandbenchApp(FixedBenchmarksWorkbench(fixed_rows()))


async def open_benchmarks(pilot: Pilot) -> None:
    await settle(pilot)
    app = pilot.app
    await pilot.press("B")
    await wait_for(pilot, lambda: isinstance(app.screen, BenchmarksScreen), "the benchmarks")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loaded_once, "the lists")  # type: ignore[attr-defined]
    await settle(pilot)


async def open_stats(pilot: Pilot) -> None:
    """nightly-arm64's run with three repeats: its cases, then per scenario (t)."""
    await open_benchmarks(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BenchmarksScreen)
    await pilot.press("j")
    await wait_for(pilot, lambda: screen.run_id == REPEATED and not screen.fetching, "the run")
    await settle(pilot)


async def open_stats_table(pilot: Pilot) -> None:
    await open_stats(pilot)
    await pilot.press("t")
    await settle(pilot)


async def open_comparison(pilot: Pilot) -> None:
    """The run of a day ago against the one before it (v, nothing marked)."""
    await open_benchmarks(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BenchmarksScreen)
    await pilot.press("tab", "j")
    await wait_for(pilot, lambda: screen.run_id == "bmr_01fixedrun00000001", "the older run")
    await settle(pilot)
    await pilot.press("v")
    await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, BenchmarkCompareScreen), "the comparison"
    )
    await settle(pilot)


async def open_comparison_history(pilot: Pilot) -> None:
    await open_comparison(pilot)
    await pilot.press("p")  # at 80 columns: the score history instead of the deltas
    await settle(pilot)


async def open_start_dialog_with_problems(pilot: Pilot) -> None:
    await open_benchmarks(pilot)
    app = pilot.app
    await pilot.press("j", "j", "s")  # smoke: no run going
    await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkStartScreen), "the dialog")
    dialog = app.screen
    dialog.query_one("#repeats", Input).value = "three"
    dialog.query_one("#env", TextArea).text = "WEATHER_BASE_URL=http://127.0.0.1:9\nDEBUG"
    dialog.query_one("#secrets", TextArea).text = "WEATHER_API_TOKEN=WEATHER_TOKN"
    await pilot.press("ctrl+s")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_benchmarks_screen(snap_compare, size: tuple[int, int]) -> None:
    """The run going: a retried case (TRY 2), a case not started with its reason."""
    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_benchmarks)


@pytest.mark.parametrize("size", SIZES)
def test_benchmarks_screen_with_repeats(snap_compare, size: tuple[int, int]) -> None:
    """Each case with its repeat (#1..#3), a failure's reason, the flaky scenario."""
    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_stats)


@pytest.mark.parametrize("size", SIZES)
def test_benchmarks_screen_stats(snap_compare, size: tuple[int, int]) -> None:
    """Per scenario: runs, mean, std, pass@1, pass@3, flaky."""
    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_stats_table)


@pytest.mark.parametrize("size", SIZES)
def test_benchmark_comparison(snap_compare, size: tuple[int, int]) -> None:
    """Regressions first, flips marked; the deltas plot (both plots at 160 columns)."""
    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_comparison)


def test_benchmark_comparison_history(snap_compare) -> None:
    """At 80 columns, p shows the score history, A and B marked."""
    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=open_comparison_history)


def test_benchmark_start_dialog_names_bad_input(snap_compare) -> None:
    assert snap_compare(
        fixed_app(), terminal_size=(80, 24), run_before=open_start_dialog_with_problems
    )


def test_benchmarks_screen_empty(snap_compare) -> None:
    class Empty(FixedWorkbench):
        def benchmark_rows(self) -> list[BenchmarkRow]:
            return []

    app = SandbenchApp(Empty(fixed_rows()))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_benchmarks)


async def mark_scenarios(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("m", "j", "m", "j")  # the first and the third marked, the cursor on
    await settle(pilot)


def test_scenarios_marked_for_a_benchmark(snap_compare) -> None:
    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=mark_scenarios)


def test_the_empty_screen_hint_is_a_command_the_cli_takes() -> None:
    from sandbench.cli.main import build_parser
    from sandbench.tui.benchmarks import EMPTY

    line = next(line for line in EMPTY.splitlines() if "benchmarks create" in line)
    words = line.split()[1:]  # after `sandbench`
    args = build_parser().parse_args(words)
    assert args.scenarios == ["ONE", "TWO"]
