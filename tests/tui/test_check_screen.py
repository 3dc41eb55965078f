"""The FORWARD/REVERSE check from the scenarios screen, through the real runner on real
Podman (and its key and routing without Podman)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from sandbench.model.runs import RunState, Solution
from sandbench.runner.events import StepOutput
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.check import CheckScreen
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import OutputLog, VimTable
from tests.tui.support import (
    PARTIAL,
    bash,
    fixed_check_app,
    log_text,
    make,
    settle,
    store_scenarios,
    wait_for,
    wait_for_screen,
)

# The reference writes the answer, the baseline does not: the scorer separates them. It
# prints, then sleeps, so its output is on screen while it is still running.
SEPARATES = make(
    "separates",
    [
        bash(
            "answer",
            1.0,
            "echo looking at answer.txt; sleep 2; grep -qx 42 answer.txt && echo score=1"
            " || echo score=0",
        )
    ],
)


def head(screen: CheckScreen, side: str) -> str:
    return str(screen.query_one(f"#head-{side}", Static).render())


def verdict(screen: CheckScreen) -> str:
    return str(screen.query_one("#verdict", Static).render())


def verdict_row(screen: CheckScreen, scorer: str) -> list[str]:
    table = screen.query_one(VimTable)
    return [str(cell) for cell in table.get_row(scorer)]


async def open_check(pilot: Pilot, app: SandbenchApp, name: str) -> CheckScreen:
    """``v`` on the scenario called ``name``."""
    screen = app.screen
    assert isinstance(screen, ScenariosScreen)
    await wait_for(pilot, lambda: screen.loaded_once and screen.rows, "the scenarios")
    while (selected := screen.selected()) is not None and selected.name != name:
        await pilot.press("j")
    await pilot.press("v")
    check = await wait_for_screen(pilot, CheckScreen, "the check screen")
    assert check.scenario_name == name
    return check


@contextlib.asynccontextmanager
async def checking(
    app: SandbenchApp, store: Store, scenario: dict[str, Any]
) -> AsyncIterator[tuple[Pilot, CheckScreen]]:
    """``scenario`` stored, the app at 80x24, then ``v`` on it: its check."""
    store_scenarios(store, scenario)
    async with app.run_test(size=(80, 24)) as pilot:
        yield pilot, await open_check(pilot, app, scenario["name"])


async def forward_shows(
    pilot: Pilot, check: CheckScreen, text: str, what: str, timeout: float = 120
) -> None:
    """Let the app run until ``text`` is in FORWARD's output (its sandbox starts first)."""
    await wait_for(pilot, lambda: text in log_text(check.log_of("forward")), what, timeout)


async def ended(pilot: Pilot, check: CheckScreen) -> None:
    await wait_for(pilot, lambda: not check.going, "the check to end", timeout=180)
    await pilot.pause()


