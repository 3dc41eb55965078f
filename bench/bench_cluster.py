"""The cost of scale: benchmark runs over a local Ray cluster (a head and two worker nodes
joined with ``sandbench cluster join``, each with its own workspace, sharing this host's
Podman), against the same work run here.

1. Dispatch overhead: a benchmark of N trivial scenarios (``command = "true"``, X_SMALL,
   reference ``true``), no cache, run by ``BenchmarkRunner`` here at ``-j SLOTS*2`` and over
   the cluster (two nodes of SLOTS slots: the same number at once), alternated REPEAT
   times. Reported: seconds per case each way and their ratio (cluster / here). Both make
   the same sandboxes in the same Podman; the cluster adds a Ray task per case, the node's
   own store and engine, and the event stream back to the head.
2. Scheduler throughput: CASES trivial cases over the two nodes with the sandboxes replaced
   by an in-process stand-in on the node (it emits the events of a one-scorer run at once),
   so what is measured is Ray's dispatch, the event stream and the head's store writes.
   WARM_UP untimed cases go first (the nodes start their Ray workers for a new head).
   Reported: cases per second (aim: >= 200), the head's CPU time per case, the whole
   host's and each process's (the head shares the host with the nodes, Ray's own
   processes and whatever else runs), and the head's resident memory at the start, after
   a tenth of the cases and at the end (it should stay flat).

Everything runs in temporary workspaces; the cluster is stopped at the end, also on error.
Knobs: ``SANDBENCH_BENCH_CLUSTER_CASES`` (default 1000), ``SANDBENCH_BENCH_CLUSTER_N``
(default 8), ``SANDBENCH_BENCH_CLUSTER_REPEAT`` (default 2).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CASES = int(os.environ.get("SANDBENCH_BENCH_CLUSTER_CASES", "1000"))
N = int(os.environ.get("SANDBENCH_BENCH_CLUSTER_N", "8"))
REPEAT = int(os.environ.get("SANDBENCH_BENCH_CLUSTER_REPEAT", "2"))
SLOTS = 2
WARM_UP = 50  # stand-in cases run before the timed ones
RESULTS = ROOT / "bench" / "results"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class StandIn:
    """A node that runs nothing: the events of a scored one-scorer run, at once."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, order: Any, emit: Any, started: threading.Event) -> None:
        from sandbench.model.runs import RunState, ScorerResult, ScorerState
        from sandbench.runner.case_executors import NodeAssigned, RemoteRunEnded
        from sandbench.runner.events import (
            OutputChunk,
            RunStateChanged,
            ScorerFinished,
            ScorerStarted,
        )

        started.set()
        run_id, result_id = "scr_standin", "srs_standin"
        emit(NodeAssigned(self.node, "stand-in"))
        emit(RunStateChanged(run_id, RunState.SCORING))
        emit(ScorerStarted(run_id, result_id, "ok", "command_scorer", 1.0, 1))
        emit(OutputChunk(run_id, result_id, "ok", "stdout", "ok\n"))
        result = ScorerResult(
            id=result_id,
            run_id=run_id,
            name="ok",
            type="command_scorer",
            weight=1.0,
            attempt=1,
            state=ScorerState.COMPLETE,
            score=1.0,
            exit_code=0,
            started_at_ms=0,
        )
        emit(ScorerFinished(run_id, result))
        emit(RunStateChanged(run_id, RunState.SCORED))
        emit(RemoteRunEnded(RunState.COMPLETED, None, None, None, None))

    def cancel(self) -> None:
        return None


def machine_cpu_seconds() -> float:
    """CPU time of the whole host so far (every process: head, nodes, Ray's own)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # not idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[tuple[int, str], float]:
    """Each process's CPU seconds so far, by (pid, command line)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[(int(proc.name), command or stat.split("(")[1].split(")")[0])] = (
            int(fields[11]) + int(fields[12])
        ) / tick
    return found


def top_consumers(before: dict[tuple[int, str], float], cases: int) -> list[str]:
    """CPU per case spent since ``before``, by command (how many processes ran it)."""
    after = cpu_by_process()
    spent: dict[str, list[float]] = {}
    for key, seconds in after.items():
        used = seconds - before.get(key, 0.0)
        if used > 0:
            name = key[1].split(" --")[0].strip()[:70]
            entry = spent.setdefault(name, [0.0, 0])
            entry[0] += used
            entry[1] += 1 if key not in before else 0
    ranked = sorted(spent.items(), key=lambda kv: -kv[1][0])[:10]
    return [f"{v[0] / cases * 1000:6.2f} ms/case  {k} ({v[1]} new)" for k, v in ranked]


def trivial(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_context": {"problem_statement": "nothing"},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "ok",
                    "weight": 1.0,
                    "scorer": {"type": "command_scorer", "command": "true"},
                }
            ]
        },
        "environment_parameters": {"launch_parameters": {"resource_size_request": "X_SMALL"}},
        "reference_output": "true\n",
    }


def start_cluster(base: Path) -> tuple[str, list[subprocess.Popen[bytes]], Path]:
    import ray

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address, temp_dir = f"127.0.0.1:{port}", base / "ray"
    ray_bin = str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [
            ray_bin,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        check=True,
        capture_output=True,
    )
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    nodes = []
    for count, name in enumerate(("node-a", "node-b"), start=1):
        nodes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sandbench",
                    "cluster",
                    "join",
                    address,
                    "--slots",
                    str(SLOTS),
                    "--workspace",
                    str(base / name),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(base / f"{name}.log").open("wb"),
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 120
        while (
            len([n for n in ray.nodes() if n["Alive"] and n["Resources"].get("sandbench_slot")])
            < count
        ):
            assert time.monotonic() < deadline, f"{name} did not join"
            time.sleep(0.2)
    return address, nodes, temp_dir


