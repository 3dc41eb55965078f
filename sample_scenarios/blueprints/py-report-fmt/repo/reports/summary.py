"""Weekly sales summary."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .formatting import format_currency, format_table


@dataclass(frozen=True)
class Sale:
    region: str
    product: str
    amount_cents: int


def totals_by_region(sales: list[Sale]) -> dict[str, int]:
    """Revenue per region in cents, largest first (ties by region name)."""
    totals: dict[str, int] = defaultdict(int)
    for sale in sales:
        totals[sale.region] += sale.amount_cents
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def weekly_summary(sales: list[Sale], week: str, currency: str = "EUR") -> str:
    """Plain-text summary: a title, one row per region (largest first) and a total line."""
    totals = totals_by_region(sales)
    grand_total_cents = sum(totals.values())
    rows = [(region, format_currency(amount, currency), f"{amount / max(grand_total_cents, 1):.1%}") for region, amount in totals.items()]
    title = f"Sales summary for week {week} ({len(sales)} sales in {len(totals)} regions)"
    return title + "\n\n" + format_table(rows, ("Region", "Revenue", "Share")) + f"\n\nTotal: {format_currency(grand_total_cents, currency)}\n"
