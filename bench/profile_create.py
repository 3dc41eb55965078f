"""Where a cold create's time goes: each step of ``engine.create`` (X_SMALL, no launch
commands) timed by wrapping the engine's and the disk's functions, and each command the
disk module runs, over N creates after a warm-up; raw `podman run --rm IMAGE true`
interleaved as the baseline. Not part of `make bench` (a profile, not a goal): run it by
hand, as root, with `SANDBENCH_BENCH_RUNS` (default 10)."""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

RUNS = int(os.environ.get("SANDBENCH_BENCH_RUNS", "10"))
STEPS: dict[str, list[float]] = defaultdict(list)
_local = threading.local()


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if getattr(_local, "on", False):
                STEPS[name].append(time.perf_counter() - start)

    return wrapper


def instrument() -> None:
    from sandbench.engine import agent_client, disk, isolation, sandboxes, userns

    def run(*cmd: str, **kwargs: Any) -> str:
        label = "cmd: " + " ".join(c for c in cmd[:3] if not c.startswith("/"))
        return timed(label, original_run)(*cmd, **kwargs)

    original_run = disk._run
    disk._run = run  # type: ignore[assignment]
    for owner, names in [
        (sandboxes.Engine, ["check_enforceable", "provision", "_start_container",
                            "_create_container", "_prepare_agent", "_initialise",
                            "_trust_host_ca", "_transition", "network_for"]),
        (disk.SizedRootfs, ["join_pin", "prepare", "_create_disk", "_map_layers", "_pin",
                            "_pinned_image", "_mount_disk", "_seed_meta"]),
        (agent_client.AgentClient, ["wait_ready"]),
    ]:  # fmt: skip
        for name in names:
            if hasattr(owner, name):
                setattr(owner, name, timed(f"{owner.__name__}.{name}", getattr(owner, name)))
    from podman.domain.containers import Container
    from podman.domain.containers_manager import ContainersManager

    Container.start = timed("podman: container start", Container.start)  # type: ignore[method-assign]
    ContainersManager.create = timed("podman: container create", ContainersManager.create)  # type: ignore[method-assign]
    ContainersManager.get = timed("podman: container get", ContainersManager.get)  # type: ignore[method-assign]
    ContainersManager.exists = timed("podman: container exists", ContainersManager.exists)  # type: ignore[method-assign]
    for module, names in [
        (isolation, ["create_network", "ensure_network"]),
        (userns, ["allocate"]),
    ]:
        for name in names:
            if hasattr(module, name):
                setattr(module, name, timed(f"{module.__name__}.{name}", getattr(module, name)))


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="sandbench-profile-"))
    os.environ["SANDBENCH_HOME"] = str(home)
    import bench_engine

    from sandbench.engine import Engine
    from sandbench.model import parse_scenarios
    from sandbench.store import open_store

    instrument()
    scenario = parse_scenarios(bench_engine.scenario_document())[0].scenario
    store = open_store()
    engine = Engine(store, connection=bench_engine.start_service(home))
    creates: list[float] = []
    raws: list[float] = []
    try:
        for index in range(RUNS + 1):
            start = time.perf_counter()
            subprocess.run(bench_engine.RAW_RUN, check=True, capture_output=True)
            raw = time.perf_counter() - start
            _local.on = index > 0
            start = time.perf_counter()
            sandbox = engine.create(engine.spec_for(scenario))
            took = time.perf_counter() - start
            _local.on = False
            engine.shutdown(sandbox.id)
            if index:
                creates.append(took)
                raws.append(raw)
    finally:
        bench_engine.clean_up(engine, store, home)
        store.close()
    create_p50, raw_p50 = statistics.median(creates), statistics.median(raws)
    print(f"cold create p50 {create_p50 * 1000:.0f} ms; raw podman run p50 {raw_p50 * 1000:.0f}"
          f" ms; ratio {create_p50 / raw_p50:.2f}x ({RUNS} each, interleaved)")  # fmt: skip
    print(f"  {'step (inclusive; per create)':52} {'p50 ms':>8} {'calls':>6}")
    for name, values in sorted(STEPS.items(), key=lambda kv: -sum(kv[1])):
        per = len(values) / RUNS
        print(f"  {name[:52]:52} {statistics.median(values) * 1000:8.1f} {per:6.1f}")


if __name__ == "__main__":
    main()
