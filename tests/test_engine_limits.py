"""Presets are enforced on real Podman: CPU, memory (OOM), disk (ENOSPC), pids, architecture."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from sandbench.engine import Engine, HostCannotEnforce
from sandbench.engine.errors import EngineError
from sandbench.model import FailureReason, SandboxState
from sandbench.store import Store
from tests.engine_support import cgroup_file, containers_of, need, scenario

pytestmark = pytest.mark.podman


def cpu_seconds(engine: Engine, sandbox_id: str) -> float:
    usage = cgroup_file(engine, sandbox_id, "cpuacct", "cpuacct.usage")
    if usage.exists():
        return int(usage.read_text()) / 1e9
    stat = cgroup_file(engine, sandbox_id, "cpu", "cpu.stat").read_text()
    micros = next(line.split()[1] for line in stat.splitlines() if line.startswith("usage_usec"))
    return int(micros) / 1e6


BUSY = "for i in 1 2 3 4; do (while :; do :; done) & done; sleep {s}; kill 0"


@pytest.mark.parametrize(("size", "limit"), [("SMALL", 1.1), ("X_SMALL", 0.55)])
def test_cpu_quota(engine: Engine, size: str, limit: float) -> None:
    sandbox = engine.create(engine.spec_for(scenario(resource_size_request=size)))
    before, start = cpu_seconds(engine, sandbox.id), time.monotonic()
    engine.exec(sandbox.id, BUSY.format(s=3), timeout=30)
    cores = (cpu_seconds(engine, sandbox.id) - before) / (time.monotonic() - start)
    assert cores <= limit, f"{size} used {cores:.2f} cores"
    assert cores >= limit * 0.5, f"the busy loop hardly ran ({cores:.2f} cores)"


def meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable")


def test_out_of_memory_ends_the_sandbox(engine: Engine, store: Store) -> None:
    sandbox = engine.create(engine.spec_for(scenario(resource_size_request="X_SMALL")))
    limit = cgroup_file(engine, sandbox.id, "memory", "memory.limit_in_bytes")
    if limit.exists():
        assert int(limit.read_text()) == 1024**3
    available = meminfo_available()
    with pytest.raises(EngineError, match="out_of_memory") as caught:
        engine.exec(sandbox.id, ["python3", "-c", "b = bytearray(2 * 1024**3); print('no')"])
    assert "exceeding 1 GiB" in str(caught.value)
    ended = store.get_sandbox(sandbox.id)
    assert ended.status == SandboxState.FAILURE
    assert ended.failure_reason == FailureReason.OUT_OF_MEMORY
    assert containers_of(sandbox.id) == []
    # the host is unaffected: it never gave the sandbox more than its gigabyte
    assert meminfo_available() > available - 1.5 * 1024**3
    with pytest.raises(EngineError, match="out_of_memory"):
        engine.exec(sandbox.id, "true")


def test_disk_limit_ends_in_enospc(engine: Engine, store: Store) -> None:
    sandbox = engine.create(engine.spec_for(scenario(resource_size_request="SMALL")))
    start = time.monotonic()
    result = engine.exec(
        sandbox.id, "dd if=/dev/zero of=/root/big bs=1M count=6144 2>&1; echo rc=$?", timeout=300
    )
    elapsed = time.monotonic() - start
    assert "No space left on device" in result.stdout
    assert "rc=0" not in result.stdout
    assert elapsed < 120, f"took {elapsed:.0f}s"
    used = engine.exec(sandbox.id, "du -sm /root/big | cut -f1").stdout.strip()
    assert int(used) <= 4 * 1024
    # the sandbox survives a full disk and frees space again
    assert engine.exec(sandbox.id, "rm /root/big && echo freed").stdout.strip() == "freed"
    assert store.get_sandbox(sandbox.id).status == SandboxState.RUNNING


def test_fork_bomb_is_contained(engine: Engine, store: Store) -> None:
    sandbox = engine.create(engine.spec_for(scenario(resource_size_request="SMALL")))
    limit = cgroup_file(engine, sandbox.id, "pids", "pids.max")
    assert limit.read_text().strip() == str(sandbox.spec.pids_limit)  # type: ignore[union-attr]
    bomb = "bomb() { bomb | bomb & }; bomb; sleep 3; cat /sys/fs/cgroup/pids/pids.current"
    engine.exec(sandbox.id, bomb, timeout=8)
    current = cgroup_file(engine, sandbox.id, "pids", "pids.current")
    if current.exists():
        assert int(current.read_text()) <= sandbox.spec.pids_limit  # type: ignore[union-attr]
    # the host can still fork, and the sandbox can be removed
    assert subprocess.run(["true"], check=False).returncode == 0
    ended = engine.shutdown(sandbox.id)
    assert ended.status == SandboxState.SHUTDOWN
    assert containers_of(sandbox.id) == []


def test_custom_size_is_applied(engine: Engine) -> None:
    custom = scenario(
        resource_size_request="CUSTOM_SIZE",
        custom_cpu_cores=1,
        custom_gb_memory=4,
        custom_disk_size=2,
    )
    sandbox = engine.create(engine.spec_for(custom))
    limit = cgroup_file(engine, sandbox.id, "memory", "memory.limit_in_bytes")
    if limit.exists():
        assert int(limit.read_text()) == 4 * 1024**3
    size = engine.exec(sandbox.id, "df -BM --output=size / | tail -1").stdout.strip()
    assert 1800 <= int(size.rstrip("M")) <= 2048


def test_limit_the_host_cannot_enforce_is_refused_before_start(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = engine.spec_for(scenario())
    monkeypatch.setattr(engine.host, "cgroup_controllers", ["cpu", "pids"])
    with pytest.raises(HostCannotEnforce, match="cannot limit memory"):
        engine.create(spec)
    assert store.list_sandboxes() == []  # nothing was started


def test_default_sandbox_is_x86_64(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    assert engine.exec(sandbox.id, "uname -m").stdout.strip() == "x86_64"


def test_arm64_sandbox_runs_emulated(engine: Engine, arm64_blueprint: str) -> None:
    need(Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(), "qemu aarch64 not registered")
    arm = scenario(architecture="arm64", resource_size_request="X_SMALL")
    data = arm.to_dict()
    data["environment_parameters"]["blueprint_id"] = arm64_blueprint
    from sandbench.model import parse_scenarios

    sandbox = engine.create(engine.spec_for(parse_scenarios(data)[0].scenario))
    assert sandbox.architecture.value == "arm64"
    assert engine.exec(sandbox.id, "uname -m").stdout.strip() == "aarch64"
