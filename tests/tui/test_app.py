"""Themes, keys, help, palette, errors from below and the `sandbench` entry point."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sandbench import config, paths
from sandbench.config import Config
from sandbench.engine import Engine
from sandbench.store import Store
from sandbench.tui import keys
from sandbench.tui.app import SandbenchApp
from sandbench.tui.modals import HelpScreen, SolutionScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.runs import RunsScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.themes import load_themes, shipped_themes_dir
from sandbench.tui.workbench import Workbench
from tests.tui.support import command, fixed_app, make, settle, store_scenarios, wait_for


def saved_theme() -> str | None:
    path = paths.config_path()
    return tomllib.loads(path.read_text()).get("theme") if path.exists() else None


# ----------------------------------------------------------------------------- themes


async def test_theme_switches_from_the_picker_and_is_remembered(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        assert offline_app.theme == "sandbench-dark"
        await pilot.press("ctrl+t")
        await pilot.press(*"sandbench-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: offline_app.theme == "sandbench-light", "the light theme")
        await wait_for(
            pilot, lambda: saved_theme() == "sandbench-light", "the config to be written"
        )
        assert isinstance(offline_app.screen, ScenariosScreen)
    # the next start uses it
    again = SandbenchApp(offline_app.workbench)
    async with again.run_test(size=(80, 24)):
        assert again.theme == "sandbench-light"


async def test_theme_from_the_command_palette(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"colour theme")
        await pilot.pause(0.3)
        await pilot.press("enter")  # "Choose a colour theme" opens the theme list
        await pilot.pause(0.3)
        await pilot.press(*"sandbench-mono")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: offline_app.theme == "sandbench-mono", "the mono theme")
        await wait_for(pilot, lambda: saved_theme() == "sandbench-mono", "the config to be written")


async def test_no_color_uses_the_monochrome_theme_without_saving_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.set_value("theme", "sandbench-light")
    monkeypatch.setenv("NO_COLOR", "1")
    app = SandbenchApp(offline(store))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color and app.theme == "sandbench-mono"
    assert saved_theme() == "sandbench-light"


async def test_user_themes_are_loaded_and_broken_ones_reported(store: Store) -> None:
    user = paths.user_themes_dir()
    user.mkdir(parents=True, exist_ok=True)
    (user / "my-solarized.toml").write_text(
        'primary = "#268bd2"\nbackground = "#002b36"\nforeground = "#eee8d5"\ndark = true\n'
    )
    (user / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    config.set_value("theme", "my-solarized")
    app = SandbenchApp(offline(store))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "my-solarized"  # named after its file
        skipped = [n for n in app.notice_log if n.title == "Theme file skipped"]
        assert len(skipped) == 1 and "broken.toml" in skipped[0].message


def test_shipped_themes_load() -> None:
    loaded = load_themes([shipped_themes_dir()])
    assert {"sandbench-dark", "sandbench-light", "sandbench-mono"} <= set(loaded.themes)
    assert loaded.problems == []


async def test_unknown_configured_theme_falls_back_with_a_notice(store: Store) -> None:
    config.set_value("theme", "no-such-theme")
    app = SandbenchApp(offline(store))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "sandbench-dark"
        assert any(n.title == "Theme not found" for n in app.notice_log)


# ----------------------------------------------------------------------------- keys


def test_binding_ids_are_unique_and_every_screen_binds_by_id() -> None:
    ids = [key.id for scope in keys.ALL.values() for key in scope if key.id]
    duplicates = {i for i in ids if ids.count(i) > 1} - {"modal.close"}  # shared by modals
    assert duplicates == set()
    known = keys.by_id()
    for node in (SandbenchApp, ScenariosScreen, RunsScreen, RunScreen, HelpScreen, SolutionScreen):
        for binding in node.BINDINGS:
            assert binding.id in known, f"{node.__name__}: {binding.key} has no stable id"  # type: ignore[union-attr]


async def test_keymap_remaps_by_binding_id(offline_app: SandbenchApp, store: Store) -> None:
    store_scenarios(store, make("one", [command("ok", 1.0, "true")]))
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        await wait_for(pilot, lambda: screen.rows, "the list")  # type: ignore[attr-defined]
        offline_app.set_keymap({"scenarios.run": "x"})
        await pilot.press("r")
        assert offline_app.screen is screen  # r no longer runs
        await pilot.press("x")
        assert isinstance(offline_app.screen, SolutionScreen)


async def test_help_lists_this_screens_keys_and_the_global_ones(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(offline_app.screen, HelpScreen)
        sections = dict(offline_app.help_sections(offline_app.screen_stack[-2]))
        this_screen = {row.description for row in sections["This screen"]}
        assert {k.help for k in keys.SCENARIOS} <= this_screen
        everywhere = {row.description for row in sections["Everywhere"]}
        assert {k.help for k in keys.APP} <= everywhere
        await pilot.press("escape")
        assert isinstance(offline_app.screen, ScenariosScreen)


async def test_vim_keys_move_in_every_list(offline_app: SandbenchApp, store: Store) -> None:
    store_scenarios(store, *[make(f"s{i}", [command("ok", 1.0, "true")]) for i in range(5)])
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        await wait_for(pilot, lambda: len(screen.rows) == 5, "the list")  # type: ignore[attr-defined]
        table = screen.query_one("#scenarios")
        await pilot.press("j", "j", "j")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("G")
        assert table.cursor_row == 4
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_palette_offers_every_action_of_the_screen(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)):
        titles = {c.title for c in offline_app.get_system_commands(offline_app.screen)}
        expected = {k.help for k in (*keys.SCENARIOS, *keys.APP) if k.palette}
        assert expected <= titles


async def test_palette_runs_the_screens_action() -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"every run newest")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs list")


async def test_run_screen_opens_from_the_runs_list_and_its_keys_follow_its_state() -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("R")  # every run
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.runs, "runs"
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert screen.check_action("rerun_scorer", ()) is True
        assert screen.check_action("cancel", ()) is False  # a finished run
        await pilot.press("right_square_bracket")
        assert screen.query_one("#outputs").active == "pane-1"  # type: ignore[attr-defined]
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, ScenariosScreen)


# ----------------------------------------------------------------------------- errors


async def test_podman_down_is_said_at_start_and_on_run(store: Store) -> None:
    store_scenarios(store, make("one", [command("ok", 1.0, "true")]))
    down = Config(podman_uri="unix:///nonexistent/podman.sock")
    engine = Engine(store, config=down)
    app = SandbenchApp(Workbench(store, engine))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot,
                lambda: any("Podman unavailable" in n.title for n in app.notice_log),
                "start-up notice",
            )
            first = next(n for n in app.notice_log if "Podman unavailable" in n.title)
            assert (
                "/nonexistent/podman.sock" in first.message and "sandbench doctor" in first.message
            )
            screen = app.screen
            await wait_for(pilot, lambda: screen.rows, "the list (the store works)")  # type: ignore[attr-defined]
            await pilot.press("r", "enter")
            await wait_for(
                pilot,
                lambda: any(n.title == "Run one: Podman unavailable" for n in app.notice_log),
                "the run's notice",
            )
            assert app.screen is screen and not app.running
            await pilot.press("j", "question_mark", "escape")  # still responsive
            assert app.screen is screen
    finally:
        engine.close()


def test_unexpected_errors_are_logged_not_shown_as_tracebacks() -> None:
    from sandbench.tui.errors import describe, log_path

    try:
        {}["boom"]
    except KeyError as error:
        notice = describe("Open run", error)
    assert notice.title == "Open run: unexpected error"
    assert "KeyError" in notice.message and str(log_path()) in notice.message
    assert "Traceback" in log_path().read_text()


async def test_quit_with_a_run_going_asks_first(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        offline_app.running["scr_pretend"] = "pretend"
        await pilot.press("q")
        assert offline_app.is_running and offline_app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n")
        offline_app.running.clear()
        await pilot.press("q")
        await pilot.pause()
    assert offline_app.return_code == 0


# ----------------------------------------------------------------------------- entry point


def offline(store: Store) -> Workbench:
    from tests.tui.support import OfflineWorkbench

    return OfflineWorkbench(store, Engine(store))


def test_bare_sandbench_opens_the_workbench_in_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import sandbench.tui

    cli_main = importlib.import_module("sandbench.cli.main")

    opened: list[bool] = []
    monkeypatch.setattr(cli_main, "_interactive", lambda: True)
    monkeypatch.setattr(sandbench.tui, "main", lambda: opened.append(True) or 0)
    assert cli_main.main([]) == 0 and opened == [True]


def test_the_headless_cli_never_imports_textual(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sandbench.cli.main import main\n"
        "main(['scenarios', 'list'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    env = {"SANDBENCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_errors_from_below_say_what_to_do() -> None:
    import sqlite3

    from sandbench.engine.errors import PodmanUnavailable
    from sandbench.errors import InvalidInput
    from sandbench.tui.errors import describe

    down = describe("Run x", PodmanUnavailable("no Podman service is running"))
    assert down.title == "Run x: Podman unavailable" and down.severity == "error"
    assert "podman_uri" in down.message and "sandbench doctor" in down.message
    refused = describe("Rerun", InvalidInput("run r is still scoring"))
    assert refused.title == "Rerun: not possible" and refused.severity == "warning"
    disk = describe("List runs", sqlite3.OperationalError("database or disk is full"))
    assert disk.title == "List runs: the store failed" and "disk is full" in disk.message


async def test_path_prompt_completes_paths(tmp_path: Path) -> None:
    from sandbench.tui.modals import PathSuggester

    (tmp_path / "alpha").mkdir()
    (tmp_path / "beta.toml").write_text("")
    suggester = PathSuggester()
    assert await suggester.get_suggestion(f"{tmp_path}/al") == f"{tmp_path}/alpha/"
    assert await suggester.get_suggestion(f"{tmp_path}/be") == f"{tmp_path}/beta.toml"
    assert await suggester.get_suggestion(f"{tmp_path}/zz") is None
