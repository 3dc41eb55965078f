"""/v1/scenarios/scorers: custom scorer types (bash scripts registered by name)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.context import blocking
from sandbench.api.requests import Body, context, list_page, once, page_body, parse

router = APIRouter(prefix="/v1/scenarios/scorers", tags=["scorers"])


class ScorerBody(Body):
    type: str
    bash_script: str


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, ScorerBody)

    def make() -> str:
        return ctx.store.create_custom_scorer(body.type, body.bash_script).id

    scorer_id = await once(request, "scorer", make)
    return views.scorer(await blocking(ctx.store.get_custom_scorer, scorer_id))


@router.get("")
def list_scorers(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    scorers = context(request).store.list_custom_scorers()
    if search:  # the id, or part of the type
        scorers = [s for s in scorers if s.id == search or search.lower() in s.type.lower()]
    return page_body("scorers", list_page(scorers, limit, starting_after), views.scorer)


@router.get("/{scorer_id}")
def retrieve(request: Request, scorer_id: str) -> dict[str, Any]:
    return views.scorer(context(request).store.get_custom_scorer(scorer_id))


@router.post("/{scorer_id}")
async def update(request: Request, scorer_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, ScorerBody)
    updated = await blocking(ctx.store.update_custom_scorer, scorer_id, body.type, body.bash_script)
    return views.scorer(updated)
