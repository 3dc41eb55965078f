"""Build the blueprints imported tasks need, content-addressed, and point the scenarios
at them. The same context (Dockerfile and files, architecture) is built once, whatever the
task's name; the scenario records the blueprint's id so a later re-import with a changed
context never changes what an earlier version ran."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbench.engine import Engine
from sandbench.engine import images as images_module
from sandbench.errors import SandbenchError
from sandbench.importers._common import BuildRequest, ImportedTask
from sandbench.model.sandbox import Blueprint
from sandbench.runner.blueprint_builds import BlueprintBuilds
from sandbench.store import Store

Progress = Callable[[str], None]


class BuildFailed(SandbenchError):
    pass


def ensure(store: Store, engine: Engine, request: BuildRequest, progress: Progress) -> Blueprint:
    """The built blueprint for ``request``: an existing one with the same content, or a new
    build (waited for, at most ``timeout_sec``). Raises BuildFailed with the log's tail."""
    existing = store.blueprint_with_content(request.content_hash, request.name)
    if (
        existing is not None
        and existing.status == "build_complete"
        and images_module.inspect(engine.client, existing.image) is not None
    ):
        progress(f"{request.name}: already built ({existing.id})")
        return existing
    uploaded = store.create_object(
        f"{request.name}-context.tar", "tar", metadata={"content": request.context_sha256}
    )
    store.upload_object(uploaded.id, [request.context_tar])
    store.complete_object(uploaded.id)
    blueprint = BlueprintBuilds(store, engine).create(
        request.name,
        dockerfile=None,
        context_object_id=uploaded.id,
        architecture=request.architecture,
    )
    deadline = time.monotonic() + (request.timeout_sec or 3600)
    while blueprint.status not in ("build_complete", "failed"):
        if time.monotonic() > deadline:
            raise BuildFailed(
                f"blueprint {request.name} did not build within {request.timeout_sec:g}s"
                " (environment.build_timeout_sec)"
            )
        time.sleep(0.3)
        blueprint = store.get_blueprint(blueprint.id)
    if blueprint.status == "failed":
        tail = "\n".join(blueprint.build_log.splitlines()[-20:])
        raise BuildFailed(f"blueprint {request.name} failed to build:\n{tail}")
    progress(f"{request.name}: built ({blueprint.id}, {blueprint.image})")
    return blueprint


def ensure_all(
    store: Store, engine: Engine, tasks: list[ImportedTask], progress: Progress
) -> list[ImportedTask]:
    """Build every task's blueprint; the tasks come back pointing at the blueprints' ids."""
    out: list[ImportedTask] = []
    for task in tasks:
        if task.build is None:
            out.append(task)
            continue
        blueprint = ensure(store, engine, task.build, progress)
        env = task.scenario.environment_parameters
        assert env is not None
        scenario = task.scenario.model_copy(
            update={"environment_parameters": env.model_copy(update={"blueprint_id": blueprint.id})}
        )
        out.append(ImportedTask(task.source, scenario, task.build, task.notes))
    return out
