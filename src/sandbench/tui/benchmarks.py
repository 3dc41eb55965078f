"""The benchmarks screen: benchmarks, the runs of the selected one, and the cases of the
selected benchmark run, with live progress while one is going.

Three lists, top to bottom; tab (or enter) moves down them and enter on a case opens its
scenario run in the run screen. A case is a scenario at its pinned version times a repeat:
its state, its attempts when it was retried, its repeat when the run has repeats, and why
it did not finish. For a run with repeats, ``t`` swaps the cases for a table per scenario
(mean, standard deviation, pass@1, pass@k, flaky). ``s`` asks the options of a new run,
``r`` resumes an interrupted or canceled one, ``m`` marks runs and ``v`` compares two.

Everything is read in a thread worker: on the screen's selection changes, on runner events
of benchmark runs, and every ``POLL_S`` seconds while a benchmark run is going. The
benchmark run itself is the app's long work (it outlives this screen); keys show only when
they apply.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from sandbench.model.benchmark import (
    BenchmarkCase,
    BenchmarkRun,
    BenchmarkRunState,
    CaseState,
    ScenarioStats,
)
from sandbench.model.runs import ScenarioRun
from sandbench.runner.benchmark_comparison import BenchmarkComparison
from sandbench.runner.benchmark_options import BenchmarkOptions, OptionsForm
from sandbench.tui import keys
from sandbench.tui.benchmark_compare import BenchmarkCompareScreen
from sandbench.tui.benchmark_dialogs import BenchmarkStartScreen, start_defaults
from sandbench.tui.messages import RunUpdated, WorkFailed, reporting
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.widgets import KeyedScreen, VimTable, ago, score_text, seconds, truncate
from sandbench.tui.workbench import BenchmarkRow, BenchmarkRunCases, RunDetail

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

POLL_S = 1.0
LISTS = ("benchmarks", "bench-runs", "cases", "stats")
MARK = "● "
MARKS_MAX = 2

EMPTY = (
    "No benchmarks yet.\n\n"
    "A benchmark is a named set of scenarios. On the scenarios screen, [b]m[/b] marks the"
    " ones to put in it and [b]M[/b] makes it. From a shell:\n"
    "  sandbench benchmarks create NAME --scenario ONE --scenario TWO\n"
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
    """The benchmark run started (or resumed) from this app returned (``run`` None: it
    failed)."""

    run: BenchmarkRun | None


@dataclass
class CaseDetailLoaded(Message):
    detail: RunDetail


@dataclass
class StartDefaultsLoaded(Message):
    benchmark_id: str
    name: str
    defaults: OptionsForm
    known_secrets: list[str] | None


@dataclass
class BenchmarkComparisonLoaded(Message):
    comparison: BenchmarkComparison


def when_text(ms: int | None, now_ms: int) -> str:
    return ago(ms, now_ms) or "-"


def elapsed_ms(run: BenchmarkRun | ScenarioRun, now_ms: int) -> int | None:
    if run.duration_ms is not None:
        return run.duration_ms
    running = run.state == BenchmarkRunState.RUNNING or (
        isinstance(run, ScenarioRun) and not run.state.finished
    )
    return max(0, now_ms - run.start_time_ms) if running else None


def case_state_text(state: CaseState) -> str:
    return "queued" if state == CaseState.PENDING else state.value


def breakdown(detail: BenchmarkRunCases) -> dict[str, int]:
    """Cases (or scenario runs) by state, live or as recorded at the end."""
    run = detail.run
    if run.state != BenchmarkRunState.RUNNING and run.status_breakdown:
        return dict(run.status_breakdown)
    if detail.states:
        return dict(Counter(case_state_text(case.state) for case in detail.states))
    counts = Counter(case.state.value for case in detail.cases)
    if detail.queued:
        key = "queued" if run.state == BenchmarkRunState.RUNNING else "not_started"
        counts[key] = detail.queued
    return dict(counts)


def progress_text(detail: BenchmarkRunCases, now_ms: int) -> str:
    run = detail.run
    if detail.states:
        done = sum(1 for case in detail.states if case.state.finished)
        running = sum(1 for case in detail.states if case.state == CaseState.RUNNING)
        finals = {case.run_id for case in detail.states if case.run_id}
        hits = sum(1 for case in detail.cases if case.cache_hit and case.id in finals)
    else:
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
    if run.settings.repeats > 1:
        first.insert(1, f"repeats {run.settings.repeats}")
    second = [f"{state} {count}" for state, count in sorted(breakdown(detail).items())]
    if run.state != BenchmarkRunState.RUNNING:
        second.append(f"score {score_text(run.score)} ok {run.ok_cases}/{run.total_cases}")
    flaky = [s.name or s.scenario_id for s in detail.stats if s.flaky]
    if flaky:
        second.append(f"flaky {', '.join(flaky)}")
    if detail.stats and run.settings.repeats > 1:
        second.append("t stats")
    if detail.resumable:
        second.append("r resumes it")
    return " · ".join(first) + "\n" + (" · ".join(second) or "nothing started yet")


BENCHMARK_COLUMNS = ("name", "scenarios", "last", "score", "when")
RUN_COLUMNS = ("when", "state", "score", "ok", "cache", "time", "id")
CASE_COLUMNS = ("scenario", "state", "score", "try", "cache", "time", "why")
STATS_COLUMNS = ("scenario", "runs", "mean", "std", "pass1", "passk", "flaky")
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
    "try": "TRY",
    "why": "WHY",
    "runs": "RUNS",
    "mean": "MEAN",
    "std": "STD",
    "pass1": "PASS@1",
    "passk": "PASS@K",
    "flaky": "FLAKY",
}

Cells = dict[str, str | Text]


def case_key(case: BenchmarkCase) -> str:
    return f"case-{case.position}-{case.repeat_index}"


class BenchmarksScreen(KeyedScreen):
    KEYS = keys.BENCHMARKS
    BINDINGS = keys.bindings(KEYS)
    SUB_TITLE = "benchmarks"
    DEFAULT_CSS = """
    BenchmarksScreen VimTable { height: 1fr; }
    BenchmarksScreen #cases, BenchmarksScreen #stats { height: 2fr; }
    BenchmarksScreen #progress { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="benchmarks-screen")
        self.benchmarks: dict[str, BenchmarkRow] = {}
        self.runs: dict[str, BenchmarkRun] = {}
        self.detail: BenchmarkRunCases | None = None
        self.cases: dict[str, ScenarioRun] = {}  # the selected run's scenario runs, by id
        self.case_rows: dict[str, BenchmarkCase] = {}  # its cases, by row key
        self.benchmark_id: str | None = None
        self.run_id: str | None = None
        self.marks: dict[str, int] = {}  # marked benchmark runs: id -> start time
        self.show_stats = False
        self.loaded_once = False
        self.fetching = False
        self.failing = False
        self.canceling = False
        self.opening = False  # a dialog or a comparison is being read
        self._generation = 0
        self._wide = False
        self._k = 0  # the repeats the stats table's PASS@K column is labelled with

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
        yield VimTable(id="stats")
        yield Static("", id="empty", classes="empty")
        yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.query_one("#stats").display = False
        self._wide = self.app.size.width >= 120
        self._set_columns()
        self.table("benchmarks").focus()
        self.reload()
        self.set_interval(POLL_S, self._poll)

    def table(self, name: str) -> VimTable:
        return self.query_one(f"#{name}", VimTable)

    def _widths(self) -> dict[str, dict[str, int]]:
        width = self.app.size.width
        if not self._wide:
            cases = {"scenario": 24, "state": 11, "score": 6, "try": 3, "time": 7}
            stats = {"runs": 5, "mean": 6, "std": 6, "pass1": 6, "passk": 6, "flaky": 5}
            return {
                "benchmarks": {"name": 32, "scenarios": 4, "last": 10, "score": 6, "when": 9},
                "bench-runs": {"when": 9, "state": 10, "score": 6, "ok": 7, "cache": 5, "time": 8},
                "cases": {**cases, "why": max(8, width - sum(cases.values()) - 2 * 6 - 3)},
                "stats": {"scenario": max(12, width - sum(stats.values()) - 2 * 7 - 3), **stats},
            }
        spare = width - 110
        cases = {"state": 12, "score": 6, "try": 4, "cache": 6, "time": 9}
        scenario = 30 + (width - 120) // 3
        stats = {"runs": 6, "mean": 7, "std": 7, "pass1": 7, "passk": 7, "flaky": 6}
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
                "scenario": scenario,
                **cases,
                "why": width - scenario - sum(cases.values()) - 2 * 7 - 3,
            },
            "stats": {"scenario": min(60, width - sum(stats.values()) - 2 * 7 - 3), **stats},
        }

    def _set_columns(self) -> None:
        for name, widths in self._widths().items():
            self._columns(name, widths)

    def _columns(self, name: str, widths: dict[str, int]) -> None:
        table = self.table(name)
        table.clear(columns=True)
        labels = {**LABELS, "passk": f"PASS@{self._k}" if self._k else "PASS@K"}
        order = {
            "benchmarks": BENCHMARK_COLUMNS,
            "bench-runs": RUN_COLUMNS,
            "cases": CASE_COLUMNS,
            "stats": STATS_COLUMNS,
        }[name]
        table.set_columns([(labels[key], key, widths[key]) for key in order if key in widths])

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
        detail = self.detail = message.detail
        self.cases = {case.id: case for case in detail.cases} if detail else {}
        self.case_rows = {case_key(c): c for c in detail.states} if detail else {}
        self.benchmark_id = message.benchmark_id
        self.run_id = detail.run.id if detail else None
        self._show_all()

    # ------------------------------------------------------------------ showing

    def stats_shown(self) -> bool:
        """The per-scenario table instead of the cases: asked for, and the run has repeats."""
        return self.show_stats and self.has_repeats()

    def has_repeats(self) -> bool:
        detail = self.detail
        return detail is not None and bool(detail.stats) and detail.run.settings.repeats > 1

    def _show_all(self) -> None:
        now = self.sandbench.workbench.now_ms()
        self._sync("benchmarks", {k: self._benchmark_cells(r) for k, r in self.benchmarks.items()})
        self._sync("bench-runs", {k: self._run_cells(r, now) for k, r in self.runs.items()})
        self._show_cases(now)
        self._select("benchmarks", self.benchmark_id)
        self._select("bench-runs", self.run_id)
        progress = self.query_one("#progress", Static)
        if self.detail is not None:
            progress.update(Text(progress_text(self.detail, now)))
        elif self.benchmark_id is not None:
            progress.update("No runs of this benchmark yet: s starts one.")
        else:
            progress.update("")
        self._update_status()
        self.refresh_keys()

    def _show_cases(self, now: int) -> None:
        detail = self.detail
        stats = self.stats_shown()
        if stats and detail is not None and detail.run.settings.repeats != self._k:
            self._k = detail.run.settings.repeats
            self._columns("stats", self._widths()["stats"])
        if stats and detail is not None:
            rows = {s.scenario_id: self._stats_cells(s) for s in detail.stats}
            self._sync("stats", rows)
        elif self.case_rows:
            self._sync("cases", {k: self._case_cells(c, now) for k, c in self.case_rows.items()})
        else:  # a run a client drove through the API: its scenario runs
            self._sync("cases", {k: self._run_case_cells(c, now) for k, c in self.cases.items()})
        nothing = self.loaded_once and not self.benchmarks
        cases, table = self.table("cases"), self.table("stats")
        moving = self.focused in (cases, table)
        cases.display = not nothing and not stats
        table.display = not nothing and stats
        if moving:
            (table if stats else cases).focus()

    def _sync(self, name: str, rows: dict[str, Cells]) -> None:
        """Update in place when the rows are the same ones, else refill keeping the cursor
        on the same row if it is still there."""
        table = self.table(name)
        columns = [str(column.key.value) for column in table.columns.values()]
        current = [str(key.value) for key in table.rows]
        if current == list(rows):
            for key, cells in rows.items():
                for column in columns:
                    table.update_cell(key, column, cells[column])
            return
        selected = self._cursor_key(name)
        table.clear()
        for key, cells in rows.items():
            table.add_row(*[cells[column] for column in columns], key=key)
        if selected in rows:
            table.move_cursor(row=table.get_row_index(selected))

    def _select(self, name: str, key: str | None) -> None:
        table = self.table(name)
        if key is not None and key in {str(k.value) for k in table.rows}:
            index = table.get_row_index(key)
            if table.cursor_row != index:
                table.move_cursor(row=index)

    def _benchmark_cells(self, row: BenchmarkRow) -> Cells:
        widths = self._widths()["benchmarks"]
        now = self.sandbench.workbench.now_ms()
        return {
            "name": truncate(row.name, widths["name"]),
            "scenarios": str(row.scenarios),
            "last": truncate(row.last_state or "-", widths["last"]),
            "score": score_text(row.last_score),
            "when": when_text(row.last_run_ms, now),
        }

    def _run_cells(self, run: BenchmarkRun, now: int) -> Cells:
        widths = self._widths()["bench-runs"]
        when = when_text(run.start_time_ms, now)
        marked = run.id in self.marks
        going = run.state == BenchmarkRunState.RUNNING
        return {
            "when": Text(MARK + when, style="bold") if marked else Text(when),
            "state": truncate(run.state.value, widths["state"]),
            "score": score_text(run.score),
            "ok": f"{run.ok_cases}/{run.total_cases}" if not going else "-",
            "cache": str(run.cache_hit_cases) if not going else "-",
            "time": seconds(elapsed_ms(run, now)) or "-",
            "id": run.id,
        }

    def _case_cells(self, case: BenchmarkCase, now: int) -> Cells:
        widths = self._widths()["cases"]
        repeats = self.detail.run.settings.repeats if self.detail else 1
        suffix = f" #{case.repeat_index + 1}" if repeats > 1 else ""
        name = case.scenario_name or case.scenario_id
        run = self.cases.get(case.run_id or "")
        done = case.state == CaseState.DONE
        cached = run is not None and run.cache_hit
        time = seconds(elapsed_ms(run, now)) if run is not None else ""
        if cached and "cache" not in widths:
            time = "cached"  # at 80 columns the time says it: a hit takes none
        theme = self.app.current_theme
        state_style = ""
        if case.state in (CaseState.FAILED, CaseState.INTERRUPTED):
            state_style = theme.error or ""
        elif case.state in (CaseState.NOT_STARTED, CaseState.CANCELED):
            state_style = theme.warning or ""
        return {
            "scenario": truncate(name, widths["scenario"] - len(suffix)) + suffix,
            "state": Text(truncate(case_state_text(case.state), widths["state"]), state_style),
            "score": score_text(case.score) if done else "-",
            "try": str(case.attempts) if case.attempts > 1 else "",
            "cache": "hit" if cached else "",
            "time": time or "-",
            "why": Text("" if done else case.reason or "", no_wrap=True, overflow="ellipsis"),
        }

    def _run_case_cells(self, case: ScenarioRun, now: int) -> Cells:
        widths = self._widths()["cases"]
        time = seconds(elapsed_ms(case, now)) or "-"
        if case.cache_hit and "cache" not in widths:
            time = "cached"
        return {
            "scenario": truncate(case.name or case.scenario_id, widths["scenario"]),
            "state": truncate(case.state.value, widths["state"]),
            "score": score_text(case.score),
            "try": "",
            "cache": "hit" if case.cache_hit else "",
            "time": time,
            "why": Text(case.failure_reason or "", no_wrap=True, overflow="ellipsis"),
        }

    def _stats_cells(self, stats: ScenarioStats) -> Cells:
        widths = self._widths()["stats"]
        theme = self.app.current_theme
        return {
            "scenario": truncate(stats.name or stats.scenario_id, widths["scenario"]),
            "runs": f"{stats.runs}/{stats.k}",
            "mean": score_text(stats.mean_score),
            "std": score_text(stats.score_std),
            "pass1": score_text(stats.pass_at_1),
            "passk": score_text(stats.pass_at_k),
            "flaky": Text("flaky", style=theme.warning or "") if stats.flaky else "",
        }

    def _update_status(self) -> None:
        nothing = self.loaded_once and not self.benchmarks
        empty = self.query_one("#empty", Static)
        if nothing:
            empty.update(EMPTY)
        empty.display = nothing
        for name in ("benchmarks", "bench-runs"):
            self.table(name).display = not nothing
        if nothing:
            self.table("cases").display = self.table("stats").display = False
        self.query_one("#progress").display = not nothing
        parts: list[str] = []
        if self.loaded_once:
            count = len(self.benchmarks)
            parts.append(f"{count} benchmark{'' if count == 1 else 's'}")
            if self.sandbench.benchmark_going is not None:
                parts.append(f"running {self.sandbench.benchmark_going}")
            if self.marks:
                parts.append(f"{len(self.marks)} marked (v compares)")
            focused = self._focused_table()
            key = self._cursor_key(focused) if focused in ("cases", "stats") else None
            if focused == "cases" and key in self.case_rows:
                parts.append(self._case_status(self.case_rows[key]))
            elif focused == "cases" and key:
                parts.append(str(key))
            elif self.run_id:
                parts.append(self.run_id)
        elif self.fetching:
            parts.append("loading…")
        if self.failing:
            parts.append("cannot read the benchmarks (ctrl+l retries)")
        self.query_one("#status", Static).update(Text(" · ".join(parts), no_wrap=True))

    def _case_status(self, case: BenchmarkCase) -> str:
        """The highlighted case, whole: what its row had to cut."""
        repeats = self.detail.run.settings.repeats if self.detail else 1
        name = (case.scenario_name or case.scenario_id) + (
            f" #{case.repeat_index + 1}" if repeats > 1 else ""
        )
        text = f"{name} v{case.scenario_version}: {case_state_text(case.state)}"
        if case.attempts > 1:
            text += f" after {case.attempts} attempts"
        if case.reason and case.state != CaseState.DONE:
            text += f": {case.reason}"
        elif case.run_id:
            text += f" · {case.run_id}"
        return text

    def _cursor_key(self, name: str | None) -> str | None:
        if name is None:
            return None
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

    def selected_run(self) -> BenchmarkRun | None:
        return self.runs.get(self.run_id or "")

    def compare_pair(self) -> tuple[str, str] | None:
        """(A, B), older first: the two marked runs; the marked one and the selected; or
        the selected and the run of its benchmark just before it."""
        marks = dict(self.marks)
        selected = self.selected_run()
        if len(marks) < MARKS_MAX and selected is not None and selected.id not in marks:
            if marks:
                marks[selected.id] = selected.start_time_ms
            else:
                ids = list(self.runs)  # newest first
                index = ids.index(selected.id)
                if index + 1 >= len(ids):
                    return None
                before = self.runs[ids[index + 1]]
                marks = {before.id: before.start_time_ms, selected.id: selected.start_time_ms}
        if len(marks) != MARKS_MAX:
            return None
        first, second = sorted(marks, key=lambda run_id: marks[run_id])
        return first, second

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        going = self.sandbench.benchmark_going is not None
        if action == "start":
            return self.benchmark_id is not None and not going and not self.opening
        if action == "cancel":
            return going and not self.canceling
        if action == "resume":
            detail = self.detail
            return (
                not going
                and detail is not None
                and detail.run.id == self.run_id
                and detail.resumable
            )
        if action == "mark":
            return self.run_id is not None
        if action == "compare":
            return not self.opening and self.compare_pair() is not None
        if action == "toggle_stats":
            return self.has_repeats()
        if action == "open":
            name = self._focused_table()
            return name not in (None, "stats") and self._cursor_key(name) is not None
        if action == "next_list":
            return bool(self.benchmarks)
        return True

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next_list(self) -> None:
        shown = [name for name in LISTS if self.table(name).display]
        if not shown:
            return
        current = self._focused_table()
        index = shown.index(current) + 1 if current in shown else 0
        self.table(shown[index % len(shown)]).focus()

    def action_start(self) -> None:
        if self.check_action("start", ()) is not True or self.benchmark_id is None:
            return
        row = self.benchmarks[self.benchmark_id]
        self.opening = True
        self.refresh_keys()
        self._load_defaults(row.id, row.name)

    @work(thread=True, exit_on_error=False, group="benchmark-dialog")
    def _load_defaults(self, benchmark_id: str, name: str) -> None:
        workbench = self.sandbench.workbench
        try:
            with reporting(self.app, f"Run {name}"):
                jobs, retries = workbench.benchmark_jobs(), workbench.benchmark_retries()
                try:
                    known: list[str] | None = workbench.secret_names()
                except Exception:  # an unreadable secrets file: the run's checks say so
                    known = None
                defaults = start_defaults(
                    jobs,
                    retries,
                    self.sandbench.last_agent_command,
                    workbench.benchmark_cluster(),
                )
                self.post_message(StartDefaultsLoaded(benchmark_id, name, defaults, known))
        finally:
            self.app.call_from_thread(self._opened)

    def _opened(self) -> None:
        self.opening = False
        self.refresh_keys()

    def on_start_defaults_loaded(self, message: StartDefaultsLoaded) -> None:
        def chosen(options: BenchmarkOptions | None) -> None:
            if options is None or self.sandbench.benchmark_going is not None:
                return
            self.run_id = None  # follow the new run: it will be the newest
            self.sandbench.start_benchmark(message.benchmark_id, message.name, options)
            self.refresh_keys()
            self.set_timer(0.3, self._poll)

        self.app.push_screen(
            BenchmarkStartScreen(message.name, message.defaults, message.known_secrets), chosen
        )

    def action_resume(self) -> None:
        detail = self.detail
        if self.check_action("resume", ()) is not True or detail is None:
            return
        name = self.benchmarks[self.benchmark_id].name if self.benchmark_id else detail.run.id
        self.sandbench.resume_benchmark(detail.run.id, name)
        self.refresh_keys()
        self.set_timer(0.3, self._poll)

    def action_mark(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        if run.id in self.marks:
            del self.marks[run.id]
        else:
            if len(self.marks) >= MARKS_MAX:  # the oldest mark gives way
                del self.marks[next(iter(self.marks))]
            self.marks[run.id] = run.start_time_ms
        self._show_all()

    def action_compare(self) -> None:
        pair = self.compare_pair()
        if pair is None or self.opening:
            return
        self.opening = True
        self.refresh_keys()
        self._compare(*pair)

    @work(thread=True, exit_on_error=False, group="benchmark-dialog")
    def _compare(self, run_a: str, run_b: str) -> None:
        try:
            with reporting(self.app, "Compare benchmark runs"):
                comparison = self.sandbench.workbench.compare_benchmark_runs(run_a, run_b)
                self.post_message(BenchmarkComparisonLoaded(comparison))
        finally:
            self.app.call_from_thread(self._opened)

    def on_benchmark_comparison_loaded(self, message: BenchmarkComparisonLoaded) -> None:
        self.app.push_screen(BenchmarkCompareScreen(message.comparison))

    def action_toggle_stats(self) -> None:
        if not self.has_repeats():
            return
        self.show_stats = not self.show_stats
        self._show_all()

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
                " sandboxes go; finished results are kept and scored (r resumes it).",
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
        key = self._cursor_key("cases")
        case = self.case_rows.get(key or "")
        if case is None:
            if key is not None:
                self._open(key)  # a scenario run of a run with no cases
            return
        if case.run_id is None:
            why = f": {case.reason}" if case.reason else ""
            self.notify(
                f"{case.scenario_name or case.scenario_id} has no run ({case.state.value}{why})",
                title="Nothing to open",
                severity="warning",
            )
            return
        self._open(case.run_id)

    @work(thread=True, exit_on_error=False, group="open-run")
    def _open(self, run_id: str) -> None:
        with reporting(self.app, "Open run"):
            self.post_message(CaseDetailLoaded(self.sandbench.workbench.run_detail(run_id)))

    def on_case_detail_loaded(self, message: CaseDetailLoaded) -> None:
        self.sandbench.open_run(message.detail)
