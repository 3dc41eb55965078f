"""/v1/secrets: names and times go out; values come in and never leave."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.requests import Body, context, once, page_body, parse

router = APIRouter(prefix="/v1/secrets", tags=["secrets"])


class SecretCreate(Body):
    name: str
    value: str


class SecretUpdate(Body):
    value: str


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, SecretCreate)
    secret_id = await once(
        request, "secret", lambda: ctx.store.create_secret(body.name, body.value).id
    )
    return views.secret(await blocking(ctx.store.get_secret_record, secret_id))


@router.get("")
def list_secrets(
    request: Request, limit: int = Query(20), starting_after: str | None = None
) -> dict[str, Any]:
    page = context(request).store.list_secret_records(limit=limit, starting_after=starting_after)
    return page_body("secrets", page, views.secret)


@router.post("/{name}")
async def update(request: Request, name: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, SecretUpdate)
    return views.secret(await blocking(ctx.store.update_secret, name, body.value))


@router.post("/{name}/delete")
def delete(request: Request, name: str) -> dict[str, Any]:
    return views.secret(context(request).store.delete_secret_record(name))
