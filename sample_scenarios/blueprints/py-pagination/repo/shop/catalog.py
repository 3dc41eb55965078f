"""Product listing used by the ``/products`` endpoint."""

from __future__ import annotations

from .pagination import paginate

PRODUCTS = [f"SKU-{n:04d}" for n in range(1, 48)]


def list_products(page: int = 1, per_page: int = 10) -> dict:
    """Body of ``GET /products?page=N&per_page=M``."""
    items, meta = paginate(PRODUCTS, page, per_page)
    return {"items": items, **meta}
