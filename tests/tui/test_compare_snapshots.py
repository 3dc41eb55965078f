"""Snapshots of the compare screen (80x24, 160x48) and of the solution picker's agent
command, from fixed data (no store, no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_compare_snapshots.py --snapshot-update`, then look at the
SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from sandbench.tui.app import SandbenchApp
from sandbench.tui.compare import CompareScreen
from sandbench.tui.modals import SolutionScreen
from tests.tui.support import fixed_app, open_run, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(snap_compare, size: tuple[int, int]) -> None:
    async def compare(pilot: Pilot) -> None:
        await open_run(pilot)
        app = pilot.app
        await pilot.press("v")  # `tests` (selected) was rerun: attempt 1 against 2
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the comparison")
        await settle(pilot)

    assert snap_compare(fixed_app(), terminal_size=size, run_before=compare)


def test_solution_picker_asks_for_the_agent_command(snap_compare) -> None:
    async def agent(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, SandbenchApp)
        app.last_agent_command = "./agent.sh --model small"
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen), "the picker")
        await pilot.press("down", "down", "enter")  # agent
        command = app.screen.query_one("#agent-command", Input)
        await wait_for(pilot, lambda: command.has_focus, "the command input")
        await settle(pilot)

    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=agent)
