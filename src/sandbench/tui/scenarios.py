"""The scenarios screen: every stored scenario, filtered by name, paged from the store.

``m`` marks scenarios (by id: a mark survives the filter and paging, and shows on the row
whenever it is listed); ``M`` makes a benchmark of the marked ones, in the order marked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from sandbench.importers import SANDBENCH
from sandbench.model.benchmark import Benchmark
from sandbench.model.runs import ScenarioRun
from sandbench.tui import keys
from sandbench.tui.benchmark_dialogs import BenchmarkNameScreen
from sandbench.tui.editor import EditorScreen
from sandbench.tui.messages import RunUpdated, reporting
from sandbench.tui.modals import (
    ConfirmScreen,
    ImportResultScreen,
    PathPrompt,
    RunChoice,
    SolutionScreen,
    TemplateScreen,
)
from sandbench.tui.widgets import VimTable, ago, score_text, truncate
from sandbench.tui.workbench import RowsPage, ScenarioRow, Template

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

PAGE_SIZE = 100
LOAD_AHEAD = 25  # fetch the next page when the cursor is this close to the last row
FILTER_DELAY_S = 0.15
MARK = "● "

EMPTY = (
    "No scenarios yet.\n\n"
    "Press [b]i[/b] and import [b]{samples}[/b] to load the samples that ship with sandbench,"
    " or any .toml/.json scenario file or directory.\n"
    "From a shell: [b]sandbench scenarios import sample_scenarios[/b]"
)


class FilterInput(Input):
    BINDINGS = keys.bindings(keys.FILTER)

    class Cleared(Message):
        pass

    def action_clear(self) -> None:
        self.post_message(self.Cleared())


@dataclass
class PageLoaded(Message):
    generation: int
    reset: bool
    page: RowsPage | None  # None: loading failed (already reported)


def samples_path() -> str:
    from sandbench.tui.themes import shipped_themes_dir

    if (Path.cwd() / "sample_scenarios").is_dir():
        return "sample_scenarios"
    shipped = shipped_themes_dir().parent / "sample_scenarios"
    return str(shipped) if shipped.is_dir() else "sample_scenarios"


class ScenariosScreen(Screen):
    KEYS = keys.SCENARIOS
    BINDINGS = keys.bindings(KEYS)
    SUB_TITLE = "scenarios"

    def __init__(self) -> None:
        super().__init__(id="scenarios-screen")
        self.rows: dict[str, ScenarioRow] = {}
        self.marked: dict[str, str] = {}  # scenario id -> name, in the order marked
        self.filter_text = ""
        self.total = 0
        self.has_more = False
        self.fetching = False
        self.loaded_once = False
        self._generation = 0
        self._filter_timer: Timer | None = None
        self._widths: dict[str, int] = {}

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield VimTable(id="scenarios")
        yield Static(EMPTY.format(samples=samples_path()), id="empty", classes="empty")
        yield FilterInput(placeholder="filter by name (esc clears)", id="filter")
        yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.query_one("#filter").display = False
        self._widths = self._column_widths()
        self.query_one(VimTable).set_columns(self._columns())
        self.query_one(VimTable).focus()
        self.reload()

    def _column_widths(self) -> dict[str, int]:
        """Explicit widths (DataTable's automatic ones settle only when idle, after the
        first paint); the name takes what the others leave."""
        width = self.app.size.width
        scorers = 12 if width < 120 else 30
        fixed = {"scorers": scorers, "preset": 8, "arch": 6, "last": 15}
        spare = width - sum(fixed.values()) - 2 * (len(fixed) + 1) - 2  # padding, scrollbar
        return {"name": min(max(16, spare), 64), **fixed}

    def _columns(self) -> list[tuple[str, str, int]]:
        labels = {"name": "NAME", "scorers": "SCORERS", "preset": "PRESET", "arch": "ARCH"}
        labels["last"] = "LAST RUN"
        return [(labels[key], key, width) for key, width in self._widths.items()]

    def on_resize(self) -> None:
        if not self._widths or self._column_widths() == self._widths:
            return  # not set up yet, or nothing changes
        self._widths = self._column_widths()
        table = self.query_one(VimTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.set_columns(self._columns())
        for row in self.rows.values():
            table.add_row(*self._cells(row), key=row.id)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._generation += 1
        self.fetching = True
        self._update_status()
        self._fetch(self._generation, True, self.filter_text, None)

    def load_more(self) -> None:
        if self.fetching or not self.has_more or not self.rows:
            return
        self.fetching = True
        self._update_status()
        self._fetch(self._generation, False, self.filter_text, next(reversed(self.rows)))

    @work(thread=True, exit_on_error=False, group="scenario-pages")
    def _fetch(self, generation: int, reset: bool, name: str, after: str | None) -> None:
        page = None
        with reporting(self.app, "List scenarios"):
            page = self.sandbench.workbench.scenario_page(name, after, PAGE_SIZE)
        self.post_message(PageLoaded(generation, reset, page))

    def on_page_loaded(self, message: PageLoaded) -> None:
        if message.generation != self._generation:
            return  # an older filter's answer
        self.fetching = False
        table = self.query_one(VimTable)
        if message.page is None:
            self._update_status()
            return
        if message.reset:
            table.clear()
            self.rows.clear()
        self.loaded_once = True
        self.total = message.page.total
        self.has_more = message.page.has_more
        for row in message.page.rows:
            if row.id in self.rows:
                continue
            self.rows[row.id] = row
            table.add_row(*self._cells(row), key=row.id)
        self._update_status()
        self._near_end(table.cursor_row)

    def _cells(self, row: ScenarioRow) -> list[str | Text]:
        widths = self._widths
        scorers = f"{len(row.scorer_types)} {','.join(row.scorer_types)}"
        last = ""
        if row.last_state is not None:
            when = ago(row.last_run_ms, self.sandbench.workbench.now_ms())
            if row.last_state in ("completed", "scored"):
                last = f"{score_text(row.last_score)} {when}"
            else:
                last = f"{row.last_state} {when}"
        name: str | Text = truncate(row.name, widths["name"])
        if row.id in self.marked:
            accent = self.app.current_theme.accent or ""
            name = Text(MARK + truncate(row.name, widths["name"] - len(MARK)), f"bold {accent}")
        return [
            name,
            truncate(scorers, widths["scorers"]),
            row.preset.removesuffix("_SIZE"),
            row.arch,
            last,
        ]

    def _update_row(self, row: ScenarioRow) -> None:
        if row.id not in self.rows:
            return
        self.rows[row.id] = row
        table = self.query_one(VimTable)
        for key, value in zip(
            ("name", "scorers", "preset", "arch", "last"), self._cells(row), strict=True
        ):
            table.update_cell(row.id, key, value)

    def _update_status(self) -> None:
        empty = self.query_one("#empty", Static)
        table = self.query_one(VimTable)
        nothing = self.loaded_once and not self.rows and not self.fetching
        if nothing and not self.filter_text:
            empty.update(EMPTY.format(samples=samples_path()))
        elif nothing:
            empty.update(
                f"No scenario name contains “{escape(self.filter_text)}”."
                " [b]esc[/b] in the filter clears it."
            )
        empty.display = nothing
        table.display = not nothing
        parts = []
        if self.loaded_once:
            noun = "scenario" if self.total == 1 else "scenarios"
            parts.append(f"{self.total} {noun}")
            if self.has_more:
                parts.append(f"{len(self.rows)} loaded")
        if self.filter_text:
            parts.append(f"filter “{escape(self.filter_text)}”")
        if self.marked:
            parts.append(f"{len(self.marked)} marked · M makes a benchmark")
        if self.fetching:
            parts.append("loading…")
        self.query_one("#status", Static).update(" · ".join(parts))

    def _near_end(self, cursor_row: int) -> None:
        if self.has_more and cursor_row >= len(self.rows) - LOAD_AHEAD:
            self.load_more()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._near_end(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_runs()

    def chosen(self) -> ScenarioRow | None:
        """The selected scenario for an action; with none, says how to get one."""
        row = self.selected()
        if row is None:
            hint = "n creates one, i imports" if not self.rows else "move to one (j/k)"
            self.notify(f"No scenario selected: {hint}.", severity="warning")
        return row

    def selected(self) -> ScenarioRow | None:
        table = self.query_one(VimTable)
        if not self.rows or not table.display:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return self.rows.get(str(key.value))

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY_S, self._apply_filter)

    def _apply_filter(self) -> None:
        text = self.query_one(FilterInput).value.strip()
        if text != self.filter_text:
            self.filter_text = text
            self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        self._apply_filter()
        if not self.filter_text:
            event.input.display = False
        self.query_one(VimTable).focus()

    def on_filter_input_cleared(self, _: FilterInput.Cleared) -> None:
        field = self.query_one(FilterInput)
        if self._filter_timer is not None:
            self._filter_timer.stop()
        field.value = ""
        field.display = False
        self.query_one(VimTable).focus()
        if self.filter_text:
            self.filter_text = ""
            self.reload()

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.reload()

    def action_run(self) -> None:
        row = self.chosen()
        if row is None:
            return

        def chosen(choice: RunChoice | None) -> None:
            if choice is not None:
                self.sandbench.start_run(row.id, row.name, choice)

        self.app.push_screen(SolutionScreen(row.name, self.sandbench.last_agent_command), chosen)

    def action_validate(self) -> None:
        """FORWARD/REVERSE check of the selected scenario, live (back to one left going)."""
        row = self.chosen()
        if row is None:
            return
        self.sandbench.open_check(row.id, row.name)

    def action_runs(self) -> None:
        from sandbench.tui.runs import RunsScreen

        row = self.chosen()
        if row is None:
            return
        self.app.push_screen(RunsScreen(row.id, row.name))

    def action_all_runs(self) -> None:
        from sandbench.tui.runs import RunsScreen

        self.app.push_screen(RunsScreen(None, None))

    def action_import(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self._import(path)

        self.app.push_screen(
            PathPrompt("Import scenarios or a task set (format detected)", samples_path()),
            chosen,
        )

    @work(thread=True, exit_on_error=False, group="import")
    def _import(self, path: str) -> None:
        """Task sets build their environments first (minutes, maybe): said as it goes."""

        def progress(line: str) -> None:
            self.app.call_from_thread(self.app.notify, line, title=f"Importing {path}")

        with reporting(self.app, "Import"):
            outcome = self.sandbench.workbench.import_paths([Path(path).expanduser()], progress)
            if outcome.format != SANDBENCH:  # tasks: what was imported, rounded or refused
                self.app.call_from_thread(self.app.push_screen, ImportResultScreen(path, outcome))
                if not outcome.problems:
                    self.app.call_from_thread(self.reload)
                return
            if outcome.problems:
                shown = "\n".join(str(p) for p in outcome.problems[:5])
                more = len(outcome.problems) - 5
                extra = f"\n… and {more} more" if more > 0 else ""
                self.app.call_from_thread(
                    self.app.notify,
                    f"{shown}{extra}",
                    title=f"Nothing imported: {len(outcome.problems)} problem(s)",
                    severity="error",
                    timeout=15,
                )
                return
            self.app.call_from_thread(self.app.notify, outcome.summary, title=f"Imported {path}")
            self.app.call_from_thread(self.reload)

    def action_archive(self) -> None:
        row = self.chosen()
        if row is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._archive(row)

        self.app.push_screen(
            ConfirmScreen(
                "Archive scenario",
                f"Archive “{row.name}”? It leaves this list; its versions and runs are kept.",
                "Archive",
            ),
            confirmed,
        )

    @work(thread=True, exit_on_error=False, group="archive")
    def _archive(self, row: ScenarioRow) -> None:
        with reporting(self.app, f"Archive {row.name}"):
            self.sandbench.workbench.archive(row.id)
            self.app.call_from_thread(self.app.notify, f"{row.name} archived", title="Archived")
            self.app.call_from_thread(self.reload)

    # ------------------------------------------------------------------ benchmarks

    def action_mark(self) -> None:
        """Mark the selected scenario (or unmark it), then move to the next row."""
        row = self.chosen()
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row.name
        self._update_row(row)
        self._update_status()
        table = self.query_one(VimTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_make_benchmark(self) -> None:
        def made(benchmark: Benchmark | None) -> None:
            if benchmark is None:
                return
            count = len(benchmark.scenario_ids)
            self.notify(
                f"{benchmark.name}: {count} scenario{'' if count == 1 else 's'};"
                " B opens the benchmarks, s there runs it",
                title="Benchmark made",
            )
            unmarked = [self.rows[i] for i in self.marked if i in self.rows]
            self.marked.clear()
            for row in unmarked:
                self._update_row(row)
            self._update_status()

        self.app.push_screen(BenchmarkNameScreen(list(self.marked.items())), made)

    # ------------------------------------------------------------------ authoring

    def action_new(self) -> None:
        self._load_templates()

    @work(thread=True, exit_on_error=False, group="open-editor")
    def _load_templates(self) -> None:
        with reporting(self.app, "New scenario"):
            templates = self.sandbench.workbench.templates(Path(samples_path()))
            self.app.call_from_thread(self._choose_template, templates)

    def _choose_template(self, templates: list[Template]) -> None:
        def chosen(template: Template | None) -> None:
            if template is not None:
                self._open_new(template.document, template.title)

        self.app.push_screen(TemplateScreen(templates), chosen)

    @work(thread=True, exit_on_error=False, group="open-editor")
    def _open_new(self, document: dict[str, Any], origin: str) -> None:
        with reporting(self.app, "New scenario"):
            name = self.sandbench.workbench.free_name(str(document.get("name") or "scenario"))
            screen = EditorScreen({**document, "name": name}, origin=origin)
            self.app.call_from_thread(self.app.push_screen, screen)

    def action_edit(self) -> None:
        row = self.chosen()
        if row is None:
            return
        self._open_stored(row.id, False)

    def action_duplicate(self) -> None:
        row = self.chosen()
        if row is None:
            return
        self._open_stored(row.id, True)

    @work(thread=True, exit_on_error=False, group="open-editor")
    def _open_stored(self, scenario_id: str, duplicate: bool) -> None:
        with reporting(self.app, "Open scenario"):
            workbench = self.sandbench.workbench
            target = workbench.scenario_document(scenario_id)
            if duplicate:
                old = str(target.document["name"])
                name = workbench.free_name(f"{old}-copy")
                screen = EditorScreen({**target.document, "name": name}, origin=f"a copy of {old}")
            else:
                screen = EditorScreen(
                    target.document, scenario_id=target.id, version=target.version
                )
            self.app.call_from_thread(self.app.push_screen, screen)

    # ------------------------------------------------------------------ live runs

    def on_run_updated(self, message: RunUpdated) -> None:
        run: ScenarioRun = message.run
        row = self.rows.get(run.scenario_id)
        if row is None:
            return
        if (
            row.last_run_id
            and row.last_run_id != run.id
            and (row.last_run_ms or 0) > run.start_time_ms
        ):
            return  # an older run than the one shown
        self._update_row(
            dataclasses.replace(
                row,
                last_run_id=run.id,
                last_state=run.state.value,
                last_score=run.score,
                last_run_ms=run.start_time_ms,
            )
        )
