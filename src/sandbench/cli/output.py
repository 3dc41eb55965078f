"""Plain-text tables and JSON for the headless CLI (stable, grep-able, no colour)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sandbench.errors import InvalidInput


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def note(message: str) -> None:
    """Human-facing remarks go to stderr so stdout stays parseable."""
    print(message, file=sys.stderr)


def add_env_option(parser: argparse.ArgumentParser) -> None:
    """``--env KEY=VALUE``, repeatable; read back with ``parse_env``."""
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a required environment variable (repeat for more)",
    )


def parse_env(pairs: list[str], option: str = "--env", shape: str = "KEY=VALUE") -> dict[str, str]:
    """``--env KEY=VALUE`` options (or another option of that shape) to a dict."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or (option == "--secret" and not value):
            raise InvalidInput(f"{option} {pair!r}: expected {shape}")
        env[key] = value
    return env
