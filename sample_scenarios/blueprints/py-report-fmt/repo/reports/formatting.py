"""Text formatting helpers for the weekly sales report."""

from __future__ import annotations


def format_currency(amount_cents: int, currency: str = "EUR", thousands_separator: str = ",") -> str:
    """Format an amount given in cents, e.g. ``123456`` -> ``1,234.56 EUR``."""
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{whole:,}".replace(",", thousands_separator) + f".{cents:02d} {currency}"


def format_table(rows: list[tuple[str, ...]], headers: tuple[str, ...], padding: int = 2) -> str:
    """Render ``rows`` under ``headers`` as a left-aligned plain-text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["".join(str(cell).ljust(width + padding) for cell, width in zip(row, widths)).rstrip() for row in [headers, *rows]]
    lines.insert(1, "".join("-" * width + " " * padding for width in widths).rstrip())
    return "\n".join(lines)
