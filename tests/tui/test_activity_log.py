"""The activity log without Podman: the workbench's incremental reads of a store that
another process writes, the log widget's blocks, streams and bound, and its keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult

from sandbench.engine import Engine
from sandbench.model.resources import Resources
from sandbench.model.sandbox import SandboxSpec
from sandbench.store import Store
from sandbench.tui import workbench as workbench_module
from sandbench.tui.activity import ActivityLog, shown, status_text
from sandbench.tui.app import SandbenchApp
from sandbench.tui.sandboxes import SandboxesScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import VimTable
from sandbench.tui.workbench import ActivityCursor, ActivityEntry, Workbench
from tests.tui.support import (
    API_BOX,
    ActivityWorkbench,
    fixed_activity_store,
    wait_for,
    wait_for_screen,
)


def devbox(store: Store, **spec: object) -> str:
    values: dict[str, object] = {
        "image": "sandbench-base:latest",
        "resources": Resources(1, 2, 4),
        "working_directory": "/workspace",
        **spec,
    }
    made = store.insert_sandbox(
        SandboxSpec(**values),  # type: ignore[arg-type]
        owner_pid=None,
        owner_start=None,
        initiator="api",
    )
    return made.id


@pytest.fixture
def workbench(store: Store) -> Iterator[Workbench]:
    engine = Engine(store)  # never connected: reading activity needs no Podman
    yield Workbench(store, engine)
    engine.close()


def test_each_read_brings_only_what_is_new(store: Store, workbench: Workbench) -> None:
    box = devbox(store)
    other = devbox(store)
    first = store.create_execution(box, "make test")
    store.start_execution(first.id)
    store.append_execution_output(first.id, "stdout", "compiling\n")
    store.create_execution(other, "echo elsewhere")  # another sandbox's: never shown

    batch = workbench.sandbox_activity(ActivityCursor(box))
    assert [e.command for e in batch.entries] == ["make test"]
    assert batch.entries[0].status == "running"
    assert batch.output == [(first.id, "stdout", "compiling\n")]
    assert batch.cursor.open == (first.id,)
    assert (batch.cursor.default_workdir, batch.skipped, batch.more) == ("/workspace", 0, False)

    nothing = workbench.sandbox_activity(batch.cursor)
    assert nothing.output == [] and [e.id for e in nothing.entries] == [first.id]

    store.append_execution_output(first.id, "stderr", "warning: old\n")
    store.append_execution_output(first.id, "stdout", "ok\n")
    store.finish_execution(first.id, 0)
    second = store.create_execution(box, "ls", user="agent", working_directory="/tmp")
    later = workbench.sandbox_activity(nothing.cursor)
    assert later.output == [(first.id, "stderr", "warning: old\n"), (first.id, "stdout", "ok\n")]
    ended, queued = later.entries
    assert (ended.status, ended.exit_status) == ("completed", 0)
    assert (queued.id, queued.user, queued.working_directory) == (second.id, "agent", "/tmp")
    assert ended.user is None and ended.working_directory is None  # the sandbox's own
    assert later.cursor.open == (second.id,)  # the ended one is read for the last time


def test_a_flood_arrives_over_several_reads_and_a_long_history_keeps_its_newest(
    store: Store, workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workbench_module, "ACTIVITY_CHUNKS", 3)
    monkeypatch.setattr(workbench_module, "ACTIVITY_KEEP", 2)
    box = devbox(store)
    old = store.create_execution(box, "echo old")
    store.finish_execution(old.id, 0)
    made = [store.create_execution(box, f"step {i}") for i in range(2)]
    for i in range(5):
        store.append_execution_output(made[0].id, "stdout", f"line {i}\n")
    store.finish_execution(made[0].id, 0)

    batch = workbench.sandbox_activity(ActivityCursor(box))
    assert batch.skipped == 1  # "echo old": before the newest two
    assert [e.command for e in batch.entries] == ["step 0", "step 1"]
    assert len(batch.output) == 3 and batch.more
    rest = workbench.sandbox_activity(batch.cursor)
    assert [text for _, _, text in rest.output] == ["line 3\n", "line 4\n"]
    assert not rest.more and rest.cursor.open == (made[1].id,)


def entry(execution_id: str, status: str = "running", **fields: object) -> ActivityEntry:
    values: dict[str, object] = {
        "id": execution_id,
        "command": f"run {execution_id}",
        "status": status,
        "exit_status": None,
        "failure": None,
        "create_time_ms": 0,
        "start_time_ms": 0,
        **fields,
    }
    return ActivityEntry(**values)  # type: ignore[arg-type]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ActivityLog(lambda: 2500, max_lines=8)


async def test_concurrent_commands_keep_their_blocks_and_the_log_stays_bounded() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(ActivityLog)
        log.apply([entry("a"), entry("b")], [("a", "stdout", "a1\na"), ("b", "stderr", "b1\n")])
        log.apply([], [("a", "stdout", "2\n"), ("a", "stderr", "oops\n")])
        await pilot.pause()
        assert log.blocks["a"].lines == [(False, "a1"), (False, "a2"), (True, "oops")]
        assert log.blocks["b"].lines == [(True, "b1")]
        text = log.text()
        assert text[0].endswith("$ run a  running… 2.5s")
        assert text[1:4] == ["  a1", "  a2", "│ oops"]
        assert text[5] == "│ b1"

        done = entry("a", "completed", exit_status=0, end_time_ms=1200)
        log.apply([done], [("b", "stdout", "".join(f"n{i}\n" for i in range(10)))])
        await pilot.pause()
        assert list(log.blocks) == ["b"] and log.earlier == 1  # "a" went for the bound
        text = log.text()
        assert text[0] == "… 1 earlier command not shown (all are stored)"
        assert "… 4 earlier lines not shown (all are stored)" in text[2]
        assert text[-1] == "  n9" and len(log.blocks["b"].lines) == 7
        log.apply([done], [("a", "stdout", "late\n")])  # news of a dropped command: ignored
        assert list(log.blocks) == ["b"]


def test_output_is_drawn_as_a_terminal_would() -> None:
    assert shown("\x1b[31mred\x1b[0m\tok") == "red     ok"
    assert shown("10%\r50%\r100%") == "100%"
    assert shown("bell\x07") == "bell�"
    assert status_text(entry("x", "completed", exit_status=2, end_time_ms=300), 0) == (
        "exit 2 · 0.3s",
        "activity--failed",
    )
    killed = entry("x", "completed", failure="killed", end_time_ms=1000)
    assert status_text(killed, 0)[0] == "killed · 1.0s"
    assert status_text(entry("x", "queued"), 0)[0] == "queued…"


async def test_keys_open_focus_follow_and_close_the_activity_log(
    store: Store, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    fixed_activity_store(store, monkeypatch)
    monkeypatch.undo()  # ids and times fixed for what is stored; the next box is new
    quiet = devbox(store, name="quiet-box")
    engine = Engine(store)
    app = SandbenchApp(ActivityWorkbench(store, engine))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_screen(pilot, ScenariosScreen, "the scenarios")
            await pilot.press("b")
            screen = await wait_for_screen(pilot, SandboxesScreen, "the sandboxes")
            await wait_for(pilot, lambda: len(screen.rows) == 2, "both sandboxes")
            table = screen.query_one(VimTable)
            log = screen.query_one(ActivityLog)
            assert screen.selected_id() == quiet  # newest first
            await pilot.press("l")
            assert log.display and log.has_focus and screen.activity_id == quiet
            await wait_for(pilot, lambda: "No commands yet" in " ".join(log.text()), "empty")

            await pilot.press("l")  # from the log: closed, back on the list
            assert not log.display and table.has_focus
            await pilot.press("j", "l")  # the devbox made through the API
            assert screen.activity_id == API_BOX
            await wait_for(pilot, lambda: len(log.blocks) == 2, "its two commands")
            title = str(screen.query_one("#activity-title").render())
            assert "2 commands · 1 running" in title and "agent-devbox" in title

            table.focus()
            await pilot.press("k")  # the log follows the list's selection
            assert screen.activity_id == quiet
            await wait_for(pilot, lambda: "No commands yet" in " ".join(log.text()), "reset")
            await pilot.press("l")  # from the list: to the log, still open
            assert log.has_focus and log.display

            await pilot.press("escape")  # closes the log first
            assert screen.activity_id is None and app.screen is screen
            await pilot.press("escape")
            assert isinstance(app.screen, ScenariosScreen)
    finally:
        engine.close()
