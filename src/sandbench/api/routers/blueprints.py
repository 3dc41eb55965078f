"""/v1/blueprints: images built from a Dockerfile and a build context (a storage object)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, once, page_body, parse
from sandbench.api.routers.devboxes import launch_parameters
from sandbench.model.scenario import Architecture
from sandbench.store import Page

router = APIRouter(prefix="/v1/blueprints", tags=["blueprints"])


class BuildContext(Body):
    object_id: str
    type: str = "object"


class BlueprintCreate(Body):
    name: str
    dockerfile: str | None = None
    build_context: BuildContext | None = None
    launch_parameters: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, BlueprintCreate)
    body.refuse_unsupported(
        "base_blueprint_id",
        "base_blueprint_name",
        "build_args",
        "code_mounts",
        "file_mounts",
        "secrets",
        "services",
        "system_setup_commands",
    )
    if body.build_context is not None and body.build_context.type != "object":
        raise ApiError(400, f"build_context.type: {body.build_context.type!r} is not 'object'")
    launch = launch_parameters(body.launch_parameters, "launch_parameters")
    arch = (launch.architecture if launch else None) or Architecture.X86_64
    parameters = body.model_dump(mode="json", exclude_none=True)

    def make() -> str:
        return ctx.builds.create(
            body.name,
            dockerfile=body.dockerfile,
            context_object_id=body.build_context.object_id if body.build_context else None,
            architecture=arch,
            parameters=parameters,
        ).id

    blueprint_id = await once(request, "blueprint", make)
    return views.blueprint(await blocking(ctx.store.get_blueprint, blueprint_id))


@router.get("")
def list_blueprints(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    name: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.page_blueprints(
        name=name, status=status, limit=limit, starting_after=starting_after
    )
    return page_body("blueprints", page, views.blueprint)


@router.get("/list_public")
def list_public() -> dict[str, Any]:
    return page_body("blueprints", Page([], False, 0, 0), views.blueprint)


@router.get("/{blueprint_id}")
def retrieve(request: Request, blueprint_id: str) -> dict[str, Any]:
    return views.blueprint(context(request).store.get_blueprint(blueprint_id))


@router.get("/{blueprint_id}/logs")
def logs(request: Request, blueprint_id: str) -> dict[str, Any]:
    found = context(request).store.get_blueprint(blueprint_id)
    stamp = found.build_finish_time_ms or found.create_time_ms
    return {
        "blueprint_id": found.id,
        "logs": [
            {"level": "info", "message": line, "timestamp_ms": stamp}
            for line in found.build_log.splitlines()
        ],
    }


@router.post("/{blueprint_id}/delete")
def delete(request: Request, blueprint_id: str) -> dict[str, Any]:
    context(request).builds.delete(blueprint_id)
    return {}
