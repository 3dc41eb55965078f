"""The sandboxes screen on the real store and engine (real Podman): list, suspend, resume,
pause, remove; and its keys, which show only when they apply."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from sandbench import paths
from sandbench.engine import Engine
from sandbench.engine.pool import warm_containers
from sandbench.model import SandboxState
from sandbench.store import Store
from sandbench.tui import keys
from sandbench.tui.app import SandbenchApp
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.sandboxes import SandboxesScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import VimTable
from tests.engine_support import containers_of, scenario
from tests.tui.support import wait_for


def state_of(screen: SandboxesScreen, sandbox_id: str) -> str | None:
    if sandbox_id not in screen.rows:
        return None
    return str(screen.query_one(VimTable).get_cell(sandbox_id, "state"))


def shown_keys(screen: SandboxesScreen) -> set[str]:
    """The ids of this screen's bindings the footer shows now."""
    ids = {key.id for key in keys.SANDBOXES}
    return {
        active.binding.id
        for active in screen.active_bindings.values()
        if active.binding.id in ids and active.enabled and active.binding.show
    }


async def open_sandboxes(pilot, app: SandbenchApp) -> SandboxesScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, ScenariosScreen), "the scenarios")
    await pilot.press("b")
    await wait_for(pilot, lambda: isinstance(app.screen, SandboxesScreen), "the sandboxes")
    screen = app.screen
    assert isinstance(screen, SandboxesScreen)
    await wait_for(pilot, lambda: screen.loaded_once, "the sandboxes list")
    return screen


@pytest.mark.podman
async def test_suspend_resume_and_remove_from_the_sandboxes_screen(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    sandbox = engine.create(engine.spec_for(scenario("sandboxes-screen")))
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await open_sandboxes(pilot, live_app)
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "running", "running")
        assert screen.selected_id() == sandbox.id
        assert {"sandboxes.suspend", "sandboxes.pause", "sandboxes.shell"} <= shown_keys(screen)
        assert "sandboxes.resume" not in shown_keys(screen)
        # live memory comes from Podman's stats within a poll or two
        await wait_for(
            pilot,
            lambda: screen.query_one(VimTable).get_cell(sandbox.id, "mem") != "-",
            "memory in use",
            timeout=15,
        )

        await pilot.press("s")
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "suspended", "suspended")
        assert store.get_sandbox(sandbox.id).status == SandboxState.SUSPENDED
        assert containers_of(sandbox.id) == []
        assert "sandboxes.resume" in shown_keys(screen)
        assert not {"sandboxes.suspend", "sandboxes.pause", "sandboxes.shell"} & shown_keys(screen)
        assert screen.query_one(VimTable).get_cell(sandbox.id, "cpu") == "-"
        assert any(n.title == "Suspend done" for n in live_app.notice_log)

        await pilot.press("r")
        await wait_for(
            pilot, lambda: state_of(screen, sandbox.id) == "running", "running again", 120
        )
        assert store.get_sandbox(sandbox.id).status == SandboxState.RUNNING
        assert containers_of(sandbox.id) != []

        await pilot.press("d")
        assert isinstance(live_app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: sandbox.id not in screen.rows, "gone from the live list")
        assert store.get_sandbox(sandbox.id).status == SandboxState.SHUTDOWN
        assert containers_of(sandbox.id) == []

        await pilot.press("e")  # ended ones too
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "shutdown", "ended shown")
        assert "sandboxes.remove" not in shown_keys(screen)


@pytest.mark.podman
async def test_pause_and_unpause_and_a_declined_remove(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    sandbox = engine.create(engine.spec_for(scenario("sandboxes-pause")))
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await open_sandboxes(pilot, live_app)
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "running", "running")
        await pilot.press("p")
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "paused", "paused")
        assert store.get_sandbox(sandbox.id).paused
        assert "sandboxes.unpause" in shown_keys(screen)
        assert not {"sandboxes.pause", "sandboxes.suspend"} & shown_keys(screen)
        await pilot.press("u")
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "running", "unpaused")
        assert not store.get_sandbox(sandbox.id).paused

        await pilot.press("d")
        assert isinstance(live_app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.3)
        assert live_app.screen is screen
        assert store.get_sandbox(sandbox.id).status == SandboxState.RUNNING

        await pilot.press("P")  # nothing was left behind by a crash
        await wait_for(
            pilot,
            lambda: any(n.title == "Prune done" for n in live_app.notice_log),
            "the prune notice",
        )
        assert store.get_sandbox(sandbox.id).status == SandboxState.RUNNING


@pytest.mark.podman
async def test_shell_without_a_terminal_is_a_notice_not_a_crash(
    live_app: SandbenchApp, engine: Engine
) -> None:
    sandbox = engine.create(engine.spec_for(scenario("sandboxes-shell")))
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await open_sandboxes(pilot, live_app)
        await wait_for(pilot, lambda: state_of(screen, sandbox.id) == "running", "running")
        await pilot.press("x")  # the headless test driver cannot hand the terminal over
        await wait_for(
            pilot, lambda: any(n.title == "Shell" for n in live_app.notice_log), "a notice"
        )
        assert live_app.screen is screen


