"""Run speed: a benchmark of trivial scenarios at -j N, its cached rerun, and scorer output
streamed into the store.

1. A benchmark of N scenarios whose only scorer is ``command = "true"`` (X_SMALL, reference
   solution ``true``), run by ``BenchmarkRunner`` at ``-j JOBS`` without the result cache.
   Baseline: N raw ``podman run --rm ... true`` from JOBS threads, measured before and after
   the engine's batch (load from other work on the machine hits both alike). The engine does
   more per scenario than the baseline: a sized ext4 disk under an overlay and an image pin,
   a sandbox record and its state changes, the reference solution (its script written into
   the sandbox, then run with bash) and the scorer, so two execs of the scenario's own plus
   the file write, and the run's store writes. Read the ratio as "what a scored scenario
   costs compared with the cheapest throwaway container", not as like for like.
2. The same benchmark again with the cache on: every case must be a cache hit. Reported as a
   ratio to the uncached run.
3. Scorer output: a bash scorer printing LINES lines (``seq 1 LINES; echo score=1``) run by
   ``Runner.run``, timed from ScorerStarted to ScorerFinished (events on the runner's bus);
   the stored output is read back and its lines and bytes checked. Baselines: ``podman exec
   CONTAINER seq 1 LINES > /dev/null`` in a plain container limited like an X_SMALL sandbox
   (0.5 CPU, 1 GiB), and the same ``seq`` through ``engine.exec`` in a sandbox with nothing
   stored (the transport alone: Podman's exec stream decoded in Python). Each way also runs
   with 1 line: its fixed cost (the bash scorer makes a scratch directory, writes its script
   there and removes it afterwards). For the two ways observed in process, the streaming
   window (first output chunk to last) is reported as well: the throughput once the fixed
   cost is paid, without subtracting two noisy totals. Sizes and ways are interleaved,
   REPEAT (5) times; medians are reported.

Everything runs in a temporary SANDBENCH_HOME (set before sandbench is imported), on a
private Podman service that survives Ctrl-C long enough to clean up (see bench_engine.py);
every sandbox and the plain baseline container are removed on error and on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_engine import (
    IMAGE,
    RAW_RUN,
    clean_up,
    print_header,
    print_load,
    raw_run,
    run_in_temporary_home,
    start_service,
    write_results,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

SCENARIOS = int(os.environ.get("SANDBENCH_BENCH_SCENARIOS", "50"))
JOBS = int(os.environ.get("SANDBENCH_BENCH_JOBS", "4"))
LINES = int(os.environ.get("SANDBENCH_BENCH_LINES", "1000000"))
REPEAT = 5  # scorer output, each way and size: the median of this many
BENCHMARK = "bench-runs"
WARMUP_SCENARIO = "bench-runs-warmup"
MB = 1_000_000
# an X_SMALL sandbox's limits, so the raw seq competes for the same CPU share
RAW_LIMITS = [
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
    "--cpus", "0.5", "--memory", "1g",
]  # fmt: skip


def scenario_document(name: str, scorer: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "name": name,
        "input_context": {"problem_statement": "benchmark"},
        "scoring_contract": {
            "scoring_function_parameters": [{"name": "ok", "weight": 1.0, "scorer": scorer}]
        },
        "environment_parameters": {
            "working_directory": "/workspace",
            "launch_parameters": {"resource_size_request": "X_SMALL"},
        },
        "reference_output": "true",
        **top,
    }


def trivial(name: str) -> dict[str, Any]:
    return scenario_document(name, {"type": "command_scorer", "command": "true"})


def output_scenario(lines: int) -> str:
    return f"bench-runs-output-{lines}"


def chatty(lines: int) -> dict[str, Any]:
    script = f"seq 1 {lines}\necho score=1\n"
    return scenario_document(
        output_scenario(lines),
        {"type": "bash_script_scorer", "bash_script": script},
        scorer_timeout_sec=600,
    )


def expected_output(lines: int) -> tuple[int, int]:
    """(lines, bytes) of ``seq 1 LINES; echo score=1``."""
    size = sum(
        (min(lines, 10**d - 1) - 10 ** (d - 1) + 1) * (d + 1)
        for d in range(1, len(str(lines)) + 1)
        if 10 ** (d - 1) <= lines
    )
    return lines + 1, size + len("score=1\n")


def median(values: list[float]) -> float:
    return statistics.median(values)


def raw_batch(count: int, jobs: int) -> float:
    """Wall time of ``count`` raw ``podman run --rm ... true`` from ``jobs`` threads."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="raw") as pool:
        futures = [pool.submit(raw_run) for _ in range(count)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return time.perf_counter() - start


def host_cpu_ms() -> float:
    """CPU time the whole host has spent busy (all processes, user and system), in ms."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) * 1000 / os.sysconf("SC_CLK_TCK")


def api_batch(client: Any, count: int, jobs: int) -> float:
    """Wall time of ``count`` bare container lives through Podman's API (create, start, wait,
    remove; the same image, command and ulimits as the raw run) from ``jobs`` threads: the
    floor for any design that gives each case a container of its own through Podman."""

    def one(_: int) -> None:
        container = client.containers.create(
            image=IMAGE,
            command=["true"],
            ulimits=[
                {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                {"Name": "nproc", "Soft": 1024, "Hard": 1024},
            ],
        )
        try:
            container.start()
            container.wait()
        finally:
            container.remove(force=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="api") as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - start


class PlainContainer:
    """A plain (not a sandbox) container of the base image, for the raw exec baseline."""

    def __init__(self) -> None:
        self.name = f"sandbench-bench-raw-{uuid.uuid4().hex[:12]}"
        self.started = False

    def start(self) -> None:
        self.started = True  # before the call: a Ctrl-C during it must still remove it
        subprocess.run(
            ["podman", "run", "-d", "--rm", "--name", self.name, *RAW_LIMITS, IMAGE,
             "sleep", "2147483647"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip

    def seq(self, lines: int) -> float:
        start = time.perf_counter()
        done = subprocess.run(
            ["podman", "exec", self.name, "seq", "1", str(lines)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"podman exec {self.name} seq failed: {done.stderr.strip()}")
        return elapsed

    def remove(self) -> None:
        if not self.started:
            return
        subprocess.run(
            ["podman", "rm", "-f", "-t", "0", self.name], capture_output=True, check=False
        )
        still = subprocess.run(
            ["podman", "ps", "-a", "-q", "--filter", f"name=^{self.name}$"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        if still:
            print(f"  WARNING: left behind: container {self.name}", file=sys.stderr)
        else:
            self.started = False


def check_benchmark_run(run: Any, what: str, *, cached: bool) -> None:
    if run.state.value == "canceled":
        raise KeyboardInterrupt  # BenchmarkRunner swallows Ctrl-C and returns a canceled run
    problems = []
    if run.state.value != "completed" or run.ok_cases != SCENARIOS:
        problems.append(
            f"{run.state.value}, {run.ok_cases}/{SCENARIOS} ok, {run.status_breakdown},"
            f" notes: {run.notes}"
        )
    if run.score is None or abs(run.score - 1.0) > 1e-9:
        problems.append(f"score {run.score}, expected 1.0")
    if cached and run.cache_hit_cases != SCENARIOS:
        problems.append(f"{run.cache_hit_cases}/{SCENARIOS} cache hits")
    if problems:
        raise RuntimeError(f"{what}: " + "; ".join(problems))


def run_durations(store: Any, run_id: str) -> dict[str, float]:
    runs = store.runs_of_benchmark_run(run_id)
    values = sorted(r.duration_ms for r in runs if r.duration_ms is not None)
    return {
        "p50_ms": float(median(values)),
        "p95_ms": float(values[min(len(values) - 1, int(0.95 * len(values)))]),
        "max_ms": float(values[-1]),
    }


def settle(engine: Any, store: Any, run_id: str) -> float:
    """When every case's sandbox of ``run_id`` had been removed (perf_counter), waiting for
    the removals the runner left to the background."""
    from sandbench.model.sandbox import SandboxState

    ended = {SandboxState.SHUTDOWN, SandboxState.FAILURE}
    for run in store.runs_of_benchmark_run(run_id):
        if run.sandbox_id:
            engine.wait_for(run.sandbox_id, ended, timeout=120)
    return time.perf_counter()


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def seq_bytes(lines: int) -> int:
    """Bytes ``seq 1 LINES`` prints."""
    return expected_output(lines)[1] - len("score=1\n")


def engine_seq(engine: Any, scenario: Any, sizes: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``seq`` through engine.exec in one sandbox, output counted and dropped (no store)."""
    samples: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    sandbox = engine.create(engine.spec_for(scenario))
    try:
        for _ in range(REPEAT):
            for lines in sizes:
                counted = [0, 0]
                window: list[float] = []

                def count(
                    stream: str, text: str, counted: list[int] = counted, window: list = window
                ) -> None:
                    counted[0] += 1
                    counted[1] += len(text)
                    now = time.perf_counter()
                    window[:] = [window[0] if window else now, now]  # first, last

                start = time.perf_counter()
                result = engine.exec(sandbox.id, f"seq 1 {lines}", on_output=count)
                elapsed = time.perf_counter() - start
                if result.exit_code != 0 or counted[1] != seq_bytes(lines):
                    raise RuntimeError(
                        f"engine exec seq 1 {lines}: exit {result.exit_code}, {counted[1]} chars"
                    )
                samples[lines].append(
                    {"s": elapsed, "chunks": counted[0], "stream_s": window[-1] - window[0]}
                )
    finally:
        engine.shutdown(sandbox.id)
    return samples


