"""/v1/scenarios/runs: look up, score (in the background), complete, cancel, logs."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sandbench.api import views
from sandbench.api.requests import context, page_body

router = APIRouter(prefix="/v1/scenarios/runs", tags=["scenario runs"])


@router.get("")
def list_runs(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    scenario_id: str | None = None,
    benchmark_run_id: str | None = None,
    state: str | None = None,
    name: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.list_runs(
        scenario=scenario_id,
        benchmark_run_id=benchmark_run_id,
        state=state,
        name=name,
        search=search,
        limit=limit,
        starting_after=starting_after,
        with_results=True,
    )
    return page_body("runs", page, views.scenario_run)


@router.get("/{run_id}")
def retrieve(request: Request, run_id: str) -> dict[str, Any]:
    return views.scenario_run(context(request).store.get_run(run_id))


@router.post("/{run_id}/score")
def score(request: Request, run_id: str) -> dict[str, Any]:
    """``scoring`` when this answers (the SDK polls until ``scored``)."""
    return views.scenario_run(context(request).runner.score_external(run_id))


@router.post("/{run_id}/complete")
def complete(request: Request, run_id: str) -> dict[str, Any]:
    return views.scenario_run(context(request).runner.complete_external(run_id))


@router.post("/{run_id}/cancel")
def cancel(request: Request, run_id: str) -> dict[str, Any]:
    return views.scenario_run(context(request).runner.cancel_external(run_id))


@router.post("/{run_id}/download_logs")
def download_logs(request: Request, run_id: str) -> Response:
    """A zip: the run as JSON, each scorer attempt's output, and the devbox's activity."""
    ctx = context(request)
    run = ctx.store.get_run(run_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("run.json", json.dumps(views.scenario_run(run), indent=2))
        for result in run.scorer_results:
            archive.writestr(f"scorers/{result.name}.attempt{result.attempt}.log", result.output)
        if run.sandbox_id:
            after = None
            while True:
                page = ctx.store.list_executions(
                    run.sandbox_id, limit=200, starting_after=after, with_output=True
                )
                for found in page.items:
                    ending = f", {found.failure}" if found.failure else ""
                    archive.writestr(
                        f"executions/{found.create_time_ms}-{found.id}.log",
                        f"$ {found.command}\n{found.stdout}{found.stderr}"
                        f"[exit {found.exit_status}{ending}]\n",
                    )
                if not page.has_more:
                    break
                after = page.last_id
    return Response(buffer.getvalue(), media_type="application/zip")
