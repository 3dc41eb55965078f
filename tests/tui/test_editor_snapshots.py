"""Snapshots of the scenario editor and the template picker at 80x24 and 160x48, from fixed
data (a sample file, no store, no Podman).

Update after an intended change:
`.venv/bin/pytest tests/tui/test_editor_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from sandbench.model.problems import format_loc
from sandbench.store.files import load_file
from sandbench.tui.app import SandbenchApp
from sandbench.tui.draft import SCORERS
from sandbench.tui.editor import EditorScreen, _dom_id
from sandbench.tui.modals import TemplateScreen
from tests.conftest import SAMPLES
from tests.tui.support import fixed_app, settle, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def open_editor(pilot: Pilot) -> EditorScreen:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, SandbenchApp)
    document = load_file(SAMPLES / "add-dry-run-flag.toml")[0].scenario.to_dict()
    app.push_screen(EditorScreen(document, scenario_id="scn_01fixedscenario00002", version=3))
    await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen), "the editor")
    screen = app.screen
    assert isinstance(screen, EditorScreen)
    await steady_cursors(pilot, screen)
    return screen


async def steady_cursors(pilot: Pilot, screen: EditorScreen) -> None:
    """No text cursor in the picture: whether a blinking cursor is drawn depends on the
    clock, and these snapshots are about the form, not Textual's cursor."""
    for widget in [*screen.query(Input).results(), *screen.query(TextArea).results()]:
        widget.cursor_blink = False
    screen.set_focus(None)
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_editor_screen(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(fixed_app(), terminal_size=size, run_before=open_editor)


def test_editor_with_a_problem_beside_its_field(snap_compare) -> None:
    async def bad_weight(pilot: Pilot) -> None:
        screen = await open_editor(pilot)
        weight = screen.query_one(f"#{_dom_id(format_loc((*SCORERS, 0, 'weight')))}", Input)
        weight.focus(scroll_visible=False)
        weight.value = "half"
        await settle(pilot)
        screen.query_one("#form").scroll_to_widget(weight, animate=False, top=True)
        await pilot.wait_for_scheduled_animations()
        await steady_cursors(pilot, screen)

    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=bad_weight)


def test_template_picker(snap_compare) -> None:
    async def templates(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TemplateScreen), "templates")
        await settle(pilot)

    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=templates)