def scorer_output_run(runner: Any, store: Any, lines: int) -> dict[str, Any]:
    """The scenario printing ``lines`` lines through Runner.run, timed on the bus; its stored
    output read back and checked line by line count and size."""
    from sandbench.runner.events import OutputChunk, ScorerFinished, ScorerStarted

    marks: dict[str, float] = {}
    events = [0]

    def watch(event: Any) -> None:
        now = time.perf_counter()
        if isinstance(event, ScorerStarted):
            marks["started"] = now
        elif isinstance(event, OutputChunk):
            marks.setdefault("first_chunk", now)
            marks["last_chunk"] = now
            events[0] += 1
        elif isinstance(event, ScorerFinished):
            marks["finished"] = now

    unsubscribe = runner.bus.subscribe(watch)
    try:
        start = time.perf_counter()
        run = runner.run(output_scenario(lines), keep_sandbox=False, use_cache=False)
        whole = time.perf_counter() - start
    finally:
        unsubscribe()
    if run.state.value != "completed" or run.score != 1.0:
        raise RuntimeError(
            f"{output_scenario(lines)} ended {run.state.value}, score {run.score}:"
            f" {run.failure_reason}; {[r.details for r in run.scorer_results]}"
        )
    result = run.scorer_results[0]
    read_start = time.perf_counter()
    stored = store.scorer_output(result.id)
    read_back = time.perf_counter() - read_start
    got = stored.splitlines()
    want_lines, want_bytes = expected_output(lines)
    stored_bytes = len(stored.encode())
    if len(got) != want_lines or got[-1] != "score=1" or got[-2] != str(lines):
        raise RuntimeError(f"stored output has {len(got)} lines (want {want_lines}): {got[-2:]}")
    if stored_bytes != want_bytes:
        raise RuntimeError(f"stored output is {stored_bytes} bytes, want {want_bytes}")
    rows = store.conn.execute(
        "SELECT count(*) FROM output_chunks WHERE scorer_result_id = ?", [result.id]
    ).fetchone()[0]
    return {
        "s": marks["finished"] - marks["started"],
        "stored_duration_ms": result.duration_ms,
        "run_wall_s": whole,
        "stream_s": marks["last_chunk"] - marks["first_chunk"],
        "last_chunk_to_finished_s": marks["finished"] - marks["last_chunk"],
        "lines_stored": len(got),
        "bytes_stored": stored_bytes,
        "chunk_events": events[0],
        "chunk_rows": rows,
        "read_back_s": read_back,
    }


