"""Keys remapped by binding id from the config's ``keymap`` table."""

from __future__ import annotations

from sandbench import config
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.modals import HelpScreen, SolutionScreen
from sandbench.tui.scenarios import ScenariosScreen
from tests.tui.support import PARTIAL, notices, store_scenarios, wait_for


async def test_config_keymap_moves_a_binding_and_help_shows_the_new_key(
    offline_app: SandbenchApp, store: Store
) -> None:
    config.set_value("keymap.scenarios.run", "x")
    config.set_value("keymap.app.help", "f1")
    config.set_value("keymap.no.such_binding", "z")
    store_scenarios(store, PARTIAL)
    app = SandbenchApp(offline_app.workbench)  # built after the config was written
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: screen.loaded_once and not screen.fetching, "the list")
        warned = [m for t, m, _ in notices(app) if t == "Keymap entries ignored"]
        assert warned and "no.such_binding" in warned[0]

        await pilot.press("r")  # the old key does nothing now
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, SolutionScreen), "the run picker")
        await pilot.press("escape")

        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        rows = [row for _, section in app.help_sections(screen) for row in section]
        assert any(r.keys == "x" and "Run the selected scenario" in r.description for r in rows)
