"""Disk snapshots: /v1/devboxes/{id}/snapshot_disk(_async) and /v1/devboxes/disk_snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.requests import Body, context, once, page_body, parse

router = APIRouter(prefix="/v1/devboxes", tags=["snapshots"])


class SnapshotBody(Body):
    name: str | None = None
    metadata: dict[str, str] | None = None
    commit_message: str | None = None


@router.post("/{devbox_id}/snapshot_disk")
async def snapshot_disk(request: Request, devbox_id: str) -> dict[str, Any]:
    return await _snapshot(request, devbox_id, wait=True)


@router.post("/{devbox_id}/snapshot_disk_async")
async def snapshot_disk_async(request: Request, devbox_id: str) -> dict[str, Any]:
    return await _snapshot(request, devbox_id, wait=False)


async def _snapshot(request: Request, devbox_id: str, *, wait: bool) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, SnapshotBody)

    def make() -> str:
        return ctx.snapshots.start(
            devbox_id,
            name=body.name,
            metadata=body.metadata,
            commit_message=body.commit_message,
            wait=wait,
        ).id

    snapshot_id = await once(request, "snapshot", make)
    return views.snapshot(await blocking(ctx.store.get_snapshot, snapshot_id))


@router.get("/disk_snapshots")
def list_snapshots(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    devbox_id: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.page_snapshots(
        source_sandbox_id=devbox_id, limit=limit, starting_after=starting_after
    )
    return page_body("snapshots", page, views.snapshot)


@router.get("/disk_snapshots/{snapshot_id}/status")
def snapshot_status(request: Request, snapshot_id: str) -> dict[str, Any]:
    return views.snapshot_status(context(request).store.get_snapshot(snapshot_id))


@router.post("/disk_snapshots/{snapshot_id}")
async def update_snapshot(request: Request, snapshot_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, SnapshotBody)
    fields: dict[str, Any] = {}
    if body.name is not None:
        fields["display_name"] = body.name
    if body.metadata is not None:
        fields["metadata"] = body.metadata
    if body.commit_message is not None:
        fields["commit_message"] = body.commit_message
    if not fields:
        return views.snapshot(await blocking(ctx.store.get_snapshot, snapshot_id))
    return views.snapshot(await blocking(ctx.store.update_snapshot, snapshot_id, **fields))


@router.post("/disk_snapshots/{snapshot_id}/delete")
def delete_snapshot(request: Request, snapshot_id: str) -> dict[str, Any]:
    context(request).snapshots.delete(snapshot_id)
    return {}
