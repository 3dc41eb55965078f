"""The runs screen: runs newest first (all, or one scenario's), paged from the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from sandbench.model.runs import ScenarioRun
from sandbench.store import Page
from sandbench.tui import keys
from sandbench.tui.messages import RunUpdated, reporting
from sandbench.tui.widgets import VimTable, ago, score_text, seconds, truncate
from sandbench.tui.workbench import RunDetail

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

PAGE_SIZE = 100
LOAD_AHEAD = 25


@dataclass
class RunsLoaded(Message):
    generation: int
    reset: bool
    page: Page[ScenarioRun] | None


@dataclass
class DetailLoaded(Message):
    detail: RunDetail


class RunsScreen(Screen):
    KEYS = keys.RUNS
    BINDINGS = keys.bindings(KEYS)

    def __init__(self, scenario_id: str | None, scenario_name: str | None) -> None:
        super().__init__()
        self.scenario_id = scenario_id
        self.scenario_name = scenario_name
        self.runs: dict[str, ScenarioRun] = {}
        self._widths: dict[str, int] = {}
        self.total = 0
        self.has_more = False
        self.fetching = False
        self.loaded_once = False
        self._generation = 0
        self.sub_title = f"runs of {scenario_name}" if scenario_name else "all runs"

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield VimTable(id="runs")
        yield Static("", id="empty", classes="empty")
        yield Static("", id="status", classes="status")
        yield Footer()

    def _column_widths(self) -> dict[str, int]:
        """Fixed widths that fit the terminal: the run id only where there is room for
        it (the run screen shows it too); the scenario name takes what is left."""
        fixed = {"started": 8, "solution": 11, "state": 9, "score": 5, "time": 6}
        if self.app.size.width >= 110:
            fixed["id"] = 26
        spare = self.app.size.width - sum(fixed.values()) - 2 * (len(fixed) + 1) - 2
        widths = {"started": 8, "scenario": min(max(12, spare), 40)}
        widths.update({key: fixed[key] for key in fixed if key != "started"})
        return widths

    def _build_columns(self) -> None:
        labels = {"id": "RUN"}
        table = self.query_one(VimTable)
        table.clear(columns=True)
        table.set_columns(
            [(labels.get(key, key.upper()), key, width) for key, width in self._widths.items()]
        )
        for run in self.runs.values():
            table.add_row(*self._cells(run), key=run.id)

    def on_resize(self) -> None:
        if self._widths and self._column_widths() != self._widths:
            cursor = self.query_one(VimTable).cursor_row
            self._widths = self._column_widths()
            self._build_columns()
            if self.runs:
                self.query_one(VimTable).move_cursor(row=min(cursor, len(self.runs) - 1))

    def on_mount(self) -> None:
        self._widths = self._column_widths()
        self._build_columns()
        self.query_one("#empty").display = False
        self.query_one(VimTable).focus()
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.fetching = True
        self._update_status()
        self._fetch(self._generation, True, None)

    def load_more(self) -> None:
        if self.fetching or not self.has_more or not self.runs:
            return
        self.fetching = True
        self._fetch(self._generation, False, next(reversed(self.runs)))

    @work(thread=True, exit_on_error=False, group="run-pages")
    def _fetch(self, generation: int, reset: bool, after: str | None) -> None:
        page = None
        with reporting(self.app, "List runs"):
            page = self.sandbench.workbench.runs_page(self.scenario_id, after, PAGE_SIZE)
        self.post_message(RunsLoaded(generation, reset, page))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        if message.generation != self._generation:
            return
        self.fetching = False
        table = self.query_one(VimTable)
        if message.page is None:
            self._update_status()
            return
        selected = self.selected_id()
        if message.reset:
            table.clear()
            self.runs.clear()
        self.loaded_once = True
        self.total = message.page.total_count
        self.has_more = message.page.has_more
        for run in message.page.items:
            if run.id in self.runs:
                continue
            self.runs[run.id] = run
            table.add_row(*self._cells(run), key=run.id)
        if message.reset and selected in self.runs:
            table.move_cursor(row=table.get_row_index(selected))
        self._update_status()

    def _cells(self, run: ScenarioRun) -> list[str]:
        now = self.sandbench.workbench.now_ms()
        cells = {
            "started": ago(run.start_time_ms, now),
            "scenario": truncate(run.name or run.scenario_id, self._widths["scenario"]),
            "solution": run.solution.value,
            "state": run.state.value,
            "score": score_text(run.score),
            "time": seconds(run.duration_ms),
            "id": run.id,
        }
        return [cells[key] for key in self._widths]

    def _update_status(self) -> None:
        nothing = self.loaded_once and not self.runs and not self.fetching
        empty = self.query_one("#empty", Static)
        if nothing:
            empty.update(
                "No runs yet. Back on the scenarios screen, [b]r[/b] runs the selected scenario."
            )
        empty.display = nothing
        self.query_one(VimTable).display = not nothing
        parts = []
        if self.loaded_once:
            parts.append(f"{self.total} run{'' if self.total == 1 else 's'}")
            if self.has_more:
                parts.append(f"{len(self.runs)} loaded")
        if self.fetching:
            parts.append("loading…")
        self.query_one("#status", Static).update(" · ".join(parts))

    def selected_id(self) -> str | None:
        table = self.query_one(VimTable)
        if not self.runs:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.has_more and event.cursor_row >= len(self.runs) - LOAD_AHEAD:
            self.load_more()

    def on_data_table_row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        run_id = self.selected_id()
        if run_id is None:
            self.notify("No run selected.", severity="warning")
            return
        self._open(run_id)

    @work(thread=True, exit_on_error=False, group="open-run")
    def _open(self, run_id: str) -> None:
        with reporting(self.app, "Open run"):
            self.post_message(DetailLoaded(self.sandbench.workbench.run_detail(run_id)))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.sandbench.open_run(message.detail)

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_run_updated(self, message: RunUpdated) -> None:
        run = message.run
        if self.scenario_id is not None and run.scenario_id != self.scenario_id:
            return
        if run.id in self.runs:
            self.runs[run.id] = run
            table = self.query_one(VimTable)
            for key, value in zip(self._widths, self._cells(run), strict=True):
                table.update_cell(run.id, key, value)
        else:
            self.reload()  # a new run goes on top
