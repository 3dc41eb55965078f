"""Runs driven from the workbench through the real runner on real Podman."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from sandbench.model.runs import RunState
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.run import RunScreen
from sandbench.tui.runs import RunsScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import OutputLog, VimTable
from tests.tui.support import PARTIAL, bash, log_text, make, start_run, store_scenarios, wait_for

pytestmark = pytest.mark.podman


def cell(screen: RunScreen, scorer: str, column: str) -> str:
    return str(screen.query_one(VimTable).get_cell(scorer, column))


def scorer_log(screen: RunScreen, scorer: str) -> OutputLog:
    return screen.query_one(f"#log-{screen.names.index(scorer)}", OutputLog)


async def test_run_shows_live_output_and_the_weight_breakdown(
    live_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, PARTIAL)
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await start_run(pilot)
        assert cell(screen, "correct", "state") == "queued"
        # the bash scorer prints, then sleeps 2 s: its output is on screen while it runs
        await wait_for(
            pilot,
            lambda: "checking answer.txt" in log_text(scorer_log(screen, "correct")),
            "live output",
        )
        assert cell(screen, "correct", "state") == "running"
        assert screen.run.state == RunState.SCORING
        assert cell(screen, "exists", "state") == "complete"  # scored before it
        await wait_for(pilot, lambda: screen.run.state.finished, "the run to end", timeout=120)
        await pilot.pause()
        assert screen.run.state == RunState.COMPLETED
        assert cell(screen, "exists", "score") == "1.000"
        assert cell(screen, "exists", "contribution").endswith("0.250")
        assert cell(screen, "correct", "score") == "0.000"
        assert cell(screen, "correct", "contribution").endswith("0.000")
        assert cell(screen, "correct", "attempt") == "1"
        total = str(screen.query_one("#total", Static).render())
        assert "TOTAL 0.250" in total and "2/2 scored" in total  # (0.25*1 + 0.75*0) / 1
        head = str(screen.query_one("#run-head", Static).render())
        assert "completed" in head and screen.run_id in head
        await wait_for(
            pilot,
            lambda: "sandbox running" in str(screen.query_one("#run-head", Static).render()),
            "the sandbox state",
        )
        assert "score=0" in log_text(scorer_log(screen, "correct"))
        assert store.get_run(screen.run_id).score == pytest.approx(0.25)

        # back on the list, the scenario's last run shows its total
        await pilot.press("escape")
        scenarios = live_app.screen
        assert isinstance(scenarios, ScenariosScreen)
        await wait_for(
            pilot,
            lambda: "0.250" in str(scenarios.query_one(VimTable).get_row_at(0)[4]),
            "the last run",
        )


async def test_rerun_one_scorer_adds_an_attempt(live_app: SandbenchApp, store: Store) -> None:
    quick = make(
        "quick",
        [
            bash("first", 0.5, "echo one; echo score=1"),
            bash("second", 0.5, "echo two; grep -qx 42 answer.txt && echo score=1 || echo score=0"),
        ],
    )
    store_scenarios(store, quick)
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await start_run(pilot)
        await wait_for(pilot, lambda: screen.run.state.finished, "the run to end", timeout=120)
        assert screen.run.score == pytest.approx(1.0)
        await pilot.press("k", "j")  # select `second`
        assert screen.selected_scorer() == "second"
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: (
                cell(screen, "second", "attempt") == "2"
                and screen.run.state.finished
                and not live_app.busy_runs
            ),
            "the second attempt",
            timeout=120,
        )
        assert cell(screen, "first", "attempt") == "1"
        assert cell(screen, "second", "state") == "complete"
        assert "── attempt 2 ──" in log_text(scorer_log(screen, "second"))
        attempts = sorted((r.name, r.attempt) for r in store.get_run(screen.run_id).scorer_results)
        assert attempts == [("first", 1), ("second", 1), ("second", 2)]
        assert "TOTAL 1.000" in str(screen.query_one("#total", Static).render())

        # rerun all: every scorer gets a new attempt
        await pilot.press("a")
        await wait_for(
            pilot,
            lambda: (
                cell(screen, "first", "attempt") == "2"
                and cell(screen, "second", "attempt") == "3"
                and not live_app.busy_runs
            ),
            "every scorer rerun",
            timeout=120,
        )

        # the run opens again from the runs list, with every attempt's output
        await pilot.press("escape", "enter")
        await wait_for(pilot, lambda: isinstance(live_app.screen, RunsScreen), "the runs list")
        runs = live_app.screen
        await wait_for(pilot, lambda: runs.loaded_once and runs.runs, "the runs")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(live_app.screen, RunScreen), "the run again")
        reopened = live_app.screen
        assert isinstance(reopened, RunScreen) and reopened is not screen
        assert cell(reopened, "second", "attempt") == "3"
        assert log_text(scorer_log(reopened, "second")).count("two") == 3


async def test_a_missing_blueprint_is_a_notification_not_a_crash(
    live_app: SandbenchApp, store: Store
) -> None:
    data = make("needs-blueprint", [bash("ok", 1.0, "echo score=1")])
    data["environment_parameters"]["blueprint_id"] = "no-such-blueprint"
    store_scenarios(store, data)
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = live_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: screen.loaded_once and screen.rows, "the scenarios")
        await pilot.press("r", "enter")
        await wait_for(
            pilot,
            lambda: any("image missing" in n.title for n in live_app.notice_log),
            "the notification",
        )
        notice = next(n for n in live_app.notice_log if "image missing" in n.title)
        assert notice.severity == "error"
        assert (
            "no-such-blueprint" in notice.message and "sandbench blueprints build" in notice.message
        )
        assert live_app.screen is screen and not live_app.running  # no run was made
        await pilot.press("j", "k")  # still responsive
        assert store.list_runs().total_count == 0


async def test_cache_hit_then_a_fresh_whole_run(live_app: SandbenchApp, store: Store) -> None:
    store_scenarios(store, make("cached", [bash("only", 1.0, "echo computed; echo score=1")]))
    async with live_app.run_test(size=(80, 24)) as pilot:
        first = await start_run(pilot)
        await wait_for(pilot, lambda: first.run.state.finished, "the first run", timeout=120)
        await pilot.press("escape")
        second = await start_run(pilot)  # same scenario, cache allowed
        assert second is not first
        await wait_for(pilot, lambda: second.run.state.finished, "the cached run", timeout=120)
        assert second.run.cache_hit and second.run.score == pytest.approx(1.0)
        assert "computed" in log_text(scorer_log(second, "only"))  # the reused output
        assert "cache hit" in str(second.query_one("#run-head", Static).render())
        assert second.check_action("rerun_scorer", ()) is False  # no sandbox to rescore in
        await pilot.press("w")  # a whole new run ignores the cache
        await wait_for(
            pilot,
            lambda: isinstance(live_app.screen, RunScreen) and live_app.screen is not second,
            "the new run",
        )
        third = live_app.screen
        assert isinstance(third, RunScreen)
        await wait_for(pilot, lambda: third.run.state.finished, "the new run to end", timeout=120)
        assert not third.run.cache_hit and third.run.sandbox_id is not None
        assert third.run.score == pytest.approx(1.0)


async def test_cancel_a_running_run(live_app: SandbenchApp, store: Store) -> None:
    store_scenarios(
        store, make("long", [bash("slow", 1.0, "echo started; sleep 60; echo score=1")])
    )
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await start_run(pilot)
        await wait_for(
            pilot, lambda: "started" in log_text(scorer_log(screen, "slow")), "the scorer"
        )
        assert screen.check_action("rerun_scorer", ()) is False
        await pilot.press("c", "y")
        await wait_for(pilot, lambda: screen.run.state.finished, "the cancel", timeout=60)
        assert screen.run.state == RunState.CANCELED and screen.run.score is None
        assert any(n.title == "Run canceled" for n in live_app.notice_log)
        assert not live_app.running
        await pilot.press("q")  # nothing is going: quits at once
    assert live_app.return_code == 0
