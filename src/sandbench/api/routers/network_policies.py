"""/v1/network-policies. Allow-all is the default network and no egress is no network; a
partial allowlist is stored, but a devbox asking for it is refused (never given more)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, once, page_body, parse
from sandbench.model.network import CidrRule, Egress

router = APIRouter(prefix="/v1/network-policies", tags=["network policies"])


class PolicyBody(Body):
    name: str | None = None
    description: str | None = None
    allow_all: bool | None = None
    allow_agent_gateway: bool | None = None
    allow_devbox_to_devbox: bool | None = None
    allow_mcp_gateway: bool | None = None
    allow_runloop_mirrors: bool | None = None
    allowed_cidrs: list[CidrRule] | None = None
    allowed_hostnames: list[str] | None = None

    def egress(self, base: Egress | None = None) -> Egress:
        given = {k: v for k, v in self.model_dump().items() if k in Egress.model_fields}
        current = (base or Egress()).model_dump()
        current.update({k: v for k, v in given.items() if v is not None})
        return Egress.model_validate(current)


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, PolicyBody)
    if not body.name:
        raise ApiError(400, "name: required")
    name = body.name

    def make() -> str:
        return ctx.store.create_network_policy(name, body.egress(), body.description).id

    policy_id = await once(request, "network_policy", make)
    return views.network_policy(await blocking(ctx.store.get_network_policy, policy_id))


@router.get("")
def list_policies(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    name: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.list_network_policies(
        name=name, policy_id=id, limit=limit, starting_after=starting_after
    )
    return page_body("network_policies", page, views.network_policy)


@router.get("/{policy_id}")
def retrieve(request: Request, policy_id: str) -> dict[str, Any]:
    return views.network_policy(context(request).store.get_network_policy(policy_id))


@router.post("/{policy_id}")
async def update(request: Request, policy_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, PolicyBody)

    def change() -> Any:
        current = ctx.store.get_network_policy(policy_id)
        return ctx.store.update_network_policy(
            current.id,
            name=body.name,
            egress=body.egress(current.egress),
            description=body.description,
        )

    return views.network_policy(await blocking(change))


@router.post("/{policy_id}/delete")
def delete(request: Request, policy_id: str) -> dict[str, Any]:
    return views.network_policy(context(request).store.delete_network_policy(policy_id))
