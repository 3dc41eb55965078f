"""The sandboxes screen's activity log against a real `sandbench serve` (another process
writing the same store): a devbox made through the Runloop SDK is listed as made through
the API, and the commands a client runs in it fill its log live, command by command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbench.tui.activity import ActivityLog
from sandbench.tui.app import SandbenchApp
from sandbench.tui.sandboxes import SandboxesScreen
from sandbench.tui.scenarios import ScenariosScreen
from tests.tui.support import wait_for, wait_for_screen

TICKS = "for i in 1 2 3; do echo tick$i; sleep 0.3; done"
SECOND = "echo second-out; echo second-err >&2; exit 3"


def outputs(log: ActivityLog, execution_id: str) -> list[tuple[bool, str]]:
    """A command's output lines in the log: (from stderr, text)."""
    block = log.blocks.get(execution_id)
    return [] if block is None else list(block.lines)


def header(log: ActivityLog, execution_id: str) -> str:
    index = list(log.blocks).index(execution_id)
    lines = log.text()
    headers = [line for line in lines if " $ " in line and not line.startswith(" ")]
    return headers[index]


@pytest.mark.podman
async def test_commands_run_through_the_api_fill_the_activity_log_live(
    api_server: Any, live_app: SandbenchApp
) -> None:
    sdk = api_server.sdk()
    devbox = await asyncio.to_thread(sdk.devboxes.create_and_await_running, name="tui-activity")
    async with live_app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, ScenariosScreen, "the scenarios")
        await pilot.press("b")
        screen = await wait_for_screen(pilot, SandboxesScreen, "the sandboxes")
        await wait_for(pilot, lambda: devbox.id in screen.rows, "the devbox in the list")
        row = screen.rows[devbox.id]
        assert (row.name, row.origin, row.state) == ("tui-activity", "api", "running")
        assert screen.selected_id() == devbox.id  # the only sandbox of this workspace

        await pilot.press("l")
        log = screen.query_one(ActivityLog)
        assert log.display and log.has_focus
        await wait_for(pilot, lambda: "No commands yet" in " ".join(log.text()), "an empty log")

        first = await asyncio.to_thread(sdk.devboxes.execute_async, devbox.id, command=TICKS)
        seen: set[str] = set()  # what the first command's header said, poll by poll

        def first_output() -> bool:
            block = log.blocks.get(first.execution_id)
            if block is None:
                return False
            seen.add(header(log, first.execution_id))
            return bool(block.lines)

        await wait_for(pilot, first_output, "the first command's header and output", timeout=60)
        assert outputs(log, first.execution_id)[0] == (False, "tick1")
        assert "$ for i in 1 2 3; do echo tick$i;" in header(log, first.execution_id)

        # another command while the first still runs: each keeps its own block
        second = await asyncio.to_thread(sdk.devboxes.execute_async, devbox.id, command=SECOND)

        def both_done() -> bool:
            blocks = [log.blocks.get(e) for e in (first.execution_id, second.execution_id)]
            if blocks[0] is not None:
                seen.add(header(log, first.execution_id))
            return all(b is not None and b.entry.finished for b in blocks)

        await wait_for(pilot, both_done, "both commands to end", timeout=60)
        assert list(log.blocks) == [first.execution_id, second.execution_id]
        assert outputs(log, first.execution_id) == [
            (False, "tick1"),
            (False, "tick2"),
            (False, "tick3"),
        ]
        assert sorted(outputs(log, second.execution_id)) == [
            (False, "second-out"),
            (True, "second-err"),
        ]
        assert any("running… " in h for h in seen), seen  # shown live, then ended in place
        assert "exit 0 · " in header(log, first.execution_id)
        assert "exit 3 · " in header(log, second.execution_id)
        text = log.text()
        assert text.index("  tick3") < text.index(header(log, second.execution_id))
        assert "│ second-err" in text  # stderr marked apart
        assert "2 commands" in str(screen.query_one("#activity-title").render())

        await pilot.press("l")  # from the log: closes it
        assert not log.display
        assert screen.activity_id is None

    done = await asyncio.to_thread(
        sdk.devboxes.executions.await_completed, first.execution_id, devbox_id=devbox.id
    )
    assert done.exit_status == 0
