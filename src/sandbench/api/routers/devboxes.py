"""/v1/devboxes: create, look up, wait for, suspend, resume, shut down; logs and usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.errors import ApiError, field_errors
from sandbench.api.requests import Body, context, once, page_body, parse
from sandbench.model.sandbox import Sandbox, SandboxState, ShutdownReason
from sandbench.model.scenario import LaunchParameters

router = APIRouter(prefix="/v1/devboxes", tags=["devboxes"])

BOOTED = {SandboxState.RUNNING, SandboxState.FAILURE, SandboxState.SHUTDOWN}
CREATE_HOLD_S = 25.0  # create_and_await_running must answer within the client's 30 s
MAX_HOLD_S = 60.0
# launch parameters that change nothing here (scheduling hints of the hosted service)
IGNORED_LAUNCH = ("provisioning_tier",)


class DevboxCreate(Body):
    name: str | None = None
    blueprint_id: str | None = None
    blueprint_name: str | None = None
    snapshot_id: str | None = None
    launch_parameters: dict[str, Any] | None = None
    environment_variables: dict[str, str] | None = None
    secrets: dict[str, str] | None = None
    metadata: dict[str, str] | None = None
    file_mounts: dict[str, str] | None = None


class WaitBody(Body):
    statuses: list[str]
    timeout_seconds: float | None = None


class DevboxUpdate(Body):
    name: str | None = None
    metadata: dict[str, str] | None = None


def launch_parameters(raw: dict[str, Any] | None, where: str) -> LaunchParameters | None:
    if raw is None:
        return None
    given = {k: v for k, v in raw.items() if v is not None and k not in IGNORED_LAUNCH}
    try:
        return LaunchParameters.model_validate(given)
    except ValidationError as error:
        raise ApiError(400, field_errors(error, where)) from None


async def _create(request: Request) -> Sandbox:
    ctx = context(request)
    body = await parse(request, DevboxCreate)
    body.refuse_unsupported(
        "entrypoint", "code_mounts", "mounts", "gateways", "mcp", "tunnel", "repo_connection_id"
    )
    launch = launch_parameters(body.launch_parameters, "launch_parameters")

    def make() -> str:
        return ctx.devboxes.create(
            blueprint=body.blueprint_id or body.blueprint_name,
            snapshot=body.snapshot_id,
            launch=launch,
            launch_as_sent=body.launch_parameters,
            name=body.name,
            env=body.environment_variables,
            secret_env=body.secrets,
            metadata=body.metadata,
            file_mounts=body.file_mounts,
        ).id

    sandbox_id = await once(request, "devbox", make)
    return await blocking(ctx.store.get_sandbox, sandbox_id)


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    return views.devbox(await _create(request))


@router.post("/create_and_await_running")
async def create_and_await_running(request: Request) -> dict[str, Any]:
    ctx = context(request)
    sandbox = await _create(request)
    found = await ctx.hold(lambda: _in(ctx, sandbox.id, BOOTED), CREATE_HOLD_S)
    return views.devbox(found or await blocking(ctx.store.get_sandbox, sandbox.id))


def _in(ctx: Any, sandbox_id: str, statuses: set[SandboxState]) -> Sandbox | None:
    sandbox: Sandbox = ctx.store.get_sandbox(sandbox_id)
    return sandbox if sandbox.status in statuses else None


@router.get("")
def list_devboxes(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    ctx = context(request)
    statuses = [_status(s) for s in status.split(",")] if status else None
    page = ctx.store.page_sandboxes(statuses=statuses, limit=limit, starting_after=starting_after)
    return page_body("devboxes", page, views.devbox)


def _status(value: str) -> SandboxState:
    try:
        return SandboxState(value.strip())
    except ValueError:
        known = ", ".join(s.value for s in SandboxState)
        raise ApiError(400, f"status: {value!r} is not one of {known}") from None


@router.get("/{devbox_id}")
def retrieve(request: Request, devbox_id: str) -> dict[str, Any]:
    return views.devbox(context(request).store.get_sandbox(devbox_id))


@router.post("/{devbox_id}")
async def update(request: Request, devbox_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, DevboxUpdate)

    def change() -> Sandbox:
        sandbox = ctx.store.get_sandbox(devbox_id)
        fields: dict[str, Any] = {}
        if body.name is not None:
            fields["name"] = body.name
        if body.metadata is not None:
            fields["metadata"] = body.metadata
        if fields:
            ctx.store.update_sandbox(sandbox.id, **fields)
        return ctx.store.get_sandbox(sandbox.id)

    return views.devbox(await blocking(change))


@router.post("/{devbox_id}/wait_for_status")
async def wait_for_status(request: Request, devbox_id: str) -> Any:
    """200 once the status is one asked for; otherwise 408 after the hold (the SDK then
    asks again), never a 200 with another status: the SDK would take it as final."""
    ctx = context(request)
    body = await parse(request, WaitBody)
    wanted = {_status(s) for s in body.statuses}
    if not wanted:
        raise ApiError(400, "statuses: give at least one status")
    timeout = min(body.timeout_seconds if body.timeout_seconds is not None else 25.0, MAX_HOLD_S)
    await blocking(ctx.store.get_sandbox, devbox_id)  # 404 before holding
    found = await ctx.hold(lambda: _in(ctx, devbox_id, wanted), timeout)
    if found is None:
        raise ApiError(408, f"devbox {devbox_id} is not {'/'.join(sorted(wanted))} yet")
    return views.devbox(found)


@router.post("/{devbox_id}/shutdown")
def shutdown(request: Request, devbox_id: str, force: bool | None = None) -> dict[str, Any]:
    ctx = context(request)
    return views.devbox(ctx.engine.shutdown(devbox_id, ShutdownReason.API_SHUTDOWN))


def require_live(ctx: Any, devbox_id: str, action: str) -> Sandbox:
    """A shut-down or failed devbox does nothing more: a permanent 400 (the engine's own
    error would be a 5xx, which clients take for a passing failure)."""
    sandbox: Sandbox = ctx.store.get_sandbox(devbox_id)
    if sandbox.status.terminal:
        raise ApiError(400, f"devbox {sandbox.id} is {sandbox.status.value}; it cannot {action}")
    return sandbox


@router.post("/{devbox_id}/suspend")
def suspend(request: Request, devbox_id: str) -> dict[str, Any]:
    ctx = context(request)
    require_live(ctx, devbox_id, "be suspended")
    return views.devbox(ctx.engine.suspend(devbox_id))


@router.post("/{devbox_id}/resume")
def resume(request: Request, devbox_id: str) -> dict[str, Any]:
    ctx = context(request)
    require_live(ctx, devbox_id, "be resumed")
    return views.devbox(ctx.engine.resume(devbox_id))


@router.post("/{devbox_id}/keep_alive")
def keep_alive(request: Request, devbox_id: str) -> dict[str, Any]:
    context(request).devboxes.keep_alive(devbox_id)
    return {}


@router.get("/{devbox_id}/usage")
def usage(request: Request, devbox_id: str) -> dict[str, Any]:
    return context(request).devboxes.usage(devbox_id)


@router.get("/{devbox_id}/logs")
def logs(
    request: Request,
    devbox_id: str,
    execution_id: str | None = None,
    shell_name: str | None = None,
) -> dict[str, Any]:
    """The devbox's activity log: launch output, then every execution with its output."""
    ctx = context(request)
    sandbox = ctx.store.get_sandbox(devbox_id)
    entries: list[dict[str, Any]] = []
    if sandbox.launch_output and execution_id is None:
        entries.append(
            {
                "level": "info",
                "source": "setup_commands",
                "timestamp_ms": sandbox.create_time_ms,
                "message": sandbox.launch_output,
            }
        )
    after = None
    while True:
        page = ctx.store.list_executions(
            sandbox.id, limit=500, starting_after=after, with_output=True
        )
        for found in page.items:
            if execution_id is not None and found.id != execution_id:
                continue
            if shell_name is not None and found.shell_name != shell_name:
                continue
            entries.extend(_log_entries(found))
        if not page.has_more:
            break
        after = page.last_id
    return {"logs": entries}


def _log_entries(found: Any) -> list[dict[str, Any]]:
    base = {"source": "exec", "cmd": found.command, "cmd_id": found.id}
    base["shell_name"] = found.shell_name
    entries = [
        {**base, "level": "info", "timestamp_ms": found.create_time_ms, "message": found.command}
    ]
    for stream, level in (("stdout", "info"), ("stderr", "error")):
        text = getattr(found, stream)
        if text:
            stamp = found.end_time_ms or found.start_time_ms or found.create_time_ms
            entries.append({**base, "level": level, "timestamp_ms": stamp, "message": text})
    if found.end_time_ms is not None:
        entries.append(
            {
                **base,
                "level": "info" if found.exit_status == 0 else "error",
                "timestamp_ms": found.end_time_ms,
                "exit_code": found.exit_status,
                "message": found.failure or f"exit {found.exit_status}",
            }
        )
    return entries
