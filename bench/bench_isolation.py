"""What isolation costs: create-to-ready, exec of ``true``, suspend and resume, with the
``isolation`` config on (least privilege, a network per sandbox, the host wall) and off
(Podman's defaults, its shared bridge), in the same run.

Two engines on one private Podman service in one throwaway SANDBENCH_HOME, the only
difference their config; every round does both, the order swapped every other round (ABBA),
so load from other work on the machine hits both alike. Read the ratio on/off.

``SANDBENCH_BENCH_ISOLATION_SWITCH=user_namespaces`` compares that switch instead (the
other config keys at their defaults in both engines).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import (
    clean_up,
    run_in_temporary_home,
    scenario_document,
    start_service,
    summary,
    write_results,
)

ROUNDS = int(os.environ.get("SANDBENCH_BENCH_ISOLATION_ROUNDS", "10"))
EXECS = int(os.environ.get("SANDBENCH_BENCH_ISOLATION_EXECS", "10"))
SWITCH = os.environ.get("SANDBENCH_BENCH_ISOLATION_SWITCH", "isolation")


def one(engine: Any, scenario: Any, times: dict[str, list[float]]) -> None:
    start = time.perf_counter()
    sandbox = engine.create(engine.spec_for(scenario))
    times["create"].append(time.perf_counter() - start)
    for _ in range(EXECS):
        start = time.perf_counter()
        engine.exec(sandbox.id, "true")
        times["exec"].append(time.perf_counter() - start)
    start = time.perf_counter()
    engine.suspend(sandbox.id)
    times["suspend"].append(time.perf_counter() - start)
    start = time.perf_counter()
    engine.resume(sandbox.id)
    times["resume"].append(time.perf_counter() - start)
    engine.shutdown(sandbox.id)


def measure(home: Path) -> dict[str, Any]:
    from sandbench.config import Config
    from sandbench.engine import Engine
    from sandbench.model import parse_scenarios
    from sandbench.store import open_store

    scenario = parse_scenarios(scenario_document())[0].scenario
    store = open_store()
    connection = start_service(home)
    engines = {
        "on": Engine(store, Config.model_validate({SWITCH: True}), connection=connection),
        "off": Engine(store, Config.model_validate({SWITCH: False}), connection=connection),
    }
    times: dict[str, dict[str, list[float]]] = {
        mode: {"create": [], "exec": [], "suspend": [], "resume": []} for mode in engines
    }
    try:
        for mode in engines:  # warm-up: host probe, image mount, first wall install
            one(engines[mode], scenario, {k: [] for k in times[mode]})
        for round_ in range(ROUNDS):
            order = ["on", "off"] if round_ % 2 == 0 else ["off", "on"]
            for mode in order:
                one(engines[mode], scenario, times[mode])
            print(".", end="", flush=True, file=sys.stderr)
    finally:
        engines["off"].close()
        clean_up(engines["on"], store, home)
    return {
        "rounds": ROUNDS,
        "execs_per_round": EXECS,
        **{mode: {k: summary(v) for k, v in found.items()} for mode, found in times.items()},
    }


def report(results: dict[str, Any]) -> None:
    print(f"\n{SWITCH} on vs off, {results['rounds']} rounds (ABBA), p50 / p95 in ms")
    for what in ("create", "exec", "suspend", "resume"):
        on, off = results["on"][what], results["off"][what]
        print(
            f"  {what:8} on {on['p50_ms']:7.1f} / {on['p95_ms']:7.1f}"
            f"   off {off['p50_ms']:7.1f} / {off['p95_ms']:7.1f}"
            f"   ratio p50 {on['p50_ms'] / off['p50_ms']:.2f}"
        )
    write_results(results, "isolation" if SWITCH == "isolation" else SWITCH)


if __name__ == "__main__":
    if ROUNDS < 1:
        raise SystemExit("SANDBENCH_BENCH_ISOLATION_ROUNDS must be >= 1")
    run_in_temporary_home(SWITCH, measure, report)
