"""The agent and interactive choices of the solution picker, on real runs (real Podman).

The agent is a real host command that solves the scenario through `sandbench sandboxes
exec`. The interactive shell needs a terminal the test driver does not have: the app's
suspend and the engine's shell are faked, everything else (the hand-over from the run's
thread to the app's, the scoring after it) is real.
"""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input, Static

from sandbench.engine import Engine
from sandbench.model.runs import RunState, Solution
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import OutputLog
from sandbench.tui.workbench import Workbench
from tests.tui.support import (
    bash,
    fake_suspend,
    log_text,
    make,
    notice_shown,
    open_picker,
    settle,
    store_scenarios,
    wait_for,
    wait_for_screen,
)

pytestmark = pytest.mark.podman

ANSWER = make(
    "answer", [bash("answer", 1.0, "grep -qx 42 answer.txt && echo score=1 || echo score=0")]
)
AGENT = (
    'test -s "$SANDBENCH_PROBLEM_FILE" && echo agent-starts-in-$SANDBENCH_WORKDIR && '
    '$SANDBENCH sandboxes exec "$SANDBENCH_SANDBOX_ID" -- sh -c "echo 42 > answer.txt" && '
    'echo \'{"input_tokens": 120, "output_tokens": 30, "cost_usd": 0.01}\''
    ' > "$SANDBENCH_USAGE_FILE"'
)
AGENT_CHOICE = ("down", "down", "enter")
INTERACTIVE_CHOICE = ("down", "down", "down", "enter")


async def run_screen(pilot, app: SandbenchApp) -> RunScreen:
    screen = await wait_for_screen(pilot, RunScreen, "the run screen")
    await wait_for(
        pilot,
        lambda: screen.run.state.finished and not app.running,
        "the run to end",
        timeout=120,
    )
    return screen


def setup_log(screen: RunScreen) -> str:
    return log_text(screen.query_one("#log-setup", OutputLog))


async def test_agent_choice_runs_the_host_command_and_remembers_it(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    store_scenarios(store, ANSWER)
    async with live_app.run_test(size=(80, 24)) as pilot:
        picker = await open_picker(pilot, *AGENT_CHOICE)
        command = picker.query_one("#agent-command", Input)
        assert command.has_focus and command.value == ""  # no agent run yet
        await pilot.press("enter")  # an empty command runs nothing
        assert live_app.screen is picker
        assert "needs a command" in str(picker.query_one("#solution-hint", Static).render())
        command.value = AGENT
        await pilot.press("enter")

        screen = await run_screen(pilot, live_app)
        assert screen.run.state == RunState.COMPLETED
        assert screen.run.solution == Solution.AGENT
        assert screen.run.score == pytest.approx(1.0)
        assert "agent-starts-in-/workspace/task" in setup_log(screen)
        stored = store.get_run(screen.run_id)
        assert stored.usage is not None and stored.usage.cost_usd == pytest.approx(0.01)
        assert live_app.last_agent_command == AGENT

        await pilot.press("escape")
        picker = await open_picker(pilot, *AGENT_CHOICE)
        assert picker.query_one("#agent-command", Input).value == AGENT  # offered again
        await pilot.press("escape")
        assert isinstance(live_app.screen, ScenariosScreen)

    # a new session offers the last agent command from the store
    again = SandbenchApp(Workbench(store, engine))
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: again.last_agent_command == AGENT, "the last command")


async def test_interactive_choice_hands_the_terminal_over_then_scores(
    live_app: SandbenchApp, store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_scenarios(store, ANSWER)
    suspended = fake_suspend(monkeypatch)
    shells: list[tuple[str, bool, list[bool]]] = []

    def shell(sandbox_id: str) -> int:
        """What the user would type in the shell; on the app's thread, app suspended."""
        on_main = threading.current_thread() is threading.main_thread()
        shells.append((sandbox_id, on_main, list(suspended)))
        engine.exec(sandbox_id, "echo 42 > answer.txt")
        return 0

    monkeypatch.setattr(engine, "shell", shell)
    async with live_app.run_test(size=(80, 24)) as pilot:
        await open_picker(pilot, *INTERACTIVE_CHOICE)
        screen = await run_screen(pilot, live_app)
        await settle(pilot)
        assert screen.run.state == RunState.COMPLETED
        assert screen.run.solution == Solution.INTERACTIVE
        assert screen.run.score == pytest.approx(1.0)  # what was done in the shell counts
        assert shells == [(screen.run.sandbox_id, True, [True])]
        assert suspended == [True, False]
        log = setup_log(screen)
        assert "a shell in sandbox" in log and "the shell exited (0): scoring" in log
        assert any(
            n.title == "Interactive" and "exited (0)" in n.message for n in live_app.notice_log
        )


async def test_interactive_in_a_terminal_that_cannot_hand_over_fails_clearly(
    live_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, ANSWER)
    async with live_app.run_test(size=(80, 24)) as pilot:  # the test driver cannot suspend
        await open_picker(pilot, *INTERACTIVE_CHOICE)
        screen = await run_screen(pilot, live_app)
        assert screen.run.state == RunState.FAILED and screen.run.score is None
        assert "cannot hand over" in (screen.run.failure_reason or "")
        notice = await notice_shown(pilot, "Run failed")
        assert notice.severity == "error" and "--solution interactive" in notice.message
