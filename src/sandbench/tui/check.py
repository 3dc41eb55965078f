"""The check screen: does a scenario's scoring separate solved from unsolved?

FORWARD runs the reference solution (it must total 1.0), then REVERSE runs the baseline
(it must total below 1.0), through the real runner in a thread worker, as
`sandbench scenarios check` does (result cache on by default). Both runs' output streams
in, their states and totals update live, and a verdict per scorer follows. The app
installs the screen, so leaving it while the check is going does not stop it: ``v`` on
the scenario comes back to it.
"""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static

from sandbench.model.runs import (
    RunState,
    ScenarioRun,
    ScorerResult,
    ScorerState,
    Solution,
    latest_attempts,
)
from sandbench.runner.events import (
    OutputChunk,
    RunEvent,
    RunFinished,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.runner.validation import CheckReport, forward_ok, reverse_ok
from sandbench.tui import keys
from sandbench.tui.messages import (
    RunEvents,
    RunStarted,
    RunWorkEnded,
    merge_chunks,
    reporting,
)
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.widgets import KeyedScreen, OutputLog, VimTable, score_text, seconds, truncate
from sandbench.tui.workbench import RunDetail, ScorerSpec, short_type

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

TICK_S = 0.2
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
WIDE = 120  # from this many columns the two sides stand side by side
RUNNING = "running"


@dataclass
class Side:
    """One half of the check, as far as its run's events have told."""

    key: str  # "forward" | "reverse"
    title: str
    solution: Solution
    rule: str
    run: ScenarioRun | None = None
    results: dict[str, ScorerResult | str] = field(default_factory=dict)  # or RUNNING
    logged: set[str] = field(default_factory=set)  # result ids whose output is in the log
    step: str | None = None
    cache_hit: bool = False

    def ok(self) -> bool:
        if self.run is None or not self.run.state.finished:
            return False
        return forward_ok(self.run) if self.key == "forward" else reverse_ok(self.run)


def new_sides() -> dict[str, Side]:
    return {
        "forward": Side("forward", "FORWARD", Solution.REFERENCE, "reference → must total 1.0"),
        "reverse": Side("reverse", "REVERSE", Solution.BASELINE, "baseline → must total < 1.0"),
    }


@dataclass
class CheckRunCreated(Message):
    generation: int
    side: str
    detail: RunDetail


@dataclass
class CheckEnded(Message):
    generation: int
    report: CheckReport | None  # None: the check failed (already reported)


@dataclass
class CheckRunLoaded(Message):
    detail: RunDetail


class CheckScreen(KeyedScreen):
    KEYS = keys.CHECK
    BINDINGS = keys.bindings(KEYS)
    # CSS, not DEFAULT_CSS: app-level like sandbench.tcss, so these rules win by specificity
    CSS = """
    CheckScreen #sides { height: 1fr; }
    CheckScreen #sides.wide { layout: horizontal; }
    CheckScreen .side { height: 1fr; width: 1fr; }
    CheckScreen .side-head {
        height: 2; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis;
    }
    CheckScreen .side-head.selected { background: $primary 35%; }
    CheckScreen #verdicts { height: auto; max-height: 9; }
    CheckScreen #verdict { height: auto; padding: 0 1; background: $panel; }
    """

    def __init__(self, scenario_id: str, scenario_name: str) -> None:
        super().__init__()
        self.scenario_id = scenario_id
        self.scenario_name = scenario_name
        self.sides = new_sides()
        self.selected = "forward"
        self.scorers: tuple[ScorerSpec, ...] = ()
        self.report: CheckReport | None = None
        self.going = False
        self.canceling = False
        self.failed = False  # the last check stopped on an error (reported)
        self.use_cache = True
        self.canceled = threading.Event()
        self._run_sides: dict[str, str] = {}  # run id -> side; written by the worker
        self._generation = 0
        self._started_ms = 0
        self._frame = 0
        self._wide = False
        self.sub_title = f"check of {scenario_name}"

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    @property
    def finished(self) -> bool:
        return not self.going

    def shows_run(self, run_id: str) -> bool:
        """The app hands this screen the events of its two runs (see ``ShowsRuns``)."""
        return run_id in self._run_sides

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        with Vertical(id="sides"):
            for key in self.sides:
                with Vertical(id=f"side-{key}", classes="side"):
                    yield Static("", id=f"head-{key}", classes="side-head")
                    yield OutputLog(id=f"log-{key}")
        table = VimTable(id="verdicts")
        table.can_focus = False  # a display: the keys move between the two logs
        yield table
        yield Static("", id="verdict")
        yield Footer()

    def on_mount(self) -> None:
        self._wide = self.app.size.width >= WIDE
        self.query_one("#sides").set_class(self._wide, "wide")
        self._set_columns()
        self.log_of(self.selected).focus()
        self.set_interval(TICK_S, self._tick)
        self._start(use_cache=True)

    def log_of(self, side: str) -> OutputLog:
        return self.query_one(f"#log-{side}", OutputLog)

    def _widths(self) -> dict[str, int]:
        """Fixed widths (known at the first paint); the problem text gets the rest."""
        longest = max((len(s.name) for s in self.scorers), default=6)
        scorer = max(6, min(longest, 24 if self._wide else 16))
        fixed = {"scorer": scorer, "reference": 9, "baseline": 8}
        spare = self.app.size.width - sum(fixed.values()) - 2 * (len(fixed) + 1) - 2
        return {**fixed, "problem": max(12, spare)}

    def _set_columns(self) -> None:
        table = self.query_one(VimTable)
        table.clear(columns=True)
        table.set_columns([(key.upper(), key, width) for key, width in self._widths().items()])
        self._fill_verdicts()

    def on_resize(self) -> None:
        if not self.is_mounted:
            return
        wide = self.app.size.width >= WIDE
        if wide != self._wide:
            self._wide = wide
            self.query_one("#sides").set_class(wide, "wide")
        self._set_columns()

    # ------------------------------------------------------------------ the check

    def _start(self, *, use_cache: bool) -> None:
        """A fresh check (the screen forgets the last one; its runs stay in the store)."""
        self._generation += 1
        self.sides = new_sides()
        self.report = None
        self.scorers = ()
        self.going, self.canceling, self.failed = True, False, False
        self.use_cache = use_cache
        self.canceled = threading.Event()
        self._run_sides = {}
        self._started_ms = self.sandbench.workbench.now_ms()
        for key in self.sides:
            self.log_of(key).clear()
        self._fill_verdicts()
        self._show()
        self._check(self._generation, use_cache, self.canceled)

    @work(thread=True, exit_on_error=False, group="check")
    def _check(self, generation: int, use_cache: bool, canceled: threading.Event) -> None:
        # The app, taken while it runs: in this thread ``self.app`` is found through the
        # screen's parents, which are gone once the app has quit (the check goes on, to
        # cancel its second run as it is made) and posting to a closed app is a no-op.
        app = self.sandbench
        made: list[str] = []
        report = None
        try:
            with reporting(app, f"Check {self.scenario_name}"):
                report = app.workbench.check_scenario(
                    self.scenario_id,
                    use_cache=use_cache,
                    on_created=partial(self._created, app, generation, made),
                    canceled=canceled,
                )
        finally:
            for run_id in made:
                app.post_message(RunWorkEnded(run_id))
            self.post_message(CheckEnded(generation, report))

    def _created(
        self, app: SandbenchApp, generation: int, made: list[str], detail: RunDetail
    ) -> None:
        """``on_created`` (worker thread): the run is known here before its first event, so
        the app routes every one of them to this screen."""
        side = "forward" if detail.run.solution == Solution.REFERENCE else "reverse"
        made.append(detail.run.id)
        self._run_sides[detail.run.id] = side
        app.post_message(RunStarted(detail))  # before the run's events, in the app's queue
        self.post_message(CheckRunCreated(generation, side, detail))

    def on_check_run_created(self, message: CheckRunCreated) -> None:
        if message.generation != self._generation:
            return
        detail = message.detail
        side = self.sides[message.side]
        if side.run is None:
            side.run = detail.run
        if detail.scorers != self.scorers:  # the version checked (it may have been edited)
            self.scorers = detail.scorers
            self._set_columns()
        self._show()
        self.refresh_keys()

    def on_run_events(self, message: RunEvents) -> None:
        side_key = self._run_sides.get(message.run_id)
        if side_key is None:
            return
        side = self.sides[side_key]
        log = self.log_of(side_key)
        for event in merge_chunks(message.events):
            self._apply(side, log, event)
        self._fill_verdicts()
        self._show()

    def _apply(self, side: Side, log: OutputLog, event: RunEvent) -> None:
        if isinstance(event, OutputChunk):
            log.add(event.text)
        elif isinstance(event, StepOutput):
            if event.step != side.step:
                side.step = event.step
                log.add_line(f"── {event.step} ──")
            side.cache_hit = side.cache_hit or event.step == "cache"
            log.add(event.text)
        elif isinstance(event, ScorerStarted):
            side.step = None
            side.results[event.name] = RUNNING
            side.logged.add(event.result_id)
            log.add_line(f"── {event.name} ({short_type(event.type)}) ──")
        elif isinstance(event, ScorerFinished):
            result = event.result
            side.results[result.name] = result
            if result.id not in side.logged:  # a cache hit's copy: its output at once
                side.logged.add(result.id)
                log.add_line(f"── {result.name} ({short_type(result.type)}) ──")
                log.add(result.output)
            score = score_text(result.score)
            log.add_line(f"── {result.name}: {result.state.value}, score {score} ──")
        elif isinstance(event, RunStateChanged) and side.run is not None:
            update = {"state": event.state, "failure_reason": event.detail or None}
            side.run = side.run.model_copy(update=update)
        elif isinstance(event, RunFinished):
            self._finish_side(side, event.run)
            if event.run.state != RunState.COMPLETED:
                reason = event.run.failure_reason or ""
                log.add_line(f"── run {event.run.state.value}{': ' if reason else ''}{reason} ──")

    def _finish_side(self, side: Side, run: ScenarioRun) -> None:
        side.run = run
        side.cache_hit = side.cache_hit or run.cache_hit
        for result in latest_attempts(run.scorer_results):
            side.results[result.name] = result

    def on_check_ended(self, message: CheckEnded) -> None:
        if message.generation != self._generation:
            return
        self.going, self.canceling = False, False
        self.report = message.report
        self.failed = message.report is None
        if message.report is not None:
            self._finish_side(self.sides["forward"], message.report.forward)
            self._finish_side(self.sides["reverse"], message.report.reverse)
        self._fill_verdicts()
        self._show()
        self.refresh_keys()
        if self.app.screen is not self and message.report is not None:
            verdict = "PASS" if message.report.ok else "FAIL"
            self.app.notify(
                f"{self.scenario_name}: {verdict} (v on the scenario shows the check)",
                title="Check ended",
                severity="information" if message.report.ok else "warning",
            )

    # ------------------------------------------------------------------ rendering

    def _tick(self) -> None:
        if self.going:
            self._frame += 1
            self._show()

    def _show(self) -> None:
        for key, side in self.sides.items():
            head = self.query_one(f"#head-{key}", Static)
            head.update(self._head(side))
            head.set_class(key == self.selected, "selected")
        self.query_one("#verdict", Static).update(self._verdict_line())

    def _colour(self, name: str) -> str:
        theme = self.app.current_theme
        return {"ok": theme.success, "bad": theme.error, "busy": theme.accent}[name] or ""

    def _head(self, side: Side) -> Text:
        marker = "▸ " if side.key == self.selected else "  "
        first = Text.assemble(marker, (side.title, "bold"), f"  {side.rule}")
        run = side.run
        if run is None:
            if not self.going:
                status = "not started"
            else:
                status = "waiting for FORWARD" if side.key == "reverse" else "starting…"
            return Text.assemble(first, "\n  ", (status, "dim"))
        parts: list[str | tuple[str, str]] = [(run.state.value, "bold")]
        if run.state.finished and run.failure_reason and run.state != RunState.COMPLETED:
            parts.append(f" ({run.failure_reason})")
        parts.append(f" · total {score_text(run.score)}")
        if run.state.finished:
            parts.append((" ✓", self._colour("ok")) if side.ok() else (" ✗", self._colour("bad")))
        took = run.duration_ms
        if took is None and not run.state.finished:
            took = max(0, self.sandbench.workbench.now_ms() - run.start_time_ms)
        parts.append(f" · {seconds(took) or '-'}")
        if side.cache_hit:
            parts.append((" · cache hit", self._colour("busy")))
        parts.append(f" · {run.id}")
        return Text.assemble(first, "\n  ", *parts)

    def _verdict_line(self) -> Text:
        report = self.report
        if self.going:
            spin = SPINNER[self._frame % len(SPINNER)]
            took = seconds(max(0, self.sandbench.workbench.now_ms() - self._started_ms))
            if self.canceling:
                doing = "canceling both runs…"
            else:
                step = 2 if self.sides["reverse"].run is not None else 1
                side = self.sides["reverse" if step == 2 else "forward"]
                state = side.run.state.value if side.run else "starting"
                doing = f"step {step}/2: {side.title} ({side.solution.value}) {state}"
            cache = "" if self.use_cache else " · cache off"
            return Text.assemble(
                (spin, self._colour("busy")), f" checking · {doing} · {took}{cache}"
            )
        if report is None:
            if self.failed:
                return Text.assemble(
                    ("STOPPED", f"bold {self._colour('bad')}"),
                    "  the check could not finish (see the notification) · r tries again",
                )
            return Text("")
        if report.ok:
            return Text.assemble(
                ("PASS", f"bold {self._colour('ok')}"),
                f"  the scorers tell the reference ({score_text(report.forward.score)})"
                f" from the baseline ({score_text(report.reverse.score)})",
            )
        reasons = []
        for side, run, ok, rule in (
            ("FORWARD", report.forward, report.forward_ok, "not 1.0"),
            ("REVERSE", report.reverse, report.reverse_ok, "not below 1.0"),
        ):
            if ok:
                continue
            if run.state == RunState.COMPLETED:
                kind = "reference" if side == "FORWARD" else "baseline"
                reasons.append(f"{side} {kind} total {score_text(run.score)}, {rule}")
            else:
                reasons.append(f"{side} {run.state.value}")
        return Text.assemble(("FAIL", f"bold {self._colour('bad')}"), "  " + "; ".join(reasons))

    def _fill_verdicts(self) -> None:
        """One row per scorer: live scores as they come, the problems once the check ends."""
        table = self.query_one(VimTable)
        table.display = bool(self.scorers)
        if not self.scorers or not table.columns:
            return
        width = self._widths()["problem"]
        problems = {v.name: v.problem for v in self.report.scorers} if self.report else {}
        table.clear()
        for spec in self.scorers:
            if spec.name in problems:
                problem = problems[spec.name]
                lines = textwrap.wrap(problem, width) or ["ok"]
                cell: str | Text = Text(
                    "\n".join(lines), style=self._colour("bad" if problem else "ok")
                )
            else:
                lines, cell = [""], ""
            table.add_row(
                truncate(spec.name, self._widths()["scorer"]),
                self._score_cell(self.sides["forward"], spec.name),
                self._score_cell(self.sides["reverse"], spec.name),
                cell,
                key=spec.name,
                height=len(lines),
            )

    def _score_cell(self, side: Side, name: str) -> str | Text:
        entry = side.results.get(name)
        if entry is None:
            return "-"
        if isinstance(entry, str):
            return Text("…", style=self._colour("busy"))
        if entry.state == ScorerState.COMPLETE and entry.score is not None:
            return f"{entry.score:g}"
        return Text(entry.state.value, style=self._colour("bad"))

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return self.sides[self.selected].run is not None
        if action == "cancel":
            return self.going and not self.canceling
        if action == "recheck":
            return not self.going
        return True

    def on_descendant_focus(self) -> None:
        for key in self.sides:
            if self.log_of(key).has_focus and key != self.selected:
                self.selected = key
                self._show()
                self.refresh_keys()

    def action_side(self) -> None:
        self.selected = "reverse" if self.selected == "forward" else "forward"
        self.log_of(self.selected).focus()
        self._show()
        self.refresh_keys()

    def action_open(self) -> None:
        run = self.sides[self.selected].run
        if run is not None:
            self._open(run.id)

    @work(thread=True, exit_on_error=False, group="open-run")
    def _open(self, run_id: str) -> None:
        with reporting(self.app, "Open run"):
            self.post_message(CheckRunLoaded(self.sandbench.workbench.run_detail(run_id)))

    def on_check_run_loaded(self, message: CheckRunLoaded) -> None:
        self.sandbench.open_run(message.detail)

    def stop(self) -> list[str]:
        """Cancel the check: a run not made yet is canceled as it is made; returns the runs
        to cancel now (those made and not known to have finished)."""
        self.canceling = True
        self.canceled.set()
        going = []
        for run_id, key in list(self._run_sides.items()):  # the worker may be adding one
            run = self.sides[key].run
            if run is None or run.id != run_id or not run.state.finished:
                going.append(run_id)
        return going

    def action_cancel(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes and self.going and not self.canceling:
                for run_id in self.stop():
                    self.sandbench.cancel_run(run_id)
                self._show()
                self.refresh_keys()

        self.app.push_screen(
            ConfirmScreen(
                "Cancel check",
                f"Cancel the check of {self.scenario_name}? Both runs stop; their sandboxes"
                " are removed at once.",
                "Cancel check",
            ),
            confirmed,
        )

    def action_recheck(self) -> None:
        if not self.going:
            self._start(use_cache=False)
            self.refresh_keys()

    def action_back(self) -> None:
        self.sandbench.close_check(self)
