"""The run screen's shell: offered only with a sandbox that has not ended and no work going
on the run; it hands the terminal over (faked here, real in the tmux test) and says how it
exited. Fixed data, no Podman."""

from __future__ import annotations

import threading

import pytest

from sandbench.engine.errors import EngineError
from sandbench.model.runs import RunState
from sandbench.tui import keys
from sandbench.tui.app import SandbenchApp
from sandbench.tui.run import RunScreen
from sandbench.tui.workbench import RunDetail, SandboxInfo
from tests.tui.support import (
    FixedWorkbench,
    fake_suspend,
    fixed_rows,
    fixed_run_detail,
    notices,
    open_run,
    settle,
)

SANDBOX = "dbx_01fixedsandbox000000"


def app_with(detail: RunDetail, sandbox_state: str) -> SandbenchApp:
    sandboxes = {SANDBOX: SandboxInfo(SANDBOX, sandbox_state)}
    return SandbenchApp(FixedWorkbench(fixed_rows(), [detail], sandboxes))


def shown(screen: RunScreen, key_id: str) -> bool:
    return any(
        active.binding.id == key_id and active.enabled for active in screen.active_bindings.values()
    )


@pytest.mark.parametrize(
    ("sandbox_state", "offered"),
    [("running", True), ("suspended", True), ("shutdown", False), ("failure", False)],
)
async def test_shell_is_offered_only_with_a_sandbox_that_has_not_ended(
    sandbox_state: str, offered: bool
) -> None:
    detail = fixed_run_detail()
    app = app_with(detail, sandbox_state)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, detail)
        assert screen.check_action("shell", ()) is offered
        assert shown(screen, "run.shell") is offered
        app.busy_runs.add(detail.run.id)  # a rerun going on this run
        assert screen.check_action("shell", ()) is False
        assert screen.check_action("compare", ()) is False


async def test_no_shell_while_the_run_is_going() -> None:
    finished = fixed_run_detail()
    going = RunDetail(
        finished.run.model_copy(update={"state": RunState.SCORING}),
        finished.scenario_name,
        finished.scorers,
    )
    app = app_with(going, "running")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, going)
        assert screen.check_action("shell", ()) is False
        assert screen.check_action("compare", ()) is False
        assert screen.check_action("cancel", ()) is True


async def test_shell_hands_the_terminal_over_and_says_how_it_exited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    detail = fixed_run_detail()
    app = app_with(detail, "suspended")
    suspended = fake_suspend(monkeypatch)
    shells: list[tuple[str, bool, str]] = []

    def shell(sandbox_id: str) -> int:
        shells.append((sandbox_id, suspended == [True], threading.current_thread().name))
        return 3

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, detail)
        monkeypatch.setattr(app.workbench, "sandbox_shell", shell)
        await pilot.press("x")
        await settle(pilot)
        assert shells == [(SANDBOX, True, threading.main_thread().name)]  # inside suspend
        assert suspended == [True, False]  # and the app came back
        assert ("Shell", f"shell in {SANDBOX} exited (3)", "information") in notices(app)
        assert app.screen is screen


async def test_a_shell_that_fails_brings_the_app_back_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    detail = fixed_run_detail()
    app = app_with(detail, "suspended")
    suspended = fake_suspend(monkeypatch)  # like Textual's: no resume on an exception

    def shell(sandbox_id: str) -> int:
        raise EngineError(f"sandbox {sandbox_id} could not be resumed")

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, detail)
        monkeypatch.setattr(app.workbench, "sandbox_shell", shell)
        await pilot.press("x")
        await settle(pilot)
        assert suspended == [True, False]  # the app came back despite the failure
        title, message, severity = notices(app)[-1]
        assert title == f"Shell in {SANDBOX}: engine error" and severity == "error"
        assert "could not be resumed" in message
        assert app.screen is screen


async def test_a_terminal_that_cannot_hand_over_is_a_clear_notice() -> None:
    detail = fixed_run_detail()
    app = app_with(detail, "running")
    async with app.run_test(size=(80, 24)) as pilot:  # the test driver cannot suspend
        screen = await open_run(pilot, detail)
        await pilot.press("x")
        await settle(pilot)
        title, message, severity = notices(app)[-1]
        assert (title, severity) == ("Shell", "error")
        assert f"sandbench sandboxes shell {SANDBOX}" in message
        assert app.screen is screen


def test_every_run_binding_has_a_stable_id() -> None:
    known = keys.by_id()
    ids = {binding.id for binding in RunScreen.BINDINGS}  # type: ignore[union-attr]
    assert {"run.shell", "run.compare"} <= ids <= set(known)
