"""End to end in a real terminal: tmux at 80x24, keys only, the screen read with capture-pane."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbench.store import open_store
from tests.conftest import SAMPLES
from tests.engine_support import need, require_podman

pytestmark = pytest.mark.podman
SAMPLE = SAMPLES / "csv-quoted-fields.toml"  # no blueprint: the base image is enough


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "e2e", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "e2e", "-l", text)

    def wait_for(self, found: Callable[[str], bool] | str, timeout: float = 60) -> str:
        """Poll the screen (a terminal offers nothing to await) until ``found`` holds."""
        check = found if callable(found) else (lambda screen: found in screen)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting; the screen was:\n{self.screen()}")

    def start_run(self, scenario: str, *choice: str) -> None:
        """Once ``scenario`` is listed (and selected): r, then ``choice`` in the solution
        picker."""
        self.wait_for(scenario)
        self.keys("r")
        self.wait_for(f"Run {scenario}")
        self.keys(*choice)

    def quit(self, timeout: float = 30) -> str:
        """Press q (and y, should a confirmation stand in the way); the app's exit code."""
        done: Path = self.done  # type: ignore[attr-defined]
        self.keys("q")
        deadline = time.monotonic() + timeout
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not done.exists():
            self.keys("y")
            while not done.exists() and time.monotonic() < deadline + timeout:
                time.sleep(0.2)
        return done.read_text().strip()


@pytest.fixture
def terminal(sandbench_home: Path, tmp_path: Path) -> Iterator[Terminal]:
    require_podman()
    need(shutil.which("tmux") is not None, "tmux is not installed")
    socket = f"sandbench-e2e-{tmp_path.name}"
    done = tmp_path / "exit-code"
    command = (
        f"env SANDBENCH_HOME={shlex.quote(str(sandbench_home))} TERM=xterm-256color"
        f" {shlex.quote(sys.executable)} -m sandbench; echo $? > {shlex.quote(str(done))}"
    )
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "e2e",
            "sh",
            "-c",
            command + "; sleep 600",
        ],
        check=True,
    )
    term = Terminal(socket)
    term.done = done  # type: ignore[attr-defined]
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)


def latest_attempts() -> dict[str, int]:
    with open_store() as store:
        run = store.list_runs(limit=1).items[0]
        full = store.get_run(run.id)
    attempts: dict[str, int] = {}
    for result in full.scorer_results:
        attempts[result.name] = max(attempts.get(result.name, 0), result.attempt)
    return attempts


def test_import_run_rerun_and_quit_with_keys_only(terminal: Terminal, sandbench_home: Path) -> None:
    terminal.wait_for("No scenarios")  # the empty state says how to start
    terminal.keys("i")
    terminal.wait_for("Import scenarios or a task set")  # the prompt, not the footer
    terminal.type(str(SAMPLE))
    terminal.keys("Enter")
    terminal.start_run("csv-quoted-fields", "Enter")  # the first choice: the reference
    screen = terminal.wait_for("TOTAL 1.000", timeout=180)
    assert max(len(line) for line in screen.splitlines()) <= 80  # drawn for 80x24
    assert len(screen.splitlines()) <= 24
    terminal.keys("s")  # rerun the selected scorer in the same sandbox
    terminal.wait_for(lambda _: max(latest_attempts().values()) == 2, timeout=120)
    terminal.wait_for("TOTAL 1.000", timeout=60)
    assert terminal.quit() == "0"  # a confirmation may stand between us and the exit
    with open_store() as store:  # the run kept its sandbox for reruns: remove it
        live = [s.id for s in store.list_sandboxes() if not s.status.terminal]
    if live:
        subprocess.run(
            [sys.executable, "-m", "sandbench", "sandboxes", "rm", *live],
            check=False,
            capture_output=True,
        )
