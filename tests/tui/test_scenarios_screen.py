"""The scenarios screen on the real store: list, filter, paging, import, archive (no Podman)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from sandbench.model import parse_scenarios
from sandbench.store import Store
from sandbench.store.files import to_toml
from sandbench.tui.app import SandbenchApp
from sandbench.tui.modals import ConfirmScreen, PathPrompt
from sandbench.tui.scenarios import PAGE_SIZE, ScenariosScreen
from sandbench.tui.widgets import VimTable
from tests.conftest import scenario_dict
from tests.tui.support import command, make, store_scenarios, wait_for


def names(screen: ScenariosScreen) -> list[str]:
    table = screen.query_one(VimTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def ready(screen: ScenariosScreen) -> bool:
    return screen.loaded_once and not screen.fetching


async def test_lists_imported_scenarios_and_filters_with_slash(
    offline_app: SandbenchApp, store: Store
) -> None:
    store_scenarios(
        store,
        make("alpha-one", [command("ok", 1.0, "true")]),
        make("beta-two", [command("ok", 0.5, "true"), command("more", 0.5, "true")]),
        make("alpha-three", [command("ok", 1.0, "true")]),
    )
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: ready(screen), "the first page")
        assert names(screen) == ["alpha-one", "alpha-three", "beta-two"]
        row = screen.query_one(VimTable).get_row_at(2)
        assert [str(c) for c in row[1:4]] == ["1 cmd", "X_SMALL", "x86_64"]

        await pilot.press("slash", *"alpha")
        filter_input = screen.query_one("#filter", Input)
        assert filter_input.has_focus
        await wait_for(pilot, lambda: screen.filter_text == "alpha" and ready(screen), "the filter")
        assert names(screen) == ["alpha-one", "alpha-three"]
        assert "filter “alpha”" in str(screen.query_one("#status", Static).render())

        await pilot.press("enter")  # keeps the filter, back to the list
        assert screen.query_one(VimTable).has_focus and screen.filter_text == "alpha"
        await pilot.press("j")
        assert screen.selected().name == "alpha-three"  # type: ignore[union-attr]

        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", "backspace")
        await pilot.press(*"nothing-like-this")
        await wait_for(
            pilot, lambda: screen.filter_text == "nothing-like-this" and ready(screen), "no match"
        )
        empty = screen.query_one("#empty", Static)
        assert empty.display and "No scenario name contains" in str(empty.render())

        await pilot.press("escape")  # clears the filter
        await wait_for(pilot, lambda: screen.filter_text == "" and ready(screen), "the full list")
        assert names(screen) == ["alpha-one", "alpha-three", "beta-two"]
        assert not filter_input.display and screen.query_one(VimTable).has_focus


async def test_pages_through_thousands_as_the_cursor_moves(
    offline_app: SandbenchApp, store: Store
) -> None:
    count = 1234
    parsed = [scenario_dict(name=f"scn-{i:05d}") for i in range(count)]
    store_scenarios(store, *parsed)
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: ready(screen), "the first page")
        assert len(screen.rows) == PAGE_SIZE and screen.total == count and screen.has_more
        status = str(screen.query_one("#status", Static).render())
        assert f"{count} scenarios" in status and f"{PAGE_SIZE} loaded" in status
        # going to the last loaded row fetches the next page, and so on to the end
        for _ in range(40):
            if not screen.has_more:
                break
            await pilot.press("G")
            await wait_for(pilot, lambda: ready(screen), "the next page")
        assert len(screen.rows) == count and not screen.has_more
        assert names(screen)[-1] == f"scn-{count - 1:05d}"
        assert len(set(names(screen))) == count  # no page loaded twice
        await pilot.press("g")
        assert screen.query_one(VimTable).cursor_row == 0
        # a wider terminal gives the names more room, without losing rows or the cursor
        await pilot.press("j", "j")
        narrow = screen.query_one(VimTable).columns["name"].width  # type: ignore[index]
        await pilot.resize_terminal(140, 40)
        await wait_for(
            pilot,
            lambda: screen.query_one(VimTable).columns["name"].width > narrow,  # type: ignore[index]
            "the wider name column",
        )
        assert screen.query_one(VimTable).row_count == count
        assert screen.query_one(VimTable).cursor_row == 2


async def test_empty_store_says_how_to_import_the_samples(offline_app: SandbenchApp) -> None:
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: ready(screen), "the first page")
        empty = screen.query_one("#empty", Static)
        text = str(empty.render())
        assert empty.display and "No scenarios yet" in text
        assert "sample_scenarios" in text and "import" in text


async def test_import_a_directory_then_a_broken_file(
    offline_app: SandbenchApp, store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("first", "second"):
        scenario = parse_scenarios(scenario_dict(name=name))[0].scenario
        (folder / f"{name}.toml").write_text(to_toml(scenario))
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "broken"\nno_such_field = 1\n')
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: ready(screen), "the first page")
        await pilot.press("i")
        assert isinstance(offline_app.screen, PathPrompt)
        assert offline_app.screen.query_one(Input).value == "sample_scenarios"  # the default
        await pilot.press("escape")  # changed its mind
        assert offline_app.screen is screen
        await pilot.press("i")
        offline_app.screen.query_one(Input).value = str(folder)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.rows) == 2, "the imported scenarios")
        assert names(screen) == ["first", "second"]
        assert any(
            n.title.startswith("Imported") and "2 created" in n.message
            for n in offline_app.notice_log
        )

        await pilot.press("i")
        offline_app.screen.query_one(Input).value = str(broken)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(n.title.startswith("Nothing imported") for n in offline_app.notice_log),
            "the import problem",
        )
        problem = next(n for n in offline_app.notice_log if n.title.startswith("Nothing imported"))
        assert problem.severity == "error" and "broken.toml" in problem.message
        assert store.list_scenarios().total_count == 2


async def test_archive_asks_first(offline_app: SandbenchApp, store: Store) -> None:
    _, old_id = store_scenarios(store, scenario_dict(name="keep"), scenario_dict(name="old"))
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = offline_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: ready(screen) and len(screen.rows) == 2, "the list")
        await pilot.press("j", "a")
        assert isinstance(offline_app.screen, ConfirmScreen)
        await pilot.press("n")  # changed its mind
        assert offline_app.screen is screen and len(screen.rows) == 2
        await pilot.press("a")
        await pilot.press("y")
        await wait_for(
            pilot, lambda: ready(screen) and names(screen) == ["keep"], "the archived row to go"
        )
        assert [r.name for r in store.list_scenarios().items] == ["keep"]
        assert store.get_scenario(old_id).archived  # archived, not deleted
