"""/v1/devboxes/{id}/…file…: read and write files in a devbox, both ways."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile  # request.form() gives these

from sandbench.api.context import blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, parse
from sandbench.api.routers.devboxes import require_live
from sandbench.engine.errors import EngineError
from sandbench.errors import NotFound

router = APIRouter(prefix="/v1/devboxes/{devbox_id}", tags=["files"])


class ReadBody(Body):
    file_path: str


class WriteBody(Body):
    file_path: str
    contents: str


class DownloadBody(Body):
    path: str


def _read(request: Request, devbox_id: str, path: str) -> bytes:
    ctx = context(request)
    require_live(ctx, devbox_id, "read files")  # 404 for an unknown devbox
    try:
        return ctx.engine.read_file(devbox_id, path)
    except EngineError as error:
        if "cannot read" in str(error) or "not a file" in str(error):
            raise NotFound(f"{path}: no such file in devbox {devbox_id}") from None
        raise


def _write(ctx: Any, devbox_id: str, path: str, data: str | bytes) -> None:
    require_live(ctx, devbox_id, "write files")
    ctx.engine.write_file(devbox_id, path, data)


@router.post("/read_file_contents")
async def read_file_contents(request: Request, devbox_id: str) -> Response:
    body = await parse(request, ReadBody)
    data = await blocking(_read, request, devbox_id, body.file_path)
    return Response(data.decode("utf-8", "replace"), media_type="text/plain; charset=utf-8")


@router.post("/write_file_contents")
async def write_file_contents(request: Request, devbox_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, WriteBody)
    await blocking(_write, ctx, devbox_id, body.file_path, body.contents)
    return {
        "devbox_id": devbox_id,
        "exit_status": 0,
        "stdout": "",
        "stderr": "",
        "shell_name": None,
    }


@router.post("/upload_file")
async def upload_file(request: Request, devbox_id: str) -> dict[str, Any]:
    """Multipart: ``path`` (the target) and ``file`` (its bytes; its filename is the
    client's local name, not the target)."""
    ctx = context(request)
    form = await request.form()
    path, upload = form.get("path"), form.get("file")
    if not isinstance(path, str) or not path:
        raise ApiError(400, "path: the target path is missing")
    if upload is None:
        raise ApiError(400, "file: the file part is missing")
    data = await upload.read() if isinstance(upload, UploadFile) else str(upload).encode()
    await blocking(_write, ctx, devbox_id, path, data)
    return {}


@router.post("/download_file")
async def download_file(request: Request, devbox_id: str) -> Response:
    body = await parse(request, DownloadBody)
    data = await blocking(_read, request, devbox_id, body.path)
    return Response(data, media_type="application/octet-stream")
