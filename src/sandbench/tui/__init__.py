"""The terminal workbench (Textual). Nothing in the core imports this package.

``sandbench`` with no arguments calls :func:`main`; importing this package does not import
Textual, so the headless CLI stays light.
"""

from __future__ import annotations


def main() -> int:
    from sandbench.tui.app import run_app

    return run_app()


__all__ = ["main"]
