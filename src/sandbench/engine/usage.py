"""What sandbench takes on the host's disk: its sandboxes' disk files and its images.

A sandbox's disk is a sparse file of the preset's size (``disk.SizedRootfs``): what it
costs the host is the blocks it really holds (``st_blocks * 512``), not its apparent size.
Files deleted inside the sandbox give their blocks back (the ext4 is mounted ``discard``).

Images are those tagged ``localhost/sandbench-*`` (the base images, blueprints, snapshots).
They share layers (every blueprint sits on the base image), so adding up their sizes, as
``podman images`` shows them, counts the base many times over. On a local Podman the
layers are read from its storage metadata and each counted once; where that cannot be read
(a remote Podman, another storage driver) the total is the sum of the image sizes, an upper
bound, and says so (``exact=False``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbench.engine.disk import DISK_IMG

IMAGE_PREFIX = "localhost/sandbench-"
_DISK_FILES = (DISK_IMG, "disk.partial")  # the formatted file, and one being made


@dataclass(frozen=True)
class SandboxDisk:
    sandbox_id: str
    allocated_bytes: int  # blocks the disk file really holds on the host
    size_bytes: int  # its apparent size: the preset's disk limit


@dataclass(frozen=True)
class ImageUsage:
    count: int  # distinct images (by id) with a localhost/sandbench-* name
    bytes: int  # their layers, each counted once when ``exact``
    exact: bool  # False: the sum of their sizes (shared layers counted more than once)
    sizes: dict[str, int] = field(default_factory=dict)  # a name of each image -> its size


@dataclass(frozen=True)
class DiskUsage:
    sandboxes: dict[str, SandboxDisk]
    images: ImageUsage | None  # None: not measured (or Podman could not say)

    @property
    def sandbox_bytes(self) -> int:
        return sum(d.allocated_bytes for d in self.sandboxes.values())


def sandbox_disk(directory: Path) -> SandboxDisk | None:
    """The disk of the sandbox whose directory this is, if it has one."""
    allocated = size = 0
    found = False
    for name in _DISK_FILES:
        try:
            st = os.lstat(directory / name)
        except OSError:
            continue
        found = True
        allocated += st.st_blocks * 512
        size += st.st_size
    return SandboxDisk(directory.name, allocated, size) if found else None


def sandbox_disks(root: Path) -> dict[str, SandboxDisk]:
    """Every sandbox disk under the sandboxes directory, by sandbox id (its directory's
    name): a few ``lstat`` calls each, cheap enough to call on every refresh."""
    found: dict[str, SandboxDisk] = {}
    try:
        entries = list(os.scandir(root))
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            measured = sandbox_disk(Path(entry.path))
            if measured is not None:
                found[entry.name] = measured
    return found


def _names(attrs: dict[str, Any]) -> list[str]:
    return [str(n) for n in (attrs.get("Names") or attrs.get("RepoTags") or []) if n]


def image_usage(client: Any, *, local: bool) -> ImageUsage:
    """The disk used by sandbench's images (one Podman call, plus its storage metadata
    on a local host)."""
    images: dict[str, tuple[str, int]] = {}  # id -> (a name, size)
    for image in client.images.list():
        attrs = image.attrs
        ours = sorted(n for n in _names(attrs) if n.startswith(IMAGE_PREFIX))
        if ours:
            images[str(attrs.get("Id", ""))] = (ours[0], int(attrs.get("Size") or 0))
    sizes = {name: size for name, size in images.values()}
    total = sum(size for _, size in images.values())
    exact = False
    if local and images:
        layered = _layer_total(client, set(images))
        if layered is not None:
            total, exact = layered, True
    return ImageUsage(len(images), total, exact or not images, sizes)


def _layer_total(client: Any, image_ids: set[str]) -> int | None:
    """The size of the union of the images' layers, from containers/storage's metadata
    (``<graphroot>/<driver>-images/images.json`` and ``…-layers/layers.json``, read-only);
    None when it cannot be read or does not know one of the images."""
    try:
        store = client.info()["store"]
        root = Path(store["graphRoot"])
        driver = str(store["graphDriverName"])
        images = json.loads((root / f"{driver}-images" / "images.json").read_text())
        layers = json.loads((root / f"{driver}-layers" / "layers.json").read_text())
        top = {str(i["id"]): i.get("layer") for i in images}
        parents = {
            str(layer["id"]): (layer.get("parent"), int(layer.get("diff-size") or 0))
            for layer in layers
        }
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return None
    counted: set[str] = set()
    total = 0
    for image_id in image_ids:
        if image_id not in top:
            return None
        layer = top[image_id]
        while layer and layer not in counted:
            if layer not in parents:
                return None
            counted.add(layer)
            parent, size = parents[layer]
            total += size
            layer = parent
    return total


def human(size: int) -> str:
    """Bytes as a short figure: 0B, 812K, 1.2G (powers of 1024)."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            if unit == "B":
                return f"{int(value)}B"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return f"{size}B"  # not reached


__all__ = [
    "DiskUsage",
    "ImageUsage",
    "SandboxDisk",
    "human",
    "image_usage",
    "sandbox_disk",
    "sandbox_disks",
]
