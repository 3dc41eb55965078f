"""The run screen: run and sandbox state, the weight breakdown, live output per scorer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from sandbench.model.runs import (
    RunState,
    ScenarioRun,
    ScorerResult,
    ScorerState,
    latest_attempts,
    weighted_total,
)
from sandbench.model.sandbox import SandboxState
from sandbench.runner.comparison import RunComparison
from sandbench.runner.events import (
    OutputChunk,
    RunEvent,
    RunFinished,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.tui import keys
from sandbench.tui.compare import CompareScreen
from sandbench.tui.messages import RunEvents, merge_chunks, reporting
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.widgets import (
    BAR_WIDTH,
    KeyedScreen,
    OutputLog,
    VimTable,
    bar,
    score_text,
    seconds,
    truncate,
)
from sandbench.tui.workbench import RunDetail, SandboxInfo, short_type

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

SANDBOX_POLL_S = 2.0
COLUMNS = ("scorer", "weight", "score", "contribution", "state", "time", "attempt")


@dataclass
class SandboxPolled(Message):
    info: SandboxInfo | None
    sandbox_id: str | None


@dataclass
class ComparisonLoaded(Message):
    comparison: RunComparison | None  # None: nothing to compare with
    scorer: str | None  # selected when asked
    loaded: bool  # False: it failed (and was reported)


@dataclass(frozen=True)
class Running:
    """A scorer attempt that has started and not finished."""

    name: str
    type: str
    weight: float
    attempt: int
    result_id: str


class RunScreen(KeyedScreen):
    KEYS = keys.RUN
    BINDINGS = keys.bindings(KEYS)

    def __init__(self, detail: RunDetail) -> None:
        super().__init__()
        self.detail = detail
        self.run_id = detail.run.id
        self.run: ScenarioRun = detail.run
        self.sandbox_id = detail.run.sandbox_id
        self.sandbox: SandboxInfo | None = None
        self.latest: dict[str, ScorerResult | Running] = {
            r.name: r for r in latest_attempts(detail.run.scorer_results)
        }
        self.names = [s.name for s in detail.scorers]
        for name in self.latest:  # a scorer no longer in this version: still shown
            if name not in self.names:
                self.names.append(name)
        self._logged: set[str] = set()  # result ids whose output is in a pane
        self._step: str | None = None
        self._follow = True
        self._followed_row = 0
        self._polling = False
        self._comparing = False
        self._widths: dict[str, int] = {}
        self._scorer_width = 40
        self.sub_title = f"run of {detail.scenario_name}"

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    def shows_run(self, run_id: str) -> bool:
        """The app hands this screen its run's events (see ``ShowsRuns``)."""
        return run_id == self.run_id

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="run-head", classes="run-head")
        yield VimTable(id="breakdown")
        yield Static("", id="total", classes="total")
        # no `initial`: under load TabbedContent's tabs can mount after its tab bar, whose
        # own mount then raises for the tab `initial` names (on_mount opens it instead)
        with TabbedContent(id="outputs"):
            with TabPane("setup", id="pane-setup"):
                yield OutputLog(id="log-setup")
            for index, name in enumerate(self.names):
                with TabPane(name, id=f"pane-{index}"):
                    yield OutputLog(id=f"log-{index}")
        yield Footer()

    def on_mount(self) -> None:
        self._build_breakdown()
        self._write_stored()
        self._render_head()
        self._render_total()
        self.query_one(VimTable).focus()
        self._open_pane("pane-0" if self.names else "pane-setup")
        self.set_interval(SANDBOX_POLL_S, self._poll_sandbox)
        self.set_interval(1.0, self._tick)
        self._poll_sandbox()

    def _write_stored(self) -> None:
        run = self.run
        setup = self.query_one("#log-setup", OutputLog)
        setup.add_line(
            f"{self.detail.scenario_name} v{run.scenario_version}, {run.solution.value} solution"
        )
        if run.cache_hit:
            setup.add_line("a cache hit: the results of an identical earlier run")
        if run.failure_reason:
            setup.add_line(f"{run.state.value}: {run.failure_reason}")
        for result in sorted(run.scorer_results, key=lambda r: (r.name, r.attempt)):
            log = self._log(result.name)
            if log is None:
                continue
            log.add_line(self._attempt_header(result.attempt, result))
            log.add(result.output)
            self._logged.add(result.id)

    def _attempt_header(self, attempt: int, result: ScorerResult | None = None) -> str:
        if result is None:
            return f"── attempt {attempt} ──"
        score = score_text(result.score)
        return f"── attempt {attempt}: {result.state.value}, score {score} ──"

    def _log(self, scorer: str) -> OutputLog | None:
        if scorer not in self.names:
            return None
        return self.query_one(f"#log-{self.names.index(scorer)}", OutputLog)

    # ------------------------------------------------------------------ rendering

    def _scorer_label(self, name: str, width: int) -> str:
        """``name (type)``, or the name alone when the type does not fit."""
        spec = next((s for s in self.detail.scorers if s.name == name), None)
        entry = self.latest.get(name)
        label = f"{name} ({short_type(spec.type if spec else entry.type if entry else '')})"
        return label if len(label) <= width else truncate(name, width)

    def _column_widths(self) -> dict[str, int]:
        """Explicit widths (automatic ones settle only after the first paint); the scorer
        column gets what the others leave, up to what its names need."""
        fixed = {
            "weight": 6,
            "score": 5,
            "contribution": BAR_WIDTH + 6,
            "state": 8,
            "time": 6,
            "attempt": 3,
        }
        spare = self.app.size.width - sum(fixed.values()) - 2 * (len(fixed) + 1) - 1
        longest = max((len(self._scorer_label(name, 1000)) for name in self.names), default=6)
        return {"scorer": max(8, min(longest, spare, 40)), **fixed}

    def _build_breakdown(self) -> None:
        widths = self._column_widths()
        self._scorer_width = widths["scorer"]
        table = self.query_one(VimTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.set_columns(
            [("TRY" if key == "attempt" else key.upper(), key, widths[key]) for key in COLUMNS]
        )
        for name in self.names:
            table.add_row(*self._cells(name), key=name)
        if self.names:
            self._followed_row = min(cursor, len(self.names) - 1)
            table.move_cursor(row=self._followed_row)
        self._widths = widths

    def on_resize(self) -> None:
        if self._widths and self._column_widths() != self._widths:
            self._build_breakdown()

    def _cells(self, name: str) -> list[str | Text]:
        spec = next((s for s in self.detail.scorers if s.name == name), None)
        entry = self.latest.get(name)
        weight = spec.weight if spec else (entry.weight if entry else 0.0)
        total_weight = sum(s.weight for s in self.detail.scorers) or weight or 1.0
        scorer = self._scorer_label(name, self._scorer_width)
        if entry is None:
            return [
                scorer,
                f"{weight:g}",
                "-",
                self._bar(0.0, weight, total_weight),
                "queued",
                "",
                "",
            ]
        if isinstance(entry, Running):
            return [
                scorer,
                f"{weight:g}",
                "-",
                self._bar(0.0, weight, total_weight),
                self._state_text("running"),
                "…",
                str(entry.attempt),
            ]
        return [
            scorer,
            f"{weight:g}",
            score_text(entry.score),
            self._bar(entry.contribution, weight, total_weight, show_value=True),
            self._state_text(entry.state.value),
            seconds(entry.duration_ms),
            str(entry.attempt),
        ]

    def _bar(
        self, contribution: float, weight: float, total_weight: float, *, show_value: bool = False
    ) -> Text:
        drawn = bar(contribution, weight, total_weight)
        filled = drawn.count("█")
        value = f" {contribution:.3f}" if show_value else ""
        return Text.assemble(
            (drawn[:filled], self.app.current_theme.success or ""),
            (drawn[filled:], "dim"),
            value,
        )

    def _state_text(self, state: str) -> Text:
        theme = self.app.current_theme
        colour = {
            "complete": theme.success,
            "running": theme.accent,
            "error": theme.error,
            "timeout": theme.warning,
        }.get(state)
        return Text(state, style=colour or "")

    def _update_row(self, name: str) -> None:
        table = self.query_one(VimTable)
        for key, value in zip(COLUMNS, self._cells(name), strict=True):
            table.update_cell(name, key, value)

    def _render_head(self) -> None:
        run = self.run
        state = run.state.value
        if self.run.failure_reason and run.state in (RunState.FAILED, RunState.CANCELED):
            state += f" ({run.failure_reason})"
        if run.cache_hit:
            state += " · cache hit"
        if run.state.finished:
            took = seconds(run.duration_ms)
        else:
            took = seconds(max(0, self.sandbench.workbench.now_ms() - run.start_time_ms))
        if self.sandbox is not None:
            sandbox = f"{self.sandbox.state}"
            if self.sandbox.detail:
                sandbox += f" ({self.sandbox.detail})"
            sandbox += f"  {self.sandbox.id}"
        elif run.cache_hit:
            sandbox = "none (results reused)"
        else:
            sandbox = "not started" if not run.state.finished else "none"
        title = (
            f"[b]{self.detail.scenario_name}[/b] v{run.scenario_version}"
            f" · {run.solution.value} · {run.id}"
        )
        lines = [
            title,
            f"run [b]{state}[/b] · {took}",
            f"sandbox {sandbox}",
        ]
        head = self.query_one("#run-head", Static)
        head.update("\n".join(lines))
        head.set_class(run.state == RunState.FAILED, "failed")

    def _render_total(self) -> None:
        entries = [self.latest[n] for n in self.names if n in self.latest]
        finished = [e for e in entries if isinstance(e, ScorerResult)]
        total_weight = sum(s.weight for s in self.detail.scorers) or 1.0
        if self.run.state.finished or self.run.state == RunState.SCORED:
            total = self.run.score
        elif len(finished) == len(self.names):
            total = weighted_total(finished)
        else:
            total = None
        earned = sum(e.contribution for e in finished)
        done = sum(1 for e in finished if e.state != ScorerState.RUNNING)
        width = 24
        filled = round(width * earned / total_weight)
        success = self.app.current_theme.success or ""
        self.query_one("#total", Static).update(
            Text.assemble(
                (f"TOTAL {score_text(total)}", "bold"),
                "  ",
                ("█" * filled, success),
                ("·" * (width - filled), "dim"),
                f"  {done}/{len(self.names)} scored",
            )
        )

    def _tick(self) -> None:
        if not self.run.state.finished:
            self._render_head()

    # ------------------------------------------------------------------ live events

    def on_run_events(self, message: RunEvents) -> None:
        for event in merge_chunks(message.events):  # a burst of output: one write
            self.apply(event)
        self._render_head()
        self._render_total()
        self.refresh_keys()

    def apply(self, event: RunEvent) -> None:
        if isinstance(event, OutputChunk):
            log = self._log(event.scorer)
            if log is not None:
                log.add(event.text)
        elif isinstance(event, StepOutput):
            setup = self.query_one("#log-setup", OutputLog)
            if event.step != self._step:
                self._step = event.step
                setup.add_line(f"── {event.step} ──")
            setup.add(event.text)
        elif isinstance(event, ScorerStarted):
            self.latest[event.name] = Running(
                event.name, event.type, event.weight, event.attempt, event.result_id
            )
            log = self._log(event.name)
            if log is not None:
                log.add_line(self._attempt_header(event.attempt))
            self._logged.add(event.result_id)
            if event.name in self.names:
                self._update_row(event.name)
                if self._follow:
                    self._show_scorer(event.name)
        elif isinstance(event, ScorerFinished):
            result = event.result
            self.latest[result.name] = result
            log = self._log(result.name)
            if log is not None and result.id not in self._logged:  # a cache hit's copy
                log.add_line(self._attempt_header(result.attempt, result))
                log.add(result.output)
                self._logged.add(result.id)
            elif log is not None:
                log.add_line(f"── {result.state.value}, score {score_text(result.score)} ──")
            if result.name in self.names:
                self._update_row(result.name)
        elif isinstance(event, RunStateChanged):
            self.run = self.run.model_copy(
                update={
                    "state": event.state,
                    "failure_reason": event.detail or self.run.failure_reason,
                }
            )
            if event.state == RunState.SCORING and self.sandbox_id is None:
                self._poll_sandbox()
        elif isinstance(event, RunFinished):
            self.run = event.run
            self.sandbox_id = event.run.sandbox_id or self.sandbox_id
            for result in latest_attempts(event.run.scorer_results):
                self.latest[result.name] = result
            for name in self.names:
                self._update_row(name)
            self._poll_sandbox()

    def _open_pane(self, pane: str) -> None:
        """Show ``pane``'s output; if its tab is not mounted yet, once it is (Textual
        refuses a tab it cannot find yet, and mounts TabbedContent's tabs in its own time)."""
        try:
            self.query_one(TabbedContent).active = pane
        except ValueError:
            self.call_after_refresh(self._open_pane, pane)

    def _show_scorer(self, name: str) -> None:
        index = self.names.index(name)
        self._followed_row = index
        self.query_one(VimTable).move_cursor(row=index)
        self._open_pane(f"pane-{index}")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != self._followed_row:
            self._follow = False  # the user chose a scorer: stop jumping to the running one
        if 0 <= event.cursor_row < len(self.names):
            self._open_pane(f"pane-{event.cursor_row}")

    # ------------------------------------------------------------------ sandbox state

    def _poll_sandbox(self) -> None:
        if self._polling or not self.is_current:
            return  # one poll at a time, and only for the screen in view
        if self.sandbox_id is None and (self.run.state == RunState.RUNNING or self.run.cache_hit):
            return  # not made yet, or never
        self._polling = True
        self._fetch_sandbox(self.sandbox_id)

    def on_screen_resume(self) -> None:
        self._poll_sandbox()

    @work(thread=True, exit_on_error=False, group="sandbox-poll")
    def _fetch_sandbox(self, sandbox_id: str | None) -> None:
        info = None
        try:
            workbench = self.sandbench.workbench
            if sandbox_id is None:
                sandbox_id = workbench.run_sandbox_id(self.run_id)
            if sandbox_id is not None:
                info = workbench.sandbox(sandbox_id)
        except Exception:
            info = None  # a poll that fails is retried; the run's own errors are reported
        self.post_message(SandboxPolled(info, sandbox_id))

    def on_sandbox_polled(self, message: SandboxPolled) -> None:
        self._polling = False
        if message.sandbox_id is not None:
            self.sandbox_id = message.sandbox_id
        if message.info is not None and message.info != self.sandbox:
            self.sandbox = message.info
            self._render_head()
            self.refresh_keys()  # the shell needs a sandbox that has not ended

    # ------------------------------------------------------------------ actions

    def selected_scorer(self) -> str | None:
        table = self.query_one(VimTable)
        if not self.names:
            return None
        return self.names[min(table.cursor_row, len(self.names) - 1)]

    def _idle(self) -> bool:
        return self.run.state.finished and self.run_id not in self.sandbench.busy_runs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("rerun_scorer", "rerun_all"):
            return self._idle() and not self.run.cache_hit
        if action == "rerun_run":
            return self._idle()
        if action == "cancel":
            return not self._idle()
        if action == "shell":
            return self._idle() and self._sandbox_live()
        if action == "compare":
            return self._idle()
        return True

    def _sandbox_live(self) -> bool:
        return self.sandbox is not None and not SandboxState(self.sandbox.state).terminal

    def action_rerun_scorer(self) -> None:
        name = self.selected_scorer()
        if name is not None:
            self._follow = True
            self.sandbench.rerun_scorers(self.run_id, name)

    def action_rerun_all(self) -> None:
        self._follow = True
        self.sandbench.rerun_scorers(self.run_id, None)

    def action_rerun_run(self) -> None:
        self.sandbench.rerun_run(self.run_id, self.detail.scenario_name)

    def action_cancel(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.sandbench.cancel_run(self.run_id)

        self.app.push_screen(
            ConfirmScreen(
                "Cancel run",
                f"Cancel this run of {self.detail.scenario_name}? Its sandbox is removed at once.",
                "Cancel run",
            ),
            confirmed,
        )

    def action_shell(self) -> None:
        if self.sandbox is None or self.check_action("shell", ()) is not True:
            return
        self.sandbench.open_shell(self.sandbox.id)
        self._poll_sandbox()  # resumed if it was suspended

    def action_compare(self) -> None:
        if self._comparing or self.check_action("compare", ()) is not True:
            return
        self._comparing = True
        self._fetch_comparison(self.selected_scorer())

    @work(thread=True, exit_on_error=False, group="compare")
    def _fetch_comparison(self, scorer: str | None) -> None:
        comparison: RunComparison | None = None
        loaded = False
        try:
            with reporting(self.app, "Compare"):
                comparison = self.sandbench.workbench.compare_run(self.run_id)
                loaded = True
        finally:
            self.post_message(ComparisonLoaded(comparison, scorer, loaded))

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self._comparing = False
        if not message.loaded:
            return
        if message.comparison is None:
            self.notify(
                f"No scorer of this run was rerun and no earlier run of"
                f" {self.detail.scenario_name} got to scoring. Rerun a scorer (s) or"
                " start a new run (w), then compare.",
                title="Nothing to compare with",
                severity="warning",
            )
            return
        self.app.push_screen(
            CompareScreen(message.comparison, self.detail.scenario_name, message.scorer)
        )

    def action_next_output(self) -> None:
        self._cycle(1)

    def action_previous_output(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        panes = ["pane-setup", *[f"pane-{i}" for i in range(len(self.names))]]
        current = panes.index(tabs.active) if tabs.active in panes else 0
        target = panes[(current + step) % len(panes)]
        self._follow = False
        self._open_pane(target)
        if target != "pane-setup":
            self._followed_row = int(target.removeprefix("pane-"))
            self.query_one(VimTable).move_cursor(row=self._followed_row)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
