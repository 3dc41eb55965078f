"""Blueprints built from a Dockerfile and a build context given as a storage object.

Content-addressed: the Dockerfile, the context's bytes and the architecture make a hash.
A blueprint asked for again with the same name and content is the one already there (not
rebuilt); the same content under another name reuses the image. Builds run in the
background: ``queued`` → ``building`` → ``build_complete`` or ``failed``, the log kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbench import paths
from sandbench.engine import Engine, aliases
from sandbench.engine import images as images_module
from sandbench.engine.arch import OCI_ARCH
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.sandbox import Blueprint
from sandbench.model.scenario import Architecture
from sandbench.model.storage import ObjectState
from sandbench.store import Store
from sandbench.store.database import now_ms

IMAGE_REPO = "localhost/sandbench-blueprint"


class BlueprintBuilds:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    def create(
        self,
        name: str,
        *,
        dockerfile: str | None,
        context_object_id: str | None,
        architecture: Architecture = Architecture.X86_64,
        parameters: dict[str, Any] | None = None,
    ) -> Blueprint:
        """The blueprint for this name and content: an existing one, or a new build."""
        if not name.strip():
            raise InvalidInput("name: must not be empty")
        if not dockerfile and not context_object_id:
            raise InvalidInput("dockerfile: give a Dockerfile, a build_context, or both")
        digest = hashlib.sha256()
        digest.update(f"arch={architecture.value}\n".encode())
        digest.update(f"dockerfile={dockerfile or ''}\n".encode())
        if context_object_id:
            found = self.store.get_object(context_object_id)
            if found.state != ObjectState.READ_ONLY:
                raise InvalidInput(
                    f"build_context.object_id: object {found.id} is {found.state.value};"
                    " complete its upload first"
                )
            digest.update(f"context={found.sha256}\n".encode())
        content_hash = digest.hexdigest()
        existing = self.store.blueprint_with_content(content_hash, name)
        if existing is not None and self._image_present(existing):
            return existing
        image = f"{IMAGE_REPO}-{content_hash[:16]}:latest"
        source = f"object {context_object_id}" if context_object_id else "dockerfile"
        shared = self.store.image_with_content(content_hash)
        if shared is not None and images_module.inspect(self.engine.client, shared):
            return self.store.insert_blueprint(
                name,
                shared,
                source=source,
                parameters=parameters,
                content_hash=content_hash,
                status="build_complete",
            )
        blueprint = self.store.insert_blueprint(
            name, image, source=source, parameters=parameters, content_hash=content_hash
        )
        threading.Thread(
            target=self._build,
            args=(blueprint.id, image, dockerfile, context_object_id, architecture),
            name=f"build-{blueprint.id}",
            daemon=True,
        ).start()
        return blueprint

    def _image_present(self, blueprint: Blueprint) -> bool:
        if blueprint.status != "build_complete":
            return True  # still queued or building: that build will do
        return images_module.inspect(self.engine.client, blueprint.image) is not None

    def _build(
        self,
        blueprint_id: str,
        image: str,
        dockerfile: str | None,
        context_object_id: str | None,
        architecture: Architecture,
        context_tar: bytes | None = None,
    ) -> None:
        log = lambda line: self.store.append_blueprint_log(blueprint_id, line + "\n")  # noqa: E731
        self.store.update_blueprint(blueprint_id, status="building")
        try:
            with tempfile.TemporaryDirectory(prefix="sandbench-build-") as scratch:
                context = Path(scratch) / "context"
                context.mkdir()
                if context_object_id:
                    with (
                        self.store.open_object(context_object_id) as handle,
                        tarfile.open(fileobj=handle, mode="r:*") as archive,
                    ):
                        archive.extractall(context, filter="data")
                elif context_tar is not None:
                    with tarfile.open(fileobj=io.BytesIO(context_tar), mode="r:*") as archive:
                        archive.extractall(context, filter="data")
                recipe = Path(scratch) / "Dockerfile"
                if dockerfile:
                    recipe.write_text(dockerfile)
                else:
                    candidates = [context / "Dockerfile", context / "Containerfile"]
                    found = next((c for c in candidates if c.is_file()), None)
                    if found is None:
                        raise InvalidInput("the build context has no Dockerfile")
                    recipe = found
                recipe = aliases.resolved_recipe(
                    self.engine.client,
                    recipe,
                    Path(scratch),
                    self.engine.config.image_aliases,
                    log,
                    arch=architecture,
                )
                code, _tail = images_module.stream(
                    [
                        *images_module.podman_cli(self.engine.connection.uri),
                        "build",
                        "--pull=never",
                        "--arch",
                        OCI_ARCH[architecture],
                        "-t",
                        image,
                        "-f",
                        str(recipe),
                        str(context),
                    ],
                    log,
                )
            if code != 0:
                self._failed(blueprint_id, f"podman build exited with {code}")
                return
            self.store.update_blueprint(
                blueprint_id, status="build_complete", build_finish_time_ms=now_ms()
            )
        except (SandbenchError, OSError, tarfile.TarError) as error:
            with contextlib.suppress(Exception):
                log(f"build failed: {error}")
            self._failed(blueprint_id, str(error))

    def _failed(self, blueprint_id: str, why: str) -> None:
        self.store.update_blueprint(
            blueprint_id,
            status="failed",
            failure_reason="build_failed",
            build_finish_time_ms=now_ms(),
        )
        self.store.append_blueprint_log(blueprint_id, f"[{why}]\n")

    def delete(self, ref: str) -> Blueprint:
        """The blueprint is gone from lists and lookups; its image stays while others
        with the same content use it."""
        blueprint = self.store.get_blueprint(ref)
        return self.store.update_blueprint(blueprint.id, state="deleted")


# ---------------------------------------------------------------- blueprints on cluster nodes


class BlueprintFailed(SandbenchError):
    """A shipped blueprint's build failed: its recipe's doing, not the node's."""


