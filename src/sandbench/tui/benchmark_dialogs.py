"""Dialogs of benchmarks: name a new one made of the marked scenarios, and the options of a
benchmark run. Problems are shown in the dialog, beside what caused them; nothing is made
or started until there are none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static, TextArea

from sandbench.errors import SandbenchError
from sandbench.model.benchmark import Benchmark
from sandbench.model.runs import Solution
from sandbench.runner.benchmark_options import BENCHMARK_SOLUTIONS, OptionsForm, parse_options
from sandbench.tui import keys
from sandbench.tui.messages import WorkFailed
from sandbench.tui.modals import Modal
from sandbench.tui.widgets import truncate

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

NO_MARKS = (
    "No scenario is marked. Close this (esc), press m on each scenario the benchmark"
    " should hold, then M again."
)


@dataclass
class BenchmarkMade(Message):
    benchmark: Benchmark


@dataclass
class BenchmarkRefused(Message):
    reason: str


class BenchmarkNameScreen(Modal):
    """The name of a benchmark of ``marked`` (id, name), in that order; dismisses with the
    benchmark once made, or None."""

    DEFAULT_CSS = """
    BenchmarkNameScreen #name-error { color: $error; height: auto; }
    """

    def __init__(self, marked: list[tuple[str, str]]) -> None:
        super().__init__()
        self.marked = marked
        self.making = False

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        count = len(self.marked)
        title = f"New benchmark of {count} scenario{'' if count == 1 else 's'}"
        names = [name for _, name in self.marked]
        shown = ", ".join(truncate(n, 30) for n in names[:4])
        if len(names) > 4:
            shown += f" and {len(names) - 4} more"
        with Vertical(classes="dialog"):
            yield Label(title if count else "New benchmark", classes="dialog-title")
            if names:
                yield Static(Text(shown), classes="dialog-text", id="marked-names")
            yield Input(placeholder="the benchmark's name", id="benchmark-name")
            yield Static("", id="name-error")
            yield Static("enter makes it · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        if not self.marked:
            self.refuse(NO_MARKS)
        self.query_one(Input).focus()

    def refuse(self, reason: str) -> None:
        self.making = False
        self.query_one("#name-error", Static).update(Text(reason))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.making:
            return
        name = event.value.strip()
        if not self.marked:
            self.refuse(NO_MARKS)
            return
        if not name:
            self.refuse("A benchmark needs a name.")
            return
        self.making = True
        self.query_one("#name-error", Static).update("")
        self._make(name, [scenario_id for scenario_id, _ in self.marked])

    @work(thread=True, exit_on_error=False, group="make-benchmark")
    def _make(self, name: str, scenario_ids: list[str]) -> None:
        try:
            made = self.sandbench.workbench.create_benchmark(name, scenario_ids)
        except SandbenchError as error:  # a taken name, a scenario gone: said here
            self.post_message(BenchmarkRefused(str(error)))
            return
        except Exception as error:  # the store failed: said here and as a notice
            self.post_message(BenchmarkRefused(f"could not make it: {error}"))
            self.app.post_message(WorkFailed("Make benchmark", error))
            return
        self.post_message(BenchmarkMade(made))

    def on_benchmark_refused(self, message: BenchmarkRefused) -> None:
        self.refuse(message.reason)

    def on_benchmark_made(self, message: BenchmarkMade) -> None:
        self.dismiss(message.benchmark)


SOLUTION_TEXT = {
    Solution.REFERENCE: "reference",
    Solution.BASELINE: "baseline",
    Solution.AGENT: "agent",
}
FIELDS = ("solution", "agent_command", "jobs", "repeats", "retries", "cluster", "env", "secrets")
FIELD_LABEL = {
    "solution": "solution",
    "agent_command": "agent command",
    "jobs": "jobs",
    "repeats": "repeats",
    "retries": "retries",
    "cluster": "cluster",
    "env": "env",
    "secrets": "secrets",
}
WIDGET = {
    "agent_command": "#agent-command",
    "jobs": "#jobs",
    "repeats": "#repeats",
    "retries": "#retries",
    "cluster": "#cluster",
    "env": "#env",
    "secrets": "#secrets",
}


class BenchmarkStartScreen(Modal):
    """The options of a run of a benchmark, from ``defaults``; dismisses with the
    ``BenchmarkOptions`` (ctrl+s, or enter in a one-line field), or None. ``known_secrets``:
    the stored secrets' names, checked against (None: not known, not checked)."""

    BINDINGS = keys.bindings(keys.BENCHMARK_START)
    # its own container, not .dialog: the app's ".dialog Input" (a tall border) would
    # make every one-line field three high and the form would not fit at 80x24
    DEFAULT_CSS = """
    #start-form {
        width: 76; max-width: 95%; height: auto; max-height: 100%;
        padding: 0 2; background: $surface; border: round $primary;
    }
    #start-form .start-row { height: 1; }
    #start-form .start-label { width: 14; color: $text-muted; }
    #start-form .start-label-short { width: 9; color: $text-muted; padding-left: 2; }
    #start-form Input {
        height: 1; border: none; padding: 0 1; background: $background; width: 1fr;
    }
    #start-form Input.count { width: 7; }
    #start-form Input:focus { background-tint: $primary 25%; }
    #start-form #solution {
        layout: horizontal; height: 1; width: 1fr; border: none; padding: 0;
        background: $surface;
    }
    #start-form #solution:focus { background-tint: $primary 25%; }
    #start-form RadioButton { padding: 0 1 0 0; background: transparent; }
    #start-form #cache { height: 1; border: none; padding: 0; background: $surface; margin-top: 1; }
    #start-form #cache:focus { background-tint: $primary 25%; }
    #start-form .area-label { color: $text-muted; }
    #start-form TextArea { height: 3; border: none; padding: 0 1; background: $background; }
    #start-form TextArea:focus { background-tint: $primary 15%; }
    #start-form .invalid { background-tint: $error 30%; }
    #start-form #start-problems { color: $error; height: auto; }
    #start-form .dialog-hint { margin-top: 0; }
    """

    def __init__(
        self,
        benchmark_name: str,
        defaults: OptionsForm,
        known_secrets: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.benchmark_name = benchmark_name
        self.defaults = defaults
        self.known_secrets = known_secrets
        self.problems: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        defaults = self.defaults
        with Vertical(id="start-form"):
            yield Label(f"Run {self.benchmark_name}", classes="dialog-title")
            with Horizontal(classes="start-row"):
                yield Label("solution", classes="start-label")
                with RadioSet(id="solution"):
                    for solution in BENCHMARK_SOLUTIONS:
                        yield RadioButton(
                            SOLUTION_TEXT[solution],
                            value=solution.value == defaults.solution,
                            id=f"solution-{solution.value}",
                        )
            with Horizontal(classes="start-row", id="agent-row"):
                yield Label("agent command", classes="start-label")
                yield Input(
                    value=defaults.agent_command,
                    placeholder="run on this host for each case",
                    id="agent-command",
                )
            with Horizontal(classes="start-row"):
                yield Label("jobs", classes="start-label")
                yield Input(defaults.jobs, id="jobs", classes="count")
                yield Label("repeats", classes="start-label-short")
                yield Input(defaults.repeats, id="repeats", classes="count")
                yield Label("retries", classes="start-label-short")
                yield Input(defaults.retries, id="retries", classes="count")
            with Horizontal(classes="start-row"):
                yield Label("cluster", classes="start-label")
                yield Input(
                    value=defaults.cluster,
                    placeholder="here; or a Ray address: auto, HOST:PORT, ray://HOST:10001",
                    id="cluster",
                )
            yield Checkbox(
                "reuse an identical earlier run's result (not with repeats)",
                defaults.use_cache,
                id="cache",
            )
            yield Label("env: KEY=VALUE, one a line", classes="area-label")
            yield TextArea(defaults.env, id="env", soft_wrap=False)
            yield Label(
                "secrets: ENV_NAME=SECRET_NAME, one a line (sandbench secrets set NAME)",
                classes="area-label",
            )
            yield TextArea(defaults.secrets, id="secrets", soft_wrap=False)
            yield Static("", id="start-problems")
            yield Static(
                "ctrl+s starts · tab moves · ←/→ choose the solution · esc cancels",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self._show_agent()
        self.query_one(RadioSet).focus()

    def solution(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return self.defaults.solution
        return pressed.id.removeprefix("solution-")

    def _show_agent(self) -> None:
        self.query_one("#agent-row").display = self.solution() == Solution.AGENT.value

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self._show_agent()

    def form(self) -> OptionsForm:
        def text(selector: str) -> str:
            return self.query_one(selector, Input).value

        return OptionsForm(
            jobs=text("#jobs"),
            solution=self.solution(),
            agent_command=text("#agent-command"),
            repeats=text("#repeats"),
            retries=text("#retries"),
            env=self.query_one("#env", TextArea).text,
            secrets=self.query_one("#secrets", TextArea).text,
            use_cache=self.query_one(Checkbox).value,
            cluster=text("#cluster"),
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        options, problems = parse_options(self.form(), known_secrets=self.known_secrets)
        self.problems = problems
        for field, selector in WIDGET.items():
            self.query_one(selector).set_class(field in problems, "invalid")
        shown = Text("\n".join(f"{FIELD_LABEL[f]}: {problems[f]}" for f in FIELDS if f in problems))
        self.query_one("#start-problems", Static).update(shown)
        if options is not None:
            self.dismiss(options)
            return
        first = next((f for f in FIELDS if f in problems and f in WIDGET), None)
        if first is not None:
            self.query_one(WIDGET[first]).focus()


def start_defaults(
    jobs: int, retries: int, agent_command: str = "", cluster: str | None = None
) -> OptionsForm:
    """What the start dialog shows first: -j, retries and the cluster from the config, the
    reference."""
    return OptionsForm(
        jobs=str(jobs), retries=str(retries), agent_command=agent_command, cluster=cluster or ""
    )
