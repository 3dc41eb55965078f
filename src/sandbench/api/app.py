"""The ASGI app: routers per resource, bearer auth on /v1, errors as clients expect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import Depends, FastAPI

from sandbench import __version__
from sandbench.api import errors
from sandbench.api.auth import require_token
from sandbench.api.context import ApiContext, blocking
from sandbench.api.routers import (
    benchmark_runs,
    benchmarks,
    blueprints,
    devbox_files,
    devboxes,
    executions,
    network_policies,
    objects,
    scenario_runs,
    scenarios,
    scorers,
    secrets,
    snapshots,
)

EXPIRE_EVERY_S = 60.0
# Worker threads for blocking routes (SQLite, Podman). Long-polls and event streams hold
# none while they wait, so this bounds only the work actually being done.
BLOCKING_WORKERS = 64

# Order matters where paths overlap: /v1/devboxes/disk_snapshots before /v1/devboxes/{id},
# /v1/scenarios/runs and /scorers before /v1/scenarios/{id}.
ROUTERS = (
    snapshots.router,
    devboxes.router,
    executions.router,
    devbox_files.router,
    blueprints.router,
    secrets.router,
    network_policies.router,
    scenario_runs.router,
    scorers.router,
    scenarios.router,
    benchmarks.router,
    benchmark_runs.router,
)


def create_app(ctx: ApiContext) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.changes.bind(asyncio.get_running_loop())
        anyio.to_thread.current_default_thread_limiter().total_tokens = BLOCKING_WORKERS
        expiry = asyncio.create_task(_expire_objects(ctx))
        try:
            yield
        finally:
            expiry.cancel()

    app = FastAPI(
        title="sandbench",
        version=__version__,
        description="Runloop's HTTP API, served by sandbench over local Podman sandboxes.",
        lifespan=lifespan,
    )
    app.state.context = ctx
    errors.install(app)
    auth = [Depends(require_token)]
    app.include_router(objects.router)  # its own auth: the transfer URLs are signed instead
    app.include_router(objects.transfers)
    for router in ROUTERS:
        app.include_router(router, dependencies=auth)
    return app


async def _expire_objects(ctx: ApiContext) -> None:
    while True:
        with contextlib.suppress(Exception):
            await blocking(ctx.store.expire_objects)
        await asyncio.sleep(EXPIRE_EVERY_S)