def stop_cluster(nodes: list[subprocess.Popen[bytes]], temp_dir: Path) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    for node in nodes:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
    subprocess.run(
        [str(Path(sys.executable).parent / "ray"), "stop", "--force"],
        check=False,
        capture_output=True,
    )
    leftovers = subprocess.run(["pgrep", "-f", str(temp_dir)], capture_output=True, text=True)
    for pid in leftovers.stdout.split():
        os.kill(int(pid), signal.SIGKILL)


def report_dispatch(results: dict[str, Any], here: list[float], there: list[float]) -> None:
    results["dispatch"] = {
        "cases": N,
        "here_s_per_case": min(here),
        "cluster_s_per_case": min(there),
        "ratio": min(there) / min(here),
    }
    print(
        f"dispatch: {N} trivial cases, {2 * SLOTS} at once: here {min(here):.2f} s/case,"
        f" cluster {min(there):.2f} s/case, ratio {min(there) / min(here):.2f}x"
    )


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-cluster-"))
    os.environ["SANDBENCH_HOME"] = str(base / "head")
    from sandbench.cluster import ClusterExecutor
    from sandbench.engine import Engine
    from sandbench.model import parse_scenarios
    from sandbench.model.documents import ParsedScenario
    from sandbench.runner.benchmark_runs import BenchmarkRunner
    from sandbench.runner.scenario_runs import Runner
    from sandbench.store import open_store

    address, nodes, temp_dir = start_cluster(base)
    results: dict[str, Any] = {}
    try:
        with open_store() as store, Engine(store, monitor=False) as engine:
            runner = Runner(store, engine)
            docs = [trivial(f"trivial-{i}") for i in range(max(N, 1))]
            store.import_scenarios([ParsedScenario(parse_scenarios(d)[0].scenario) for d in docs])
            store.create_benchmark("trivial", [d["name"] for d in docs])
            executor = ClusterExecutor(address)
            here: list[float] = []
            there: list[float] = []
            for _ in range(REPEAT):  # REPEAT=0: the scheduler's throughput alone
                start = time.perf_counter()
                run = BenchmarkRunner(runner).run("trivial", jobs=2 * SLOTS, use_cache=False)
                here.append((time.perf_counter() - start) / N)
                assert run.ok_cases == N, run.notes
                start = time.perf_counter()
                run = BenchmarkRunner(runner, executor).run(
                    "trivial", use_cache=False, cluster=address
                )
                there.append((time.perf_counter() - start) / N)
                assert run.ok_cases == N, run.notes
            if here:
                report_dispatch(results, here, there)

            many = [trivial(f"many-{i}") for i in range(CASES)]
            store.import_scenarios([ParsedScenario(parse_scenarios(d)[0].scenario) for d in many])
            store.create_benchmark("many", [d["name"] for d in many])
            stand_in = ClusterExecutor(address, stand_in=StandIn)
            bench = BenchmarkRunner(runner, stand_in)
            # Untimed: the nodes start their Ray workers (about a second of CPU each) for
            # this head's first cases; what is measured is the steady state after that.
            store.create_benchmark("warm-up", [d["name"] for d in many[:WARM_UP]])
            warm = BenchmarkRunner(runner, stand_in).run("warm-up", use_cache=False)
            assert warm.ok_cases == WARM_UP, warm.notes
            memory: list[float] = []
            done = [0]

            def count(event: object) -> None:
                from sandbench.runner.events import CaseFinished

                if isinstance(event, CaseFinished):
                    done[0] += 1
                    if done[0] == CASES // 10:
                        memory.append(rss_mib())

            runner.bus.subscribe(count)
            memory.append(rss_mib())
            processes = cpu_by_process()
            start, cpu, host = time.perf_counter(), time.process_time(), machine_cpu_seconds()
            run = bench.run("many", use_cache=False, cluster=address)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            host = machine_cpu_seconds() - host
            consumers = top_consumers(processes, CASES)
            memory.append(rss_mib())
            assert run.ok_cases == CASES, run.notes
            results["throughput"] = {
                "cases": CASES,
                "seconds": elapsed,
                "cases_per_second": CASES / elapsed,
                "head_cpu_ms_per_case": cpu / CASES * 1000,
                "host_cpu_ms_per_case": host / CASES * 1000,
                "head_rss_mib_at_start": memory[0],
                "head_rss_mib_at_10pct": memory[1],
                "head_rss_mib_at_end": memory[-1],
            }
            print(
                f"throughput: {CASES} stand-in cases over 2 nodes in {elapsed:.1f} s ="
                f" {CASES / elapsed:.0f} cases/s, head CPU {cpu / CASES * 1000:.1f} ms/case"
                f" (the whole host's: {host / CASES * 1000:.1f});"
                f" head RSS {memory[0]:.0f} MiB at the start, {memory[1]:.0f} MiB at"
                f" {CASES // 10} cases, {memory[-1]:.0f} MiB at the end"
            )
            print("CPU per case by process (children of exited processes not counted):")
            print("\n".join(consumers))
    finally:
        stop_cluster(nodes, temp_dir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_cluster.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
