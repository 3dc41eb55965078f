"""The benchmarks screen on the real store, runner and engine (real Podman): start a run of
a benchmark, follow it to the end, start again from the cache; its keys, which show only
when they apply."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from sandbench.engine import Engine
from sandbench.store import Store
from sandbench.tui import keys
from sandbench.tui.app import SandbenchApp
from sandbench.tui.benchmark_dialogs import BenchmarkStartScreen
from sandbench.tui.benchmarks import BenchmarksScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import VimTable
from tests.tui.support import bash, command, make, store_scenarios, wait_for


def answer(name: str) -> dict:
    return make(
        name,
        [
            command("exists", 0.25, "test -f answer.txt"),
            bash("correct", 0.75, "grep -qx 42 answer.txt && echo score=1 || echo score=0"),
        ],
    )


def shown_keys(screen: BenchmarksScreen) -> set[str]:
    ids = {key.id for key in keys.BENCHMARKS}
    return {
        active.binding.id
        for active in screen.active_bindings.values()
        if active.binding.id in ids and active.enabled and active.binding.show
    }


def cell(screen: BenchmarksScreen, table: str, row: str, column: str) -> str:
    return str(screen.query_one(f"#{table}", VimTable).get_cell(row, column))


def newest_run(screen: BenchmarksScreen) -> str | None:
    return next(iter(screen.runs), None)


async def start_from_the_dialog(pilot: Pilot) -> None:
    """s, then the dialog's defaults as they are (the reference, -j from the config)."""
    app = pilot.app
    screen = app.screen
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkStartScreen), "the dialog")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")


@pytest.mark.podman
async def test_run_a_benchmark_from_the_screen_then_again_from_the_cache(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    store_scenarios(store, answer("bench-one"), answer("bench-two"))
    store.create_benchmark("tiny", ["bench-one", "bench-two"])
    async with live_app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(live_app.screen, ScenariosScreen), "scenarios")
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(live_app.screen, BenchmarksScreen), "screen")
        screen = live_app.screen
        assert isinstance(screen, BenchmarksScreen)
        await wait_for(pilot, lambda: screen.loaded_once, "the benchmarks")
        assert screen.benchmark_id is not None
        assert cell(screen, "benchmarks", screen.benchmark_id, "scenarios") == "2"
        assert "benchmarks.start" in shown_keys(screen)
        assert "benchmarks.cancel" not in shown_keys(screen)

        await start_from_the_dialog(pilot)
        await wait_for(pilot, lambda: live_app.benchmark_going is not None, "going")
        assert "benchmarks.cancel" in shown_keys(screen)
        assert "benchmarks.start" not in shown_keys(screen)
        await wait_for(pilot, lambda: newest_run(screen) is not None, "the run row")
        first = newest_run(screen)
        assert first is not None
        await wait_for(
            pilot,
            lambda: (
                live_app.benchmark_going is None
                and screen.runs.get(first) is not None
                and screen.runs[first].state == "completed"
            ),
            "the run to complete",
            timeout=300,
        )
        assert cell(screen, "bench-runs", first, "state") == "completed"
        assert cell(screen, "bench-runs", first, "score") == "1.000"
        assert cell(screen, "bench-runs", first, "ok") == "2/2"
        assert cell(screen, "bench-runs", first, "cache") == "0"
        assert {c.state.value for c in screen.cases.values()} == {"completed"}
        assert "done 2/2" in str(screen.query_one("#progress").render())
        assert "benchmarks.start" in shown_keys(screen)
        titles = [n.title for n in live_app.notice_log]
        assert "Run completed" not in titles  # one summary, not a notice per case
        await wait_for(
            pilot, lambda: "Benchmark run ended" in [n.title for n in live_app.notice_log], "sum"
        )

        await start_from_the_dialog(pilot)
        await wait_for(
            pilot,
            lambda: (
                live_app.benchmark_going is None
                and len(screen.runs) == 2
                and newest_run(screen) != first
                and screen.runs[newest_run(screen)].state == "completed"
            ),  # type: ignore[index]
            "the second run to complete",
            timeout=300,
        )
        second = newest_run(screen)
        assert second is not None
        assert cell(screen, "bench-runs", second, "cache") == "2"
        assert cell(screen, "bench-runs", second, "ok") == "2/2"
        assert cell(screen, "bench-runs", second, "score") == "1.000"
        assert all(c.cache_hit for c in screen.cases.values())

        # enter on a scenario run opens it in the run screen
        await pilot.press("tab", "tab")
        await wait_for(pilot, lambda: screen._focused_table() == "cases", "the cases list")
        assert "benchmarks.open" in shown_keys(screen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(live_app.screen, RunScreen), "the run screen")
        assert live_app.screen.run_id in screen.cases  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert live_app.screen is screen


async def test_opens_from_the_palette_and_says_when_there_is_nothing(
    offline_app: SandbenchApp,
) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ScenariosScreen), "scenarios")
        await pilot.press("ctrl+p")
        await pilot.press(*"benchmarks and")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(offline_app.screen, BenchmarksScreen), "the benchmarks"
        )
        screen = offline_app.screen
        assert isinstance(screen, BenchmarksScreen)
        await wait_for(pilot, lambda: screen.loaded_once, "the list")
        assert screen.benchmarks == {}
        assert shown_keys(screen) == {"benchmarks.back"}
        await pilot.press("s")  # does nothing: no benchmark
        assert offline_app.benchmark_going is None
        await pilot.press("escape")
        assert isinstance(offline_app.screen, ScenariosScreen)


def test_every_benchmarks_binding_has_a_stable_id() -> None:
    known = keys.by_id()
    for binding in BenchmarksScreen.BINDINGS:
        assert binding.id in known  # type: ignore[union-attr]
