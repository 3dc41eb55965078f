"""Pagination for list endpoints.

Pages are numbered from 1, as in the public API: ``GET /products?page=1``
is the first page.
"""

from __future__ import annotations

from typing import Any, Sequence


def paginate(items: Sequence[Any], page: int, per_page: int = 10) -> tuple[list[Any], dict]:
    """Return the items of ``page`` and the pagination metadata.

    The metadata holds ``page``, ``per_page``, ``total`` (number of items),
    ``total_pages`` and ``has_next``. A page past the end is empty.
    """
    if page < 1:
        raise ValueError("page must be >= 1")
    if per_page < 1:
        raise ValueError("per_page must be >= 1")

    total = len(items)
    total_pages = total // per_page
    start = page * per_page
    end = start + per_page
    meta = {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total_pages,
        "has_next": page < total_pages,
    }
    return list(items[start:end]), meta