@dataclass(frozen=True)
class BlueprintRecipe:
    """What a cluster node needs to build a blueprint as the head has it: the Dockerfile,
    the build context (a tar), the architecture, and their digest (the content address:
    a node builds each digest once)."""

    name: str
    digest: str
    dockerfile: str | None
    context_tar: bytes | None
    architecture: Architecture


def recipe_of(store: Store, ref: str, architecture: Architecture) -> BlueprintRecipe:
    """The recipe of the head's blueprint ``ref``: an API blueprint's Dockerfile and
    context object as stored; a CLI blueprint's directory (or Dockerfile and the directory
    beside it) as it is on disk now, packed reproducibly so the digest is the content's."""
    blueprint = store.get_blueprint(ref)
    params = blueprint.parameters or {}
    dockerfile: str | None = params.get("dockerfile")
    context: bytes | None = None
    object_id = (params.get("build_context") or {}).get("object_id")
    if object_id:
        with store.open_object(object_id) as handle:
            context = handle.read()
    elif not dockerfile:
        source = Path(blueprint.source)
        if source.is_dir():
            found = next(
                (source / n for n in ("Containerfile", "Dockerfile") if (source / n).is_file()),
                None,
            )
            if found is None:
                raise InvalidInput(f"blueprint {blueprint.name}: {source} has no Dockerfile")
            dockerfile, context = found.read_text(), _packed(source)
        elif source.is_file():
            dockerfile, context = source.read_text(), _packed(source.parent)
        else:
            raise InvalidInput(
                f"blueprint {blueprint.name}: its source {source} is gone from the head;"
                " a cluster node cannot build it"
            )
    digest = hashlib.sha256()
    digest.update(f"arch={architecture.value}\n".encode())
    digest.update(f"dockerfile={dockerfile or ''}\n".encode())
    digest.update(f"context={hashlib.sha256(context or b'').hexdigest()}\n".encode())
    return BlueprintRecipe(blueprint.name, digest.hexdigest(), dockerfile, context, architecture)


def _packed(directory: Path) -> bytes:
    """A tar of ``directory`` that depends only on its names, modes and bytes."""

    def plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(directory.rglob("*")):
            archive.add(
                path, arcname=str(path.relative_to(directory)), recursive=False, filter=plain
            )
    return buffer.getvalue()


def built_here(store: Store, engine: Engine, recipe: BlueprintRecipe) -> Blueprint:
    """This host's blueprint for the recipe, built now if this host has none of that
    content yet. Processes of one host take turns per digest (a file lock in the data
    directory), so cases arriving at once wait for one build rather than each building."""
    locks = paths.data_dir() / "blueprint-builds"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{recipe.digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # one row per content, built into again if its image went: the node's mirrored
        # scenario versions name its id
        blueprint = store.blueprint_with_content(recipe.digest, recipe.name)
        if (
            blueprint is not None
            and blueprint.status == "build_complete"
            and images_module.inspect(engine.client, blueprint.image) is not None
        ):
            return blueprint
        image = f"{IMAGE_REPO}-{recipe.digest[:16]}:latest"
        if blueprint is None:
            blueprint = store.insert_blueprint(
                recipe.name,
                image,
                source="cluster head",
                parameters=None,
                content_hash=recipe.digest,
            )
        BlueprintBuilds(store, engine)._build(
            blueprint.id,
            image,
            recipe.dockerfile,
            None,
            recipe.architecture,
            context_tar=recipe.context_tar,
        )
        built = store.get_blueprint(blueprint.id)
        if built.status != "build_complete":
            tail = "".join(built.build_log.splitlines(keepends=True)[-10:])
            raise BlueprintFailed(f"blueprint {recipe.name} failed to build here:\n{tail}")
        return built
