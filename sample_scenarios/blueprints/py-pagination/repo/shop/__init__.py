"""shop-api: catalogue helpers."""
