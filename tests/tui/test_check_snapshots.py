"""Snapshots of the finished check screen at 80x24 and 160x48, from fixed data: FORWARD a
cache hit at 0.85 (FAIL), REVERSE at 0.2, one problem of each kind (no store, no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_check_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from sandbench.tui.check import CheckScreen
from sandbench.tui.scenarios import ScenariosScreen
from tests.tui.support import fixed_check_app, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def check_ended(pilot: Pilot) -> None:
    """``v`` on http-retry-with-backoff, then the fixed check to its verdict."""
    await settle(pilot)
    app = pilot.app
    scenarios = app.screen
    assert isinstance(scenarios, ScenariosScreen)
    while (row := scenarios.selected()) is not None and row.name != "http-retry-with-backoff":
        await pilot.press("j")
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen), "the check screen")
    check = app.screen
    assert isinstance(check, CheckScreen)
    await wait_for(pilot, lambda: check.report is not None, "the verdict")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_check_screen_ended(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(fixed_check_app(), terminal_size=size, run_before=check_ended)
