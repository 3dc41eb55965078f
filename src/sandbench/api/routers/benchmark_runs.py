"""/v1/benchmark_runs: look up, list, their scenario runs, complete, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from sandbench.api import views
from sandbench.api.requests import context, page_body
from sandbench.runner import benchmark_runs

router = APIRouter(prefix="/v1/benchmark_runs", tags=["benchmark runs"])


@router.get("")
def list_runs(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    benchmark_id: str | None = None,
    state: str | None = None,
    name: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.page_benchmark_runs(
        benchmark_id=benchmark_id,
        state=state,
        name=name,
        search=search,
        limit=limit,
        starting_after=starting_after,
    )
    return page_body("runs", page, views.benchmark_run)


@router.get("/{run_id}")
def retrieve(request: Request, run_id: str) -> dict[str, Any]:
    return views.benchmark_run(context(request).store.get_benchmark_run(run_id))


@router.get("/{run_id}/scenario_runs")
def scenario_runs(
    request: Request,
    run_id: str,
    limit: int = Query(20),
    starting_after: str | None = None,
    state: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    store = context(request).store
    store.get_benchmark_run(run_id)
    page = store.list_runs(
        benchmark_run_id=run_id,
        state=state,
        search=search,
        limit=limit,
        starting_after=starting_after,
        with_results=True,
    )
    return page_body("runs", page, views.scenario_run)


@router.post("/{run_id}/complete")
def complete(request: Request, run_id: str) -> dict[str, Any]:
    return views.benchmark_run(benchmark_runs.complete_external(context(request).store, run_id))


@router.post("/{run_id}/cancel")
def cancel(request: Request, run_id: str) -> dict[str, Any]:
    from sandbench.api.routers.benchmarks import DRIVEN

    driving = DRIVEN.get(run_id)
    if driving is not None:  # a cluster run this server drives: no new case starts
        driving.cancel()
    return views.benchmark_run(benchmark_runs.cancel_external(context(request).runner, run_id))
