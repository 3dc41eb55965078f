"""Read the sales exported by the shop as CSV."""

from __future__ import annotations

import csv
import io

from .summary import Sale


def read_sales(text: str) -> list[Sale]:
    """Parse CSV with the columns ``region,product,amount_cents``."""
    reader = csv.DictReader(io.StringIO(text))
    return [
        Sale(row["region"], row["product"], int(row["amount_cents"]))
        for row in reader
    ]
