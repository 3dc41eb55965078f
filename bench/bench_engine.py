"""Engine speed: create-to-ready, create-to-first-exec-output, suspend and resume; the exec
round trip (alone and 32 at once), the host's processes before and after 1,000 execs, and
a warm pool's claim-to-first-output.

Exec baselines, in the same run on the same sandbox: the raw CLI `podman exec CONTAINER
true`, and the engine's own Podman path (`execs.run_exec` over the API, what every exec
cost before the in-sandbox agent). Goals (issue 10) are printed beside each ratio.

Baseline, measured in the same run and interleaved with the engine's runs (so load from
other work on the machine hits both alike): the raw CLI `podman run --rm` of the same base
image running `true`. The engine does more than that (a sized ext4 disk under an overlay,
cgroup limits, a set-up exec), and the baseline does some things the engine's timings leave
out (the CLI's own start-up, removing the container): read the ratio as "what a sandbox
costs compared with the cheapest throwaway container", not as like for like.

Engine times start before ``engine.spec_for()`` (about 3 ms) and exclude shutting the
sandbox down. The first create of the run probes the host and mounts the image: it is a
warm-up, reported but left out of the stats.

Everything runs in a temporary SANDBENCH_HOME, so the user's store is never touched, and
every sandbox is removed on error and on Ctrl-C. The bench starts its own `podman system
service` in a separate session: Ctrl-C in a terminal signals the whole foreground process
group, and a service started by the engine (in that group) dies at once, after which the
engine can no longer remove the sandboxes it owns. Handing the engine a connection also
skips its start-up recovery, which would remove every other sandbench's sandboxes on this
host. Others' recovery removes ours, though (a test run started meanwhile): an attempt that
fails is discarded, reported and retried.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

RUNS = int(os.environ.get("SANDBENCH_BENCH_RUNS", "30"))
SUSPEND_RUNS = int(os.environ.get("SANDBENCH_BENCH_SUSPEND_RUNS", str(max(RUNS, 10))))
EXECS = int(os.environ.get("SANDBENCH_BENCH_EXECS", "200"))  # exec round trips per path
MANY_EXECS = int(os.environ.get("SANDBENCH_BENCH_MANY_EXECS", "1000"))  # process count
POOL_RUNS = int(os.environ.get("SANDBENCH_BENCH_POOL_RUNS", str(RUNS)))
IMAGE = "localhost/sandbench-base:latest"
RAW_RUN = [
    "podman", "run", "--rm",
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",  # required on hybrid hosts
    IMAGE, "true",
]  # fmt: skip
MARKER_TEXT = "written before the first suspend\n"
MAX_DISCARDED = max(10, RUNS // 2)
T = TypeVar("T")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) * 1000,
        "p95_ms": percentile(values, 0.95) * 1000,
        "min_ms": min(values) * 1000,
        "max_ms": max(values) * 1000,
        "samples_ms": [round(v * 1000, 2) for v in values],
    }


def print_header(header: str) -> None:
    """A table's header line, ruled off below (its two-space indent left out)."""
    print(header)
    print("  " + "-" * (len(header) - 2))


def print_load(results: dict[str, Any]) -> None:
    """The report's line on the machine's load over the run (loadavg_before/_after, cpus)."""
    before, after = results["loadavg_before"][0], results["loadavg_after"][0]
    print(f"  load average {before:.2f} -> {after:.2f} on {results['cpus']} CPUs")


def write_results(results: dict[str, Any], name: str) -> None:
    """The results as bench/results/NAME.json."""
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")


def two_scorer_document(name: str, number: int) -> dict[str, Any]:
    """A scenario of two scorers (tests 0.7, lint 0.3), its problem statement about bug
    ``number``: the many scenarios of the store and TUI benchmarks."""
    return {
        "name": name,
        "input_context": {"problem_statement": f"Fix bug number {number}.\n" * 5},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "tests",
                    "weight": 0.7,
                    "scorer": {"type": "command_scorer", "command": "make test"},
                },
                {
                    "name": "lint",
                    "weight": 0.3,
                    "scorer": {"type": "bash_script_scorer", "bash_script": "echo score=1"},
                },
            ]
        },
        "environment_parameters": {"working_directory": "/workspace"},
    }