async def test_opens_from_the_palette_and_says_when_there_is_nothing(
    offline_app: SandbenchApp,
) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ScenariosScreen), "scenarios")
        await pilot.press("ctrl+p")
        await pilot.press(*"every sandbox")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(offline_app.screen, SandboxesScreen), "the sandboxes"
        )
        screen = offline_app.screen
        assert isinstance(screen, SandboxesScreen)
        await wait_for(pilot, lambda: screen.loaded_once, "the sandboxes list")
        assert screen.rows == {}
        assert "No live sandboxes" in str(screen.query_one("#empty", Static).render())
        # nothing selected: only the keys that need no sandbox (prune: in ? help and ctrl+p)
        assert shown_keys(screen) == {"sandboxes.ended", "sandboxes.back"}
        await pilot.press("l")  # no sandbox, no activity log
        assert screen.activity_id is None
        await pilot.press("escape")
        assert isinstance(offline_app.screen, ScenariosScreen)


def test_every_sandboxes_binding_has_a_stable_id() -> None:
    known = keys.by_id()
    for binding in SandboxesScreen.BINDINGS:
        assert binding.id in known  # type: ignore[union-attr]


@pytest.mark.podman
async def test_disk_figures_show_in_the_title_and_a_column_when_wide(
    live_app: SandbenchApp, engine: Engine
) -> None:
    sandbox = engine.create(engine.spec_for(scenario("sandboxes-disk")))
    written = engine.exec(
        sandbox.id, "dd if=/dev/urandom of=blob bs=1M count=30 conv=fsync status=none && sync"
    )
    assert written.exit_code == 0, written.output
    async with live_app.run_test(size=(160, 48)) as pilot:
        screen = await open_sandboxes(pilot, live_app)
        table = screen.query_one(VimTable)

        def disk_cell() -> str:
            if sandbox.id not in screen.rows:
                return "-"
            return str(table.get_cell(sandbox.id, "disk"))

        await wait_for(pilot, lambda: disk_cell().endswith("M"), "the sandbox's disk figure")
        assert float(disk_cell()[:-1]) >= 30
        await wait_for(pilot, lambda: "images" in screen.sub_title, "the images' figure")
        assert screen.sub_title.startswith("sandboxes · disks ")


async def test_clean_up_applies_the_retention_policy(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await open_sandboxes(pilot, offline_app)
        await pilot.press("C")
        await wait_for(
            pilot,
            lambda: any(n.title == "Clean up done" for n in offline_app.notice_log),
            "the clean-up notice",
        )
        notice = next(n for n in offline_app.notice_log if n.title == "Clean up done")
        assert notice.message.startswith("nothing to remove (keep the newest 3 runs'")


def warm_sandboxes(engine: Engine) -> set[str]:
    """The pool's containers of this workspace (claimed ones keep their pool label)."""
    return {c["io.sandbench.sandbox"] for c in warm_containers(engine.client, paths.home_label())}


def pool_line(screen: SandboxesScreen) -> str:
    return str(screen.query_one("#pool", Static).render())


@pytest.mark.podman
@pytest.mark.slow
async def test_the_warm_pool_line_follows_the_pool(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    """Before the pool starts, the configured sizes and none warm; then its own pool as it
    fills, a claim counted and refilled; warm sandboxes stay out of the list until claimed."""
    async with live_app.run_test(size=(80, 24)) as pilot:
        screen = await open_sandboxes(pilot, live_app)
        await wait_for(pilot, lambda: screen.query_one("#pool").display, "the pool line")
        before = pool_line(screen)
        assert before.startswith("warm pool sandbench-base x86_64: X_SMALL 0/2, SMALL 0/2")
        assert "starts with the first sandbox" in before  # the config's default sizes

        engine.start_pool({"X_SMALL": 1})
        await wait_for(
            pilot, lambda: "X_SMALL 1/1" in pool_line(screen), "a warm sandbox", timeout=180
        )
        assert pool_line(screen) == "warm pool sandbench-base x86_64: X_SMALL 1/1"
        warm_ids = await asyncio.to_thread(warm_sandboxes, engine)
        (warm_id,) = warm_ids
        assert warm_id not in screen.rows  # no store row: not in the list

        spec = engine.spec_for(scenario("pool-claim", resource_size_request="X_SMALL"))
        sandbox = await asyncio.to_thread(engine.create, spec)
        assert sandbox.id == warm_id  # claimed, not made cold
        await wait_for(
            pilot,
            lambda: pool_line(screen) == "warm pool sandbench-base x86_64: X_SMALL 1/1 (1 used)",
            "the claim counted and the pool refilled",
            timeout=180,
        )
        await wait_for(pilot, lambda: sandbox.id in screen.rows, "the claimed sandbox listed")
        refilled = await asyncio.to_thread(warm_sandboxes, engine) - {sandbox.id}
        assert len(refilled) == 1 and not refilled & set(screen.rows)
