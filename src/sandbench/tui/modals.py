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
                placeholder="a .toml/.json file or a directory",
                suggester=PathSuggester(),
                id="path",
            )
            yield Static("→ completes · enter imports · esc cancels", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)


@dataclass(frozen=True)
class RunChoice:
    solution: Solution
    use_cache: bool


SOLUTION_HELP = {
    Solution.REFERENCE: "apply the scenario's reference solution, then score",
    Solution.BASELINE: "apply nothing, then score (should not reach 1.0)",
}


class SolutionScreen(Modal):
    """Which solution to run; dismisses with a RunChoice, or None."""

    BINDINGS = keys.bindings(keys.SOLUTION)

    def __init__(self, scenario_name: str) -> None:
        super().__init__()
        self._name = scenario_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Run {self._name}", classes="dialog-title")
            yield OptionList(
                *[
                    Option(f"{solution.value:<10} {text}", id=solution.value)
                    for solution, text in SOLUTION_HELP.items()
                ],
                id="solutions",
            )
            yield Checkbox("reuse the result of an identical earlier run (c)", True, id="cache")
            yield Static("enter runs · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def action_toggle_cache(self) -> None:
        self.query_one(Checkbox).toggle()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        use_cache = self.query_one(Checkbox).value
        self.dismiss(RunChoice(Solution(event.option.id), use_cache))


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