def scenario_document() -> dict[str, Any]:
    """An X_SMALL scenario with no launch commands (as tests/engine_support.scenario())."""
    return {
        "name": "bench-engine",
        "input_context": {"problem_statement": "benchmark"},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "ok",
                    "weight": 1.0,
                    "scorer": {"type": "command_scorer", "command": "true"},
                }
            ]
        },
        "environment_parameters": {
            "working_directory": "/workspace",
            "launch_parameters": {"resource_size_request": "X_SMALL"},
        },
    }


def raw_run() -> float:
    start = time.perf_counter()
    done = subprocess.run(RAW_RUN, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(RAW_RUN)} failed: {done.stderr.strip()}")
    return elapsed


def _parent_death_signal() -> None:  # in the service's child process, before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_service(home: Path) -> Any:
    """A private Podman service outside our process group (see the module docstring)."""
    from podman import PodmanClient

    from sandbench.engine.service import Connection, write_private_containers_conf

    socket = home / "run" / "bench-podman.sock"
    socket.parent.mkdir(parents=True, exist_ok=True)
    uri = f"unix://{socket}"
    log = (home / "bench-podman-service.log").open("ab")
    conf = write_private_containers_conf(socket.parent)  # as the engine's own service
    process = subprocess.Popen(
        [shutil.which("podman") or "podman", "system", "service", "--time=0", uri],
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal does not reach it
        preexec_fn=_parent_death_signal,  # but it still dies with us
    )
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        if socket.exists():
            client = PodmanClient(base_url=uri, timeout=120)
            with contextlib.suppress(Exception):
                if client.ping():
                    return Connection(uri, "bench private service", client, process)
            client.close()
        time.sleep(0.05)
    process.terminate()
    process.wait()
    raise RuntimeError(f"podman system service did not answer; see {log.name}")


