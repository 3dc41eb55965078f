"""/v1/devboxes/{id}/execute*, executions: run commands, wait for them, stream their output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from sandbench.api import views
from sandbench.api.context import ApiContext, blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, once, parse
from sandbench.model.execution import Execution, ExecutionStatus

router = APIRouter(prefix="/v1/devboxes/{devbox_id}", tags=["executions"])

EXEC_HOLD_S = 25.0
MAX_HOLD_S = 60.0
SYNC_HOLD_S = 590.0  # execute_sync: the client waits up to 600 s
KEEPALIVE_S = 15.0


class ExecuteBody(Body):
    command: str
    shell_name: str | None = None
    command_id: str | None = None
    optimistic_timeout: float | None = None
    attach_stdin: bool | None = None


class WaitBody(Body):
    statuses: list[str]
    timeout_seconds: float | None = None


async def _start(request: Request, devbox_id: str, body: ExecuteBody) -> Execution:
    ctx = context(request)
    if body.attach_stdin:
        raise ApiError(400, "attach_stdin: not supported by sandbench's local API")

    def make() -> str:
        return ctx.executions.start(devbox_id, body.command, shell_name=body.shell_name).id

    key = f"{devbox_id}:{body.command_id}" if body.command_id else None
    execution_id = await once(request, "execution", make, key=key)
    return await blocking(ctx.store.get_execution, execution_id, sandbox_id=devbox_id)


def _finished(ctx: ApiContext, execution_id: str) -> Execution | None:
    found = ctx.store.get_execution(execution_id, with_output=False)
    if found.status != ExecutionStatus.COMPLETED:
        return None
    return ctx.store.get_execution(execution_id)


@router.post("/execute_async")
async def execute_async(request: Request, devbox_id: str) -> dict[str, Any]:
    body = await parse(request, ExecuteBody)
    return views.execution(await _start(request, devbox_id, body))


@router.post("/execute")
async def execute(request: Request, devbox_id: str, last_n: int | None = None) -> dict[str, Any]:
    """Start, and hold up to ``optimistic_timeout`` for the end (the SDK waits on after)."""
    ctx = context(request)
    body = await parse(request, ExecuteBody)
    started = await _start(request, devbox_id, body)
    hold = min(body.optimistic_timeout or EXEC_HOLD_S, EXEC_HOLD_S)
    found = await ctx.hold(lambda: _finished(ctx, started.id), hold)
    current = found or await blocking(ctx.store.get_execution, started.id)
    return views.execution(current, last_n=last_n)


@router.post("/execute_sync")
async def execute_sync(request: Request, devbox_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, ExecuteBody)
    started = await _start(request, devbox_id, body)
    found = await ctx.hold(lambda: _finished(ctx, started.id), SYNC_HOLD_S)
    if found is None:
        raise ApiError(408, f"execution {started.id} is still running; wait for it")
    return views.execution_detail(found)


@router.get("/executions/{execution_id}")
def retrieve(
    request: Request, devbox_id: str, execution_id: str, last_n: int | None = None
) -> dict[str, Any]:
    found = context(request).store.get_execution(execution_id, sandbox_id=devbox_id)
    return views.execution(found, last_n=last_n)


@router.post("/executions/{execution_id}/wait_for_status")
async def wait_for_status(
    request: Request, devbox_id: str, execution_id: str, last_n: int | None = None
) -> dict[str, Any]:
    """200 once the status is one asked for, else 408 after the hold."""
    ctx = context(request)
    body = await parse(request, WaitBody)
    try:
        wanted = {ExecutionStatus(s) for s in body.statuses}
    except ValueError:
        known = ", ".join(s.value for s in ExecutionStatus)
        raise ApiError(400, f"statuses: each must be one of {known}") from None
    timeout = min(body.timeout_seconds if body.timeout_seconds is not None else 25.0, MAX_HOLD_S)
    await blocking(ctx.store.get_execution, execution_id, sandbox_id=devbox_id, with_output=False)

    def check() -> Execution | None:
        found = ctx.store.get_execution(execution_id, with_output=False)
        return ctx.store.get_execution(execution_id) if found.status in wanted else None

    found = await ctx.hold(check, timeout)
    if found is None:
        raise ApiError(408, f"execution {execution_id} is not {'/'.join(sorted(wanted))} yet")
    return views.execution(found, last_n=last_n)


@router.post("/executions/{execution_id}/kill")
def kill(request: Request, devbox_id: str, execution_id: str) -> dict[str, Any]:
    return views.execution(context(request).executions.kill(devbox_id, execution_id))


@router.post("/executions/{execution_id}/send_std_in")
def send_std_in(devbox_id: str, execution_id: str) -> dict[str, Any]:
    raise ApiError(400, "send_std_in: standard input is not supported by sandbench's local API")


@router.get("/executions/{execution_id}/stream_stdout_updates")
async def stream_stdout(
    request: Request, devbox_id: str, execution_id: str, offset: int = Query(0, ge=0)
) -> StreamingResponse:
    return await _stream(request, devbox_id, execution_id, "stdout", offset)


@router.get("/executions/{execution_id}/stream_stderr_updates")
async def stream_stderr(
    request: Request, devbox_id: str, execution_id: str, offset: int = Query(0, ge=0)
) -> StreamingResponse:
    return await _stream(request, devbox_id, execution_id, "stderr", offset)


async def _stream(
    request: Request, devbox_id: str, execution_id: str, stream: str, offset: int
) -> StreamingResponse:
    """Server-sent events of one stream from ``offset`` (characters); each event's
    ``offset`` is where the next one starts, so a reconnect loses and repeats nothing.
    The stream closes once the command has ended and all its output is sent. A client
    that goes away stops only the stream, never the command."""
    ctx = context(request)
    await blocking(ctx.store.get_execution, execution_id, sandbox_id=devbox_id, with_output=False)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        position, last_sent = offset, loop.time()
        while True:
            done = (
                await blocking(ctx.store.get_execution, execution_id, with_output=False)
            ).status == ExecutionStatus.COMPLETED
            part = await blocking(ctx.store.execution_output, execution_id, stream, offset=position)
            for start, text in part.chunks:
                position = start + len(text)
                yield f"data: {json.dumps({'output': text, 'offset': position})}\n\n"
                last_sent = loop.time()
            if done:  # read after the status: nothing can follow it
                return
            await ctx.changes.wait(KEEPALIVE_S)
            if loop.time() - last_sent >= KEEPALIVE_S:  # a silent command: keep it open
                last_sent = loop.time()
                yield ": keepalive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )
