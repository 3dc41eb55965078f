"""Theme files: TOML whose keys are Textual ``Theme`` arguments.

Loaded from the repository's ``themes/`` and then the user's themes directory, so a user
file with the same name replaces a shipped theme. A broken file is reported, never fatal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.theme import Theme

import sandbench
from sandbench import paths

DEFAULT_THEME = "sandbench-dark"
NO_COLOR_THEME = "sandbench-mono"


def shipped_themes_dir() -> Path:
    """The shipped themes: inside the package when installed from a wheel, else ``themes/``
    at the top of the repository (src/sandbench/__init__.py → ../../themes)."""
    packaged = Path(sandbench.__file__).resolve().parent / "themes"
    if packaged.is_dir():
        return packaged
    return Path(sandbench.__file__).resolve().parent.parent.parent / "themes"


def theme_dirs() -> list[Path]:
    return [shipped_themes_dir(), paths.user_themes_dir()]


@dataclass
class LoadedThemes:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_theme(path: Path) -> Theme:
    """One theme file; ``ValueError`` says what is wrong with it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(str(error)) from None
    data.setdefault("name", path.stem)
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()  # every colour parses
    except Exception as error:  # TypeError (unknown key), ColorParseError, …
        raise ValueError(f"not a valid theme: {error}") from None
    return theme


def load_themes(dirs: list[Path] | None = None) -> LoadedThemes:
    loaded = LoadedThemes()
    for directory in theme_dirs() if dirs is None else dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme(path)
            except ValueError as error:
                loaded.problems.append(f"{path}: {error}")
                continue
            loaded.themes[theme.name] = theme
    return loaded
