"""Images a sandbox starts from: the base image per architecture, blueprints, snapshots."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from podman import PodmanClient
from podman.errors import ImageNotFound

from sandbench.engine import aliases as aliases_module
from sandbench.engine.arch import OCI_ARCH, from_oci, host_arch
from sandbench.engine.errors import EngineError, ImageMissing
from sandbench.errors import InvalidInput, NotFound
from sandbench.model.sandbox import Blueprint
from sandbench.model.scenario import Architecture, ScenarioEnvironment
from sandbench.store import Store

Progress = Callable[[str], None]
BLUEPRINT_REPO = "localhost/sandbench-blueprint"


def base_image(default_image: str, arch: Architecture) -> str:
    """The configured image for the host's architecture; ``<image>-<arch>`` for another."""
    return default_image if arch == host_arch() else f"{default_image}-{arch.value}"


def inspect(client: PodmanClient, image: str) -> dict[str, Any] | None:
    with _memo_lock:
        memo = _memos.get(id(client))
        if memo is not None and image in memo[1]:
            return memo[1][image]
    try:
        attrs: dict[str, Any] | None = client.images.get(image).attrs
    except ImageNotFound:
        attrs = None
    if memo is not None:
        with _memo_lock:
            memo[1][image] = attrs
    return attrs


_memo_lock = threading.Lock()
_memos: dict[int, tuple[list[int], dict[str, dict[str, Any] | None]]] = {}  # client -> holders


@contextmanager
def inspections_remembered(client: PodmanClient) -> Iterator[None]:
    """While any caller is inside, each image is inspected once through ``client`` and
    the answer reused: a benchmark's pre-flight and a cluster head's checks ask about the
    same image for every case, and Podman, answering one request at a time, became the
    bottleneck of dispatching them. Only for checks, never for a sandbox about to start."""
    key = id(client)
    with _memo_lock:
        holders, _ = _memos.setdefault(key, ([0], {}))
        holders[0] += 1
    try:
        yield
    finally:
        with _memo_lock:
            holders[0] -= 1
            if holders[0] == 0:
                del _memos[key]


def image_arch(attrs: dict[str, Any]) -> Architecture | None:
    return from_oci(str(attrs.get("Architecture", "")))


def resolve(
    client: PodmanClient,
    store: Store,
    env: ScenarioEnvironment | None,
    arch: Architecture,
    default_image: str,
) -> tuple[str, str | None, str | None]:
    """(image, blueprint id, snapshot id) for a scenario's environment; checks it exists."""
    blueprint_id = snapshot_id = None
    if env is not None and env.snapshot_id:
        try:
            snapshot = store.get_snapshot(env.snapshot_id)
        except NotFound:
            raise ImageMissing(
                f"snapshot {env.snapshot_id!r} does not exist here (`sandbench snapshots list`)"
            ) from None
        image, snapshot_id = snapshot.image, snapshot.id
    elif env is not None and env.blueprint_id:
        try:
            blueprint = store.get_blueprint(env.blueprint_id)
        except NotFound as error:
            raise ImageMissing(str(error)) from None
        if blueprint.status != "build_complete":
            raise ImageMissing(f"blueprint {blueprint.name!r} did not build ({blueprint.status})")
        image, blueprint_id = blueprint.image, blueprint.id
    else:
        image = base_image(default_image, arch)
    attrs = inspect(client, image)
    if attrs is None:
        fix = (
            f"`sandbench images bootstrap --arch {arch.value}`"
            if image == base_image(default_image, arch)
            else "rebuild it"
        )
        raise ImageMissing(f"image {image} is not in Podman's storage; {fix}")
    found = image_arch(attrs)
    if found is not None and found != arch:
        raise ImageMissing(
            f"image {image} is {found.value}, but the scenario asks for {arch.value}"
        )
    return image, blueprint_id, snapshot_id


def list_images(client: PodmanClient) -> list[dict[str, Any]]:
    """sandbench's own images: base images, blueprints, snapshots."""
    rows = []
    for image in client.images.list():
        for tag in image.tags or []:
            if tag.startswith(("localhost/sandbench-",)):
                rows.append(
                    {
                        "tag": tag,
                        "id": image.short_id.removeprefix("sha256:"),
                        "arch": image.attrs.get("Arch") or image.attrs.get("Architecture"),
                        "size_mb": round((image.attrs.get("Size") or 0) / 1e6, 1),
                        "created": image.attrs.get("Created"),
                    }
                )
    return sorted(rows, key=lambda r: r["tag"])


def podman_cli(uri: str) -> list[str]:
    podman = shutil.which("podman")
    if podman is None:
        raise EngineError("the podman command is not installed; run `make setup` as root")
    return [podman, "--url", uri]


def stream(cmd: list[str], progress: Progress) -> tuple[int, list[str]]:
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail = [*tail[-29:], line]
        progress(line)
    return process.wait(), tail


def build_blueprint(
    uri: str,
    store: Store,
    name: str,
    source: Path,
    progress: Progress,
    *,
    arch: Architecture,
    client: PodmanClient | None = None,
    aliases: Mapping[str, str] | None = None,
) -> Blueprint:
    """``podman build`` a directory (with a Dockerfile/Containerfile) or a Dockerfile.
    With ``client``, each ``FROM`` is pulled when missing, else its alias is used."""
    if not name or "/" in name or ":" in name:
        raise InvalidInput(f"blueprint name {name!r} must not be empty or contain '/' or ':'")
    if source.is_dir():
        context = source
        candidates = [source / "Containerfile", source / "Dockerfile"]
        dockerfile = next((c for c in candidates if c.is_file()), None)
        if dockerfile is None:
            raise InvalidInput(f"{source} has no Dockerfile or Containerfile")
    elif source.is_file():
        context, dockerfile = source.parent, source
    else:
        raise InvalidInput(f"{source}: no such file or directory")
    tag = f"{BLUEPRINT_REPO}-{name}:latest"
    store.save_blueprint(name, tag, str(source.resolve()), "building")
    with tempfile.TemporaryDirectory(prefix="sandbench-build-") as scratch:
        if client is not None:
            try:
                dockerfile = aliases_module.resolved_recipe(
                    client, dockerfile, Path(scratch), aliases or {}, progress, arch=arch
                )
            except EngineError:
                store.save_blueprint(name, tag, str(source.resolve()), "failed")
                raise
        code, tail = _podman_build(uri, tag, dockerfile, context, arch, progress)
    if code != 0:
        store.save_blueprint(name, tag, str(source.resolve()), "failed")
        raise EngineError(f"blueprint {name} failed to build (exit {code}):\n" + "\n".join(tail))
    return store.save_blueprint(name, tag, str(source.resolve()), "build_complete")


def _podman_build(
    uri: str, tag: str, dockerfile: Path, context: Path, arch: Architecture, progress: Progress
) -> tuple[int, list[str]]:
    """``podman build`` with local images only (a pull was tried before, or not wanted)."""
    return stream(
        [
            *podman_cli(uri),
            "build",
            "--pull=never",
            "--arch",
            OCI_ARCH[arch],
            "-t",
            tag,
            "-f",
            str(dockerfile),
            str(context),
        ],
        progress,
    )
