"""Reading what clients send: JSON bodies that may be empty or full of nulls, list queries,
and creates made idempotent by the client's ``x-request-id``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from sandbench.api.context import ApiContext, blocking
from sandbench.api.errors import ApiError, field_errors
from sandbench.store import Page

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Body(BaseModel):
    """A request body: unknown fields are kept (``model_extra``), so a route can refuse
    the ones it cannot honour by name instead of dropping them silently."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def refuse_unsupported(self, *names: str) -> None:
        extra = self.model_extra or {}
        for name in names:
            value = (
                getattr(self, name, None) if name in type(self).model_fields else extra.get(name)
            )
            if value not in (None, [], {}, ""):
                raise ApiError(400, f"{name}: not supported by sandbench's local API")


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ApiError(400, f"body: invalid JSON ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "body: expected a JSON object")
    return data


async def parse(request: Request, model: type[M]) -> M:
    data = await json_object(request)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(400, field_errors(error)) from None


def context(request: Request) -> ApiContext:
    return request.app.state.context  # type: ignore[no-any-return]


def page_body(field: str, page: Page[T], view: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {
        field: [view(item) for item in page.items],
        "has_more": page.has_more,
        "total_count": page.total_count,
        "remaining_count": page.remaining_count,
    }


def list_page(items: list[T], limit: int, starting_after: str | None) -> Page[T]:
    """A page of a short list held in memory (custom scorers), cursor by id."""
    start = 0
    if starting_after:
        ids = [getattr(item, "id", None) for item in items]
        if starting_after not in ids:
            raise ApiError(404, f"starting_after: no item with id {starting_after!r}")
        start = ids.index(starting_after) + 1
    chosen = items[start : start + limit]
    remaining = len(items) - start - len(chosen)
    return Page(chosen, remaining > 0, len(items), remaining)


def idempotency_key(request: Request) -> str | None:
    return request.headers.get("idempotency-key") or request.headers.get("x-request-id")


async def once(
    request: Request,
    scope: str,
    make: Callable[[], str],
    *,
    key: str | None = None,
) -> str:
    """The id of what ``make`` creates, made only once per idempotency key: a retried
    create (same ``x-request-id``) gets the object the first attempt made."""
    ctx = context(request)
    key = key or idempotency_key(request)
    if not key:
        return await blocking(make)
    async with ctx.key_lock(scope, key):
        existing = await blocking(ctx.store.recall_request, scope, key)
        if existing is not None:
            return existing
        made = await blocking(make)
        await blocking(ctx.store.remember_request, scope, key, made)
        return made
