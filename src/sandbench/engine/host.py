"""What this host can do: a working OCI runtime, ulimits it allows, limits it can enforce.

The runtime is probed, not assumed: crun fails every container on hybrid cgroup hosts
while runc works, and on pure cgroup v2 hosts crun is the default and fine. The probe's
answer is cached per (Podman version, kernel, cgroup layout, override).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podman import PodmanClient

from sandbench import paths
from sandbench.engine.arch import EMULATION_FIX, emulation_available, from_oci, host_arch
from sandbench.engine.errors import EngineError
from sandbench.model.scenario import Architecture

ULIMIT_CAP = 65536  # plenty for a sandbox; Podman's own default asks more than hosts allow
PROBE_LABEL = "io.sandbench.probe"


@dataclass
class HostProfile:
    podman_version: str
    kernel: str
    arch: str
    cgroup_version: str
    cgroup_hybrid: bool
    cgroup_controllers: list[str]
    runtime: str | None
    runtime_probed: bool
    runtime_notes: dict[str, str] = field(default_factory=dict)
    nofile_hard: int = 1024
    nproc_hard: int = 1024
    nofile: int = 1024  # what containers get: the largest candidate the probe accepted
    nproc: int = 1024

    def ulimit_candidates(self) -> list[tuple[int, int]]:
        """Largest first. The runtime's own hard limits can be lower than ours (a process in
        Podman's chain may have less), so each is probed; 1024 works everywhere seen."""
        nofile, nproc = min(self.nofile_hard, ULIMIT_CAP), min(self.nproc_hard, ULIMIT_CAP)
        out: list[tuple[int, int]] = []
        for pair in ((nofile, nproc), (min(nofile, 4096), min(nproc, 4096)), (1024, 1024)):
            if pair not in out:
                out.append(pair)
        return out

    @property
    def ulimits(self) -> list[dict[str, Any]]:
        """Explicit ulimits, since Podman's defaults ask more than many hosts allow."""
        nofile, nproc = self.nofile, self.nproc
        return [
            {"Name": "nofile", "Soft": nofile, "Hard": nofile},
            {"Name": "nproc", "Soft": nproc, "Hard": nproc},
        ]

    def can_limit(self, what: str) -> bool:
        controller = {"cpu": "cpu", "memory": "memory", "pids": "pids"}[what]
        return controller in self.cgroup_controllers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hard_limit(which: int) -> int:
    _, hard = resource.getrlimit(which)
    return hard if hard != resource.RLIM_INFINITY else ULIMIT_CAP


def _cgroup_hybrid() -> bool:
    root = Path("/sys/fs/cgroup")
    return (root / "unified").is_dir() and (root / "memory").is_dir()


def _cache_path() -> Path:
    return paths.data_dir() / "host-profile.json"


def profile(
    client: PodmanClient,
    *,
    runtime_override: str | None,
    probe_image: str | None,
    local: bool = True,
) -> HostProfile:
    info = client.info()
    host = info["host"]
    version = info.get("version", {}).get("Version", "?")
    key = {
        "podman": version,
        "kernel": host.get("kernel"),
        "cgroup": host.get("cgroupVersion"),
        "override": runtime_override,
        "hybrid": _cgroup_hybrid() if local else None,
    }
    cached = _read_cache(key)
    if cached is not None:
        return cached
    found = HostProfile(
        podman_version=version,
        kernel=host.get("kernel", "?"),
        arch=host.get("arch", "?"),
        cgroup_version=host.get("cgroupVersion", "?"),
        cgroup_hybrid=_cgroup_hybrid() if local else False,
        cgroup_controllers=list(host.get("cgroupControllers") or []),
        runtime=None,
        runtime_probed=False,
        nofile_hard=_hard_limit(resource.RLIMIT_NOFILE) if local else 1024,
        nproc_hard=_hard_limit(resource.RLIMIT_NPROC) if local else 1024,
    )
    default_runtime = (host.get("ociRuntime") or {}).get("name")
    choices = [runtime_override] if runtime_override else _unique([default_runtime, "crun", "runc"])
    if probe_image is None:
        # Nothing to probe with yet: a cgroup-layout guess, replaced once an image exists.
        guess = "runc" if found.cgroup_hybrid or found.cgroup_version == "v1" else default_runtime
        found.runtime = runtime_override or guess
        found.nofile, found.nproc = found.ulimit_candidates()[-1]
        found.runtime_notes["guess"] = "not probed yet (no image to probe with)"
        return found
    for runtime in choices:
        for nofile, nproc in found.ulimit_candidates():
            found.nofile, found.nproc = nofile, nproc
            problem = _probe(client, runtime, probe_image, found.ulimits)
            if problem is None or "rlimit" not in problem:
                break  # worked, or failed for a reason smaller ulimits will not fix
        if problem is None:
            found.runtime, found.runtime_probed = runtime, True
            break
        found.runtime_notes[runtime] = problem
    _write_cache(key, found)
    return found


def _unique(items: list[str | None]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def _probe(
    client: PodmanClient, runtime: str, image: str, ulimits: list[dict[str, Any]]
) -> str | None:
    """None when ``runtime`` runs a container here, else why not."""
    container = None
    try:
        container = client.containers.create(
            image=image,
            command=["true"],
            runtime=runtime,
            ulimits=ulimits,
            labels={PROBE_LABEL: "1", "io.sandbench.home": paths.home_label()},
            network_mode="none",
        )
        container.start()
        code = container.wait(condition="exited")
        return None if code == 0 else f"exit code {code}"
    except Exception as error:
        return str(error).strip().splitlines()[-1][:300] if str(error).strip() else repr(error)
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)


def _read_cache(key: dict[str, Any]) -> HostProfile | None:
    try:
        data = json.loads(_cache_path().read_text())
        if data.get("key") == key:
            return HostProfile(**data["profile"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def _write_cache(key: dict[str, Any], found: HostProfile) -> None:
    if not found.runtime_probed:
        return
    tmp = _cache_path().with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "profile": found.to_dict()}))
    os.replace(tmp, _cache_path())


def forget_cached_profile() -> None:
    _cache_path().unlink(missing_ok=True)


def require_runtime(found: HostProfile) -> str:
    if found.runtime is None:
        notes = "; ".join(f"{k}: {v}" for k, v in found.runtime_notes.items())
        raise EngineError(
            f"no OCI runtime works on this host ({notes}). Install runc (`apt-get install"
            " runc`) or set one with `sandbench config set oci_runtime NAME`"
        )
    return found.runtime


def require_arch(arch: Architecture, *, local: bool, host: HostProfile) -> None:
    native = from_oci(host.arch) or host_arch()
    if arch == native:
        return
    if local and not emulation_available(arch):
        raise EngineError(f"{arch.value} sandboxes cannot run on this host: {EMULATION_FIX}")
