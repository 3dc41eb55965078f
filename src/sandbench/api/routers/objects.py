"""/v1/objects (storage objects), and their signed upload and download URLs.

The SDK uploads with a bare ``PUT upload_url`` and downloads with a bare ``GET``, without
the Authorization header, so those URLs carry their own signature and expiry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from sandbench.api import views
from sandbench.api.auth import check_signature, require_token, signed_url
from sandbench.api.context import blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, once, page_body, parse
from sandbench.model.storage import ObjectState, StorageObject
from sandbench.store import Page

router = APIRouter(prefix="/v1/objects", tags=["objects"], dependencies=[Depends(require_token)])
transfers = APIRouter(prefix="/objects", tags=["objects"])  # signed, no bearer token

UPLOAD_URL_S = 3600


class ObjectCreate(Body):
    name: str
    content_type: str
    metadata: dict[str, str] | None = None
    ttl_ms: int | None = None


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, ObjectCreate)

    def make() -> str:
        return ctx.store.create_object(
            body.name, body.content_type, metadata=body.metadata, ttl_ms=body.ttl_ms
        ).id

    object_id = await once(request, "object", make)
    found = await blocking(ctx.store.get_object, object_id)
    return views.storage_object(found, signed_url(request, "upload", object_id, UPLOAD_URL_S))


@router.get("")
def list_objects(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    name: str | None = None,
    content_type: str | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.list_objects(
        name=name,
        content_type=content_type,
        state=state,
        limit=limit,
        starting_after=starting_after,
    )
    return page_body("objects", page, views.storage_object)


@router.get("/list_public")
def list_public() -> dict[str, Any]:
    return page_body("objects", Page([], False, 0, 0), views.storage_object)


@router.get("/{object_id}")
def retrieve(request: Request, object_id: str) -> dict[str, Any]:
    return views.storage_object(context(request).store.get_object(object_id))


@router.post("/{object_id}/complete")
def complete(request: Request, object_id: str) -> dict[str, Any]:
    return views.storage_object(context(request).store.complete_object(object_id))


def _readable(found: StorageObject) -> StorageObject:
    """Only a completed object has bytes to give (checked before any response starts)."""
    if found.state != ObjectState.READ_ONLY:
        raise ApiError(409, f"object {found.id} is {found.state.value}; complete its upload first")
    return found


@router.get("/{object_id}/download")
def download(
    request: Request, object_id: str, duration_seconds: int = Query(3600, ge=1, le=7 * 86400)
) -> dict[str, Any]:
    _readable(context(request).store.get_object(object_id))
    return {"download_url": signed_url(request, "download", object_id, duration_seconds)}


@router.post("/{object_id}/delete")
def delete(request: Request, object_id: str) -> dict[str, Any]:
    return views.storage_object(context(request).store.delete_object(object_id))


@transfers.put("/{object_id}/upload")
async def upload(request: Request, object_id: str) -> dict[str, Any]:
    check_signature(request, "upload", object_id)
    ctx = context(request)
    data = await request.body()
    await blocking(ctx.store.upload_object, object_id, [data])
    return {}


@transfers.get("/{object_id}/download")
def fetch(request: Request, object_id: str) -> StreamingResponse:
    check_signature(request, "download", object_id)
    store = context(request).store
    found = _readable(store.get_object(object_id))
    chunks: Iterator[bytes] = store.read_object_chunks(object_id)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"content-length": str(found.size_bytes or 0)},
    )
