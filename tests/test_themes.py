"""Theme files are valid Textual themes (the TUI loads them; this keeps them loadable)."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import ROOT

THEMES = sorted((ROOT / "themes").glob("*.toml"))


def test_dark_light_and_monochrome_are_shipped() -> None:
    names = {p.stem for p in THEMES}
    assert {"sandbench-dark", "sandbench-light", "sandbench-mono"} <= names


@pytest.mark.parametrize("path", THEMES, ids=[p.stem for p in THEMES])
def test_theme_file_builds_a_textual_theme(path) -> None:
    from textual.theme import Theme  # the test, not the core, touches Textual

    data = tomllib.loads(path.read_text())
    theme = Theme(**data)
    assert theme.name == path.stem
    assert theme.to_color_system().generate()  # colours parse