@pytest.mark.podman
async def test_check_passes_with_live_output_then_from_the_cache(
    live_app: SandbenchApp, store: Store
) -> None:
    async with checking(live_app, store, SEPARATES) as (pilot, check):
        assert "checking" in verdict(check)  # progress while it goes
        # the scorer's first line is on screen while it still runs (it sleeps 2 s after)
        await forward_shows(pilot, check, "looking at answer.txt", "live FORWARD output")
        forward = check.sides["forward"].run
        assert forward is not None and forward.state == RunState.SCORING
        assert "scoring" in head(check, "forward")
        assert check.sides["reverse"].run is None and "waiting for FORWARD" in head(
            check, "reverse"
        )
        assert verdict_row(check, "answer")[1] == "…"  # the live cell: running
        assert check.check_action("cancel", ()) is True
        assert check.check_action("recheck", ()) is False

        await ended(pilot, check)
        assert check.report is not None and check.report.ok
        assert verdict(check).startswith("PASS")
        assert verdict_row(check, "answer") == ["answer", "1", "0", "ok"]
        assert "completed · total 1.000 ✓" in head(check, "forward")
        assert "completed · total 0.000 ✓" in head(check, "reverse")
        assert "score=0" in log_text(check.log_of("reverse"))
        assert "cache hit" not in head(check, "forward")
        runs = {r.solution: r for r in store.list_runs().items}
        assert runs[Solution.REFERENCE].score == pytest.approx(1.0)
        assert runs[Solution.BASELINE].score == pytest.approx(0.0)
        assert not live_app.running  # both runs tracked, both ended
        assert not any(n.title == "Run completed" for n in live_app.notice_log)  # shown here

        # enter opens the selected side's run; tab selects the other side
        await pilot.press("tab")
        assert check.selected == "reverse" and check.log_of("reverse").has_focus
        assert head(check, "reverse").startswith("▸")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(live_app.screen, RunScreen), "the run screen")
        opened = live_app.screen
        assert isinstance(opened, RunScreen) and opened.run.solution == Solution.BASELINE
        await pilot.press("escape")
        assert live_app.screen is check

        # leaving an ended check forgets it: v checks again, from the cache this time
        await pilot.press("escape")
        assert isinstance(live_app.screen, ScenariosScreen) and not live_app.checks
        again = await open_check(pilot, live_app, "separates")
        assert again is not check
        await ended(pilot, again)
        assert again.report is not None and again.report.ok
        assert again.report.forward.cache_hit and again.report.reverse.cache_hit
        assert "cache hit" in head(again, "forward") and "cache hit" in head(again, "reverse")
        assert "looking at answer.txt" in log_text(again.log_of("forward"))  # reused output
        assert store.list_runs().total_count == 4


@pytest.mark.podman
async def test_partial_fails_with_the_problem_then_rechecks_without_the_cache(
    live_app: SandbenchApp, store: Store
) -> None:
    async with checking(live_app, store, PARTIAL) as (pilot, check):
        await forward_shows(pilot, check, "checking answer.txt", "live output of `correct`")
        assert not check.sides["forward"].run.state.finished  # type: ignore[union-attr]
        await ended(pilot, check)
        report = check.report
        assert report is not None and not report.ok
        assert report.forward.score == pytest.approx(0.25)
        assert verdict(check).startswith("FAIL")
        assert "FORWARD reference total 0.250, not 1.0" in verdict(check)
        assert "total 0.250 ✗" in head(check, "forward")
        assert verdict_row(check, "exists") == ["exists", "1", "0", "ok"]
        assert verdict_row(check, "correct") == [
            "correct",
            "0",
            "0",
            "scores the reference 0, not 1",
        ]

        first_ids = {report.forward.id, report.reverse.id}
        await pilot.press("r")  # again, ignoring the cache
        assert check.going and "cache off" in verdict(check)
        await ended(pilot, check)
        again = check.report
        assert again is not None and not again.ok
        assert {again.forward.id, again.reverse.id}.isdisjoint(first_ids)
        assert not again.forward.cache_hit and not again.reverse.cache_hit
        assert "cache hit" not in head(check, "forward")
        assert verdict_row(check, "correct")[3] == "scores the reference 0, not 1"


@pytest.mark.podman
async def test_leave_a_check_going_come_back_and_cancel_both_runs(
    live_app: SandbenchApp, store: Store
) -> None:
    slow = make("slow", [bash("slow", 1.0, "echo started; sleep 3; echo still here; sleep 60")])
    async with checking(live_app, store, slow) as (pilot, check):
        await forward_shows(pilot, check, "started", "the scorer to start")
        await pilot.press("escape")  # it keeps going in the background, still following
        assert isinstance(live_app.screen, ScenariosScreen) and check.going
        await forward_shows(
            pilot, check, "still here", "output reaching the check while it is not shown", 60
        )
        await pilot.press("v")
        assert live_app.screen is check  # the same check, still going

        await pilot.press("c")
        assert isinstance(live_app.screen, ConfirmScreen)
        await pilot.press("y")
        await ended(pilot, check)
        report = check.report
        assert report is not None and not report.ok
        assert report.forward.state == RunState.CANCELED
        # the baseline run was made after the cancel: canceled before it had a sandbox
        assert report.reverse.state == RunState.CANCELED and report.reverse.sandbox_id is None
        assert "FORWARD canceled; REVERSE canceled" in verdict(check)
        assert not live_app.running
        assert all(r.state == RunState.CANCELED for r in store.list_runs().items)
        await pilot.press("q")  # nothing is going: quits at once
    assert live_app.return_code == 0


