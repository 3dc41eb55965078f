"""The run screen's shell in a real terminal (tmux at 80x24): after a run, x hands the
terminal to a shell in the run's sandbox, where the solution's work is there to see, and
the run screen comes back when it exits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbench.engine import Engine
from sandbench.store import open_store
from tests.tui.support import bash, make, store_scenarios
from tests.tui.test_tmux_e2e import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.podman


@pytest.fixture
def stored(sandbench_home: Path) -> None:
    """In the store before the app starts (ask for it before ``terminal``)."""
    check = "grep -qx 42 answer.txt && echo score=1 || echo score=0"
    with open_store() as store:
        store_scenarios(store, make("tmux-shell", [bash("answer", 1.0, check)]))


def test_shell_from_the_run_screen_and_back(
    stored: None,
    engine: Engine,
    terminal: Terminal,  # noqa: F811
) -> None:
    terminal.start_run("tmux-shell", "Enter")  # the reference: writes 42 into answer.txt
    terminal.wait_for(lambda s: "TOTAL 1.000" in s and "x Shell" in s, timeout=180)
    terminal.keys("x")
    terminal.wait_for(lambda s: "TOTAL" not in s, timeout=30)  # the app stepped aside
    time.sleep(1)  # let the shell start reading its terminal
    terminal.type("echo answer-is-$(cat answer.txt)")
    terminal.keys("Enter")
    terminal.wait_for("answer-is-42", timeout=30)  # the run's sandbox, its working directory
    terminal.type("exit 4")
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "exited (4)" in s and "TOTAL 1.000" in s, timeout=30)
    assert "x Shell" in screen  # back on the run screen, the sandbox still there
    assert terminal.quit() == "0"


def test_interactive_solution_in_a_real_terminal(
    stored: None,
    engine: Engine,
    terminal: Terminal,  # noqa: F811
) -> None:
    terminal.start_run("tmux-shell", "Down", "Down", "Down", "Enter")  # interactive
    screen = terminal.wait_for("exit it to score", timeout=120)  # the app stepped aside
    assert "TOTAL" not in screen
    time.sleep(1)  # let the shell start reading its terminal
    terminal.type("echo 42 > answer.txt; exit")
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "TOTAL 1.000" in s and "completed" in s, timeout=120)
    assert "interactive" in screen
    assert terminal.quit() == "0"
