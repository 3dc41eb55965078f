"""A finished run's sandbox goes in the background, and a benchmark's cases claim warm
sandboxes from a pool target sized to its jobs (real Podman)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbench import paths
from sandbench.engine import Engine
from sandbench.engine.pool import warm_containers
from sandbench.model import RunState, SandboxState, parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.runner import Runner
from sandbench.runner.benchmark_runs import BenchmarkRunner
from sandbench.runner.case_executors import LocalCaseExecutor
from sandbench.store import Store
from tests.engine_support import command, containers_of, make, require_podman, scenario

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def store_scenario(store: Store, data: dict[str, Any]) -> str:
    return store.import_scenarios([ParsedScenario(parse_scenarios(data)[0].scenario)])[0].record.id


def mounts_of(sandbox_id: str) -> list[str]:
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if sandbox_id in line.split()[4]
    ]


def test_a_run_ends_before_its_sandbox_is_removed_and_close_removes_it(store: Store) -> None:
    """The run is stored as done while its removal may still be running; close() leaves no
    container, mount or live row behind even when called at once."""
    require_podman()
    store_scenario(store, make("quick", [command("ok", 1.0, "true")]))
    engine = Engine(store)
    runner = Runner(store, engine)
    try:
        run = runner.run("quick", keep_sandbox=False, use_cache=False)
        assert run.state == RunState.COMPLETED
        assert run.sandbox_id is not None
    finally:
        engine.close()  # at once: the removal may be in flight
    sandbox = store.get_sandbox(run.sandbox_id)
    assert sandbox.status == SandboxState.SHUTDOWN
    assert containers_of(sandbox.id) == []
    assert mounts_of(sandbox.id) == []


def test_a_benchmark_claims_warm_sandboxes_and_drops_them_after(
    store: Store, engine: Engine
) -> None:
    names = [f"warm-{i}" for i in range(4)]
    for name in names:
        store_scenario(store, make(name, [command("ok", 1.0, "true")]))
    store.create_benchmark("warm-bench", names)
    executor = LocalCaseExecutor()
    result = BenchmarkRunner(Runner(store, engine), executor).run(
        "warm-bench", jobs=1, use_cache=False
    )
    assert result.ok_cases == 4
    pool = engine.pool
    assert pool is not None
    # jobs=1: the first case is cold and adds the target; each later one claims or misses
    (target,) = [t for t in pool.targets if t.idle_s is not None]
    assert target.size == 1
    assert pool.claims >= 1, pool.status()
    assert target.budget == 0, "every case's create counted: nothing more is built for it"
    executor.close()
    assert [t for t in pool.targets if t.idle_s is not None] == []
    left = {c["io.sandbench.sandbox"] for c in warm_containers(engine.client, paths.home_label())}
    claimed = {r.sandbox_id for r in store.runs_of_benchmark_run(result.id)}
    assert left <= claimed, "an unclaimed warm sandbox outlived the benchmark"


def test_a_different_kind_of_case_misses_the_benchmarks_target(engine: Engine) -> None:
    pool = engine.start_pool({})
    key = pool.add_target(engine.spec_for(scenario(resource_size_request="X_SMALL")), 1)
    assert key is not None
    assert pool.wait_filled(120), pool.status()
    small = engine.create(engine.spec_for(scenario(resource_size_request="SMALL")))
    assert pool.claims == 0 and pool.misses == 1
    warm = engine.create(engine.spec_for(scenario(resource_size_request="X_SMALL")))
    assert pool.claims == 1
    assert engine.exec(warm.id, "true").exit_code == 0
    pool.drop_target(key)
    left = {c["io.sandbench.sandbox"] for c in warm_containers(engine.client, paths.home_label())}
    assert left <= {warm.id, small.id}


def test_a_benchmarks_target_never_builds_more_than_the_creates_left(engine: Engine) -> None:
    """The last cases of a benchmark leave no warm sandbox built for nothing: a target
    with a budget keeps at most that many, and every create of its key (a hit or a miss)
    counts against it."""
    pool = engine.start_pool({})
    spec = engine.spec_for(scenario(resource_size_request="X_SMALL"))
    key = pool.add_target(spec, 3, budget=2)
    assert key is not None
    assert pool.wait_filled(120), pool.status()
    (row,) = pool.status()
    assert (row.size, row.ready, row.creating) == (3, 2, 0)
    first = engine.create(spec)
    (row,) = pool.status()
    assert (row.ready, row.creating) == (1, 0), "one create is left: one warm is enough"
    second = engine.create(spec)
    (row,) = pool.status()
    assert (row.ready, row.creating, pool.claims) == (0, 0, 2)
    assert {first.id, second.id} <= {r.id for r in engine.store.list_sandboxes()}
    pool.add_target(spec, 3, budget=1)  # the runner says one more case is coming
    assert pool.wait_filled(120), pool.status()
    (row,) = pool.status()
    assert row.ready == 1
    pool.drop_target(key)


def test_execs_at_once_share_one_heartbeat_thread(engine: Engine) -> None:
    """Activity is touched by one thread for the engine, not one thread per exec."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    sandbox = engine.create(engine.spec_for(scenario(resource_size_request="X_SMALL")))

    def run(_: int) -> int:
        return engine.exec(sandbox.id, "sleep 2").exit_code

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(run, i) for i in range(8)]
        seen = 0
        while not all(f.done() for f in futures):
            with engine._lock:
                in_flight = engine._active.get(sandbox.id, 0)
            if in_flight == 8:
                beats = [t for t in threading.enumerate() if t.name.startswith("activity")]
                seen = len(beats)
                break
            time.sleep(0.01)  # the engine signals no event per exec started
        assert [f.result() for f in futures] == [0] * 8
    assert seen == 1, f"{seen} heartbeat threads for 8 execs in flight"
