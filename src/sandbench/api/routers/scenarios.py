"""/v1/scenarios: create (a new scenario), update (a new version), archive, list, start_run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.requests import Body, context, json_object, once, page_body, parse
from sandbench.api.routers.devboxes import launch_parameters
from sandbench.model.documents import validate_scenario
from sandbench.store import Page

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])


def _scenario_document(data: dict[str, Any]) -> dict[str, Any]:
    """Runloop's create shape with its nulls (the SDK's builder sends many) left out."""
    return {k: v for k, v in data.items() if v is not None}


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    scenario = validate_scenario(_scenario_document(await json_object(request)))

    def make() -> str:
        return ctx.store.create_scenario(scenario)

    scenario_id = await once(request, "scenario", make)
    return views.scenario(await blocking(ctx.store.get_scenario, scenario_id))


@router.get("")
def list_scenarios(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    name: str | None = None,
    benchmark_id: str | None = None,
    search: str | None = None,
    validation_type: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.list_scenarios(
        name=name,
        benchmark=benchmark_id,
        limit=limit,
        starting_after=starting_after,
        search=search,
        validation_type=validation_type,
    )
    return page_body("scenarios", page, views.scenario)


@router.get("/list_public")
def list_public() -> dict[str, Any]:
    return page_body("scenarios", Page([], False, 0, 0), views.scenario)


class RunProfile(Body):
    envVars: dict[str, str] | None = None
    launchParameters: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    purpose: str | None = None
    mounts: list[Any] | None = None


class StartRun(Body):
    scenario_id: str
    benchmark_run_id: str | None = None
    metadata: dict[str, str] | None = None
    run_name: str | None = None
    run_profile: RunProfile | None = Field(default=None, alias="runProfile")


@router.post("/start_run")
async def start_run(request: Request) -> dict[str, Any]:
    """The run's devbox is made from the scenario's environment; it comes up while the
    client waits on the devbox (wait_for_status), as with the hosted service."""
    ctx = context(request)
    body = await parse(request, StartRun)
    profile = body.run_profile or RunProfile()
    profile.refuse_unsupported("mounts")
    launch = launch_parameters(profile.launchParameters, "runProfile.launchParameters")

    def make() -> str:
        return ctx.runner.start_external(
            body.scenario_id,
            run_name=body.run_name,
            metadata=body.metadata,
            benchmark_run_id=body.benchmark_run_id,
            env=profile.envVars,
            secret_env=profile.secrets,
            launch=launch,
            purpose=profile.purpose,
        ).id

    run_id = await once(request, "scenario_run", make)
    return views.scenario_run(await blocking(ctx.store.get_run, run_id))


@router.get("/{scenario_id}")
def retrieve(request: Request, scenario_id: str) -> dict[str, Any]:
    return views.scenario(context(request).store.get_scenario(scenario_id))


@router.post("/{scenario_id}")
async def update(request: Request, scenario_id: str) -> dict[str, Any]:
    """A new version: each field given replaces the old one whole; null keeps it."""
    ctx = context(request)
    changes = _scenario_document(await json_object(request))
    if "environment" in changes and "environment_parameters" not in changes:
        changes["environment_parameters"] = changes.pop("environment")

    def change() -> Any:
        current = ctx.store.get_scenario(scenario_id)
        document = {**current.scenario.to_dict(), **changes}
        ctx.store.update_scenario(current.id, validate_scenario(document))
        return ctx.store.get_scenario(current.id)

    return views.scenario(await blocking(change))


@router.post("/{scenario_id}/archive")
def archive(request: Request, scenario_id: str) -> dict[str, Any]:
    return views.scenario(context(request).store.archive_scenario(scenario_id))
