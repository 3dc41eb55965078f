"""The scenario editor on the real store: create, edit with a problem then fix, scorers,
duplicate, $EDITOR; and a scenario made in the editor run through real Podman."""

from __future__ import annotations

import contextlib
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, Static

from sandbench.model.problems import format_loc
from sandbench.model.runs import RunState
from sandbench.store import Store
from sandbench.store.files import load_file
from sandbench.tui.app import SandbenchApp
from sandbench.tui.draft import SCORERS
from sandbench.tui.editor import EditorScreen, ErrorLabel, FieldArea, FieldInput, _dom_id
from sandbench.tui.modals import ConfirmScreen, SolutionScreen, TemplateScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from tests.conftest import SAMPLES
from tests.tui.support import (
    PARTIAL,
    command,
    make,
    notices,
    store_scenarios,
    wait_for,
    wait_for_screen,
)


def scorer_path(index: int, *rest: str) -> str:
    return format_loc((*SCORERS, index, *rest))


def widget(screen: EditorScreen, where: str) -> FieldInput | FieldArea | Select:
    return screen.query_one(f"#{_dom_id(where)}")  # type: ignore[return-value]


def error_text(screen: EditorScreen, where: str) -> str:
    label = next(label for label in screen.query(ErrorLabel) if label.where == where)
    return str(label.render()) if label.display else ""


def status(screen: EditorScreen) -> str:
    return str(screen.query_one("#problems", Static).render())


async def type_into(pilot: Pilot, screen: EditorScreen, where: str, text: str) -> None:
    """Focus a one-line field, clear it and type ``text`` key by key."""
    field = widget(screen, where)
    field.focus()
    await pilot.pause()
    await pilot.press("ctrl+u", *text) if text else await pilot.press("ctrl+u")
    await pilot.pause()


async def scenarios_ready(pilot: Pilot, app: SandbenchApp) -> ScenariosScreen:
    screen = app.screen
    assert isinstance(screen, ScenariosScreen)
    await wait_for(pilot, lambda: screen.loaded_once and not screen.fetching, "the list")
    return screen


async def open_templates(pilot: Pilot) -> TemplateScreen:
    await pilot.press("n")
    return await wait_for_screen(pilot, TemplateScreen, "templates")


async def open_editor(pilot: Pilot, *keys: str) -> EditorScreen:
    await pilot.press(*keys)
    screen = await wait_for_screen(pilot, EditorScreen, "the editor")
    await pilot.pause()
    return screen


@contextlib.asynccontextmanager
async def editing(app: SandbenchApp, key: str = "e") -> AsyncIterator[tuple[Pilot, EditorScreen]]:
    """The app at 80x24, its list loaded, then ``key`` on the first row: e edits it, c
    duplicates it."""
    async with app.run_test(size=(80, 24)) as pilot:
        await scenarios_ready(pilot, app)
        yield pilot, await open_editor(pilot, key)


@contextlib.contextmanager
def no_suspend(app: SandbenchApp) -> Iterator[None]:
    """The headless test driver cannot hand the terminal over; the editor runs anyway."""
    original = app.suspend
    app.suspend = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        app.suspend = original  # type: ignore[method-assign]


def use_editor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str) -> None:
    """$EDITOR becomes a shell script with ``body`` (the file to edit is $1)."""
    script = tmp_path / "fake-editor"
    script.write_text(f"#!/bin/sh\nset -e\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))


# ----------------------------------------------------------------------------- create


async def test_new_scenario_from_the_blank_template_is_saved_as_v1(
    offline_app: SandbenchApp, store: Store
) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await scenarios_ready(pilot, offline_app)
        templates = await open_templates(pilot)
        options = templates.query_one("#templates").option_count  # type: ignore[attr-defined]
        assert options == 1 + 9  # blank, then the nine samples
        editor = await open_editor(pilot, "enter")
        assert editor.scenario_id is None
        assert widget(editor, "name").has_focus
        assert "✓ valid · not saved" in status(editor)

        await type_into(pilot, editor, "name", "made-in-the-editor")
        await type_into(pilot, editor, scorer_path(0, "scorer", "command"), "test -d /tmp")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: editor.scenario_id is not None, "the save")
        record = store.get_scenario("made-in-the-editor")
        assert record.version == 1
        assert record.scenario.scorers[0].scorer.command == "test -d /tmp"  # type: ignore[union-attr]
        assert "✓ valid · saved" in status(editor)

        await pilot.press("escape")  # saved: no question
        screen = await scenarios_ready(pilot, offline_app)
        await wait_for(
            pilot,
            lambda: any(r.name == "made-in-the-editor" for r in screen.rows.values()),
            "the new row",
        )


