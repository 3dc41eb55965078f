"""The editor's $EDITOR key in a real terminal (tmux at 80x24): the app steps aside for the
editor, takes the TOML back, validates it, and saves it as a new version."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sandbench.store import open_store
from sandbench.store.files import load_file
from tests.conftest import SAMPLES
from tests.tui.test_tmux_e2e import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.podman


@pytest.fixture
def fake_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbench_home: Path) -> Path:
    """An "editor" that records what it was given, then renames the scenario and lowers
    its scorer timeout; the tmux server (started after this) inherits EDITOR."""
    seen = tmp_path / "given.toml"
    script = tmp_path / "fake-editor"
    script.write_text(
        "#!/bin/sh\nset -e\n"
        f'cp "$1" "{seen}"\n'
        "sleep 1\n"  # long enough for the test to see the app step aside
        'sed -i -e "0,/^name = .*/s//name = \\"csv-renamed\\"/"'  # the first: the scenario's
        ' -e "s/^scorer_timeout_sec = .*/scorer_timeout_sec = 60/" "$1"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))
    with open_store() as store:
        store.import_scenarios(load_file(SAMPLES / "csv-quoted-fields.toml"))
    return seen


def test_external_editor_round_trip_and_save(
    fake_editor: Path,
    terminal: Terminal,  # noqa: F811
) -> None:
    terminal.wait_for("csv-quoted-fields")
    terminal.keys("e")
    terminal.wait_for(lambda s: "Problem statement" in s and "^o $EDITOR" in s)
    terminal.keys("C-o")
    terminal.wait_for(lambda s: "Problem statement" not in s, timeout=30)  # stepped aside
    screen = terminal.wait_for(lambda s: "csv-renamed · v1" in s, timeout=30)
    assert "not saved" in screen and "✓ valid" in screen
    given = fake_editor.read_text()
    assert 'name = "csv-quoted-fields"' in given and "scorer_timeout_sec = 120" in given
    terminal.keys("C-s")
    terminal.wait_for("csv-renamed · v2", timeout=30)
    with open_store() as store:
        record = store.get_scenario("csv-renamed")
    assert record.version == 2 and record.scenario.scorer_timeout_sec == 60
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "csv-renamed" in s and "LAST RUN" in s)
    assert terminal.quit() == "0"
