"""What the importers share: refusals, resource rounding, file payloads and the scripts
that carry a task's tests and solution into the sandbox only when they are needed.

Nothing here touches the store or Podman: mapping a task is pure, so ``validate`` can say
everything about a task set without building anything.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from sandbench.model.resources import (
    MAX_CUSTOM_CPU,
    MAX_CUSTOM_DISK_GIB,
    MAX_CUSTOM_MEMORY_GIB,
    PRESETS,
    ResourceSize,
)
from sandbench.model.scenario import Architecture, Scenario

PAYLOAD_START = "# --- sandbench payload "
PAYLOAD_RE = re.compile(r"^(?P<var>[A-Z_]+)_TGZ_B64='(?P<data>[A-Za-z0-9+/=\n]*)'$", re.M)
_SLUG = re.compile(r"[^a-z0-9_-]+")


class Refused(Exception):
    """A task that cannot be mapped faithfully: the field and the reason."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class BuildRequest:
    """A blueprint to build from a context (a deterministic tar with a Dockerfile at its
    root). ``content_hash`` is the one ``BlueprintBuilds`` computes for the same content, so
    the same context under any name is built once."""

    name: str
    context_tar: bytes
    architecture: Architecture
    timeout_sec: float | None = None

    @property
    def context_sha256(self) -> str:
        return hashlib.sha256(self.context_tar).hexdigest()

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"arch={self.architecture.value}\n".encode())
        digest.update(b"dockerfile=\n")
        digest.update(f"context={self.context_sha256}\n".encode())
        return digest.hexdigest()


@dataclass
class ImportedTask:
    """One task mapped to a scenario. ``build``: the blueprint its environment needs (its
    ``blueprint_id`` is the blueprint's name until the build gives it an id). ``notes``:
    what was rounded or recorded rather than enforced, said to the user."""

    source: Path
    scenario: Scenario
    build: BuildRequest | None = None
    notes: list[str] = field(default_factory=list)


def task_dirs_with(path: Path, marker: str) -> list[Path]:
    """A task directory (it holds ``marker``), or the task directories of a dataset
    directory, sorted."""
    if (path / marker).is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_dir() and (p / marker).is_file())
    return []


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "task"


# --------------------------------------------------------------------------- resources

_CPU_STEPS = [0.5, 1.0, *[float(n) for n in range(2, MAX_CUSTOM_CPU + 1, 2)]]
_MEMORY_STEPS = [1, *range(2, MAX_CUSTOM_MEMORY_GIB + 1, 2)]


@dataclass(frozen=True)
class SizeChoice:
    size: ResourceSize
    cpu: float | None = None  # set for CUSTOM_SIZE
    memory_gib: int | None = None
    disk_gib: int | None = None
    rounded: list[str] = field(default_factory=list)

    def launch_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"resource_size_request": self.size.value}
        if self.size == ResourceSize.CUSTOM_SIZE:
            assert self.cpu is not None
            fields["custom_cpu_cores"] = int(self.cpu) if self.cpu == int(self.cpu) else self.cpu
            fields["custom_gb_memory"] = self.memory_gib
            fields["custom_disk_size"] = self.disk_gib
        return fields