async def test_a_sample_as_template_gets_a_free_name(
    offline_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, make("add-dry-run-flag", [command("ok", 1.0, "true")]))
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await scenarios_ready(pilot, offline_app)
        await open_templates(pilot)
        editor = await open_editor(pilot, "down", "enter")  # the first sample: add-dry-run-flag
        assert widget(editor, "name").value == "add-dry-run-flag-2"  # type: ignore[union-attr]
        assert "new scenario from add-dry-run-flag" in str(
            editor.query_one("#editor-head", Static).render()
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: editor.scenario_id is not None, "the save")
        copy = store.get_scenario("add-dry-run-flag-2").scenario
        sample = load_file(SAMPLES / "add-dry-run-flag.toml")[0].scenario
        assert copy.model_copy(update={"name": sample.name}) == sample


# ----------------------------------------------------------------------------- edit


async def test_edit_shows_a_problem_beside_its_field_refuses_to_save_then_saves_the_fix(
    offline_app: SandbenchApp, store: Store
) -> None:
    (scenario_id,) = store_scenarios(store, PARTIAL)
    async with editing(offline_app) as (pilot, editor):
        assert editor.scenario_id == scenario_id and editor.version == 1
        assert "✓ valid · saved" in status(editor)  # opening changes nothing

        weight = scorer_path(1, "weight")
        await type_into(pilot, editor, weight, "0.7x")
        assert error_text(editor, weight) == "✗ Input should be a valid number (got str '0.7x')"
        assert widget(editor, weight).has_class("invalid")
        assert "✗ 1 problem" in status(editor)

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert ("Not saved: 1 problem", "error") in [(t, s) for t, _, s in notices(offline_app)]
        assert store.get_scenario(scenario_id).version == 1  # nothing stored

        await pilot.press("backspace")  # 0.7: a number, but the weights sum to 0.95
        assert error_text(editor, weight) == ""
        assert error_text(editor, "scoring_contract") == (
            "✗ weights sum to 0.95; they must sum to 1.0 (within 0.01)"
        )
        await pilot.press("ctrl+b")  # normalise
        await wait_for(pilot, lambda: not editor.problems, "the normalised weights")
        assert [s["weight"] for s in editor.draft.scorers] == [0.2632, 0.7368]

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: editor.version == 2, "version 2")
        stored = store.get_scenario(scenario_id)
        assert [f.weight for f in stored.scenario.scorers] == [0.2632, 0.7368]
        assert [f.weight for f in store.get_scenario(scenario_id, 1).scenario.scorers] == [
            0.25,
            0.75,
        ]  # a past version never changes


async def test_scorers_are_added_retyped_moved_and_removed_with_keys(
    offline_app: SandbenchApp, store: Store
) -> None:
    (scenario_id,) = store_scenarios(store, PARTIAL)
    async with editing(offline_app) as (pilot, editor):
        widget(editor, scorer_path(0, "weight")).focus()
        await pilot.press("ctrl+n")  # after "exists"
        await wait_for(pilot, lambda: len(editor.draft.scorers) == 3, "the new scorer")
        new_name = scorer_path(1, "name")
        assert widget(editor, new_name).has_focus
        await type_into(pilot, editor, new_name, "no_eval")

        select = widget(editor, scorer_path(1, "scorer", "type"))
        assert isinstance(select, Select)
        select.value = "ast_grep_scorer"
        await wait_for(
            pilot,
            lambda: bool(editor.query(f"#{_dom_id(scorer_path(1, 'scorer', 'pattern'))}")),
            "the ast-grep fields",
        )
        # the labels repaint after the new fields mount: wait for it, do not race it
        await wait_for(
            pilot,
            lambda: error_text(editor, "scoring_contract").startswith("✗ weights sum to 1.33"),
            "the weight-sum problem",
        )
        await type_into(pilot, editor, scorer_path(1, "scorer", "pattern"), "eval($X)")

        await pilot.press("alt+up")
        await wait_for(pilot, lambda: editor.draft.scorers[0]["name"] == "no_eval", "the move")
        assert widget(editor, scorer_path(0, "scorer", "pattern")).has_focus

        await pilot.press("ctrl+b", "ctrl+s")
        await wait_for(pilot, lambda: editor.version == 2, "version 2")
        scorers = store.get_scenario(scenario_id).scenario.scorers
        assert [(f.name, f.scorer.type) for f in scorers] == [
            ("no_eval", "ast_grep_scorer"),
            ("exists", "command_scorer"),
            ("correct", "bash_script_scorer"),
        ]

        widget(editor, scorer_path(0, "name")).focus()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(editor.draft.scorers) == 2, "the removal")
        assert "weights sum to 0.75" in error_text(editor, "scoring_contract")


