"""/v1/benchmarks: sets of scenarios, and start_run."""

from __future__ import annotations

import queue
import threading
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from sandbench import config
from sandbench.api import views
from sandbench.api.context import ApiContext, blocking
from sandbench.api.errors import ApiError
from sandbench.api.requests import Body, context, once, page_body, parse
from sandbench.api.routers.scenarios import RunProfile
from sandbench.model.benchmark import BENCHMARK_EXTRAS, BenchmarkRun
from sandbench.runner import benchmark_runs
from sandbench.runner.benchmark_runs import BenchmarkRunner
from sandbench.runner.case_executors import executor_for
from sandbench.store import Page

router = APIRouter(prefix="/v1/benchmarks", tags=["benchmarks"])


class BenchmarkBody(Body):
    name: str | None = None
    scenario_ids: list[str] | None = None
    metadata: dict[str, str] | None = None
    attribution: str | None = None
    description: str | None = None
    required_environment_variables: list[str] | None = None
    required_secret_names: list[str] | None = None

    def extras(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in BENCHMARK_EXTRAS}


class MembersBody(Body):
    scenarios_to_add: list[str] | None = None
    scenarios_to_remove: list[str] | None = None


class StartRun(Body):
    benchmark_id: str
    metadata: dict[str, str] | None = None
    run_name: str | None = None
    run_profile: RunProfile | None = Field(default=None, alias="runProfile")
    # sandbench's own: a Ray address (auto, HOST:PORT, ray://HOST:10001) to run every case
    # on, driven by this server instead of the client; "local": the client drives (Runloop)
    cluster_address: str | None = None


@router.post("")
async def create(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, BenchmarkBody)
    if not body.name:
        raise ApiError(400, "name: required")
    name = body.name

    def make() -> str:
        return ctx.store.create_benchmark(
            name, body.scenario_ids or [], body.metadata, extras=body.extras()
        ).id

    benchmark_id = await once(request, "benchmark", make)
    return views.benchmark(await blocking(ctx.store.get_benchmark, benchmark_id))


@router.get("")
def list_benchmarks(
    request: Request,
    limit: int = Query(20),
    starting_after: str | None = None,
    name: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    page = context(request).store.list_benchmarks(
        name=name, search=search, limit=limit, starting_after=starting_after
    )
    return page_body("benchmarks", page, views.benchmark)


@router.get("/list_public")
def list_public() -> dict[str, Any]:
    return page_body("benchmarks", Page([], False, 0, 0), views.benchmark)


@router.post("/start_run")
async def start_run(request: Request) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, StartRun)
    profile = body.run_profile or RunProfile()

    def make() -> str:
        return benchmark_runs.start_external(
            ctx.store,
            body.benchmark_id,
            run_name=body.run_name,
            metadata=body.metadata,
            env=profile.envVars,
            secret_env=profile.secrets,
            purpose=profile.purpose,
        ).id

    address = body.cluster_address
    if address and address != "local":
        run_id = await once(request, "benchmark_run", lambda: _drive_on_cluster(ctx, body, address))
    else:
        run_id = await once(request, "benchmark_run", make)
    return views.benchmark_run(await blocking(ctx.store.get_benchmark_run, run_id))


DRIVEN: dict[str, BenchmarkRunner] = {}  # benchmark run id -> the runner driving it here


def _drive_on_cluster(ctx: ApiContext, body: StartRun, address: str) -> str:
    """Start the benchmark run's cases on the cluster in a thread of this server; answer its
    id once stored. A cluster that cannot be used (no ``sandbench[cluster]`` extra, an
    unreachable address) raises before anything is stored."""
    settings = config.load()
    executor = executor_for(address)
    profile = body.run_profile or RunProfile()
    bench = BenchmarkRunner(ctx.runner, executor)
    created: queue.Queue[str | BaseException] = queue.Queue()

    def stored(run: BenchmarkRun) -> None:
        DRIVEN[run.id] = bench
        created.put(run.id)

    def drive() -> None:
        try:
            bench.run(
                body.benchmark_id,
                jobs=settings.concurrency,
                retries=settings.retries,
                env=profile.envVars,
                secret_env=profile.secrets,
                triggered_by="api",
                cluster=address,
                on_created=stored,
            )
        except BaseException as error:  # before the run was stored: the request fails
            created.put(error)
        finally:
            executor.close()
            for run_id, driving in list(DRIVEN.items()):
                if driving is bench:
                    DRIVEN.pop(run_id, None)

    threading.Thread(target=drive, name="api-cluster-benchmark", daemon=True).start()
    answer = created.get()
    if isinstance(answer, BaseException):
        raise answer
    return answer


@router.get("/{benchmark_id}")
def retrieve(request: Request, benchmark_id: str) -> dict[str, Any]:
    return views.benchmark(context(request).store.get_benchmark(benchmark_id))


@router.post("/{benchmark_id}")
async def update(request: Request, benchmark_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, BenchmarkBody)
    updated = await blocking(
        ctx.store.update_benchmark,
        benchmark_id,
        name=body.name,
        scenario_refs=body.scenario_ids,
        metadata=body.metadata,
        extras=body.extras(),
    )
    return views.benchmark(updated)


@router.post("/{benchmark_id}/scenarios")
async def change_scenarios(request: Request, benchmark_id: str) -> dict[str, Any]:
    ctx = context(request)
    body = await parse(request, MembersBody)
    updated = await blocking(
        ctx.store.update_benchmark,
        benchmark_id,
        add=body.scenarios_to_add,
        remove=body.scenarios_to_remove,
    )
    return views.benchmark(updated)


@router.get("/{benchmark_id}/definitions")
def definitions(
    request: Request, benchmark_id: str, limit: int = Query(20), starting_after: str | None = None
) -> dict[str, Any]:
    store = context(request).store
    found = store.get_benchmark(benchmark_id)
    page = store.list_scenarios(
        benchmark=found.id, limit=limit, starting_after=starting_after, include_archived=True
    )
    return page_body("scenarios", page, views.scenario)
