"""Snapshots of the sandboxes screen at 80x24 and 160x48, from fixed data: the list, the
stats and "now" are frozen (no store, no Podman); with the activity log open, from a store
filled with fixed ids and times (no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_sandboxes_snapshots.py --snapshot-update`
and look at the SVGs under __snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from sandbench.engine import Engine
from sandbench.engine.usage import ImageUsage
from sandbench.store import Store
from sandbench.tui.activity import ActivityLog
from sandbench.tui.app import SandbenchApp
from sandbench.tui.sandboxes import SandboxesScreen
from sandbench.tui.workbench import SandboxRow, SandboxStats
from tests.tui.support import (
    NOW_MS,
    ActivityWorkbench,
    FixedWorkbench,
    fixed_activity_store,
    fixed_rows,
    settle,
    wait_for,
)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def fixed_sandboxes() -> list[SandboxRow]:
    def row(index: int, name: str, state: str, idle_s: int, **more: object) -> SandboxRow:
        values: dict[str, object] = {
            "id": f"dbx_01fixedsandbox{index:06d}",
            "name": name,
            "state": state,
            "paused": False,
            "cpu": 1.0,
            "memory_gib": 2,
            "disk_gib": 4,
            "arch": "x86_64",
            "last_activity_ms": NOW_MS - idle_s * 1000,
            "create_time_ms": NOW_MS - 3600_000,
            "run_id": f"scr_01fixedrun{index:010d}",
            "origin": "scenario",
            **more,
        }
        return SandboxRow(**values)  # type: ignore[arg-type]

    return [
        row(1, "http-retry-with-backoff", "running", 4, cpu=2.0, memory_gib=4, disk_gib=8),
        row(2, "add-dry-run-flag", "running", 95, paused=True, cpu=0.5, memory_gib=1),
        row(3, "fix-backup-rotation-idle-suspend", "suspended", 2 * 3600),
        row(4, "arm64-release-asset-name", "provisioning", 0, arch="arm64", cpu=0.5),
        row(
            5,
            "",
            "running",
            30 * 60,
            cpu=4.0,
            memory_gib=16,
            disk_gib=16,
            run_id=None,
            origin="api",
        ),
    ]


FIXED_STATS = {
    "dbx_01fixedsandbox000001": SandboxStats(37.5, 312 * 1024 * 1024),
    "dbx_01fixedsandbox000002": SandboxStats(0.0, 96 * 1024 * 1024),
    "dbx_01fixedsandbox000005": SandboxStats(None, None),  # Podman could not say
}


MIB = 1024 * 1024
FIXED_DISKS = {  # what each disk file holds on the host; the provisioning one has none yet
    "dbx_01fixedsandbox000001": 1536 * MIB,
    "dbx_01fixedsandbox000002": 212 * MIB,
    "dbx_01fixedsandbox000003": 48 * MIB,
    "dbx_01fixedsandbox000005": 9 * MIB,
}
FIXED_IMAGES = ImageUsage(count=7, bytes=2100 * MIB, exact=True)


class FixedSandboxesWorkbench(FixedWorkbench):
    def sandbox_rows(self, include_ended: bool = False) -> list[SandboxRow]:
        return fixed_sandboxes()

    def sandbox_stats(self, sandbox_ids: list[str]) -> dict[str, SandboxStats]:
        return {i: FIXED_STATS[i] for i in sandbox_ids if i in FIXED_STATS}

    def sandbox_disks(self) -> dict[str, int]:
        return dict(FIXED_DISKS)

    def image_usage(self) -> ImageUsage:
        return FIXED_IMAGES


async def open_sandboxes(pilot: Pilot) -> None:
    await settle(pilot)
    app = pilot.app
    await pilot.press("b")
    await wait_for(pilot, lambda: isinstance(app.screen, SandboxesScreen), "the sandboxes")
    screen = app.screen
    await wait_for(pilot, lambda: screen.loaded_once, "the list")  # type: ignore[attr-defined]
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_sandboxes_screen(snap_compare, size: tuple[int, int]) -> None:
    app = SandbenchApp(FixedSandboxesWorkbench(fixed_rows()))
    assert snap_compare(app, terminal_size=size, run_before=open_sandboxes)


def test_sandboxes_screen_empty(snap_compare) -> None:
    class Empty(FixedWorkbench):
        def sandbox_rows(self, include_ended: bool = False) -> list[SandboxRow]:
            return []

    app = SandbenchApp(Empty(fixed_rows()))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_sandboxes)


# ----------------------------------------------------------------------------- activity log


@pytest.mark.parametrize("size", SIZES)
def test_sandboxes_screen_with_the_activity_log(
    snap_compare, store: Store, monkeypatch: pytest.MonkeyPatch, utc: None, size: tuple[int, int]
) -> None:
    fixed_activity_store(store, monkeypatch)
    engine = Engine(store)  # never connected
    app = SandbenchApp(ActivityWorkbench(store, engine))

    async def open_activity(pilot: Pilot) -> None:
        await open_sandboxes(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        await pilot.press("l")
        log = screen.query_one(ActivityLog)
        await wait_for(pilot, lambda: len(log.blocks) == 2, "both commands")
        await wait_for(
            pilot, lambda: log.blocks and all(b.lines for b in log.blocks.values()), "their output"
        )
        await settle(pilot)

    try:
        assert snap_compare(app, terminal_size=size, run_before=open_activity)
    finally:
        engine.close()