async def test_custom_size_fields_appear_only_for_custom_size(
    offline_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, PARTIAL)
    async with editing(offline_app) as (pilot, editor):
        cpu = format_loc(("environment_parameters", "launch_parameters", "custom_cpu_cores"))
        assert not widget(editor, cpu).parent.display  # type: ignore[union-attr]
        assert "0.5 cpu, 1 GiB memory, 4 GiB disk" in str(
            editor.query_one("#resources", Static).render()
        )
        preset = widget(editor, "environment_parameters.launch_parameters.resource_size_request")
        preset.value = "CUSTOM_SIZE"  # type: ignore[union-attr]
        await pilot.pause()
        assert widget(editor, cpu).parent.display  # type: ignore[union-attr]
        assert error_text(editor, "environment_parameters.launch_parameters") == (
            "✗ CUSTOM_SIZE needs custom_cpu_cores and custom_gb_memory"
        )
        await type_into(pilot, editor, cpu, "2")
        memory = "environment_parameters.launch_parameters.custom_gb_memory"
        await type_into(pilot, editor, memory, "4")
        assert not editor.problems
        assert "2 cpu · 4 GiB memory · 8 GiB disk" in str(
            editor.query_one("#resources", Static).render()
        )


async def test_duplicate_opens_a_copy_under_a_free_name(
    offline_app: SandbenchApp, store: Store
) -> None:
    (original,) = store_scenarios(store, PARTIAL)
    async with editing(offline_app, "c") as (pilot, editor):
        assert editor.scenario_id is None
        assert widget(editor, "name").value == "partial-copy"  # type: ignore[union-attr]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: editor.scenario_id is not None, "the save")
        assert editor.scenario_id != original
        assert store.get_scenario("partial-copy").scenario.scorers == (
            store.get_scenario(original).scenario.scorers
        )


async def test_a_taken_name_is_shown_beside_the_name_field(
    offline_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, PARTIAL, make("taken", [command("ok", 1.0, "true")]))
    async with editing(offline_app) as (pilot, editor):  # "partial" sorts first
        await type_into(pilot, editor, "name", "taken")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: error_text(editor, "name") != "", "the name problem")
        assert "an active scenario is already named 'taken'" in error_text(editor, "name")
        assert store.get_scenario("partial").version == 1


async def test_a_version_saved_elsewhere_meanwhile_is_not_overwritten_without_asking(
    offline_app: SandbenchApp, store: Store
) -> None:
    (scenario_id,) = store_scenarios(store, PARTIAL)
    async with editing(offline_app) as (pilot, editor):
        elsewhere = store.get_scenario(scenario_id).scenario.model_copy(
            update={"scorer_timeout_sec": 42}
        )
        assert store.update_scenario(scenario_id, elsewhere) == (2, True)  # another editor
        await type_into(pilot, editor, scorer_path(0, "scorer", "command"), "test -s answer.txt")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ConfirmScreen), "question")
        assert "is at v2 now: it changed since v1" in str(
            offline_app.screen.query_one(".dialog-text", Static).render()
        )
        await pilot.press("n")
        await pilot.pause()
        assert store.get_scenario(scenario_id).version == 2  # theirs stands
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: editor.version == 3, "version 3")
        latest = store.get_scenario(scenario_id).scenario
        assert latest.scorers[0].scorer.command == "test -s answer.txt"  # type: ignore[union-attr]
        assert store.get_scenario(scenario_id, 2).scenario.scorer_timeout_sec == 42


async def test_leaving_with_unsaved_changes_asks_first(
    offline_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(store, PARTIAL)
    async with editing(offline_app) as (pilot, editor):
        await type_into(pilot, editor, scorer_path(0, "scorer", "command"), "false")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        assert offline_app.screen is editor
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(offline_app.screen, ScenariosScreen), "the list")
        assert store.get_scenario("partial").version == 1


