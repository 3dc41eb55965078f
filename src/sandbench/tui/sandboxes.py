"""The sandboxes screen: every sandbox with its state, preset, idle time and live load,
and the selected one's activity log.

The list and the containers' stats are read in a thread worker every ``POLL_S`` seconds;
each action runs in a thread worker, says how it went in a notification and reloads.
Keys show only when they apply to the selected sandbox's state.

``l`` opens the activity log under the list: every command a client ran in the selected
sandbox (through ``sandbench serve``, usually another process writing the same store), its
output streaming in. While it shows, a thread worker reads what is new every
``ACTIVITY_POLL_S`` seconds (new commands, the state of those still going, output past
what was read), never the whole log again.

The disk each sandbox holds on the host (its sparse disk file's real blocks) is read with
the list; what sandbench's images hold, every ``IMAGES_POLL_S`` seconds (a Podman call).
Both totals are in the title; the per-sandbox figure is a column where the width allows.

The warm pool is a line above the status, read with the list (the same report as
`sandbench pool status`): per image and architecture, each size's warm/wanted count and the
refills in flight. Warm sandboxes have no store row, so they are not in the list until a
create claims one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from sandbench.engine.pool import PoolReport
from sandbench.engine.usage import ImageUsage, human
from sandbench.model.sandbox import SandboxState
from sandbench.runner.retention import Report
from sandbench.tui import keys
from sandbench.tui.activity import ActivityLog
from sandbench.tui.messages import WorkFailed, reporting
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.widgets import KeyedScreen, VimTable, truncate
from sandbench.tui.workbench import ActivityBatch, ActivityCursor, SandboxRow, SandboxStats

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

POLL_S = 2.0
IMAGES_POLL_S = 30.0
ACTIVITY_POLL_S = 0.4  # while the activity log shows: commands appear as they run
RUNNING = SandboxState.RUNNING.value
SUSPENDED = SandboxState.SUSPENDED.value

EMPTY_LIVE = (
    "No live sandboxes.\n\n"
    "Runs make them: [b]r[/b] on the scenarios screen runs a scenario in a new sandbox."
    " [b]e[/b] here shows the ended ones too."
)
EMPTY_ALL = "No sandboxes at all yet. Runs make them: [b]r[/b] on the scenarios screen."
EMPTY_ACTIVITY = "No commands yet: those run through the API (sandbench serve) show here live."
ORIGINS = {"api": "made through the API", "cli": "made from the command line"}


@dataclass
class SandboxesLoaded(Message):
    generation: int
    rows: list[SandboxRow] | None  # None: the store could not be read
    stats: dict[str, SandboxStats] = field(default_factory=dict)
    error: BaseException | None = None
    disks: dict[str, int] | None = None  # None: could not be read
    pool: PoolReport | None = None  # None: could not be read


@dataclass
class ImagesMeasured(Message):
    images: ImageUsage | None  # None: Podman could not say


@dataclass
class ActivityLoaded(Message):
    generation: int
    batch: ActivityBatch | None  # None: the store could not be read
    error: BaseException | None = None


def idle_text(row: SandboxRow, now_ms: int) -> str:
    """Time since the last activity (or creation), for sandboxes that still exist."""
    if row.ended:
        return "-"
    since = row.last_activity_ms or row.create_time_ms
    seconds = max(0, (now_ms - since) // 1000)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def cpu_text(stats: SandboxStats | None) -> str:
    if stats is None or stats.cpu_percent is None:
        return "-"
    value = stats.cpu_percent
    return f"{value:.0f}%" if value >= 100 else f"{value:.1f}%"


def memory_text(stats: SandboxStats | None) -> str:
    if stats is None or stats.memory_bytes is None:
        return "-"
    value = float(stats.memory_bytes)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 10 else f"{value:.1f}{unit}"
        value /= 1024
    return "-"  # not reached


def tail(text: str, width: int) -> str:
    """The end of an id (its random part) when it does not fit: the status line has it all."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def preset_text(row: SandboxRow) -> str:
    return f"{row.cpu:g}c {row.memory_gib}G {row.disk_gib}G"