def way(samples: dict[int, list[dict[str, Any]]], lines: int) -> dict[str, Any]:
    """Medians for one way of producing the output: 1 line (its fixed cost) and LINES."""
    small = median([x["s"] for x in samples[1]])
    big = median([x["s"] for x in samples[lines]])
    summary: dict[str, Any] = {
        "one_line_s": small,
        "lines_s": big,
        "lines_per_s": lines / big,
        "mb_per_s": seq_bytes(lines) / MB / big,
        "stream_s": None,
        "stream_lines_per_s": None,
        "samples": {str(n): v for n, v in samples.items()},
    }
    windows = [x["stream_s"] for x in samples[lines] if "stream_s" in x]
    if windows and median(windows) > 0:
        summary["stream_s"] = median(windows)
        summary["stream_lines_per_s"] = lines / median(windows)
    return summary


def measure(home: Path) -> dict[str, Any]:
    from sandbench.engine import Engine
    from sandbench.model import parse_scenarios
    from sandbench.model.documents import ParsedScenario
    from sandbench.runner import Runner
    from sandbench.runner.benchmark_runs import BenchmarkRunner
    from sandbench.runner.case_executors import LocalCaseExecutor
    from sandbench.store import open_store

    store = open_store()
    engine = Engine(store, connection=start_service(home))
    runner = Runner(store, engine)
    plain = PlainContainer()
    interrupted = False
    sizes = sorted({1, LINES})
    try:
        names = [f"bench-runs-{i:04d}" for i in range(SCENARIOS)]
        documents = [trivial(n) for n in [WARMUP_SCENARIO, *names]]
        documents += [chatty(n) for n in sizes]
        parsed = [ParsedScenario(parse_scenarios(d)[0].scenario) for d in documents]
        store.import_scenarios(parsed)
        store.create_benchmark(BENCHMARK, names)
        plain_scenario = parsed[0].scenario
        image = engine.spec_for(plain_scenario).image
        if image != IMAGE:
            raise RuntimeError(f"the engine would use {image}, the baseline runs {IMAGE}")
        load_before = os.getloadavg()

        def status(text: str) -> None:
            print(f"\r  {text:66}", end="", file=sys.stderr, flush=True)

        # Warm-up, not timed: the first create probes the host and mounts the image.
        status("warm-up")
        warm_raw = raw_run()
        start = time.perf_counter()
        warm = runner.run(WARMUP_SCENARIO, keep_sandbox=False, use_cache=False)
        warm_engine = time.perf_counter() - start
        if warm.state.value != "completed":
            raise RuntimeError(f"warm-up run {warm.state.value}: {warm.failure_reason}")

        status(f"raw podman run x{SCENARIOS} at -j {JOBS} (before)")
        cpu = host_cpu_ms()
        raw_before = raw_batch(SCENARIOS, JOBS)
        raw_cpu = host_cpu_ms() - cpu
        status(f"bare Podman API container lives x{SCENARIOS} at -j {JOBS}")
        cpu = host_cpu_ms()
        api_s = api_batch(engine.client, SCENARIOS, JOBS)
        api_cpu = host_cpu_ms() - cpu
        status(f"benchmark of {SCENARIOS} scenarios at -j {JOBS}, no cache")
        cpu = host_cpu_ms()
        start = time.perf_counter()
        executor = LocalCaseExecutor()
        uncached = BenchmarkRunner(runner, executor).run(BENCHMARK, jobs=JOBS, use_cache=False)
        uncached_s = time.perf_counter() - start
        check_benchmark_run(uncached, "the uncached benchmark run", cached=False)
        # Not timed above, waited for here so that the raw loop after has the host to itself:
        # the cases' sandboxes removed in the background, the run's warm sandboxes dropped.
        status("waiting for the run's sandboxes to be removed")
        pool = engine.pool
        claims = pool.claims if pool is not None else 0
        executor.close()
        settled_s = settle(engine, store, uncached.id) - start
        uncached_cpu = host_cpu_ms() - cpu  # its sandboxes' removal included
        status(f"raw podman run x{SCENARIOS} at -j {JOBS} (after)")
        raw_after = raw_batch(SCENARIOS, JOBS)
        status("benchmark again, cache on")
        start = time.perf_counter()
        cached = BenchmarkRunner(runner).run(BENCHMARK, jobs=JOBS, use_cache=True)
        cached_s = time.perf_counter() - start
        check_benchmark_run(cached, "the cached benchmark run", cached=True)

        # Scorer output: 1 line (the fixed cost) and LINES, interleaved, REPEAT times each way.
        status(f"raw podman exec seq 1 {LINES} (and 1) x{REPEAT}")
        raw: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
        plain.start()
        for _ in range(REPEAT):
            for lines in sizes:
                raw[lines].append({"s": plain.seq(lines)})
        plain.remove()
        status(f"engine.exec seq 1 {LINES} (and 1) x{REPEAT}, no store")
        transport = engine_seq(engine, plain_scenario, sizes)
        status(f"bash scorer printing {LINES} lines (and 1) x{REPEAT}, into the store")
        scored: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
        for _ in range(REPEAT):
            for lines in sizes:
                scored[lines].append(scorer_output_run(runner, store, lines))
        conn = store.conn
        rows_total = conn.execute("SELECT count(*) FROM output_chunks").fetchone()[0]
        db = Path(store.path)
        sizes_after = {
            "db_bytes": file_size(db),
            "wal_bytes": file_size(db.with_name(db.name + "-wal")),
            "shm_bytes": file_size(db.with_name(db.name + "-shm")),
        }
        print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)
        host = engine.host
        raw_mean = (raw_before + raw_after) / 2
        ways = {
            "raw_podman_exec": way(raw, LINES),
            "engine_exec_no_store": way(transport, LINES),
            "scorer_into_store": way(scored, LINES),
        }
        big = scored[LINES]
        raw_way = ways["raw_podman_exec"]
        for data in ways.values():
            data["ratio_vs_raw"] = data["lines_s"] / raw_way["lines_s"]
        transport_way, scorer_way = ways["engine_exec_no_store"], ways["scorer_into_store"]
        if transport_way["stream_s"] and scorer_way["stream_s"]:
            scorer_way["stream_ratio_vs_engine_exec"] = (
                scorer_way["stream_s"] / transport_way["stream_s"]
            )
        return {
            "scenarios": SCENARIOS,
            "jobs": JOBS,
            "lines": LINES,
            "repeat": REPEAT,
            "image": IMAGE,
            "raw_command": " ".join(RAW_RUN),
            "oci_runtime": host.runtime,
            "podman_version": host.podman_version,
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "warmup_excluded": {"raw_run_s": warm_raw, "engine_run_s": warm_engine},
            "benchmark": {
                "raw_before_s": raw_before,
                "raw_after_s": raw_after,
                "raw_mean_s": raw_mean,
                "api_floor_s": api_s,
                "ratio_api_floor_vs_raw": api_s / raw_mean,
                "host_cpu_ms_per_case": {
                    "raw": raw_cpu / SCENARIOS,
                    "api_floor": api_cpu / SCENARIOS,
                    "uncached": uncached_cpu / SCENARIOS,
                },
                "uncached_s": uncached_s,
                "uncached_settled_s": settled_s,
                "warm_claims": claims,
                "ratio_uncached_vs_raw": uncached_s / raw_mean,
                "uncached_run_durations": run_durations(store, uncached.id),
                "cached_s": cached_s,
                "ratio_cached_vs_uncached": cached_s / uncached_s,
                "cached_run_durations": run_durations(store, cached.id),
                "cache_hit_cases": cached.cache_hit_cases,
                "ok_cases_uncached": uncached.ok_cases,
                "ok_cases_cached": cached.ok_cases,
            },
            "output": {
                **ways,
                "seq_bytes": seq_bytes(LINES),
                "stored_lines": big[-1]["lines_stored"],
                "stored_bytes": big[-1]["bytes_stored"],
                "chunk_rows_per_run": [x["chunk_rows"] for x in big],
                "chunk_events_per_run": [x["chunk_events"] for x in big],
                "engine_exec_chunks": [x["chunks"] for x in transport[LINES]],
                "last_chunk_to_finished_s": median([x["last_chunk_to_finished_s"] for x in big]),
                "run_wall_s": median([x["run_wall_s"] for x in big]),
                "read_back_s": median([x["read_back_s"] for x in big]),
                "output_chunk_rows_total": rows_total,
                **sizes_after,
            },
        }
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish cleaning up
        try:
            if interrupted:
                print("\n  interrupted; removing sandboxes", file=sys.stderr, flush=True)
            plain.remove()
            clean_up(engine, store, home)
            store.close()
        finally:
            signal.signal(signal.SIGINT, previous)