class Bench:
    def __init__(self, engine: Any, store: Any, scenario: Any) -> None:
        self.engine = engine
        self.store = store
        self.scenario = scenario
        self.discarded: list[str] = []

    def attempt(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, retried when it fails: another sandbench starting up on this host (a test
        run, say) removes every sandbox container it does not know, ours included. Failed
        attempts are reported, and their sandboxes removed; too many end the benchmark."""
        while True:
            try:
                return fn()
            except Exception as error:
                reason = str(error).strip().splitlines()[-1][:200] if str(error) else repr(error)
                self.discarded.append(f"{what}: {type(error).__name__}: {reason}")
                print(f"\n  discarded ({what}): {reason}", file=sys.stderr, flush=True)
                self.remove_live()
                if len(self.discarded) > MAX_DISCARDED:
                    raise

    def remove_live(self) -> None:
        from sandbench.engine.sandboxes import LIVE

        for sandbox in self.store.list_sandboxes(statuses=LIVE, limit=100_000):
            with contextlib.suppress(Exception):
                self.engine.shutdown(sandbox.id)

    def create(self) -> Any:
        return self.engine.create(self.engine.spec_for(self.scenario))

    def create_to_ready(self) -> float:
        start = time.perf_counter()
        sandbox = self.create()
        elapsed = time.perf_counter() - start
        try:
            if sandbox.status.value != "running":
                raise RuntimeError(f"sandbox {sandbox.id} is {sandbox.status.value}")
        finally:
            self.engine.shutdown(sandbox.id)  # not timed
        return elapsed

    def create_to_first_output(self) -> tuple[float, float, float]:
        """(create start to first output chunk, create alone, exec start to first chunk)."""
        first: list[float] = []

        def on_output(stream: str, text: str) -> None:
            if not first:
                first.append(time.perf_counter())

        start = time.perf_counter()
        sandbox = self.create()
        created = time.perf_counter()
        try:
            result = self.engine.exec(sandbox.id, "echo ready", on_output=on_output)
        finally:
            self.engine.shutdown(sandbox.id)  # not timed
        if result.exit_code != 0 or result.stdout != "ready\n" or not first:
            raise RuntimeError(f"echo ready gave {result.exit_code}: {result.output!r}")
        return first[0] - start, created - start, first[0] - created

    def suspend_resume(self, count: int, cycles: list[tuple[float, float]]) -> None:
        """Suspend and resume one sandbox until ``cycles`` holds ``count`` (suspend, resume)
        times. A file written before the first suspend is checked after every resume (not
        timed); a cycle counts only once the file was found intact."""
        engine = self.engine
        sandbox = self.create()
        try:
            wrote = engine.exec(sandbox.id, f"printf %s '{MARKER_TEXT}' > marker.txt")
            if wrote.exit_code != 0:
                raise RuntimeError(f"could not write the marker file: {wrote.output!r}")
            while len(cycles) < count:
                start = time.perf_counter()
                state = engine.suspend(sandbox.id).status.value
                suspended = time.perf_counter() - start
                if state != "suspended":
                    raise RuntimeError(f"after suspend the sandbox is {state}")
                start = time.perf_counter()
                state = engine.resume(sandbox.id).status.value
                resumed = time.perf_counter() - start
                if state != "running":
                    raise RuntimeError(f"after resume the sandbox is {state}")
                kept = engine.exec(sandbox.id, "cat marker.txt")
                if kept.stdout != MARKER_TEXT:
                    raise RuntimeError(f"the file did not survive a suspend: {kept.output!r}")
                cycles.append((suspended, resumed))
        finally:
            engine.shutdown(sandbox.id)


def host_processes() -> tuple[int, int]:
    """(all processes, conmon processes) on this host now."""
    total = conmon = 0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        total += 1
        conmon += name == "conmon"
    return total, conmon


def settled_processes(before: tuple[int, int], timeout: float = 15.0) -> tuple[int, int]:
    """The host's process count, polled until it is back at ``before`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    now = host_processes()
    while time.monotonic() < deadline and (now[0] > before[0] or now[1] > before[1]):
        time.sleep(0.2)
        now = host_processes()
    return now


def measure_wide(engine: Any, scenario: Any) -> dict[str, Any]:
    """The same one-at-a-time and 32-at-once execs in a MEDIUM sandbox (2 CPUs): an
    X_SMALL has half a CPU, and its 32 `true`s queue for that quota, not for sandbench.
    Interleaved rounds, so load from elsewhere hits both alike."""
    from concurrent.futures import ThreadPoolExecutor

    from sandbench.model import parse_scenarios

    document = scenario_document()
    document["environment_parameters"]["launch_parameters"]["resource_size_request"] = "MEDIUM"
    wide = parse_scenarios(document)[0].scenario
    sandbox = engine.create(engine.spec_for(wide))

    def timed(_: int) -> float:
        start = time.perf_counter()
        engine.exec(sandbox.id, ["true"])
        return time.perf_counter() - start

    one: list[float] = []
    many: list[float] = []
    try:
        for _ in range(5):
            timed(0)
        with ThreadPoolExecutor(32) as pool:
            for _ in range(max(1, EXECS // 32)):
                one.extend(timed(0) for _ in range(32))
                many.extend(pool.map(timed, range(32)))
    finally:
        engine.shutdown(sandbox.id)
    return {
        "one_at_a_time": summary(one),
        "32_at_once": summary(many),
        "ratio": summary(many)["p50_ms"] / summary(one)["p50_ms"],
    }


def measure_in_flight(engine: Any, sandbox_id: str, timed: Callable[[int], float]) -> dict:
    """Exec round trips of `true` while 32 other execs of the same sandbox are in flight
    (each blocked reading a FIFO, costing no CPU), against the same with none, alternated
    in blocks: what an agent harness sees when it runs a server, a watcher and tests at
    once and still sends quick commands. The 32-released-at-once figure above measures the
    sandbox's CPU instead (each `true` is a fork and exec within its quota)."""
    from concurrent.futures import ThreadPoolExecutor

    engine.exec(sandbox_id, "rm -f /tmp/hold /tmp/started && mkfifo /tmp/hold")
    hold = "echo $$ >> /tmp/started; cat /tmp/hold > /dev/null"
    alone: list[float] = []
    held: list[float] = []
    with ThreadPoolExecutor(32) as pool:
        for _ in range(4):
            alone.extend(timed(0) for _ in range(16))
            waiting = [pool.submit(engine.exec, sandbox_id, hold) for _ in range(32)]
            for _ in range(1000):  # each in flight: its shell has written its pid
                if engine.exec(sandbox_id, "wc -l < /tmp/started").stdout.strip() == "32":
                    break
            held.extend(timed(0) for _ in range(16))
            engine.exec(sandbox_id, "echo > /tmp/hold; : > /tmp/started")
            for future in waiting:
                future.result(timeout=60)
    return {"alone": summary(alone), "with_32_in_flight": summary(held)}


def measure_execs(engine: Any, scenario: Any) -> dict[str, Any]:
    """Exec round trips of `true` on one sandbox: the engine (agent), the engine's Podman
    path and the raw CLI, interleaved; 32 at once; processes around 1,000 execs."""
    from concurrent.futures import ThreadPoolExecutor

    from sandbench.engine.execs import run_exec

    sandbox = engine.create(engine.spec_for(scenario))
    container = f"sandbench-{sandbox.id}"
    try:
        for _ in range(5):  # warm-up: the agent's first answer, the CLI's caches
            engine.exec(sandbox.id, ["true"])
        path = engine.exec(sandbox.id, ["true"]).via
        ours: list[float] = []
        api: list[float] = []
        cli: list[float] = []
        for i in range(EXECS):
            print(f"\r  execs {i + 1}/{EXECS}", end="", file=sys.stderr, flush=True)
            start = time.perf_counter()
            engine.exec(sandbox.id, ["true"])
            ours.append(time.perf_counter() - start)
            if i % 4 == 0:  # the Podman paths are ~30x slower: a quarter as many samples
                start = time.perf_counter()
                run_exec(engine.client, container, ["true"])
                api.append(time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run(["podman", "exec", container, "true"], check=True)
                cli.append(time.perf_counter() - start)

        def timed(_: int) -> float:
            start = time.perf_counter()
            engine.exec(sandbox.id, ["true"])
            return time.perf_counter() - start

        concurrent: list[float] = []
        start = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            for _ in range(max(1, EXECS // 32)):
                concurrent.extend(pool.map(timed, range(32)))
        concurrent_rate = len(concurrent) / (time.perf_counter() - start)
        in_flight = measure_in_flight(engine, sandbox.id, timed)
        wide = measure_wide(engine, scenario)
        print("\r  1,000 execs" + " " * 20, end="", file=sys.stderr, flush=True)
        before = host_processes()
        for _ in range(MANY_EXECS):
            engine.exec(sandbox.id, ["true"])
        right_after = host_processes()
        after = settled_processes(before)
        podman_before = host_processes()
        for _ in range(100):
            run_exec(engine.client, container, ["true"])
        podman_after = host_processes()
        podman_settled = settled_processes(podman_before)
    finally:
        engine.shutdown(sandbox.id)
    return {
        "exec_path": path,
        "exec_engine": summary(ours),
        "exec_podman_api": summary(api),
        "exec_podman_cli": summary(cli),
        "exec_engine_32_at_once": summary(concurrent),
        "exec_rate_one_at_a_time_per_s": 1000 / summary(ours)["p50_ms"],
        "exec_rate_32_at_once_per_s": concurrent_rate,
        "exec_wide_sandbox": wide,
        "exec_with_32_in_flight": in_flight,
        "processes_around_execs": {
            "execs": MANY_EXECS,
            "before": before,
            "right_after": right_after,
            "after_settling": after,
        },
        "processes_around_100_podman_execs": {
            "before": podman_before,
            "right_after": podman_after,
            "after_settling": podman_settled,
        },
    }


def measure_pool(engine: Any, scenario: Any) -> dict[str, Any]:
    """Claim to first command's output from a warm pool of X_SMALL sandboxes (refilled
    between claims, not timed); a cold create to first output beside it."""
    pool = engine.start_pool({"X_SMALL": 2})
    claims: list[float] = []
    for i in range(POOL_RUNS):
        print(f"\r  pool {i + 1}/{POOL_RUNS}", end="", file=sys.stderr, flush=True)
        if not pool.wait_filled(120):
            raise RuntimeError(f"the pool did not fill: {pool.status()}")
        start = time.perf_counter()
        sandbox = engine.create(engine.spec_for(scenario))
        seen: list[float] = []
        engine.exec(
            sandbox.id,
            "echo ready",
            on_output=lambda _s, _t, seen=seen: seen.append(time.perf_counter()),
        )
        claims.append(seen[0] - start)
        engine.shutdown(sandbox.id)
    return {"pool_claim_to_first_output": summary(claims), "pool_claims": pool.claims}


def leftovers(store: Any, home: Path, created: set[str]) -> list[str]:
    """What is still alive of this run: live sandboxes, their containers, mounts."""
    from sandbench.engine.disk import PIN_LABEL
    from sandbench.engine.sandboxes import LABEL_SANDBOX, LIVE

    live = store.list_sandboxes(statuses=LIVE, limit=100_000)
    found = [f"sandbox {s.id} ({s.status.value})" for s in live]
    listed = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={LABEL_SANDBOX}", "--format",
         f'{{{{.Names}}}} {{{{index .Labels "{LABEL_SANDBOX}"}}}}'],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    for line in listed.splitlines():
        name, _, owner = line.partition(" ")
        if owner in created:
            found.append(f"container {name}")
    pins = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={PIN_LABEL}", "--format",
         f'{{{{.Names}}}} {{{{index .Labels "{PIN_LABEL}"}}}}'],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    for line in pins.splitlines():
        name, _, directory = line.partition(" ")
        if directory.startswith(str(home)):
            found.append(f"image pin {name}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(home)):
            found.append(f"mount {target}")
    return found


def clean_up(engine: Any, store: Any, home: Path) -> None:
    """Close the engine (it removes the sandboxes it owns), then check, and retry once with
    a fresh engine on a fresh service for anything still alive."""
    from sandbench.engine import Engine
    from sandbench.engine.sandboxes import LIVE

    created = {s.id for s in store.list_sandboxes(limit=100_000)}
    engine.close()
    left = leftovers(store, home, created)
    if left:
        print(f"  still alive after close: {', '.join(left)}; retrying", file=sys.stderr)
        try:
            with Engine(store, connection=start_service(home)) as again:
                for sandbox in store.list_sandboxes(statuses=LIVE, limit=100_000):
                    with contextlib.suppress(Exception):
                        again.shutdown(sandbox.id)
        except Exception as error:
            print(f"  the retry failed: {error}", file=sys.stderr)
        left = leftovers(store, home, created)
    if left:
        print(f"  WARNING: left behind: {', '.join(left)}", file=sys.stderr)


def measure(home: Path) -> dict[str, Any]:
    from sandbench.engine import Engine
    from sandbench.model import parse_scenarios
    from sandbench.store import open_store

    scenario = parse_scenarios(scenario_document())[0].scenario
    store = open_store()
    engine = Engine(store, connection=start_service(home))
    interrupted = False
    try:
        bench = Bench(engine, store, scenario)
        image = engine.spec_for(scenario).image
        if image != IMAGE:
            raise RuntimeError(f"the engine would use {image}, the baseline runs {IMAGE}")
        load_before = os.getloadavg()

        # Warm-up, not in the stats: the first create probes the host (OCI runtime,
        # ulimits) and mounts the image; the first raw run warms the CLI's caches.
        warm_raw = bench.attempt("warm-up raw run", raw_run)
        _, warm_create, _ = bench.attempt("warm-up", bench.create_to_first_output)

        raw: list[float] = []
        ready: list[float] = []
        first: list[float] = []
        first_create: list[float] = []
        first_exec: list[float] = []
        for i in range(RUNS):
            print(f"\r  round {i + 1}/{RUNS}", end="", file=sys.stderr, flush=True)
            raw.append(bench.attempt("raw run", raw_run))
            ready.append(bench.attempt("create to ready", bench.create_to_ready))
            total, created, to_output = bench.attempt(
                "create to first output", bench.create_to_first_output
            )
            first.append(total)
            first_create.append(created)
            first_exec.append(to_output)
        print(f"\r  suspend/resume x{SUSPEND_RUNS}", end="", file=sys.stderr, flush=True)
        cycles: list[tuple[float, float]] = []
        while len(cycles) < SUSPEND_RUNS:
            bench.attempt("suspend/resume", lambda: bench.suspend_resume(SUSPEND_RUNS, cycles))
        suspends, resumes = [c[0] for c in cycles], [c[1] for c in cycles]
        execs = bench.attempt("execs", lambda: measure_execs(engine, scenario))
        pooled = bench.attempt("pool", lambda: measure_pool(engine, scenario))
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr, flush=True)
        host = engine.host
        return {
            **execs,
            **pooled,
            "runs": RUNS,
            "suspend_runs": SUSPEND_RUNS,
            "image": IMAGE,
            "raw_command": " ".join(RAW_RUN),
            "oci_runtime": host.runtime,
            "podman_version": host.podman_version,
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "warmup_excluded": {"raw_run_ms": warm_raw * 1000, "create_ms": warm_create * 1000},
            "raw_podman_run": summary(raw),
            "create_to_ready": summary(ready),
            "create_to_first_exec_output": summary(first),
            "create_to_first_exec_output_parts": {
                "create": summary(first_create),
                "exec_to_first_output": summary(first_exec),
            },
            "suspend": summary(suspends),
            "resume": summary(resumes),
            "file_kept_across_suspends": True,
            "discarded_attempts": bench.discarded,
        }
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # a second Ctrl-C must not cut the clean-up short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if interrupted:
                print("\n  interrupted; removing sandboxes", file=sys.stderr, flush=True)
            clean_up(engine, store, home)
            store.close()
        finally:
            signal.signal(signal.SIGINT, previous)


def ratios(results: dict[str, Any], name: str) -> dict[str, float]:
    raw = results["raw_podman_run"]
    ours = results[name]
    return {"p50": ours["p50_ms"] / raw["p50_ms"], "p95": ours["p95_ms"] / raw["p95_ms"]}


def report(results: dict[str, Any]) -> None:
    for name in ("create_to_ready", "create_to_first_exec_output"):
        results[f"ratio_{name}_vs_raw"] = ratios(results, name)
    warm = results["warmup_excluded"]
    discarded = results["discarded_attempts"]
    print(
        f"engine benchmark, {results['runs']} runs each (suspend/resume"
        f" {results['suspend_runs']}), runtime {results['oci_runtime']},"
        f" podman {results['podman_version']}"
    )
    print(
        f"  warm-up excluded from the stats: first create {warm['create_ms']:.0f} ms"
        f" (probes the host, mounts the image), first raw run {warm['raw_run_ms']:.0f} ms"
    )
    header = f"  {'':34} {'p50 ms':>8} {'p95 ms':>8}   {'engine/raw p50':>14} {'p95':>6}"
    print_header(header)
    labels = {
        "raw_podman_run": "raw podman run --rm ... true",
        "create_to_ready": "engine create to ready",
        "create_to_first_exec_output": "engine create to first exec output",
    }
    for key, label in labels.items():
        row = results[key]
        ratio = results.get(f"ratio_{key}_vs_raw")
        tail = f"   {ratio['p50']:>13.2f}x {ratio['p95']:>5.2f}x" if ratio else "   (baseline)"
        print(f"  {label:34} {row['p50_ms']:8.0f} {row['p95_ms']:8.0f}{tail}")
    parts = results["create_to_first_exec_output_parts"]
    for key, label in (("create", "  of which create"), ("exec_to_first_output", "  then exec")):
        row = parts[key]
        print(f"  {label:34} {row['p50_ms']:8.0f} {row['p95_ms']:8.0f}")
    for key in ("suspend", "resume"):
        row = results[key]
        print(f"  {'engine ' + key:34} {row['p50_ms']:8.0f} {row['p95_ms']:8.0f}")
    row = results["pool_claim_to_first_output"]
    ratio = row["p50_ms"] / results["raw_podman_run"]["p50_ms"]
    print(
        f"  {'warm pool: claim to first output':34} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}"
        f"   {ratio:>13.2f}x   goal <= 50 ms p50"
    )
    cold = results["ratio_create_to_ready_vs_raw"]["p50"]
    print(f"  cold create to ready / raw run: {cold:.2f}x (goal <= 0.8x)")
    print("  the raw run includes the CLI's start-up and --rm; engine times exclude shutdown")
    report_execs(results)
    print(
        "  a file written before the first suspend was checked after every resume: still there"
        f" after {results['suspend_runs']} suspend/resume cycles"
    )
    if discarded:
        print(
            f"  {len(discarded)} failed attempt(s) discarded and retried (sandboxes removed from"
            " outside?): see discarded_attempts in the JSON"
        )
    print_load(results)
    write_results(results, "engine")


def report_execs(results: dict[str, Any]) -> None:
    ours, cli = results["exec_engine"], results["exec_podman_cli"]
    api, many = results["exec_podman_api"], results["exec_engine_32_at_once"]
    print(f"\n  exec round trip of `true` (engine path: {results['exec_path']})")
    header = f"  {'':34} {'p50 ms':>8} {'p95 ms':>8}   {'/ podman exec p50':>17}"
    print_header(header)
    for label, row in (
        ("raw podman exec (CLI)", cli),
        ("engine, Podman path (API)", api),
        ("engine.exec", ours),
        ("engine.exec, 32 at once", many),
    ):
        ratio = row["p50_ms"] / cli["p50_ms"]
        print(f"  {label:34} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f}   {ratio:>16.3f}x")
    print(
        f"  goals: p50 <= 5 ms ({ours['p50_ms']:.2f}), <= 0.1x podman exec"
        f" ({ours['p50_ms'] / cli['p50_ms']:.3f}x), 32 at once within 2x"
        f" ({many['p50_ms'] / ours['p50_ms']:.2f}x)"
    )
    flight = results["exec_with_32_in_flight"]
    print(
        f"  with 32 other execs in flight (blocked, alternated with none): p50"
        f" {flight['with_32_in_flight']['p50_ms']:.2f} ms against {flight['alone']['p50_ms']:.2f}"
        f" ms with none ({flight['with_32_in_flight']['p50_ms'] / flight['alone']['p50_ms']:.2f}x;"
        " goal: within 2x)"
    )
    wide = results["exec_wide_sandbox"]
    print(
        f"  throughput (X_SMALL): {results['exec_rate_one_at_a_time_per_s']:.0f} execs/s one at"
        f" a time, {results['exec_rate_32_at_once_per_s']:.0f}/s 32 at once"
    )
    print(
        f"  MEDIUM sandbox (2 CPUs), interleaved: one at a time p50"
        f" {wide['one_at_a_time']['p50_ms']:.2f} ms, 32 at once p50"
        f" {wide['32_at_once']['p50_ms']:.2f} ms ({wide['ratio']:.2f}x)"
    )
    for key, what in (
        ("processes_around_execs", f"{results['processes_around_execs']['execs']} engine execs"),
        ("processes_around_100_podman_execs", "100 Podman execs"),
    ):
        row = results[key]
        (b_all, b_con), (r_all, r_con) = row["before"], row["right_after"]
        s_all, s_con = row["after_settling"]
        print(
            f"  host processes around {what}: {b_all} -> {r_all} right after -> {s_all}"
            f" settled (conmon {b_con} -> {r_con} -> {s_con})"
        )


def main() -> None:
    if RUNS < 1 or SUSPEND_RUNS < 1:
        raise SystemExit("SANDBENCH_BENCH_RUNS and SANDBENCH_BENCH_SUSPEND_RUNS must be >= 1")
    run_in_temporary_home("engine", measure, report)


def run_in_temporary_home(
    what: str,
    measure: Callable[[Path], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
    *,
    needs_podman: bool = True,
) -> None:
    """Measure in a throwaway SANDBENCH_HOME (nothing touches the user's store); Ctrl-C
    leaves nothing behind and writes nothing. ``needs_podman=False`` for benchmarks that
    never start a sandbox (the TUI's)."""
    if needs_podman and (os.geteuid() != 0 or shutil.which("podman") is None):
        raise SystemExit(f"the {what} benchmark needs root and podman (loop-mounted disks)")
    try:
        with tempfile.TemporaryDirectory(
            prefix="sandbench-bench-", ignore_cleanup_errors=True
        ) as tmp:
            os.environ["SANDBENCH_HOME"] = tmp  # before sandbench is imported (in measure())
            results = measure(Path(tmp))
    except KeyboardInterrupt:
        print("  interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    report(results)


if __name__ == "__main__":
    main()