def disk_text(row: SandboxRow, disks: dict[str, int]) -> str:
    held = disks.get(row.id)
    return "-" if held is None or row.ended else human(held)


def short_image(image: str) -> str:
    """An image's last path part, without a ``:latest`` tag: the pool line is narrow."""
    return image.rsplit("/", 1)[-1].removesuffix(":latest")


def pool_text(report: PoolReport) -> str:
    """The pool line after its label: per image and architecture, each size's warm/wanted
    count, the refills in flight (or failing) and how many creates it served."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in report.rows:
        text = f"{row.preset or row.name or 'custom'} {row.ready}/{row.size}"
        if row.creating:
            text += f" +{row.creating} refilling"
        elif row.failing or (row.last_error and row.ready < row.size and not report.kept_here):
            text += " failing"
        if row.claimed:
            text += f" ({row.claimed} used)"
        image = short_image(row.image) if row.image else row.key.split("/")[0] or "?"
        groups.setdefault((image, row.architecture), []).append(text)
    if not groups:
        return "none configured (config set warm_pool.SMALL 2)"
    text = " · ".join(
        f"{image} {arch}: {', '.join(texts)}" for (image, arch), texts in groups.items()
    )
    if not report.kept_here:  # the engine starts its pool with its first sandbox
        text += " · starts with the first sandbox"
    return text


COLUMN_KEYS = ("id", "name", "origin", "state", "preset", "arch", "idle", "cpu", "mem", "disk")
LABELS = {
    "id": "SANDBOX",
    "name": "NAME",
    "origin": "ORIGIN",
    "state": "STATE",
    "preset": "CPU/MEM/DISK",
    "arch": "ARCH",
    "idle": "IDLE",
    "cpu": "CPU%",
    "mem": "MEM",
    "disk": "DISK",
}


def retention_summary(report: Report) -> str:
    """One notice's worth: what the retention policy removed and freed, or why nothing."""
    removed = report.removed
    if not removed and not report.failed:
        kept = f"; {len(report.spared)} kept in use" if report.spared else ""
        return f"nothing to remove ({report.policy}){kept}"
    count = len(removed)
    parts = [
        f"removed {count} old run sandbox" + ("" if count == 1 else "es"),
        f"freed {human(report.freed_bytes)}",
    ]
    if report.failed:
        parts.append(f"{len(report.failed)} could not be removed (see {LOG_HINT})")
    return ", ".join(parts)


LOG_HINT = "retention.log in `sandbench config path`'s logs"


