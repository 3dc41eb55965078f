"""Image pins: one never-started container per image a workspace's sandbox disks are built on.

`podman rmi` and `podman image prune` refuse to delete an image a container uses, and a
``--rootfs`` container (every sandbox) does not count: without a pin, removing the image
would empty the root filesystem of every sandbox built on it. One pin per image and
workspace, made once and kept while any sandbox directory names the image, costs a
Podman call per create (does it exist?) instead of a `podman create` and a `podman rm` per
sandbox, which were most of the host CPU a sandbox's life cost outside Podman's service.

A pin goes when nothing names its image any more: at start-up recovery and prune, and
before sandbench removes an image of its own (a snapshot). A lock file per workspace
orders "name the image, then check its pin" against "find no name, then remove the pin".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from podman.errors import APIError, NotFound

from sandbench.engine.errors import EngineError

PIN_LABEL = "io.sandbench.image-pin"  # value: the sandboxes root the pin serves
IMAGE_LABEL = "io.sandbench.image-pin.image"
IMAGE_ID_FILE = "image.id"  # in each sandbox directory: the image its disk was built on
_LOCK = ".image-pins.lock"

Pin = tuple[str, dict[str, str]]  # a pin container's name and labels


def pin_name(root: Path, image_id: str) -> str:
    workspace = hashlib.sha256(str(Path(root).absolute()).encode()).hexdigest()[:10]
    return f"sandbench-pin-{workspace}-{image_id[:16]}"


@contextlib.contextmanager
def _locked(root: Path, *, exclusive: bool) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def ensure(client: Any, root: Path, image_id: str, image: str) -> None:
    """The pin of ``image_id`` for the sandboxes under ``root`` exists (made if missing).

    Call it after the sandbox directory names the image (its ``image.id``): a concurrent
    release() then sees that name and keeps the pin."""
    name = pin_name(root, image_id)
    with _locked(root, exclusive=False):
        if client.containers.exists(name):
            return
        labels = {PIN_LABEL: str(Path(root).absolute()), IMAGE_LABEL: image_id}
        try:
            client.containers.create(
                image=image_id, name=name, command=["true"], network_mode="none", labels=labels
            )
        except (APIError, NotFound) as exc:
            text = str(exc)
            if "already in use" in text:  # another process made it meanwhile
                return
            if "image not known" in text or "no such image" in text.lower():
                raise EngineError(
                    f"image {image} ({image_id[:12]}), which this sandbox's disk was built on,"
                    " no longer exists: the sandbox cannot be resumed"
                ) from exc
            raise EngineError(f"cannot pin image {image}: {text}") from exc


def _named_images(root: Path) -> set[str]:
    """The image ids the sandbox directories under ``root`` name."""
    named: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        for directory in root.iterdir():
            with contextlib.suppress(OSError):
                named.add((directory / IMAGE_ID_FILE).read_text().strip())
    return named


@contextlib.contextmanager
def releasing(root: Path) -> Iterator[Callable[[Iterable[Pin]], list[str]]]:
    """Inside, no pin under ``root`` is checked or made; yields ``stale(pins)``: the names,
    among the (name, labels) given, of this root's pins whose image no sandbox directory
    names any more. The caller lists and removes through its own transport (the engine's
    client, or the CLI at recovery)."""
    root = Path(root).absolute()
    with _locked(root, exclusive=True):

        def stale(pins: Iterable[Pin]) -> list[str]:
            named = _named_images(root)
            return [
                name
                for name, labels in pins
                if labels.get(PIN_LABEL) == str(root) and labels.get(IMAGE_LABEL) not in named
            ]

        yield stale


def release(client: Any, root: Path, image_id: str | None = None) -> list[str]:
    """Remove the pins under ``root`` (of ``image_id`` alone, if given) unless a sandbox
    directory names their image. Returns the names removed."""
    root = Path(root).absolute()
    removed: list[str] = []
    with releasing(root) as stale:
        # the API itself: podman-py's list sends a filter Podman 4.3 does not match, and
        # inspects every container it lists
        filters = json.dumps({"label": [f"{PIN_LABEL}={root}"]})
        listed = client.api.get("/containers/json", params={"all": "true", "filters": filters})
        pins = [
            (c["Names"][0], c.get("Labels") or {})
            for c in (listed.json() if listed.status_code == 200 else [])
            if image_id is None or (c.get("Labels") or {}).get(IMAGE_LABEL) == image_id
        ]
        for name in stale(pins):
            gone = client.api.delete(f"/containers/{name}", params={"force": "true"})
            if gone.status_code < 300:
                removed.append(name)
    return removed
