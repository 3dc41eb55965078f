"""Headless command-line interface."""

from __future__ import annotations

import sys

from sandbench.cli.main import build_parser
from sandbench.cli.main import main as _main


def main() -> None:
    sys.exit(_main())


__all__ = ["build_parser", "main"]
