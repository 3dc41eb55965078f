"""Modal screens: confirm, path prompt, solution choice, help."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from sandbench.model.runs import Solution
from sandbench.tui import keys
from sandbench.tui.widgets import truncate
from sandbench.tui.workbench import ImportOutcome, Template


class Modal(ModalScreen):
    BINDINGS = keys.bindings(keys.MODAL)

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(Modal):
    """A yes/no question; dismisses with True or False."""

    BINDINGS = keys.bindings(keys.CONFIRM)

    def __init__(self, title: str, question: str, confirm: str = "Yes") -> None:
        super().__init__()
        self._title = title
        self._question = question
        self._confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)


class PathSuggester(Suggester):
    """Completes the last part of a path from the directory it names."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        directory, prefix = os.path.split(expanded)
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            return None
        for name in names:
            if name.startswith(prefix) and name != prefix and not name.startswith("."):
                full = os.path.join(directory, name)
                suffix = "/" if os.path.isdir(full) else ""
                return value + name[len(prefix) :] + suffix
        return None


class PathPrompt(Modal):
    """Asks for a path; dismisses with it, or None."""

    def __init__(self, title: str, default: str = "") -> None:
        super().__init__()
        self._title = title
        self._default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Input(
                value=self._default,
                placeholder="scenario files, Harbor/Terminal-Bench tasks, SWE-bench .jsonl",
                suggester=PathSuggester(),
                id="path",
            )
            yield Static("→ completes · enter imports · esc cancels", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)


def import_report(outcome: ImportOutcome) -> str:
    """What an import stored, rounded and refused, one section each (plain text)."""
    sections: list[str] = []
    if outcome.items:
        width = max(len(item.action) for item in outcome.items)
        sections.append(
            f"Imported ({len(outcome.items)})\n"
            + "\n".join(f"  {item.action:<{width}}  {item.name}" for item in outcome.items)
        )
    rounded = [(item.name, note) for item in outcome.items for note in item.rounded]
    if rounded:
        sections.append(
            f"Rounded up ({len(rounded)}): never smaller than asked\n"
            + "\n".join(f"  {name}: {note}" for name, note in rounded)
        )
    said = [(item.name, note) for item in outcome.items for note in item.other_notes]
    if said:
        sections.append("Notes\n" + "\n".join(f"  {name}: {note}" for name, note in said))
    if outcome.problems:
        sections.append(
            f"Refused ({len(outcome.problems)}): nothing was imported\n"
            + "\n".join(
                f"  {p.file.name}: {p.problem.path or '(file)'}: {p.problem.reason}"
                for p in outcome.problems
            )
        )
    return "\n\n".join(sections) or "Nothing to import."