# ----------------------------------------------------------------------------- $EDITOR


async def test_external_editor_changes_come_back_validated(
    offline_app: SandbenchApp, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_scenarios(store, PARTIAL)
    # the "editor" raises the weight of `exists` and adds a scorer timeout
    use_editor(
        monkeypatch,
        tmp_path,
        'sed -i "s/^weight = 0.25$/weight = 0.5/" "$1"\n'
        'printf "scorer_timeout_sec = 99\\n%s\\n" "$(cat "$1")" > "$1.new"\n'
        'mv "$1.new" "$1"',
    )
    async with editing(offline_app) as (pilot, editor):
        with no_suspend(offline_app):
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: editor.draft.get(("scorer_timeout_sec",)) == 99, "edit")
        shown = lambda: widget(editor, "scorer_timeout_sec").value  # noqa: E731  (rebuilt form)
        await wait_for(pilot, lambda: shown() == "99", "the form")
        assert widget(editor, scorer_path(0, "weight")).value == "0.5"  # type: ignore[union-attr]
        assert error_text(editor, "scoring_contract").startswith("✗ weights sum to 1.25")
        assert ("Taken from $EDITOR", "warning") in [(t, s) for t, _, s in notices(offline_app)]
        assert store.get_scenario("partial").version == 1  # not saved until ctrl+s


async def test_external_editor_toml_error_keeps_the_form_and_reopens_the_text(
    offline_app: SandbenchApp, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_scenarios(store, PARTIAL)
    seen = tmp_path / "seen.toml"
    # first call: breaks line 1; second call: records what it was given
    use_editor(
        monkeypatch,
        tmp_path,
        f'if [ -e "{tmp_path}/once" ]; then cp "$1" "{seen}"; exit 0; fi\n'
        f'touch "{tmp_path}/once"\n'
        'printf "name = \\n" > "$1"',
    )
    async with editing(offline_app) as (pilot, editor):
        with no_suspend(offline_app):
            await pilot.press("ctrl+o")
            await pilot.pause()
            errors = [m for t, m, _ in notices(offline_app) if t == "Invalid TOML"]
            assert errors and "line 1" in errors[0]
            assert widget(editor, "name").value == "partial"  # type: ignore[union-attr]
            await pilot.press("ctrl+o")
            await pilot.pause()
        assert seen.read_text() == "name = \n"  # what was typed, not the old draft


# ----------------------------------------------------------------------------- then run it


@pytest.mark.podman
async def test_a_scenario_written_in_the_editor_runs_and_scores(live_app: SandbenchApp) -> None:
    """Blank template, a second scorer added and weighed, saved, then run for real."""
    async with live_app.run_test(size=(80, 24)) as pilot:
        await scenarios_ready(pilot, live_app)
        await open_templates(pilot)
        editor = await open_editor(pilot, "enter")
        await type_into(pilot, editor, "name", "written-here")
        widget(editor, scorer_path(0, "weight")).focus()
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: len(editor.draft.scorers) == 2, "the new scorer")
        command_field = scorer_path(1, "scorer", "command")
        await type_into(pilot, editor, command_field, "grep -q done /workspace/DONE")
        await pilot.press("ctrl+b", "ctrl+s")
        await wait_for(pilot, lambda: editor.scenario_id is not None, "the save")
        await pilot.press("escape")
        screen = await scenarios_ready(pilot, live_app)
        await wait_for(
            pilot,
            lambda: (
                screen.selected() is not None
                and any(r.name == "written-here" for r in screen.rows.values())
            ),
            "the row",
        )
        table = screen.query_one("#scenarios")
        row = list(screen.rows).index(editor.scenario_id)
        table.move_cursor(row=row)  # type: ignore[attr-defined]
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(live_app.screen, SolutionScreen), "the picker")
        await pilot.press("enter")  # reference
        run_screen = await wait_for_screen(pilot, RunScreen, "the run screen")
        await wait_for(pilot, lambda: run_screen.run.state.finished, "the run", timeout=180)
        assert run_screen.run.state == RunState.COMPLETED
        assert run_screen.run.score == 1.0
        assert [r.name for r in run_screen.run.scorer_results] == ["done", "scorer-2"]