class SandboxesScreen(KeyedScreen):
    KEYS = keys.SANDBOXES
    BINDINGS = keys.bindings(KEYS)
    SUB_TITLE = "sandboxes"

    def __init__(self) -> None:
        super().__init__(id="sandboxes-screen")
        self.rows: dict[str, SandboxRow] = {}
        self.stats: dict[str, SandboxStats] = {}
        self.disks: dict[str, int] | None = None  # bytes each sandbox's disk holds
        self.images: ImageUsage | None = None
        self.pool: PoolReport | None = None
        self._measuring = False
        self.include_ended = False
        self.busy: set[str] = set()  # sandboxes with an action in flight
        self.loaded_once = False
        self.fetching = False
        self.failing = False  # the last load failed (said once, not every poll)
        self._generation = 0
        self._widths: dict[str, int] = {}
        self.activity_id: str | None = None  # the sandbox whose log shows (None: closed)
        self._activity_cursor: ActivityCursor | None = None
        self._activity_generation = 0
        self._activity_fetching = False
        self._activity_failing = False

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield VimTable(id="sandboxes")
        yield Static("", id="empty", classes="empty")
        yield Static("", id="activity-title", classes="activity-title")
        yield ActivityLog(self.sandbench.workbench.now_ms, id="activity")
        yield Static("", id="pool", classes="status")
        yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.query_one("#activity-title").display = False
        self.query_one(ActivityLog).display = False
        self.query_one("#pool").display = False  # until the pool has been read
        self._widths = self._column_widths()
        self.query_one(VimTable).set_columns(self._columns())
        self.query_one(VimTable).focus()
        self.reload()
        self.measure_images()
        self.set_interval(POLL_S, self._poll)
        self.set_interval(IMAGES_POLL_S, self.measure_images)
        self.set_interval(ACTIVITY_POLL_S, self._poll_activity)
        self.set_interval(1.0, self._tick_activity)

    def _column_widths(self) -> dict[str, int]:
        width = self.app.size.width
        if width < 120:
            return {
                "id": 10,
                "name": 9,
                "state": 10,
                "preset": 10,
                "arch": 6,
                "idle": 5,
                "cpu": 5,
                "mem": 6,
            }
        fixed = {
            "id": 26,
            "origin": 8,
            "state": 12,
            "preset": 14,
            "arch": 7,
            "idle": 6,
            "cpu": 7,
            "mem": 8,
            "disk": 7,
        }

        def spare() -> int:
            return width - sum(fixed.values()) - 2 * (len(fixed) + 1) - 2

        if spare() < 10:  # DISK only where it fits beside a readable NAME
            del fixed["disk"]
        widths = {"name": min(max(10, spare()), 40), **fixed}
        return {key: widths[key] for key in COLUMN_KEYS if key in widths}

    def _columns(self) -> list[tuple[str, str, int]]:
        labels = {**LABELS, "preset": "PRESET"} if self._widths["preset"] < 12 else LABELS
        return [(labels[key], key, width) for key, width in self._widths.items()]

    def on_resize(self) -> None:
        if not self._widths or self._column_widths() == self._widths:
            return
        self._widths = self._column_widths()
        table = self.query_one(VimTable)
        table.clear(columns=True)
        table.set_columns(self._columns())
        self._fill(list(self.rows.values()), self.selected_id())

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._generation += 1
        self.fetching = True
        self._fetch(self._generation, self.include_ended)

    def _poll(self) -> None:
        if not self.fetching:
            self.reload()

    @work(thread=True, exit_on_error=False, group="sandbox-list")
    def _fetch(self, generation: int, include_ended: bool) -> None:
        workbench = self.sandbench.workbench
        try:
            rows = workbench.sandbox_rows(include_ended)
        except Exception as error:
            self.post_message(SandboxesLoaded(generation, None, error=error))
            return
        running = [r.id for r in rows if r.state == RUNNING]
        stats = workbench.sandbox_stats(running) if running else {}
        try:
            disks: dict[str, int] | None = workbench.sandbox_disks()
        except Exception:  # the list still shows; the title says nothing of disks
            disks = None
        try:
            pool: PoolReport | None = workbench.pool_report()
        except Exception:  # no Podman: said at start-up and by the list's stats
            pool = None
        self.post_message(SandboxesLoaded(generation, rows, stats, disks=disks, pool=pool))

    def measure_images(self) -> None:
        if not self._measuring:
            self._measuring = True
            self._measure_images()

    @work(thread=True, exit_on_error=False, group="sandbox-images")
    def _measure_images(self) -> None:
        try:
            measured: ImageUsage | None = self.sandbench.workbench.image_usage()
        except Exception:  # no Podman: said at start-up, not here every 30 s
            measured = None
        self.post_message(ImagesMeasured(measured))

    def on_images_measured(self, message: ImagesMeasured) -> None:
        self._measuring = False
        self.images = message.images
        self._update_title()

    def on_sandboxes_loaded(self, message: SandboxesLoaded) -> None:
        if message.generation != self._generation:
            return
        self.fetching = False
        if message.rows is None:
            if not self.failing and message.error is not None:
                self.app.post_message(WorkFailed("List sandboxes", message.error))
            self.failing = True
            self._update_status()
            return
        self.failing = False
        self.loaded_once = True
        self.stats = message.stats
        self.disks = message.disks
        self._update_pool(message.pool)
        selected = self.selected_id()
        table = self.query_one(VimTable)
        if list(self.rows) == [r.id for r in message.rows]:
            for row in message.rows:
                self.rows[row.id] = row
                for key, value in zip(self._widths, self._cells(row), strict=True):
                    table.update_cell(row.id, key, value)
        else:
            self._fill(message.rows, selected)
        self._update_status()
        self._update_title()
        self._update_activity_title()
        self.refresh_keys()

    def _update_title(self) -> None:
        """The header: what the sandboxes' disks and sandbench's images hold on the host."""
        parts = ["sandboxes"]
        if self.disks is not None:
            parts.append(f"disks {human(sum(self.disks.values()))}")
        if self.images is not None:
            parts.append(f"images {human(self.images.bytes)}")
        self.sub_title = " · ".join(parts)

    def _update_pool(self, report: PoolReport | None) -> None:
        """The pool line: hidden until first read; kept, marked stale, when a read fails."""
        line = self.query_one("#pool", Static)
        if report is not None:
            self.pool = report
        if self.pool is None:
            return
        text = pool_text(self.pool)
        if report is None:
            text = "(could not read it now) " + text
        line.update(Text.assemble(("warm pool ", "bold"), text, no_wrap=True, overflow="ellipsis"))
        line.display = True

    def _fill(self, rows: list[SandboxRow], selected: str | None) -> None:
        table = self.query_one(VimTable)
        table.clear()
        self.rows = {row.id: row for row in rows}
        for row in rows:
            table.add_row(*self._cells(row), key=row.id)
        if selected in self.rows:
            table.move_cursor(row=table.get_row_index(selected))

    def _cells(self, row: SandboxRow) -> list[str]:
        """The row's cells, for the columns this width shows (ORIGIN only when wide)."""
        widths = self._widths
        stats = self.stats.get(row.id) if row.state == RUNNING else None
        cells = {
            "id": lambda: tail(row.id, widths["id"]),
            "name": lambda: truncate(row.name or "-", widths["name"]),
            "origin": lambda: truncate(row.origin or "-", widths["origin"]),
            "state": lambda: truncate(row.shown_state, widths["state"]),
            "preset": lambda: truncate(preset_text(row), widths["preset"]),
            "arch": lambda: truncate(row.arch, widths["arch"]),
            "idle": lambda: idle_text(row, self.sandbench.workbench.now_ms()),
            "cpu": lambda: cpu_text(stats),
            "mem": lambda: memory_text(stats),
            "disk": lambda: disk_text(row, self.disks or {}),
        }
        return [cells[key]() for key in widths]

    def _update_status(self) -> None:
        nothing = self.loaded_once and not self.rows
        empty = self.query_one("#empty", Static)
        if nothing:
            empty.update(EMPTY_ALL if self.include_ended else EMPTY_LIVE)
        empty.display = nothing
        self.query_one(VimTable).display = not nothing
        parts = []
        if self.loaded_once:
            count = len(self.rows)
            what = "sandbox" if count == 1 else "sandboxes"
            parts.append(f"{count} {what}" if self.include_ended else f"{count} live {what}")
            row = self.selected()
            if row is not None:
                parts.append(row.id)
                if row.run_id:
                    parts.append(f"run {row.run_id}")
                if row.origin in ORIGINS and "origin" not in self._widths:
                    parts.append(ORIGINS[row.origin])
                if row.detail:
                    parts.append(row.detail)
        elif self.fetching:
            parts.append("loading…")
        if self.failing:
            parts.append("cannot read the sandboxes (ctrl+l retries)")
        self.query_one("#status", Static).update(" · ".join(parts))

    def selected_id(self) -> str | None:
        tables = self.query(VimTable)
        if not tables:
            return None  # the screen is gone (a key check scheduled before it was popped)
        table = tables.first()
        if not self.rows or not table.display:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def selected(self) -> SandboxRow | None:
        selected = self.selected_id()
        return None if selected is None else self.rows.get(selected)

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._update_status()
        selected = self.selected_id()
        if self.activity_id is not None and selected not in (None, self.activity_id):
            self._show_activity(selected)  # the log follows the list's selection
        self.refresh_keys()

    # ------------------------------------------------------------------ activity log

    def _show_activity(self, sandbox_id: str) -> None:
        """The activity log of ``sandbox_id``, read from the start (its newest commands)."""
        self.activity_id = sandbox_id
        self._activity_generation += 1
        self._activity_cursor = ActivityCursor(sandbox_id)
        self._activity_failing = False
        log = self.query_one(ActivityLog)
        log.clear()
        log.empty_text = "loading…"
        log.display = True
        self.query_one("#activity-title").display = True
        self._update_activity_title()
        if not self._activity_fetching:  # else: read again when the one going returns
            self._read_activity_now()

    def _hide_activity(self) -> None:
        self.activity_id = None
        self._activity_generation += 1
        self._activity_cursor = None
        log = self.query_one(ActivityLog)
        log.display = False
        log.clear()
        self.query_one("#activity-title").display = False
        self.query_one(VimTable).focus()

    def _poll_activity(self) -> None:
        if self.activity_id is not None and self.is_current and not self._activity_fetching:
            self._read_activity_now()

    def _read_activity_now(self) -> None:
        if self._activity_cursor is None:
            return
        self._activity_fetching = True
        self._read_activity(self._activity_generation, self._activity_cursor)

    @work(thread=True, exit_on_error=False, group="sandbox-activity")
    def _read_activity(self, generation: int, cursor: ActivityCursor) -> None:
        try:
            batch = self.sandbench.workbench.sandbox_activity(cursor)
        except Exception as error:
            self.post_message(ActivityLoaded(generation, None, error))
            return
        self.post_message(ActivityLoaded(generation, batch))

    def on_activity_loaded(self, message: ActivityLoaded) -> None:
        self._activity_fetching = False
        if message.generation != self._activity_generation:
            self._poll_activity()  # another sandbox was selected meanwhile: its turn now
            return
        log = self.query_one(ActivityLog)
        batch = message.batch
        if batch is None:
            if not self._activity_failing and message.error is not None:
                self.app.post_message(WorkFailed(f"Activity of {self.activity_id}", message.error))
            self._activity_failing = True
            self._update_activity_title()
            return
        self._activity_failing = False
        self._activity_cursor = batch.cursor
        if log.empty_text != EMPTY_ACTIVITY:
            log.empty_text = EMPTY_ACTIVITY
            log.refresh()
        log.apply(batch.entries, batch.output, batch.skipped)
        self._update_activity_title()
        if batch.more:
            self._read_activity_now()

    def _tick_activity(self) -> None:
        """Durations of the commands still going move on."""
        log = self.query_one(ActivityLog)
        if self.activity_id is not None and log.running:
            log.refresh()
            self._update_activity_title()

    def _update_activity_title(self) -> None:
        if self.activity_id is None:
            return
        log = self.query_one(ActivityLog)
        row = self.rows.get(self.activity_id)
        parts = [self.activity_id + (f" {row.name}" if row is not None and row.name else "")]
        count = len(log.blocks) + log.earlier
        if self._activity_cursor is not None and self._activity_cursor.execution_seq is not None:
            parts.append(f"{count} command" + ("" if count == 1 else "s"))
            going = sum(1 for block in log.blocks.values() if not block.entry.finished)
            if going:
                parts.append(f"{going} running")
        if self._activity_failing:
            parts.append("cannot read it (retrying)")
        title = Text.assemble(("activity ", "bold"), " · ".join(parts))  # names: not markup
        self.query_one("#activity-title", Static).update(title)

    # ------------------------------------------------------------------ which keys apply

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "activity":
            return self.activity_id is not None or self.selected() is not None
        if action not in ("suspend", "resume", "pause", "unpause", "shell", "remove"):
            return True
        row = self.selected()
        if row is None or row.id in self.busy:
            return False
        running = row.state == RUNNING
        if action == "suspend":
            return running and not row.paused
        if action == "resume":
            return row.state == SUSPENDED
        if action == "pause":
            return running and not row.paused
        if action == "unpause":
            return running and row.paused
        if action == "shell":
            return running
        return not row.ended  # remove

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.reload()
        self.measure_images()

    def action_back(self) -> None:
        if self.activity_id is not None:
            self._hide_activity()
            self.refresh_keys()
            return
        self.app.pop_screen()

    def action_activity(self) -> None:
        """Open the selected sandbox's log (focused); from the list, go to the log; from
        the log, close it."""
        log = self.query_one(ActivityLog)
        if self.activity_id is None:
            row = self.selected()
            if row is None:
                return
            self._show_activity(row.id)
            log.focus()
        elif log.has_focus:
            self._hide_activity()
        else:
            log.focus()
        self.refresh_keys()

    def action_toggle_ended(self) -> None:
        self.include_ended = not self.include_ended
        self.notify(
            "Showing ended sandboxes too." if self.include_ended else "Showing live sandboxes.",
            timeout=3,
        )
        self.reload()

    def _start(self, verb: str, method: str, done: str) -> None:
        row = self.selected()
        if row is None or self.check_action(method, ()) is not True:
            return
        self.busy.add(row.id)
        self.refresh_keys()
        self._act(row.id, verb, f"{method}_sandbox", done)

    @work(thread=True, exit_on_error=False, group="sandbox-actions")
    def _act(self, sandbox_id: str, verb: str, method: str, done: str) -> None:
        try:
            with reporting(self.app, f"{verb} {sandbox_id}"):
                getattr(self.sandbench.workbench, method)(sandbox_id)
                self.app.call_from_thread(
                    self.app.notify, f"{sandbox_id} {done}", title=f"{verb} done"
                )
        finally:
            self.app.call_from_thread(self._action_ended, sandbox_id)

    def _action_ended(self, sandbox_id: str) -> None:
        self.busy.discard(sandbox_id)
        self.refresh_keys()
        self.reload()

    def action_suspend(self) -> None:
        self._start("Suspend", "suspend", "suspended (disk kept, container gone)")

    def action_resume(self) -> None:
        self._start("Resume", "resume", "running again")

    def action_pause(self) -> None:
        self._start("Pause", "pause", "paused")

    def action_unpause(self) -> None:
        self._start("Unpause", "unpause", "running again")

    def action_remove(self) -> None:
        row = self.selected()
        if row is None or self.check_action("remove", ()) is not True:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start("Remove", "remove", "removed (container and disk gone)")

        self.app.push_screen(
            ConfirmScreen(
                "Remove sandbox",
                f"Shut down {row.id} for good? Its container and disk go; this cannot be undone.",
                "Remove",
            ),
            confirmed,
        )

    def action_prune(self) -> None:
        self._prune()

    @work(thread=True, exit_on_error=False, group="sandbox-actions")
    def _prune(self) -> None:
        try:
            with reporting(self.app, "Prune"):
                cleaned = self.sandbench.workbench.prune_sandboxes()
                if cleaned:
                    shown = ", ".join(cleaned[:5]) + (" …" if len(cleaned) > 5 else "")
                    message = f"removed {len(cleaned)}: {shown}"
                else:
                    message = "nothing left behind"
                self.app.call_from_thread(self.app.notify, message, title="Prune done")
        finally:
            self.app.call_from_thread(self.reload)

    def action_collect(self) -> None:
        self._collect()

    @work(thread=True, exit_on_error=False, group="sandbox-actions")
    def _collect(self) -> None:
        try:
            with reporting(self.app, "Clean up"):
                report = self.sandbench.workbench.collect_sandboxes()
                self.app.call_from_thread(
                    self.app.notify, retention_summary(report), title="Clean up done"
                )
        finally:
            self.app.call_from_thread(self.reload)

    def action_shell(self) -> None:
        row = self.selected()
        if row is None or self.check_action("shell", ()) is not True:
            return
        self.sandbench.open_shell(row.id)
        self.reload()
