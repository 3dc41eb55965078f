"""Parse ``key = value`` settings files.

Values are Python literals (numbers, strings, booleans, None, lists, tuples,
dicts) so operators can write ``workers = 4`` or ``hosts = ["a", "b"]``.
Anything that is not a literal is kept as plain text: ``name = nightly export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A line of a settings file could not be parsed."""


def parse_value(raw: str) -> Any:
    """Convert the text to the right of ``=`` into a Python value."""
    raw = raw.strip()
    try:
        return eval(raw)
    except Exception:
        return raw


def parse_settings(text: str) -> dict[str, Any]:
    """Parse the text of a settings file into a dict."""
    settings: dict[str, Any] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"line {lineno}: expected 'key = value'")
        settings[key.strip()] = parse_value(value)
    return settings


def load_settings(path: str | Path) -> dict[str, Any]:
    """Read and parse a settings file."""
    return parse_settings(Path(path).read_text(encoding="utf-8"))