@pytest.mark.podman
async def test_a_missing_blueprint_is_a_notification(live_app: SandbenchApp, store: Store) -> None:
    data = make("needs-blueprint", [bash("ok", 1.0, "echo score=1")])
    data["environment_parameters"]["blueprint_id"] = "no-such-blueprint"
    async with checking(live_app, store, data) as (pilot, check):
        await ended(pilot, check)
        notice = next(n for n in live_app.notice_log if "image missing" in n.title)
        assert notice.severity == "error" and "no-such-blueprint" in notice.message
        assert check.report is None and verdict(check).startswith("STOPPED")
        assert "not started" in head(check, "forward")
        assert store.list_runs().total_count == 0
        assert check.check_action("recheck", ()) is True


async def test_the_key_is_in_help_and_the_palette() -> None:
    app = fixed_check_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScenariosScreen)
        rows = [row for _, section in app.help_sections(screen) for row in section]
        assert any(r.keys == "v" and "the reference must score 1" in r.description for r in rows)
        commands = [c.help for c in app.get_system_commands(screen)]
        assert any("· key v · scenarios.validate" in text for text in commands)


async def test_events_reach_the_check_and_the_run_screen_of_the_same_run() -> None:
    """Routing by run id is generic: a check's run open in a run screen gets its events,
    and so does the check underneath."""
    app = fixed_check_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_check("scn_01fixedscenario00001", "http-retry-with-backoff")
        check = await wait_for_screen(pilot, CheckScreen, "the check")
        await wait_for(pilot, lambda: check.report is not None, "the fixed check")
        report = check.report
        assert report is not None
        await pilot.press("enter")
        run_screen = await wait_for_screen(pilot, RunScreen, "the FORWARD run")
        assert run_screen.run_id == report.forward.id
        assert app.screen is not check

        app.workbench.bus.emit(StepOutput(report.forward.id, "note", "stdout", "late line\n"))
        await forward_shows(pilot, check, "late line", "the event on the check underneath", 60)
        setup = run_screen.query_one("#log-setup", OutputLog)
        await wait_for(pilot, lambda: "late line" in log_text(setup), "the event on the run")
        assert "late line" not in log_text(check.log_of("reverse"))


@pytest.mark.podman
async def test_quit_during_a_check_cancels_it(live_app: SandbenchApp, store: Store) -> None:
    slow = make("slow", [bash("slow", 1.0, "echo started; sleep 60")])
    async with checking(live_app, store, slow) as (pilot, check):
        await forward_shows(pilot, check, "started", "the scorer")
        await pilot.press("q")
        assert isinstance(live_app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: live_app.return_code == 0, "the app to quit", 60)
    # the worker goes on after the app: to the baseline run, canceled as it is made
    deadline = time.monotonic() + 60
    while not (len(runs := store.list_runs().items) == 2 and all(r.state.finished for r in runs)):
        assert time.monotonic() < deadline, (
            f"the check's worker did not end: {[(r.solution, r.state) for r in runs]}"
        )
        await asyncio.sleep(0.1)
    by_solution = {r.solution: r for r in runs}
    assert by_solution[Solution.REFERENCE].state == RunState.CANCELED
    baseline = by_solution[Solution.BASELINE]
    assert baseline.state == RunState.CANCELED and baseline.sandbox_id is None
