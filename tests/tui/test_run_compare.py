"""Compare on the run screen, on real runs (real Podman): against the previous attempt of
a rerun scorer, against the previous run, and the notice when there is neither."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from sandbench.engine import Engine
from sandbench.runner.comparison import Against
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.compare import CompareScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import OutputLog, VimTable
from tests.tui.support import (
    bash,
    log_text,
    make,
    notice_shown,
    start_run,
    store_scenarios,
    wait_for,
    wait_for_screen,
)

pytestmark = pytest.mark.podman

SAYS_ANSWER = (
    'echo "answer: $(cat answer.txt 2>/dev/null || echo none)";'
    " grep -qx 42 answer.txt && echo score=1 || echo score=0"
)
BASELINE = ("down", "enter")  # the picker's second choice
REFERENCE = ("enter",)


def cell(screen: CompareScreen, scorer: str, column: str) -> str:
    return str(screen.query_one(VimTable).get_cell(scorer, column))


def text(screen: CompareScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def finished(pilot, app: SandbenchApp, screen: RunScreen) -> None:
    await wait_for(
        pilot,
        lambda: screen.run.state.finished and not app.busy_runs and not app.running,
        "the run to end",
        timeout=120,
    )


async def open_comparison(pilot) -> CompareScreen:
    await pilot.press("v")
    return await wait_for_screen(pilot, CompareScreen, "the comparison")


async def test_compare_a_rerun_scorer_with_its_previous_attempt(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    store_scenarios(
        store,
        make(
            "compare-rerun",
            [bash("first", 0.5, "echo one; echo score=1"), bash("second", 0.5, SAYS_ANSWER)],
        ),
    )
    async with live_app.run_test(size=(80, 24)) as pilot:
        run_screen = await start_run(pilot, *BASELINE)
        await finished(pilot, live_app, run_screen)
        assert run_screen.run.score == pytest.approx(0.5)
        sandbox_id = run_screen.run.sandbox_id
        assert sandbox_id is not None
        await asyncio.to_thread(engine.exec, sandbox_id, "echo 42 > answer.txt")  # "fixed"
        await pilot.press("k", "j")  # select `second`
        assert run_screen.selected_scorer() == "second"
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: run_screen.latest["second"].attempt == 2 and not live_app.busy_runs,
            "the rerun",
            timeout=120,
        )
        await finished(pilot, live_app, run_screen)

        screen = await open_comparison(pilot)
        assert screen.comparison.against == Against.ATTEMPTS
        assert (cell(screen, "second", "prev"), cell(screen, "second", "this")) == (
            "0.000",
            "1.000",
        )
        assert cell(screen, "second", "delta") == "+1.000"
        assert cell(screen, "first", "delta") == "·"  # not rerun: the same attempt
        total = text(screen, "#compare-total")
        assert "0.500 → 1.000" in total and "+0.500" in total
        assert "previous attempt" in text(screen, "#compare-head")
        # the selected scorer's output, attempt 1 against 2
        assert text(screen, "#diff-title") == "second: output, attempt 1 → 2"
        diff = log_text(screen.query_one("#diff", OutputLog))
        assert "-answer: none" in diff and "+answer: 42" in diff
        await pilot.press("k")
        assert text(screen, "#diff-title") == "first was not rerun: attempt 1 on both sides"
        await pilot.press("escape")
        assert live_app.screen is run_screen


async def test_compare_with_the_previous_run_or_say_there_is_none(
    live_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, make("compare-runs", [bash("check", 1.0, SAYS_ANSWER)]))
    async with live_app.run_test(size=(80, 24)) as pilot:
        first = await start_run(pilot, *BASELINE)
        await finished(pilot, live_app, first)
        assert first.run.score == pytest.approx(0.0)
        await pilot.press("v")  # the first run, never rerun: nothing before it
        notice = await notice_shown(pilot, "Nothing to compare with")
        assert notice.severity == "warning" and "compare-runs" in notice.message
        assert live_app.screen is first

        await pilot.press("escape")
        assert isinstance(live_app.screen, ScenariosScreen)
        second = await start_run(pilot, *REFERENCE)
        await finished(pilot, live_app, second)
        assert second.run.score == pytest.approx(1.0)

        screen = await open_comparison(pilot)
        comparison = screen.comparison
        assert comparison.against == Against.RUN
        assert comparison.previous is not None and comparison.previous.id == first.run_id
        assert first.run_id in text(screen, "#compare-head")
        assert cell(screen, "check", "prev") == "0.000"
        assert cell(screen, "check", "this") == "1.000"
        assert cell(screen, "check", "delta") == "+1.000"
        assert "0.000 → 1.000" in text(screen, "#compare-total")
        assert text(screen, "#diff-title") == "check: output, previous run → this run"
        diff = log_text(screen.query_one("#diff", OutputLog))
        assert f"--- run {first.run_id}" in diff
        assert "-answer: none" in diff and "+answer: 42" in diff
