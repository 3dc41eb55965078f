"""A sandbox's activity log: every command run in it, live.

Each command is a header line (its time, ``$ command``, the user and directory where they
are not the sandbox's own, then its state and duration) followed by its output, stderr
marked and coloured apart. Commands running at the same time each keep their own block:
output goes under its command, and a header changes in place when its command ends. The log is
virtual (only the lines in view are drawn) and bounded like the run screen's panes: past
``OUTPUT_MAX_LINES`` lines (headers and output) the oldest commands go, then the oldest
lines of the last one, and a note says so (the store has every line).
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sandbench.model.execution import ExecutionStatus
from sandbench.tui import keys
from sandbench.tui.widgets import OUTPUT_MAX_LINES, FollowsEnd, seconds, truncate
from sandbench.tui.workbench import ActivityEntry

INDENT = "  "  # output sits under its command's header
STDERR_INDENT = "│ "  # stderr's mark: told apart without colour too (NO_COLOR, mono theme)
FAILURE_WIDTH = 40  # of a failure reason in a header (the store has all of it)
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def shown(text: str) -> str:
    """A line of output as drawn: colours and cursor moves dropped, tabs expanded, other
    control characters visible; a carriage return keeps what was written after it, as
    a terminal shows a progress bar."""
    cut = text.rfind("\r", 0, len(text) - 1)
    if cut >= 0:
        text = text[cut + 1 :]
    return _CONTROL.sub("�", _ESCAPE.sub("", text.rstrip("\r")).expandtabs())


def clock_text(ms: int) -> str:
    """Local wall-clock time of a moment, as a log line shows it."""
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))


def command_text(command: str) -> str:
    """A command on one line: a script shows its first line."""
    lines = command.strip().splitlines() or [""]
    return lines[0] + (" …" if len(lines) > 1 else "")


def status_text(entry: ActivityEntry, now_ms: int) -> tuple[str, str]:
    """The state part of a header, and its component class (running / ok / failed)."""
    if entry.status == ExecutionStatus.QUEUED:
        return "queued…", "activity--running"
    if entry.status == ExecutionStatus.RUNNING:
        began = entry.start_time_ms or entry.create_time_ms
        return f"running… {seconds(max(0, now_ms - began))}", "activity--running"
    took = "" if entry.duration_ms is None else f" · {seconds(entry.duration_ms)}"
    if entry.failure:
        failure = truncate(entry.failure, FAILURE_WIDTH)
        code = "" if entry.exit_status is None else f"exit {entry.exit_status}, "
        return f"{code}{failure}{took}", "activity--failed"
    if entry.exit_status is None:
        return f"ended{took}", "activity--failed"
    ok = entry.exit_status == 0
    return f"exit {entry.exit_status}{took}", "activity--ok" if ok else "activity--failed"


def where_text(entry: ActivityEntry) -> str:
    parts = []
    if entry.user:
        parts.append(f"as {entry.user}")
    if entry.working_directory:
        parts.append(f"in {entry.working_directory}")
    return " ".join(parts)


@dataclass
class Block:
    """One command in the log: its header, then its output lines."""

    entry: ActivityEntry
    lines: list[tuple[bool, str]] = field(default_factory=list)  # (stderr, as drawn)
    partial: str = ""  # the last line while it has no newline yet, as written
    partial_stderr: bool = False
    trimmed: int = 0  # lines dropped from the start of its output (the bound)

    @property
    def height(self) -> int:
        return 1 + bool(self.trimmed) + len(self.lines) + bool(self.partial)


class ActivityLog(FollowsEnd, ScrollView, can_focus=True):
    """The activity log of one sandbox (the screen says which and feeds it)."""

    BINDINGS = keys.bindings(keys.LOG)
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "activity--time",
        "activity--command",
        "activity--meta",
        "activity--running",
        "activity--ok",
        "activity--failed",
        "activity--stderr",
        "activity--note",
    }

    def __init__(
        self,
        clock: Callable[[], int],
        *,
        max_lines: int = OUTPUT_MAX_LINES,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.max_lines = max_lines
        self.follow = True
        self.empty_text = ""  # drawn while there is no command to show
        self.blocks: dict[str, Block] = {}  # by execution id, oldest first
        self.earlier = 0  # commands not shown: before the first read, or dropped
        self._gone: set[str] = set()  # dropped for the bound: their news is ignored
        self._lines = 0  # lines held (headers and output), over every block
        self._width = 0  # of the widest output line
        self._starts: list[int] = []  # first row of each block
        self._order: list[Block] = []

    # ------------------------------------------------------------------ content

    def clear(self) -> None:
        self.blocks.clear()
        self._gone.clear()
        self.earlier = self._lines = self._width = 0
        self.follow = True
        self._reindex()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    @property
    def running(self) -> bool:
        """A command shown is still queued or running (its duration keeps changing)."""
        return any(not block.entry.finished for block in self.blocks.values())

    def apply(
        self,
        entries: Iterable[ActivityEntry],
        output: Iterable[tuple[str, str, str]],
        skipped: int = 0,
    ) -> None:
        """New and changed commands, then their output ``(execution id, stream, text)``
        in the order it was written: one repaint for the whole batch."""
        changed = skipped > 0
        self.earlier += skipped
        for entry in entries:
            if entry.id in self._gone:
                continue
            block = self.blocks.get(entry.id)
            if block is None:
                self.blocks[entry.id] = Block(entry)
                self._lines += 1
                changed = True
            elif block.entry != entry:
                block.entry = entry
                changed = True
        for execution_id, stream, text in output:
            block = self.blocks.get(execution_id)
            if block is not None and text:
                self._write(block, stream == "stderr", text)
                changed = True
        if not changed:
            return
        self._bound()
        self._reindex()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _write(self, block: Block, stderr: bool, text: str) -> None:
        if block.partial and block.partial_stderr != stderr:
            self._add_line(block, block.partial_stderr, block.partial)  # the other stream
            block.partial = ""
        pieces = (block.partial + text).replace("\r\n", "\n").split("\n")
        for piece in pieces[:-1]:
            self._add_line(block, stderr, piece)
        block.partial, block.partial_stderr = pieces[-1], stderr
        if block.partial:
            self._width = max(self._width, len(INDENT) + cell_len(shown(block.partial)))

    def _add_line(self, block: Block, stderr: bool, text: str) -> None:
        line = shown(text)
        block.lines.append((stderr, line))
        self._lines += 1
        self._width = max(self._width, len(INDENT) + cell_len(line))

    def _bound(self) -> None:
        """At most ``max_lines`` lines: the oldest commands go first, then the oldest lines
        of the one left."""
        while self._lines > self.max_lines and len(self.blocks) > 1:
            oldest = next(iter(self.blocks))
            block = self.blocks.pop(oldest)
            self._gone.add(oldest)
            self._lines -= 1 + len(block.lines)
            self.earlier += 1
        if self._lines > self.max_lines and self.blocks:
            block = next(iter(self.blocks.values()))
            extra = self._lines - self.max_lines
            del block.lines[:extra]
            block.trimmed += extra
            self._lines -= extra

    def _reindex(self) -> None:
        self._order = list(self.blocks.values())
        self._starts = []
        row = 1 if self.earlier else 0
        for block in self._order:
            self._starts.append(row)
            row += block.height
        self.virtual_size = Size(self._width, max(row, 1))

    def text(self) -> list[str]:
        """Every line of the log as plain text, as it is drawn now (for tests and copies)."""
        width = self.scrollable_content_region.width
        rows = self.virtual_size.height
        lines = (self._line(row, width) for row in range(rows))
        return [line.plain for line in lines if line is not None]

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        text = self._line(scroll_y + y, width)
        if text is None:
            return Strip.blank(width, base)
        text.stylize_before(base)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _line(self, row: int, width: int) -> Text | None:
        if not self._order:
            return Text(self.empty_text, style=self._style("activity--note")) if row == 0 else None
        if row == 0 and self.earlier:
            what = "command" if self.earlier == 1 else "commands"
            return self._note(f"… {self.earlier:,} earlier {what} not shown (all are stored)")
        index = bisect_right(self._starts, row) - 1
        if index < 0:
            return None
        block = self._order[index]
        offset = row - self._starts[index]
        if offset == 0:
            return self._header(block.entry, width)
        offset -= 1
        if block.trimmed:
            if offset == 0:
                return self._note(
                    f"{INDENT}… {block.trimmed:,} earlier lines not shown (all are stored)"
                )
            offset -= 1
        if offset < len(block.lines):
            stderr, line = block.lines[offset]
        elif offset == len(block.lines) and block.partial:
            stderr, line = block.partial_stderr, shown(block.partial)
        else:
            return None
        if stderr:
            return Text(STDERR_INDENT + line, style=self._style("activity--stderr"))
        return Text(INDENT + line)

    def _note(self, text: str) -> Text:
        return Text(text, style=self._style("activity--note"))

    def _header(self, entry: ActivityEntry, width: int) -> Text:
        when = clock_text(entry.create_time_ms)
        where = where_text(entry)
        status, status_class = status_text(entry, self.clock())
        fixed = len(when) + 3 + (len(where) + 1 if where else 0) + 2 + len(status)
        command = truncate(command_text(entry.command), max(12, width - fixed))
        text = Text(no_wrap=True, end="")
        text.append(when, self._style("activity--time"))
        text.append(" $ ")
        text.append(command, self._style("activity--command"))
        if where:
            text.append(" " + where, self._style("activity--meta"))
        text.append("  ")
        text.append(status, self._style(status_class))
        return text
