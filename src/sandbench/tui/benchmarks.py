"""The benchmarks screen: benchmarks, the runs of the selected one, and the scenario runs
of the selected benchmark run, with live progress while one is going.

Three lists, top to bottom; tab (or enter) moves down them and enter on a scenario run
opens it in the run screen. Everything is read in a thread worker: on the screen's
selection changes, on runner events of benchmark runs, and every ``POLL_S`` seconds while
a benchmark run is going. The benchmark run itself is the app's long work (it outlives
this screen); keys show only when they apply.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from sandbench.model.benchmark import BenchmarkRun, BenchmarkRunState
from sandbench.model.runs import ScenarioRun
from sandbench.tui import keys
from sandbench.tui.messages import RunUpdated, WorkFailed, reporting
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.widgets import KeyedScreen, VimTable, ago, score_text, seconds, truncate
from sandbench.tui.workbench import BenchmarkRow, BenchmarkRunCases, RunDetail

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

POLL_S = 1.0
TABLES = ("benchmarks", "bench-runs", "cases")

EMPTY = (
    "No benchmarks yet.\n\n"
    "A benchmark is a named set of scenarios; make one from a shell:\n"
    "  sandbench benchmarks create NAME SCENARIO [SCENARIO ...]\n"
    "then [b]ctrl+l[/b] here."
)


@dataclass
class BenchmarksLoaded(Message):
    generation: int
    rows: list[BenchmarkRow] | None  # None: the store could not be read
    benchmark_id: str | None = None
    runs: list[BenchmarkRun] | None = None
    detail: BenchmarkRunCases | None = None
    error: BaseException | None = None


@dataclass
class BenchmarkEnded(Message):
    """The benchmark run started from this app returned (``run`` None: it failed)."""

    run: BenchmarkRun | None


@dataclass
class CaseDetailLoaded(Message):
    detail: RunDetail


def when_text(ms: int | None, now_ms: int) -> str:
    return ago(ms, now_ms) or "-"


def elapsed_ms(run: BenchmarkRun | ScenarioRun, now_ms: int) -> int | None:
    if run.duration_ms is not None:
        return run.duration_ms
    running = run.state == BenchmarkRunState.RUNNING or (
        isinstance(run, ScenarioRun) and not run.state.finished
    )
    return max(0, now_ms - run.start_time_ms) if running else None


def breakdown(detail: BenchmarkRunCases) -> dict[str, int]:
    """Scenario runs by state (and those not started), live or as recorded at the end."""
    run = detail.run
    if run.state != BenchmarkRunState.RUNNING and run.status_breakdown:
        return dict(run.status_breakdown)
    counts = Counter(case.state.value for case in detail.cases)
    if detail.queued:
        key = "queued" if run.state == BenchmarkRunState.RUNNING else "not_started"
        counts[key] = detail.queued
    return dict(counts)


def progress_text(detail: BenchmarkRunCases, now_ms: int) -> str:
    run = detail.run
    done = sum(1 for case in detail.cases if case.state.finished)
    running = len(detail.cases) - done
    hits = sum(1 for case in detail.cases if case.cache_hit)
    first = [
        run.state.value,
        f"done {done}/{run.total_cases}",
        f"running {running}",
        f"queued {detail.queued}",
        f"cache hits {hits}",
        seconds(elapsed_ms(run, now_ms)) or "-",
    ]
    second = [f"{state} {count}" for state, count in sorted(breakdown(detail).items())]
    if run.state != BenchmarkRunState.RUNNING:
        second.append(f"score {score_text(run.score)} ok {run.ok_cases}/{run.total_cases}")
    return " · ".join(first) + "\n" + (" · ".join(second) or "nothing started yet")


BENCHMARK_COLUMNS = ("name", "scenarios", "last", "score", "when")
RUN_COLUMNS = ("when", "state", "score", "ok", "cache", "time", "id")
CASE_COLUMNS = ("scenario", "state", "score", "cache", "time", "id")
LABELS = {
    "name": "BENCHMARK",
    "scenarios": "SCEN",
    "last": "LAST RUN",
    "score": "SCORE",
    "when": "WHEN",
    "state": "STATE",
    "ok": "OK",
    "cache": "CACHE",
    "time": "TIME",
    "id": "ID",
    "scenario": "SCENARIO",
}


class BenchmarksScreen(KeyedScreen):
    KEYS = keys.BENCHMARKS
    BINDINGS = keys.bindings(KEYS)
    SUB_TITLE = "benchmarks"
    DEFAULT_CSS = """
    BenchmarksScreen VimTable { height: 1fr; }
    BenchmarksScreen #cases { height: 2fr; }
    BenchmarksScreen #progress { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="benchmarks-screen")
        self.benchmarks: dict[str, BenchmarkRow] = {}
        self.runs: dict[str, BenchmarkRun] = {}
        self.detail: BenchmarkRunCases | None = None
        self.cases: dict[str, ScenarioRun] = {}
        self.benchmark_id: str | None = None
        self.run_id: str | None = None
        self.loaded_once = False
        self.fetching = False
        self.failing = False
        self.canceling = False
        self._generation = 0
        self._wide = False

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield VimTable(id="benchmarks")
        yield VimTable(id="bench-runs")
        yield Static("", id="progress")
        yield VimTable(id="cases")
        yield Static("", id="empty", classes="empty")
        yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self._wide = self.app.size.width >= 120
        self._set_columns()
        self.table("benchmarks").focus()
        self.reload()
        self.set_interval(POLL_S, self._poll)

    def table(self, name: str) -> VimTable:
        return self.query_one(f"#{name}", VimTable)

    def _widths(self) -> dict[str, dict[str, int]]:
        if not self._wide:
            return {
                "benchmarks": {"name": 32, "scenarios": 4, "last": 10, "score": 6, "when": 9},
                "bench-runs": {"when": 9, "state": 10, "score": 6, "ok": 7, "cache": 5, "time": 8},
                "cases": {"scenario": 32, "state": 10, "score": 6, "cache": 5, "time": 8},
            }
        spare = self.app.size.width - 110
        return {
            "benchmarks": {
                "name": 40 + spare,
                "scenarios": 5,
                "last": 12,
                "score": 6,
                "when": 10,
            },
            "bench-runs": {
                "when": 10,
                "state": 12,
                "score": 6,
                "ok": 9,
                "cache": 6,
                "time": 9,
                "id": 30,
            },
            "cases": {
                "scenario": 40 + spare,
                "state": 12,
                "score": 6,
                "cache": 6,
                "time": 9,
                "id": 26,
            },
        }

    def _set_columns(self) -> None:
        for name, widths in self._widths().items():
            table = self.table(name)
            table.clear(columns=True)
            table.set_columns([(LABELS[key], key, width) for key, width in widths.items()])

    def on_resize(self) -> None:
        wide = self.app.size.width >= 120
        if not self.is_mounted or wide == self._wide:
            return
        self._wide = wide
        self._set_columns()
        self._show_all()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._generation += 1
        self.fetching = True
        self._fetch(self._generation, self.benchmark_id, self.run_id)

    def live(self) -> bool:
        if self.sandbench.benchmark_going is not None:
            return True
        return any(run.state == BenchmarkRunState.RUNNING for run in self.runs.values())

    def _poll(self) -> None:
        if not self.fetching and self.live():
            self.reload()

    @work(thread=True, exit_on_error=False, group="benchmark-list")
    def _fetch(self, generation: int, benchmark_id: str | None, run_id: str | None) -> None:
        workbench = self.sandbench.workbench
        try:
            rows = workbench.benchmark_rows()
            ids = [row.id for row in rows]
            if benchmark_id not in ids:
                benchmark_id = ids[0] if ids else None
            runs = workbench.benchmark_runs(benchmark_id) if benchmark_id else []
            run_ids = [run.id for run in runs]
            if run_id not in run_ids:
                run_id = run_ids[0] if run_ids else None
            detail = workbench.benchmark_run_cases(run_id) if run_id else None
        except Exception as error:
            self.post_message(BenchmarksLoaded(generation, None, error=error))
            return
        self.post_message(BenchmarksLoaded(generation, rows, benchmark_id, runs, detail))

    def on_benchmarks_loaded(self, message: BenchmarksLoaded) -> None:
        if message.generation != self._generation:
            return
        self.fetching = False
        if message.rows is None:
            if not self.failing and message.error is not None:
                self.app.post_message(WorkFailed("List benchmarks", message.error))
            self.failing = True
            self._update_status()
            return
        self.failing = False
        self.loaded_once = True
        self.benchmarks = {row.id: row for row in message.rows}
        self.runs = {run.id: run for run in message.runs or []}
        self.detail = message.detail
        self.cases = {case.id: case for case in message.detail.cases} if message.detail else {}
        self.benchmark_id = message.benchmark_id
        self.run_id = message.detail.run.id if message.detail else None
        self._show_all()

    def _show_all(self) -> None:
        now = self.sandbench.workbench.now_ms()
        self._sync("benchmarks", {k: self._benchmark_cells(r) for k, r in self.benchmarks.items()})
        self._sync("bench-runs", {k: self._run_cells(r, now) for k, r in self.runs.items()})
        self._sync("cases", {k: self._case_cells(c, now) for k, c in self.cases.items()})
        self._select("benchmarks", self.benchmark_id)
        self._select("bench-runs", self.run_id)
        progress = self.query_one("#progress", Static)
        if self.detail is not None:
            progress.update(progress_text(self.detail, now))
        elif self.benchmark_id is not None:
            progress.update("No runs of this benchmark yet: s starts one.")
        else:
            progress.update("")
        self._update_status()
        self.refresh_keys()

    def _sync(self, name: str, rows: dict[str, list[str]]) -> None:
        """Update in place when the rows are the same ones, else refill keeping the cursor
        on the same row if it is still there."""
        table = self.table(name)
        columns = [str(column.key.value) for column in table.columns.values()]
        current = [str(key.value) for key in table.rows]
        if current == list(rows):
            for key, cells in rows.items():
                for column, value in zip(columns, cells, strict=False):
                    table.update_cell(key, column, value)
            return
        selected = self._cursor_key(name)
        table.clear()
        for key, cells in rows.items():
            table.add_row(*cells[: len(columns)], key=key)
        if selected in rows:
            table.move_cursor(row=table.get_row_index(selected))

    def _select(self, name: str, key: str | None) -> None:
        table = self.table(name)
        if key is not None and key in {str(k.value) for k in table.rows}:
            index = table.get_row_index(key)
            if table.cursor_row != index:
                table.move_cursor(row=index)

    def _benchmark_cells(self, row: BenchmarkRow) -> list[str]:
        widths = self._widths()["benchmarks"]
        now = self.sandbench.workbench.now_ms()
        return [
            truncate(row.name, widths["name"]),
            str(row.scenarios),
            truncate(row.last_state or "-", widths["last"]),
            score_text(row.last_score),
            when_text(row.last_run_ms, now),
        ]

    def _run_cells(self, run: BenchmarkRun, now: int) -> list[str]:
        widths = self._widths()["bench-runs"]
        return [
            when_text(run.start_time_ms, now),
            truncate(run.state.value, widths["state"]),
            score_text(run.score),
            f"{run.ok_cases}/{run.total_cases}" if run.state != "running" else "-",
            str(run.cache_hit_cases) if run.state != "running" else "-",
            seconds(elapsed_ms(run, now)) or "-",
            run.id,
        ]

    def _case_cells(self, case: ScenarioRun, now: int) -> list[str]:
        widths = self._widths()["cases"]
        return [
            truncate(case.name or case.scenario_id, widths["scenario"]),
            truncate(case.state.value, widths["state"]),
            score_text(case.score),
            "hit" if case.cache_hit else "",
            seconds(elapsed_ms(case, now)) or "-",
            case.id,
        ]

    def _update_status(self) -> None:
        nothing = self.loaded_once and not self.benchmarks
        empty = self.query_one("#empty", Static)
        if nothing:
            empty.update(EMPTY)
        empty.display = nothing
        for name in TABLES:
            self.table(name).display = not nothing
        self.query_one("#progress").display = not nothing
        parts: list[str] = []
        if self.loaded_once:
            count = len(self.benchmarks)
            parts.append(f"{count} benchmark{'' if count == 1 else 's'}")
            if self.sandbench.benchmark_going is not None:
                parts.append(f"running {self.sandbench.benchmark_going}")
            focused = self._focused_table()
            if focused == "cases" and self._cursor_key("cases"):
                parts.append(str(self._cursor_key("cases")))
            elif self.run_id:
                parts.append(self.run_id)
        elif self.fetching:
            parts.append("loading…")
        if self.failing:
            parts.append("cannot read the benchmarks (ctrl+l retries)")
        self.query_one("#status", Static).update(" · ".join(parts))

    def _cursor_key(self, name: str) -> str | None:
        table = self.table(name)
        if not table.row_count or not table.display:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def _focused_table(self) -> str | None:
        focused = self.focused
        return focused.id if isinstance(focused, VimTable) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # the table's cursor now, not the event's row: fills post stale highlights
        name = event.data_table.id
        key = self._cursor_key(name) if name else None
        if name == "benchmarks" and key is not None and key != self.benchmark_id:
            self.benchmark_id, self.run_id = key, None
            self.reload()
        elif name == "bench-runs" and key is not None and key != self.run_id:
            self.run_id = key
            self.reload()
        self._update_status()
        self.refresh_keys()

    def on_descendant_focus(self) -> None:
        self._update_status()
        self.refresh_keys()

    def on_run_updated(self, message: RunUpdated) -> None:
        if message.run.benchmark_run_id is not None and not self.fetching:
            self.reload()

    def on_benchmark_ended(self, message: BenchmarkEnded) -> None:
        message.stop()  # the app's handler sent it here: it must not bubble back
        self.canceling = False
        self.reload()

    # ------------------------------------------------------------------ which keys apply

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return self.benchmark_id is not None and self.sandbench.benchmark_going is None
        if action == "cancel":
            return self.sandbench.benchmark_going is not None and not self.canceling
        if action == "open":
            name = self._focused_table()
            return name is not None and self._cursor_key(name) is not None
        if action == "next_list":
            return bool(self.benchmarks)
        return True

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_list(self) -> None:
        shown = [name for name in TABLES if self.table(name).display]
        if not shown:
            return
        current = self._focused_table()
        index = shown.index(current) + 1 if current in shown else 0
        self.table(shown[index % len(shown)]).focus()

    def action_start(self) -> None:
        if self.check_action("start", ()) is not True or self.benchmark_id is None:
            return
        row = self.benchmarks[self.benchmark_id]
        self.run_id = None  # follow the new run: it will be the newest
        self.sandbench.start_benchmark(row.id, row.name)
        self.refresh_keys()
        self.set_timer(0.3, self._poll)

    def action_cancel(self) -> None:
        going = self.sandbench.benchmark_going
        if going is None or self.check_action("cancel", ()) is not True:
            return

        def confirmed(yes: bool | None) -> None:
            if yes and self.sandbench.benchmark_going is not None:
                self.canceling = True
                self.refresh_keys()
                self.sandbench.cancel_benchmark()

        self.app.push_screen(
            ConfirmScreen(
                "Cancel benchmark run",
                f"Cancel the run of {going}? Scenario runs in flight stop and their"
                " sandboxes go; finished results are kept and scored.",
                "Cancel run",
            ),
            confirmed,
        )

    def action_open(self) -> None:
        name = self._focused_table()
        if name is None or self.check_action("open", ()) is not True:
            return
        if name != "cases":
            self.action_next_list()
            return
        case_id = self._cursor_key("cases")
        if case_id is not None:
            self._open(case_id)

    @work(thread=True, exit_on_error=False, group="open-run")
    def _open(self, run_id: str) -> None:
        with reporting(self.app, "Open run"):
            self.post_message(CaseDetailLoaded(self.sandbench.workbench.run_detail(run_id)))

    def on_case_detail_loaded(self, message: CaseDetailLoaded) -> None:
        self.sandbench.open_run(message.detail)