def report(results: dict[str, Any]) -> None:
    b, o = results["benchmark"], results["output"]
    n, jobs, lines = results["scenarios"], results["jobs"], results["lines"]
    warm = results["warmup_excluded"]
    print(
        f"runs benchmark: {n} scenarios at -j {jobs}; scorer output of {lines:,} lines"
        f" (median of {results['repeat']}); runtime {results['oci_runtime']},"
        f" podman {results['podman_version']}"
    )
    print(
        f"  warm-up excluded: first engine run {warm['engine_run_s']:.2f} s,"
        f" first raw run {warm['raw_run_s']:.2f} s"
    )
    header = f"  {'':44} {'wall s':>8} {'per item':>9}   {'ratio':>17}"
    print_header(header)

    def row(label: str, seconds: float, ratio: str) -> None:
        print(f"  {label:44} {seconds:8.2f} {seconds / n * 1000:6.0f} ms   {ratio:>17}")

    row(f"raw podman run --rm x{n}, {jobs} threads (before)", b["raw_before_s"], "")
    row(f"raw podman run --rm x{n}, {jobs} threads (after)", b["raw_after_s"], "")
    row("  mean of the two", b["raw_mean_s"], "(baseline)")
    row(
        f"bare Podman API container lives x{n}, {jobs} thr",
        b["api_floor_s"],
        f"{b['ratio_api_floor_vs_raw']:.2f}x raw",
    )
    row(
        f"BenchmarkRunner, {n} scenarios, -j {jobs}, no cache",
        b["uncached_s"],
        f"{b['ratio_uncached_vs_raw']:.2f}x raw",
    )
    row(
        "the same again, cache on",
        b["cached_s"],
        f"{b['ratio_cached_vs_uncached']:.4f}x uncached",
    )
    print(f"  goal (issue 10): uncached <= 0.7x raw; now {b['ratio_uncached_vs_raw']:.2f}x")
    cpu = b["host_cpu_ms_per_case"]
    print(
        f"  host CPU per case (all processes): raw run {cpu['raw']:.0f} ms, bare API container"
        f" {cpu['api_floor']:.0f} ms ({cpu['api_floor'] / cpu['raw']:.2f}x), BenchmarkRunner"
        f" {cpu['uncached']:.0f} ms ({cpu['uncached'] / cpu['raw']:.2f}x, removal included)"
    )
    print(
        f"  uncached: {b['warm_claims']} of {n} cases claimed a warm sandbox; the last case's"
        f" sandbox gone {b['uncached_settled_s'] - b['uncached_s']:.2f} s after the run ended"
    )
    u, c = b["uncached_run_durations"], b["cached_run_durations"]
    print(
        f"  each scenario run: uncached p50 {u['p50_ms']:.0f} ms, p95 {u['p95_ms']:.0f} ms;"
        f" cached p50 {c['p50_ms']:.0f} ms, p95 {c['p95_ms']:.0f} ms;"
        f" cache hits {b['cache_hit_cases']}/{n}"
    )
    print(
        "  per scenario the engine does more than the raw run: a sized ext4 disk under an"
        " overlay,\n  an image pin, a sandbox record and its state changes, the reference"
        " solution's script\n  written into the sandbox and run with bash, the scorer's exec,"
        " and the run's store writes.\n  The raw run is one container running `true`."
    )
    print()
    header = (
        f"  {'':36} {'1 line s':>8} {'N lines s':>9} {'lines/s':>10} {'MB/s':>5} {'ratio':>6}"
        f"  {'stream s':>8} {'lines/s':>10} {'ratio':>6}"
    )
    print_header(header)
    labels = {
        "raw_podman_exec": "raw podman exec seq > /dev/null",
        "engine_exec_no_store": "engine.exec seq, nothing stored",
        "scorer_into_store": "bash scorer via Runner, into store",
    }
    for key, label in labels.items():
        w = o[key]
        if w["stream_s"]:
            ratio = w.get("stream_ratio_vs_engine_exec")
            stream = (
                f"{w['stream_s']:8.2f} {w['stream_lines_per_s']:10,.0f}"
                f" {f'{ratio:.2f}x' if ratio else '(base)':>6}"
            )
        else:
            stream = f"{'n/a':>8} {'':10} {'':6}"
        print(
            f"  {label:36} {w['one_line_s']:8.2f} {w['lines_s']:9.2f} {w['lines_per_s']:10,.0f}"
            f" {w['mb_per_s']:5.1f} {w['ratio_vs_raw']:5.2f}x  {stream}"
        )
    print(
        f"  N = {lines:,}; ratio: N-line time over the raw exec's. stream: first output chunk"
        " to last,\n  seen in process (not for the CLI), ratio over engine.exec's. The raw"
        " exec runs in a plain\n  container limited like X_SMALL (0.5 CPU, 1 GiB). The scorer"
        " also makes a scratch directory,\n  writes its script there and removes it (the"
        " 1-line column is that fixed cost)."
    )
    print(
        f"  scorer: last chunk to ScorerFinished {o['last_chunk_to_finished_s']:.2f} s,"
        f" whole run {o['run_wall_s']:.2f} s"
    )
    print(
        f"  stored output verified: {o['stored_lines']:,} lines, {o['stored_bytes']:,} bytes,"
        f" read back in {o['read_back_s'] * 1000:.0f} ms"
    )
    rows = o["chunk_rows_per_run"]
    print(
        f"  output_chunks rows per {lines:,}-line run: {', '.join(f'{r:,}' for r in rows)}"
        f" (about {o['stored_bytes'] / statistics.median(rows):,.0f} bytes each)\n"
        f"  engine.exec delivered {', '.join(f'{r:,}' for r in o['engine_exec_chunks'])}"
        f" chunks for the same output; {o['output_chunk_rows_total']:,} rows in the table in all"
    )
    print(
        f"  database after: {o['db_bytes'] / MB:.1f} MB + WAL {o['wal_bytes'] / MB:.1f} MB"
        f" + shm {o['shm_bytes'] / MB:.2f} MB (holds {len(rows)} runs of {lines:,} lines)"
    )
    print_load(results)
    write_results(results, "runs")


def main() -> None:
    if SCENARIOS < 1 or JOBS < 1 or LINES < 1:
        raise SystemExit(
            "SANDBENCH_BENCH_SCENARIOS, SANDBENCH_BENCH_JOBS and SANDBENCH_BENCH_LINES must be >= 1"
        )
    run_in_temporary_home("runs", measure, report)


if __name__ == "__main__":
    main()