class ImportResultScreen(Modal):
    """What an import of a task set did: imported, rounded, refused (with field and reason)."""

    BINDINGS = keys.bindings(keys.IMPORT_RESULT)

    def __init__(self, source: str, outcome: ImportOutcome) -> None:
        super().__init__()
        self._source = source
        self._outcome = outcome

    def compose(self) -> ComposeResult:
        outcome = self._outcome
        if outcome.problems:
            title = f"Nothing imported from {self._source}"
        else:
            title = f"Imported {len(outcome.items)} {outcome.format} task(s) from {self._source}"
        with Vertical(classes="dialog import-result"):
            yield Label(title, classes="dialog-title", id="import-title", markup=False)
            with VerticalScroll(id="import-body"):
                yield Static(import_report(outcome), markup=False, id="import-report")
            yield Static("enter or esc closes · j/k scroll", classes="dialog-hint")

    def action_scroll_down(self) -> None:
        self.query_one("#import-body", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#import-body", VerticalScroll).scroll_up()


@dataclass(frozen=True)
class RunChoice:
    solution: Solution
    use_cache: bool
    agent_command: str | None = None  # the host command of an agent solution


SOLUTION_HELP = {
    Solution.REFERENCE: "apply the reference solution, then score",
    Solution.BASELINE: "apply nothing, then score (should not reach 1.0)",
    Solution.AGENT: "a host command drives the sandbox, then score",
    Solution.INTERACTIVE: "you work in a shell in the sandbox; exit to score",
}
AGENT_HINT = (
    "It gets SANDBENCH_SANDBOX_ID, SANDBENCH_WORKDIR, SANDBENCH_PROBLEM_FILE, and"
    " drives the sandbox with $SANDBENCH sandboxes exec $SANDBENCH_SANDBOX_ID -- CMD."
)


class SolutionScreen(Modal):
    """Which solution to run; dismisses with a RunChoice, or None. An agent asks for its
    host command first, offering the last one used."""

    BINDINGS = keys.bindings(keys.SOLUTION)
    DEFAULT_CSS = "SolutionScreen #agent { height: auto; }"

    def __init__(self, scenario_name: str, agent_command: str = "") -> None:
        super().__init__()
        self._name = scenario_name
        self._agent_command = agent_command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Run {self._name}", classes="dialog-title", id="solution-title")
            yield OptionList(
                *[
                    Option(f"{solution.value:<11} {text}", id=solution.value)
                    for solution, text in SOLUTION_HELP.items()
                ],
                id="solutions",
            )
            with Vertical(id="agent"):
                yield Label("The agent's command, run on this host:")
                yield Input(
                    value=self._agent_command,
                    placeholder="e.g. my-agent --sandbox $SANDBENCH_SANDBOX_ID",
                    id="agent-command",
                )
                yield Static(AGENT_HINT, classes="dialog-hint", markup=False)
            yield Checkbox("reuse the result of an identical earlier run (c)", True, id="cache")
            yield Static("enter runs · esc cancels", classes="dialog-hint", id="solution-hint")

    def on_mount(self) -> None:
        self.query_one("#agent").display = False
        self.query_one(OptionList).focus()

    def action_toggle_cache(self) -> None:
        self.query_one(Checkbox).toggle()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        solution = Solution(event.option.id)
        if solution == Solution.AGENT:  # the choice is made: the list gives way to the command
            self.query_one("#solution-title", Label).update(f"Run {self._name} with an agent")
            self.query_one(OptionList).display = False
            self.query_one("#agent").display = True
            self.query_one("#agent-command", Input).focus()
            self.query_one("#solution-hint", Static).update("enter runs the agent · esc cancels")
            return
        self.dismiss(RunChoice(solution, self.query_one(Checkbox).value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        command = event.value.strip()
        if not command:
            self.query_one("#solution-hint", Static).update(
                "an agent run needs a command · esc cancels"
            )
            return
        self.dismiss(RunChoice(Solution.AGENT, self.query_one(Checkbox).value, command))


class TemplateScreen(Modal):
    """What a new scenario starts from; dismisses with the chosen Template, or None."""

    def __init__(self, templates: list[Template]) -> None:
        super().__init__()
        self._templates = templates

    def compose(self) -> ComposeResult:
        width = min(30, max(len(t.title) for t in self._templates))
        with Vertical(classes="dialog"):
            yield Label("New scenario from a blank or a sample", classes="dialog-title")
            yield OptionList(
                *[
                    Option(f"{truncate(t.title, width):<{width}}  {t.description}", id=str(i))
                    for i, t in enumerate(self._templates)
                ],
                id="templates",
            )
            yield Static("enter opens it in the editor · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._templates[int(event.option.id or 0)])


@dataclass(frozen=True)
class HelpRow:
    keys: str
    description: str


class HelpScreen(Modal):
    """The keys of the screen underneath, then the keys that work everywhere."""

    BINDINGS = keys.bindings(keys.HELP)

    def __init__(self, sections: list[tuple[str, list[HelpRow]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for title, rows in self._sections:
                    if not rows:
                        continue
                    yield Label(title, classes="help-section")
                    width = max(len(r.keys) for r in rows)
                    text = "\n".join(f"  {r.keys:<{width}}  {r.description}" for r in rows)
                    yield Static(text, markup=False, classes="help-rows")
            yield Static("esc or ? closes · ctrl+p lists every command", classes="dialog-hint")

    def action_scroll_down(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_up()


def default_import_path() -> str:
    """The samples when run from the repository (``make run``), else the current directory."""
    samples = Path.cwd() / "sample_scenarios"
    return "sample_scenarios" if samples.is_dir() else "./"
