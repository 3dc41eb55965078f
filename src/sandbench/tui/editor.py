"""The scenario editor: a keyboard form over every field, validated as you type.

The form is a view of a ``Draft`` document: every field writes into it and the whole
document is validated after each change, each problem shown beside the field (or section)
its path belongs to. Saving stores a new immutable version. ``ctrl+o`` hands the document
to ``$EDITOR`` as TOML, with the app suspended, and takes it back through the same checks.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Label, Select, Static, TextArea

from sandbench.errors import Conflict, Stale
from sandbench.model.problems import Problem, format_loc
from sandbench.model.resources import PRESETS, ResourceSize
from sandbench.tui import keys
from sandbench.tui.draft import (
    AREAS,
    CUSTOM_SIZE_FIELDS,
    GENERAL,
    LAUNCH,
    MISSING,
    SCORERS,
    Draft,
    Field,
    Invalid,
    Kind,
    file_fields,
    owner,
    scorer_fields,
    show,
)
from sandbench.tui.messages import WorkFailed
from sandbench.tui.modals import ConfirmScreen
from sandbench.tui.workbench import SavedScenario

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

# Section-level places a problem can belong to (besides the fields themselves).
SECTIONS = (
    "",
    "input_context",
    "environment_parameters",
    format_loc(LAUNCH),
    format_loc((*LAUNCH, "after_idle")),
    format_loc((*LAUNCH, "lifecycle")),
    "scoring_contract",
    format_loc(SCORERS),
)


# Areas that usually hold a page or more get more lines.
TALL = {"problem_statement", "reference_output", "bash_script", "python_script", "file_contents"}


class FieldInput(Input):
    def __init__(self, spec: Field, value: str, **kwargs: Any) -> None:
        super().__init__(value=value, placeholder=spec.help, **kwargs)
        self.spec = spec


class FieldArea(TextArea):
    def __init__(self, spec: Field, value: str, **kwargs: Any) -> None:
        super().__init__(value, soft_wrap=True, tab_behavior="focus", **kwargs)
        self.spec = spec


class FieldSelect(Select[str]):
    def __init__(self, spec: Field, value: str, **kwargs: Any) -> None:
        options = list(spec.options)
        if value and value not in {v for _, v in options}:
            options.append((f"{value} (not valid)", value))  # from $EDITOR: shown, not lost
        required = spec.path[-1] == "type"
        super().__init__(
            [(label, v) for label, v in options],
            prompt="(unset)",
            allow_blank=not required,
            value=value if value else Select.NULL,
            **kwargs,
        )
        self.spec = spec


FieldWidget = FieldInput | FieldArea | FieldSelect


class ErrorLabel(Static):
    """Where the problems of one field or section are shown; hidden when there are none."""

    def __init__(self, where: str) -> None:
        super().__init__("", markup=False, classes="field-error")
        self.where = where
        self.shown = ""
        self.display = False


class ScorerBox(Vertical):
    def __init__(self, index: int, title: str) -> None:
        super().__init__(classes="scorer-box")
        self.index = index
        self.border_title = title


class TestFileBox(Vertical):
    def __init__(self, index: int, file_index: int) -> None:
        super().__init__(classes="test-file")
        self.index = index
        self.file_index = file_index


@dataclass
class Saved(Message):
    saved: SavedScenario
    document: dict[str, Any]


@dataclass
class SavedElsewhere(Message):
    reason: str
    scenario: Any
    document: dict[str, Any]


@dataclass
class NameTaken(Message):
    reason: str


def _dom_id(where: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in where)


class EditorScreen(Screen):
    """Edit a stored scenario (``scenario_id``), or a new one (``scenario_id`` None)."""

    KEYS = keys.EDITOR
    BINDINGS = keys.bindings(KEYS)

    def __init__(
        self,
        document: dict[str, Any],
        *,
        scenario_id: str | None = None,
        version: int | None = None,
        origin: str = "",
    ) -> None:
        super().__init__(id="editor-screen")
        self.draft = Draft(document)
        self.scenario_id = scenario_id
        self.version = version
        self.origin = origin  # what a new scenario started from, for the title
        self.saved_document: dict[str, Any] | None = (
            self.draft.document() if scenario_id is not None else None
        )
        self.problems: list[Problem] = []
        self._labels: dict[str, ErrorLabel] = {}
        self._fields: dict[str, FieldWidget] = {}
        self._external_text: str | None = None  # TOML from $EDITOR that did not parse
        self._refocus: str | None = None  # field to focus after a rebuild
        self._saving = False

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="editor-head", classes="status")
        with VerticalScroll(id="form"):
            yield ErrorLabel("")
            yield Static("General", classes="section")
            yield ErrorLabel("input_context")
            for spec in GENERAL:
                yield from self._field(spec)
            yield Static("Environment", classes="section")
            yield ErrorLabel("environment_parameters")
            yield ErrorLabel(format_loc(LAUNCH))
            yield ErrorLabel(format_loc((*LAUNCH, "after_idle")))
            yield ErrorLabel(format_loc((*LAUNCH, "lifecycle")))
            for spec in self.draft.environment_fields():
                yield from self._field(spec)
                if spec.path[-1] == "resource_size_request":
                    yield Static("", id="resources", classes="field-note")
            yield Static("Scorers", classes="section")
            yield Static(
                "ctrl+n add · ctrl+r remove · alt+↑/↓ move · ctrl+b normalise weights",
                classes="field-note",
            )
            yield ErrorLabel("scoring_contract")
            yield ErrorLabel(format_loc(SCORERS))
            for index, entry in enumerate(self.draft.scorers):
                yield self._scorer_box(index, entry)
        yield Static("", id="problems", classes="status")
        yield Footer()

    def _field(self, spec: Field) -> ComposeResult:
        value = show(spec.kind, self.draft.get(spec.path))
        classes = "field"
        if spec.path[-1] in CUSTOM_SIZE_FIELDS:
            classes += " custom-size"
        dom_id = _dom_id(spec.where)
        if spec.kind in AREAS:
            hint = f" · {spec.help}" if spec.help else ""
            yield Label(f"{spec.label}{hint}", classes=f"{classes} area-label")
            area = FieldArea(spec, value, id=dom_id, classes=classes)
            if spec.path[-1] in TALL:
                area.add_class("tall")
            yield area
        else:
            widget: FieldWidget
            if spec.kind in (Kind.CHOICE, Kind.BOOL):
                widget = FieldSelect(spec, value, id=dom_id)
            else:
                widget = FieldInput(spec, value, id=dom_id)
            yield Horizontal(
                Label(spec.label, classes="field-label"), widget, classes=f"{classes} field-row"
            )
        yield ErrorLabel(spec.where)

    def _scorer_box(self, index: int, entry: Any) -> ScorerBox:
        entry = entry if isinstance(entry, dict) else {}
        scorer = entry.get("scorer") if isinstance(entry.get("scorer"), dict) else {}
        scorer_type = str(scorer.get("type", ""))
        box = ScorerBox(index, f" {index + 1}. {entry.get('name', '')} ")
        children: list[Widget] = [ErrorLabel(format_loc((*SCORERS, index)))]
        children.append(ErrorLabel(format_loc((*SCORERS, index, "scorer"))))
        for spec in scorer_fields(index, scorer_type):
            children.extend(self._field(spec))
        if scorer_type == "test_based_scorer":
            files = scorer.get("test_files") or []
            children.append(ErrorLabel(format_loc((*SCORERS, index, "scorer", "test_files"))))
            for file_index in range(len(files) if isinstance(files, list) else 0):
                file_box = TestFileBox(index, file_index)
                file_box.compose_add_child(
                    Static(f"test file {file_index + 1}", classes="field-note")
                )
                for spec in file_fields(index, file_index):
                    for child in self._field(spec):
                        file_box.compose_add_child(child)
                children.append(file_box)
            children.append(
                Static("ctrl+f adds a test file · ctrl+r in one removes it", classes="field-note")
            )
        for child in children:
            box.compose_add_child(child)
        return box

    def on_mount(self) -> None:
        self._after_build()

    def _after_build(self) -> None:
        # Where each field and problem label is, found once per build: every keystroke
        # validates and must not search the whole form for each of them.
        self._labels = {label.where: label for label in self.query(ErrorLabel)}
        self._fields = {
            widget.spec.where: widget
            for widget in self.walk_children()
            if isinstance(widget, FieldWidget)
        }
        self.validate()
        target = self._refocus
        self._refocus = None
        widget = self._widget(target) if target else None
        if widget is None:
            widget = self.query_one(f"#{_dom_id('name')}", FieldInput)
        widget.focus()
        self.call_after_refresh(widget.scroll_visible, animate=False)

    async def rebuild(self, focus: str | None = None) -> None:
        """Build the form again from the draft (scorers added, moved or retyped)."""
        scroll = self.query_one("#form", VerticalScroll).scroll_y
        self._refocus = focus
        await self.recompose()
        self.query_one("#form", VerticalScroll).scroll_to(y=scroll, animate=False)
        self._after_build()

    # ------------------------------------------------------------------ field changes

    def _widget(self, where: str | None) -> FieldWidget | None:
        return None if where is None else self._fields.get(where)

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FieldInput):
            self._changed(event.input.spec, event.value)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if isinstance(event.text_area, FieldArea):
            self._changed(event.text_area.spec, event.text_area.text)

    async def on_select_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.select, FieldSelect):
            return
        spec = event.select.spec
        value = "" if event.value is Select.NULL else str(event.value)
        if spec.path[-2:] == ("scorer", "type") and value:
            index = int(spec.path[len(SCORERS)])
            current = self.draft.get(spec.path)
            if current != value:
                self.draft.set_scorer_type(index, value)
                await self.rebuild(focus=spec.where)
            return
        self._changed(spec, value)
        if spec.path[-1] == "resource_size_request":
            self._show_custom_size()

    def _changed(self, spec: Field, text: str) -> None:
        before = self.draft.get(spec.path)
        self.draft.write(spec, text)
        if spec.path[-1] == "name" and len(spec.path) == len(SCORERS) + 2:
            for node in self._fields[spec.where].ancestors_with_self:
                if isinstance(node, ScorerBox):
                    node.border_title = f" {node.index + 1}. {text.strip()} "
        if before != self.draft.get(spec.path) or spec.where in self.draft.local:
            self.validate()
        else:
            self._render_status()

    def _show_custom_size(self) -> None:
        size = self.draft.get((*LAUNCH, "resource_size_request"))
        custom = size == ResourceSize.CUSTOM_SIZE.value
        for node in self.query(".custom-size"):
            node.display = custom
        note = self.query_one("#resources", Static)
        if custom:
            cpu = self.draft.get((*LAUNCH, "custom_cpu_cores"))
            memory = self.draft.get((*LAUNCH, "custom_gb_memory"))
            disk = self.draft.get((*LAUNCH, "custom_disk_size"))
            parts = [
                f"{'?' if cpu is MISSING else cpu} cpu",
                f"{'?' if memory is MISSING else memory} GiB memory",
                f"{8 if disk is MISSING else disk} GiB disk",
            ]
            note.update("→ " + " · ".join(parts) + " (enforced)")
        else:
            try:
                resources = PRESETS[ResourceSize(size if size is not MISSING else "SMALL")]
            except (ValueError, KeyError):
                note.update("")
                return
            note.update(f"→ {resources.describe()} (enforced)")

    # ------------------------------------------------------------------ validation

    def validate(self) -> list[Problem]:
        """Check the whole draft and put each problem beside its field or section."""
        self.problems = self.draft.problems()
        labels = self._labels
        places = list(labels)
        shown: dict[str, list[str]] = {where: [] for where in places}
        for problem in self.problems:
            where = owner(problem.path, places) or ""
            if where == "" and "" not in shown:
                continue
            rest = problem.path[len(where) :].lstrip(".")
            shown[where].append(f"✗ {rest}: {problem.reason}" if rest else f"✗ {problem.reason}")
        for where, label in labels.items():
            text = "\n".join(shown.get(where, []))
            if text == label.shown:
                continue  # most keystrokes change one label or none
            label.shown = text
            label.update(text)
            label.display = bool(text)
            widget = self._widget(where)
            if widget is not None:
                widget.set_class(bool(text), "invalid")
        self._show_custom_size()
        self._render_status()
        return self.problems

    @property
    def dirty(self) -> bool:
        return self.saved_document is None or self.draft.document() != self.saved_document

    def _render_status(self) -> None:
        name = self.draft.get(("name",))
        name = name if isinstance(name, str) and name else "(no name)"
        if self.scenario_id is None:
            where = f"new scenario{f' from {self.origin}' if self.origin else ''}"
        else:
            where = f"v{self.version} · {self.scenario_id}"
        self.sub_title = f"edit {name}"
        self.query_one("#editor-head", Static).update(f"{name} · {where}")
        count = len(self.problems)
        if count:
            noun = "problem" if count == 1 else "problems"
            text = f"✗ {count} {noun} (ctrl+g goes to the next)"
        else:
            text = "✓ valid"
        if self.dirty:
            text += " · not saved (ctrl+s saves)"
        else:
            text += " · saved"
        status = self.query_one("#problems", Static)
        status.update(text)
        status.set_class(bool(count), "invalid")

    def action_next_problem(self) -> None:
        if not self.problems:
            self.notify("No problems.", timeout=3)
            return
        labels = [label for label in self.query(ErrorLabel) if label.display]
        if not labels:
            return
        focused = self.focused
        after = 0
        if focused is not None:
            region_y = focused.region.y
            after = next((i for i, lb in enumerate(labels) if lb.region.y > region_y), 0)
        label = labels[after]
        widget = self._widget(label.where)
        if widget is not None:
            widget.focus()
        label.scroll_visible(animate=False)

    # ------------------------------------------------------------------ scorers

    def _focused_box(self) -> tuple[int | None, int | None]:
        """(scorer index, test file index) of the focused field, where it is in one."""
        node = self.focused
        index = file_index = None
        while node is not None:
            if isinstance(node, TestFileBox) and file_index is None:
                file_index = node.file_index
            if isinstance(node, ScorerBox):
                index = node.index
                break
            node = node.parent  # type: ignore[assignment]
        return index, file_index

    async def action_add_scorer(self) -> None:
        index, _ = self._focused_box()
        new = self.draft.add_scorer(index)
        await self.rebuild(focus=format_loc((*SCORERS, new, "name")))
        self.notify("Scorer added: set its weight, or ctrl+b normalises.", timeout=4)

    async def action_remove(self) -> None:
        index, file_index = self._focused_box()
        if index is None:
            self.notify("Move to a scorer first (tab) to remove it.", severity="warning")
            return
        if file_index is not None:
            self.draft.remove_test_file(index, file_index)
            await self.rebuild(focus=format_loc((*SCORERS, index, "scorer", "test_command")))
            return
        name = self.draft.scorers[index].get("name", f"#{index + 1}")
        self.draft.remove_scorer(index)
        remaining = len(self.draft.scorers)
        focus = format_loc((*SCORERS, min(index, remaining - 1), "name")) if remaining else None
        await self.rebuild(focus=focus)
        self.notify(f"Scorer {name} removed (not saved yet).", timeout=4)

    async def action_move_scorer(self, step: int) -> None:
        index, _ = self._focused_box()
        if index is None:
            self.notify("Move to a scorer first (tab).", severity="warning")
            return
        focused = self.focused
        field = focused.spec.path if isinstance(focused, FieldWidget) else None
        target = self.draft.move_scorer(index, step)
        if target == index:
            return
        rest = field[len(SCORERS) + 1 :] if field else ("name",)
        await self.rebuild(focus=format_loc((*SCORERS, target, *rest)))

    async def action_add_test_file(self) -> None:
        index, _ = self._focused_box()
        entry = self.draft.scorers[index] if index is not None else None
        if index is None or entry is None or entry["scorer"].get("type") != "test_based_scorer":
            self.notify("Test files belong to a test_based_scorer.", severity="warning")
            return
        file_index = self.draft.add_test_file(index)
        path = (*SCORERS, index, "scorer", "test_files", file_index, "file_path")
        await self.rebuild(focus=format_loc(path))

    async def action_normalise(self) -> None:
        try:
            self.draft.normalise_weights()
        except Invalid as error:
            self.notify(str(error), title="Weights not normalised", severity="warning")
            return
        focused = self.focused
        await self.rebuild(focus=focused.spec.where if isinstance(focused, FieldWidget) else None)
        weights = ", ".join(f"{s.get('weight')}" for s in self.draft.scorers)
        self.notify(f"Weights now {weights}", title="Normalised", timeout=4)

    # ------------------------------------------------------------------ saving

    def action_save(self) -> None:
        if self._saving:
            return
        problems = self.validate()
        if problems:
            count = len(problems)
            self.notify(
                f"{problems[0]}" + (f"\n… and {count - 1} more" if count > 1 else ""),
                title=f"Not saved: {count} problem{'s' if count > 1 else ''}",
                severity="error",
            )
            self.action_next_problem()
            return
        self._saving = True
        self._save(self.draft.scenario(), self.draft.document(), self.version)

    @work(thread=True, exit_on_error=False, group="save")
    def _save(self, scenario: Any, document: dict[str, Any], over: int | None) -> None:
        try:
            saved = self.sandbench.workbench.save_scenario(self.scenario_id, scenario, over=over)
        except Stale as error:
            self.post_message(SavedElsewhere(str(error), scenario, document))
        except Conflict as error:
            self.post_message(NameTaken(str(error)))
        except Exception as error:
            self.post_message(NameTaken(""))
            self.app.post_message(WorkFailed("Save scenario", error))
        else:
            self.post_message(Saved(saved, document))

    def on_saved_elsewhere(self, message: SavedElsewhere) -> None:
        """Someone else saved a version since this one was opened: theirs is not lost
        without a question."""

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._save(message.scenario, message.document, None)
            else:
                self._saving = False

        self.app.push_screen(
            ConfirmScreen(
                "Changed elsewhere",
                f"{message.reason}. Save yours as the next version anyway? (That version"
                " stays in the history.)",
                "Save mine",
            ),
            confirmed,
        )

    def on_name_taken(self, message: NameTaken) -> None:
        self._saving = False
        if not message.reason:
            return
        label = self._labels["name"]
        label.shown = f"✗ {message.reason}"
        label.update(label.shown)
        label.display = True
        self.query_one(f"#{_dom_id('name')}").focus()
        self.notify(message.reason, title="Not saved", severity="error")

    def on_saved(self, message: Saved) -> None:
        self._saving = False
        saved = message.saved
        self.scenario_id = saved.id
        self.version = saved.version
        self.saved_document = message.document
        self._render_status()
        name = message.document.get("name", "")
        if saved.changed:
            self.notify(f"{name} v{saved.version}", title="Saved")
        else:
            self.notify(f"No changes: {name} stays at v{saved.version}.", title="Not saved")
        self.sandbench.scenarios_changed()

    # ------------------------------------------------------------------ $EDITOR

    def action_external(self) -> None:
        text = self._external_text
        if text is None:
            try:
                text = tomli_w.dumps(self.draft.document(), multiline_strings=True)
            except TypeError as error:
                self.notify(f"cannot be written as TOML: {error}", severity="error")
                return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        argv = shlex.split(editor)
        if not argv or shutil.which(argv[0]) is None:
            self.notify(
                f"{editor!r} was not found. Set EDITOR (e.g. export EDITOR=nano).",
                title="No editor",
                severity="error",
            )
            return
        handle, name = tempfile.mkstemp(prefix="sandbench-", suffix=".toml")
        path = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            try:
                with self.app.suspend():
                    code = subprocess.call([*argv, str(path)])
            except SuspendNotSupported:
                self.notify("This terminal cannot hand over to an editor.", severity="error")
                return
            edited = path.read_text(encoding="utf-8")
        finally:
            path.unlink(missing_ok=True)
        if code != 0:
            self.notify(f"{argv[0]} exited with {code}; nothing taken.", severity="warning")
            return
        self._take_external(edited)

    def _take_external(self, text: str) -> None:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            self._external_text = text  # ctrl+o reopens what was typed, not the old draft
            self.notify(
                f"{error}\nctrl+o reopens your text to fix it; the form is unchanged.",
                title="Invalid TOML",
                severity="error",
                timeout=15,
            )
            return
        self._external_text = None
        self.draft.replace(document)
        self.run_worker(self.rebuild(), exclusive=True, group="rebuild")
        self.call_after_refresh(self._report_external)

    def _report_external(self) -> None:
        count = len(self.draft.problems())
        if count:
            self.notify(
                f"{count} problem{'s' if count > 1 else ''} shown beside the fields.",
                title="Taken from $EDITOR",
                severity="warning",
            )
        else:
            self.notify("Valid. ctrl+s saves it as a new version.", title="Taken from $EDITOR")

    # ------------------------------------------------------------------ leaving

    def action_back(self) -> None:
        if not self.dirty:
            self.app.pop_screen()
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmScreen("Discard changes", "Leave the editor without saving?", "Discard"),
            confirmed,
        )
