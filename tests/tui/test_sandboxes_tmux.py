"""The sandboxes screen's shell in a real terminal (tmux at 80x24): the app hands the
terminal to a shell in the sandbox and comes back when it exits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbench.engine import Engine
from tests.engine_support import scenario
from tests.tui.test_tmux_e2e import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.podman


def test_shell_from_the_sandboxes_screen_and_back(
    engine: Engine,
    terminal: Terminal,  # noqa: F811
    sandbench_home: Path,
) -> None:
    sandbox = engine.create(engine.spec_for(scenario("sandboxes-tmux")))
    terminal.wait_for("No scenarios")
    terminal.keys("b")
    # the footer is redrawn once the list has loaded: wait for the key, not just the row
    screen = terminal.wait_for(lambda s: "running" in s and sandbox.id in s and "x Shell" in s)
    assert "x Shell" in screen
    terminal.keys("x")
    terminal.wait_for(lambda s: "sandboxes" not in s, timeout=30)  # the app stepped aside
    time.sleep(1)
    terminal.type("echo shell-says-$((6*7))")
    terminal.keys("Enter")
    terminal.wait_for("shell-says-42", timeout=30)
    terminal.type("exit")
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "exited (0)" in s and "sandbench" in s, timeout=30)
    assert sandbox.id in screen
    assert terminal.quit() == "0"
