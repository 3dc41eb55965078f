"""Snapshots of each screen at 80x24 and 160x48, from fixed data (no store, no Podman).

Update after an intended change: `.venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from sandbench.tui.app import SandbenchApp
from sandbench.tui.runs import RunsScreen
from tests.tui.support import FixedWorkbench, fixed_app, open_run, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


@pytest.mark.parametrize("size", SIZES)
def test_scenarios_screen(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(fixed_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_run_screen(snap_compare, size: tuple[int, int]) -> None:
    async def run_screen(pilot: Pilot) -> None:
        await open_run(pilot)
        await settle(pilot)

    assert snap_compare(fixed_app(), terminal_size=size, run_before=run_screen)


def test_scenarios_screen_empty(snap_compare) -> None:
    app = SandbenchApp(FixedWorkbench([]))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_help_screen(snap_compare) -> None:
    async def help_(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=help_)


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, size: tuple[int, int]) -> None:
    async def all_runs(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("R")
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs screen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded_once, "the runs")  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(fixed_app(), terminal_size=size, run_before=all_runs)