def choose_size(
    cpus: float | None, memory_mb: int | None, storage_mb: int | None, *, prefix: str
) -> SizeChoice | None:
    """The closest size Runloop's rules allow that is never smaller than asked.

    Each asked quantity is rounded up to the next value CUSTOM_SIZE allows (cpu 0.5, 1, then
    even counts; memory 1 GiB or even GiB; disk even GiB from 2); what is not asked takes
    SMALL's value. The cpu:memory ratio must be 1:2..1:8: memory grows when it is too low,
    cpu when it is too high (both only upwards). A result equal to a preset is that preset.
    None when nothing is asked (the default size). Raises Refused beyond the largest size.
    """
    if cpus is None and memory_mb is None and storage_mb is None:
        return None
    small = PRESETS[ResourceSize.SMALL]
    rounded: list[str] = []
    if cpus is not None:
        if cpus <= 0:
            raise Refused(f"{prefix}cpus", f"must be positive, got {cpus:g}")
        cpu = next((c for c in _CPU_STEPS if c >= cpus), None)
        if cpu is None:
            raise Refused(f"{prefix}cpus", f"{cpus:g} is more than {MAX_CUSTOM_CPU} cpus")
    else:
        cpu = small.cpu
    if memory_mb is not None:
        if memory_mb <= 0:
            raise Refused(f"{prefix}memory_mb", f"must be positive, got {memory_mb}")
        gib_asked = memory_mb / 1024
        memory = next((m for m in _MEMORY_STEPS if m >= gib_asked), None)
        if memory is None:
            raise Refused(
                f"{prefix}memory_mb", f"{memory_mb} MB is more than {MAX_CUSTOM_MEMORY_GIB} GiB"
            )
    else:
        memory = small.memory_gib
    if storage_mb is not None:
        if storage_mb <= 0:
            raise Refused(f"{prefix}storage_mb", f"must be positive, got {storage_mb}")
        disk = max(2, 2 * math.ceil(storage_mb / 1024 / 2))
        if disk > MAX_CUSTOM_DISK_GIB:
            raise Refused(
                f"{prefix}storage_mb", f"{storage_mb} MB is more than {MAX_CUSTOM_DISK_GIB} GiB"
            )
    else:
        disk = small.disk_gib
    # the ratio rule, moving only upwards
    while memory < 2 * cpu:
        memory = next(m for m in _MEMORY_STEPS if m >= 2 * cpu)
    while memory > 8 * cpu:
        bigger = next((c for c in _CPU_STEPS if c * 8 >= memory), None)
        if bigger is None:  # cannot happen within the limits, kept for safety
            raise Refused(f"{prefix}memory_mb", "no cpu count keeps the 1:8 ratio")
        cpu = bigger
    if cpus is not None and cpu != cpus:
        rounded.append(f"cpus {cpus:g} -> {cpu:g}")
    if memory_mb is not None and memory * 1024 != memory_mb:
        rounded.append(f"memory {memory_mb} MB -> {memory} GiB")
    if storage_mb is not None and disk * 1024 != storage_mb:
        rounded.append(f"storage {storage_mb} MB -> {disk} GiB")
    for size, preset in PRESETS.items():
        if (preset.cpu, preset.memory_gib, preset.disk_gib) == (cpu, memory, disk):
            return SizeChoice(size, rounded=rounded)
    return SizeChoice(ResourceSize.CUSTOM_SIZE, cpu, memory, disk, rounded)


# --------------------------------------------------------------------------- payloads


def tar_directory(directory: Path | None, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A deterministic tar (sorted, no times or owners; modes kept) of a directory's files
    (none for ``None``), plus ``extra`` files: the same content always gives the same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        entries: dict[str, tuple[bytes, int]] = {}
        if directory is not None and directory.is_dir():
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(directory).as_posix()
                    entries[rel] = (
                        path.read_bytes(),
                        0o755 if path.stat().st_mode & 0o111 else 0o644,
                    )
        for rel, data in (extra or {}).items():
            entries[rel] = (data, 0o644)
        for rel in sorted(entries):
            data, mode = entries[rel]
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def files_of_tar(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                out[member.name] = handle.read()
    return out


def modes_of_tar(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        return {m.name: m.mode for m in archive.getmembers() if m.isfile()}


def payload(variable: str, directory: Path) -> str:
    """A shell assignment carrying a directory as base64 of a deterministic tar.gz."""
    raw = tar_directory(directory)
    gz = io.BytesIO()
    import gzip

    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as handle:
        handle.write(raw)
    encoded = base64.b64encode(gz.getvalue()).decode()
    lines = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    return f"{variable}_TGZ_B64='{lines}'"


def read_payload(script: str, variable: str) -> bytes | None:
    """The tar a script built by ``payload`` carries (None when it has none)."""
    for match in PAYLOAD_RE.finditer(script):
        if match["var"] == variable:
            import gzip

            return gzip.decompress(base64.b64decode(match["data"].replace("\n", "")))
    return None


def exports(env: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def unpack(variable: str, target: str) -> str:
    """Shell that replaces ``target`` with the payload's files (exit 3 when it cannot)."""
    q = shlex.quote(target)
    return (
        f"rm -rf {q} && mkdir -p {q} || {{ echo 'sandbench: cannot create {target}'; exit 3; }}\n"
        f'printf %s "${variable}_TGZ_B64" | base64 -d | tar -xzf - -C {q} --no-same-owner'
        f" || {{ echo 'sandbench: cannot unpack {target} (base64 and tar are needed)'; exit 3; }}\n"
    )
