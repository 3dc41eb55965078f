"""API speed: `sandbench serve` against the engine in process, doing the same work.

1. Exec round trip of ``true``, as a client does it: ``execute_async``, then the
   execution's ``wait_for_status`` until ``completed`` (raw HTTP on one pooled httpx
   client); also the SDK's ``devbox.cmd.exec`` (the same request pair, through the SDK)
   and its deprecated single-request ``execute_sync``. Baseline: ``engine.exec(id, "true")``
   in this process, on a sandbox of the same kind (the spec a devbox with no launch
   parameters gets). The ways are interleaved, rotating which goes first, after a warm-up;
   the target is API/engine <= 1.5x at p50.
2. DEVBOXES devboxes created at once: as many threads each ``create_and_await_running``
   (the SDK), until all are running. Baseline: as many threads ``engine.create(spec)`` in
   this process (owned sandboxes), each making its spec as the API does; and the same
   detached (``detach=True``), as a devbox is: a watcher process each, so the difference
   left is the API's own. ROUNDS rounds, the three ways' order reversed every other round.
   Wall time (the rounds' mean) and per devbox (from the common start to running), p50/p95,
   and from the store's clock when each sandbox row and ``running`` were recorded.
3. Responsiveness under long-polls: POLLS long-polls held open while PROBES trivial execs
   (the round trip of 1) run one after another. Two kinds of long-poll: devbox
   ``wait_for_status`` for ``shutdown`` on a running devbox (released by shutting it down),
   and execution ``wait_for_status`` on POLLS ``sleep 600`` executions on another devbox
   (released by shutting that devbox down, which ends them). Baseline: the same execs with
   nothing held, before and after (pooled). Every long-poll must have stayed held (no 408
   re-poll) until its release, and have ended with 200 after it.

Everything runs in a temporary SANDBENCH_HOME shared by the server and this process's
engine, which has its own private Podman service (see bench_engine.py). Devboxes outlive
the server by design, so on the way out (error, Ctrl-C) the server is stopped and every
sandbox in the store is shut down by this process's engine, then checked for leftovers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_engine import (
    clean_up,
    print_header,
    print_load,
    run_in_temporary_home,
    start_service,
    summary,
    write_results,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # tests.api.conftest.ApiServer

EXECS = int(os.environ.get("SANDBENCH_BENCH_API_EXECS", "100"))
WARMUP = 10
DEVBOXES = int(os.environ.get("SANDBENCH_BENCH_API_DEVBOXES", "16"))
ROUNDS = int(os.environ.get("SANDBENCH_BENCH_API_ROUNDS", "2"))  # of DEVBOXES at once, each way
POLLS = int(os.environ.get("SANDBENCH_BENCH_API_POLLS", "32"))
PROBES = int(os.environ.get("SANDBENCH_BENCH_API_PROBES", "10"))
TARGET = 1.5  # API/engine exec round trip, p50
HOLD_S = 60  # the server's longest hold; the bench ends every long-poll well before
SETTLE_S = 1.0  # after the long-polls are sent, before the probes


def status(text: str) -> None:
    print(f"\r  {text:70}", end="", file=sys.stderr, flush=True)


def clear_status() -> None:
    print("\r" + " " * 74 + "\r", end="", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the ways to exec


def api_exec(http: Any, devbox_id: str) -> float:
    """execute_async, then wait_for_status until completed: one request pair (a 408 would
    add a request; none is expected for ``true``)."""
    start = time.perf_counter()
    answer = http.post(f"/v1/devboxes/{devbox_id}/execute_async", json={"command": "true"})
    answer.raise_for_status()
    view = answer.json()
    while view["status"] != "completed":
        answer = http.post(
            f"/v1/devboxes/{devbox_id}/executions/{view['execution_id']}/wait_for_status",
            json={"statuses": ["completed"], "timeout_seconds": 30},
        )
        if answer.status_code == 408:
            continue
        answer.raise_for_status()
        view = answer.json()
    elapsed = time.perf_counter() - start
    if view["exit_status"] != 0:
        raise RuntimeError(f"true through the API gave {view['exit_status']}: {view}")
    return elapsed


def sdk_cmd_exec(devbox: Any) -> float:
    start = time.perf_counter()
    result = devbox.cmd.exec("true")
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise RuntimeError(f"true through cmd.exec gave {result.exit_code}")
    return elapsed


def sdk_execute_sync(sdk: Any, devbox_id: str) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = sdk.devboxes.execute_sync(devbox_id, command="true")
    elapsed = time.perf_counter() - start
    if result.exit_status != 0:
        raise RuntimeError(f"true through execute_sync gave {result.exit_status}")
    return elapsed


def engine_exec(engine: Any, sandbox_id: str) -> float:
    start = time.perf_counter()
    result = engine.exec(sandbox_id, "true")
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise RuntimeError(f"true through the engine gave {result.exit_code}: {result.output!r}")
    return elapsed


def round_trips(ways: dict[str, Callable[[], float]], count: int) -> dict[str, list[float]]:
    """``count`` runs of each way, interleaved, which goes first rotating."""
    names = list(ways)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            samples[name].append(ways[name]())
    return samples


# ---------------------------------------------------------------------- creating at once


def at_once(count: int, make: Callable[[], str]) -> dict[str, Any]:
    """``count`` threads, released together, each calling ``make`` (which returns a sandbox
    id): the wall time, each one's time from the common start, the ids. Every thread is
    waited for, even when one fails."""
    go = threading.Event()
    start = [0.0, 0.0]

    def one() -> tuple[str, float]:
        go.wait()
        made = make()
        return made, time.perf_counter() - start[0]

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="create") as pool:
        futures = [pool.submit(one) for _ in range(count)]
        time.sleep(0.2)  # every thread parked on the event
        start[:] = [time.perf_counter(), time.time()]
        go.set()
        outcomes, errors = [], []
        for future in futures:
            try:
                outcomes.append(future.result())
            except Exception as error:
                errors.append(error)
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} creates failed: {errors[0]}") from errors[0]
    times = [t for _, t in outcomes]
    return {
        "wall": max(times),
        "each": times,
        "ids": [made for made, _ in outcomes],
        "start_ms": start[1] * 1000,
    }


def timeline(store: Any, batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Where each create's time went, from the store's clock (ms since its batch's common
    start): the sandbox row inserted (``provisioning``), then ``running`` recorded; and how
    long after that the caller saw it (for the API: the hold waking, the response)."""
    from sandbench.model.sandbox import SandboxState

    inserted, running, answered = [], [], []
    for batch in batches:
        for sandbox_id, seen in zip(batch["ids"], batch["each"], strict=True):
            sandbox = store.get_sandbox(sandbox_id)
            ran = next(
                t.transition_time_ms
                for t in sandbox.state_transitions
                if t.status == SandboxState.RUNNING
            )
            inserted.append(sandbox.create_time_ms - batch["start_ms"])
            running.append(ran - batch["start_ms"])
            answered.append(seen * 1000 - (ran - batch["start_ms"]))
    return {
        "row_inserted_p50_ms": statistics.median(inserted),
        "row_inserted_max_ms": max(inserted),
        "running_recorded_p50_ms": statistics.median(running),
        "running_recorded_max_ms": max(running),
        "caller_saw_it_after_p50_ms": statistics.median(answered),
    }


def in_parallel(fn: Callable[[str], Any], ids: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(ids)), thread_name_prefix="end") as pool:
        for future in [pool.submit(fn, i) for i in ids]:
            future.result()


# ---------------------------------------------------------------------- long-polls


class LongPolls:
    """``count`` long-polls held open from as many threads, each re-asked after a 408 until
    it answers 200 or ``stop``; ``release()`` is timed to the last one's answer."""

    def __init__(self, http: Any, paths: list[str], statuses: list[str]) -> None:
        self.http = http
        self.paths = paths
        self.statuses = statuses
        self.repolls = 0
        self.sent = 0
        self.errors: list[str] = []
        self.answered: list[float] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._poll, args=(p,), daemon=True, name="long-poll")
            for p in paths
        ]

    def __enter__(self) -> LongPolls:
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 30
        while self.sent < len(self._threads) and time.monotonic() < deadline:
            time.sleep(0.01)  # until every thread has sent its first request
        time.sleep(SETTLE_S)  # and the server has taken them in
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()  # a poll still held ends at its hold; the threads are daemons

    def _poll(self, path: str) -> None:
        body = {"statuses": self.statuses, "timeout_seconds": HOLD_S}
        while not self.stop.is_set():
            with self._lock:
                self.sent += 1
            try:
                answer = self.http.post(path, json=body)
            except Exception as error:
                if not self.stop.is_set():
                    with self._lock:
                        self.errors.append(f"{type(error).__name__}: {error}")
                return
            with self._lock:
                if answer.status_code == 408:
                    self.repolls += 1
                    continue
                if answer.status_code != 200:
                    self.errors.append(f"{answer.status_code}: {answer.text[:200]}")
                else:
                    self.answered.append(time.perf_counter())
            return

    def release(self, end: Callable[[], Any], timeout: float = 60) -> dict[str, float]:
        """Run ``end`` (which lets every poll answer): ms from its start until the last poll
        answered, and how long ``end`` itself took."""
        start = time.perf_counter()
        end()
        ended = time.perf_counter()
        for thread in self._threads:
            thread.join(timeout=max(0.0, start + timeout - time.perf_counter()))
        if any(t.is_alive() for t in self._threads):
            raise RuntimeError(f"long-polls still held {timeout:.0f} s after their release")
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} long-poll(s) failed: {self.errors[0]}")
        if len(self.answered) != len(self.paths):
            raise RuntimeError(f"{len(self.answered)} of {len(self.paths)} long-polls answered")
        if min(self.answered) < start:
            raise RuntimeError("a long-poll answered before its release")
        return {
            "release_to_last_answer_ms": (max(self.answered) - start) * 1000,
            "release_call_ms": (ended - start) * 1000,
        }


# ---------------------------------------------------------------------- the run


def measure(home: Path) -> dict[str, Any]:
    import httpx
    from runloop_api_client.sdk import RunloopSDK
    from tests.api.conftest import ApiServer, free_port

    from sandbench.engine import Engine
    from sandbench.model.sandbox import SandboxState
    from sandbench.model.scenario import ScenarioEnvironment
    from sandbench.store import open_store

    store = open_store()
    engine = Engine(store, connection=start_service(home))
    server = ApiServer(
        home=home,
        port=free_port(),
        token="sbk_bench_" + uuid.uuid4().hex[:16],
        log=home / "serve.log",
    )
    clients: list[Any] = []
    interrupted = False
    try:
        status("starting sandbench serve")
        server.start()
        http = server.http()  # one pooled client, as a client holds one
        polls_http = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=HOLD_S + 30,
            limits=httpx.Limits(max_connections=2 * POLLS, max_keepalive_connections=2 * POLLS),
        )
        sdk = server.sdk()
        runloop = RunloopSDK(base_url=server.base_url, bearer_token=server.token)
        clients += [http, polls_http, sdk, runloop.api]
        # the spec a devbox with no launch parameters gets (Devboxes.create)
        spec = engine.spec_for_environment(ScenarioEnvironment())
        load_before = os.getloadavg()

        # ---- 1. exec round trip
        status("creating a devbox (API) and a sandbox (engine)")
        warm_start = time.perf_counter()
        devbox = sdk.devboxes.create_and_await_running()
        warm_api_create = time.perf_counter() - warm_start
        warm_start = time.perf_counter()
        sandbox = engine.create(spec)
        warm_engine_create = time.perf_counter() - warm_start
        if devbox.status != "running" or sandbox.status != SandboxState.RUNNING:
            raise RuntimeError(f"devbox {devbox.status}, sandbox {sandbox.status.value}")
        devbox_resources = store.get_sandbox(devbox.id).resources
        if devbox_resources != sandbox.resources:
            raise RuntimeError(f"not the same kind: {devbox_resources} vs {sandbox.resources}")
        handle = runloop.devbox.from_id(devbox.id)  # (it awaits running: one request)
        ways: dict[str, Callable[[], float]] = {
            "api_http_pair": lambda: api_exec(http, devbox.id),
            "api_sdk_cmd_exec": lambda: sdk_cmd_exec(handle),
            "api_sdk_execute_sync": lambda: sdk_execute_sync(sdk, devbox.id),
            "engine_exec": lambda: engine_exec(engine, sandbox.id),
        }
        status(f"exec round trip: warm-up x{WARMUP} each way")
        round_trips(ways, WARMUP)
        status(f"exec round trip: {EXECS} x {len(ways)} ways, interleaved")
        execs = round_trips(ways, EXECS)
        engine.shutdown(sandbox.id)

        # ---- 2. devboxes created at once
        def api_create() -> str:
            made = sdk.devboxes.create_and_await_running()
            if made.status != "running":
                raise RuntimeError(f"devbox {made.id} is {made.status}")
            return str(made.id)

        def engine_create(detach: bool = False) -> str:  # the spec per create, as the API
            made = engine.create(engine.spec_for_environment(ScenarioEnvironment()), detach=detach)
            if made.status != SandboxState.RUNNING:
                raise RuntimeError(f"sandbox {made.id} is {made.status.value}")
            return str(made.id)

        creators: dict[str, tuple[str, Callable[[], str], Callable[[str], Any]]] = {
            "engine": ("sandboxes through the engine", engine_create, engine.shutdown),
            "engine_detached": (
                "detached sandboxes through the engine",
                lambda: engine_create(detach=True),
                engine.shutdown,
            ),
            "api": ("devboxes through the API", api_create, sdk.devboxes.shutdown),
        }
        batches: dict[str, list[dict[str, Any]]] = {key: [] for key in creators}
        for round_number in range(ROUNDS):  # ABBA: the order reversed every other round
            order = list(creators) if round_number % 2 == 0 else list(reversed(creators))
            for key in order:
                what, make, end = creators[key]
                status(f"round {round_number + 1}/{ROUNDS}: {DEVBOXES} {what} at once")
                batch = at_once(DEVBOXES, make)
                batches[key].append(batch)
                status(f"round {round_number + 1}/{ROUNDS}: shutting them down (not timed)")
                in_parallel(end, batch["ids"])

        # ---- 3. responsiveness under long-polls
        status("long-polls: two more devboxes (not timed)")
        with ThreadPoolExecutor(max_workers=2) as pool:
            sleeper, watched = pool.map(lambda _: sdk.devboxes.create_and_await_running(), [0, 1])

        def probes() -> list[float]:
            return [api_exec(http, devbox.id) for _ in range(PROBES)]

        status(f"long-polls: {PROBES} execs, nothing held")
        quiet_before = probes()
        status(f"long-polls: {POLLS} devbox wait_for_status held, {PROBES} execs")
        path = f"/v1/devboxes/{watched.id}/wait_for_status"
        with LongPolls(polls_http, [path] * POLLS, ["shutdown"]) as held:
            under_devbox_polls = probes()
            devbox_repolls = held.repolls
            devbox_release = held.release(lambda: sdk.devboxes.shutdown(watched.id))

        status(f"long-polls: {POLLS} x sleep 600 until all running (not timed)")
        started = [
            sdk.devboxes.execute_async(sleeper.id, command="sleep 600") for _ in range(POLLS)
        ]
        all_running(sdk, sleeper.id, [s.execution_id for s in started])
        status(f"long-polls: {POLLS} execution wait_for_status held, {PROBES} execs")
        paths = [
            f"/v1/devboxes/{sleeper.id}/executions/{s.execution_id}/wait_for_status"
            for s in started
        ]
        with LongPolls(polls_http, paths, ["completed"]) as held:
            under_exec_polls = probes()
            exec_repolls = held.repolls
            exec_release = held.release(lambda: sdk.devboxes.shutdown(sleeper.id))
        status(f"long-polls: {PROBES} execs, nothing held (after)")
        quiet_after = probes()
        clear_status()

        host = engine.host
        quiet = quiet_before + quiet_after
        api_box = store.get_sandbox(devbox.id)
        return {
            "execs": EXECS,
            "warmup": WARMUP,
            "devboxes": DEVBOXES,
            "rounds": ROUNDS,
            "polls": POLLS,
            "probes": PROBES,
            "target_ratio": TARGET,
            "image": spec.image,
            "resources": {
                "cpu": api_box.resources.cpu,
                "memory_gib": api_box.resources.memory_gib,
                "disk_gib": api_box.resources.disk_gib,
            },
            "oci_runtime": host.runtime,
            "podman_version": host.podman_version,
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "warmup_excluded": {
                "api_first_create_ms": warm_api_create * 1000,
                "engine_first_create_ms": warm_engine_create * 1000,
            },
            "exec": {name: summary(values) for name, values in execs.items()},
            "create_at_once": {
                key: {
                    "wall_ms": statistics.mean(b["wall"] for b in rounds) * 1000,
                    "walls_ms": [b["wall"] * 1000 for b in rounds],
                    **summary([t for b in rounds for t in b["each"]]),
                    "timeline": timeline(store, rounds),
                }
                for key, rounds in batches.items()
            },
            "long_polls": {
                "quiet": summary(quiet),
                "quiet_before": summary(quiet_before),
                "quiet_after": summary(quiet_after),
                "devbox_polls": {
                    **summary(under_devbox_polls),
                    "repolls": devbox_repolls,
                    **devbox_release,
                },
                "execution_polls": {
                    **summary(under_exec_polls),
                    "repolls": exec_repolls,
                    **exec_release,
                },
            },
        }
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # a second Ctrl-C must not cut the clean-up short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            clear_status()
            if interrupted:
                print("\n  interrupted; removing sandboxes", file=sys.stderr, flush=True)
            for client in clients:
                with contextlib.suppress(Exception):
                    client.close()
            if server.process is not None:
                with contextlib.suppress(Exception):
                    server.stop()
            end_all(engine, store)
            clean_up(engine, store, home)
            store.close()
            wait_for_processes(home)
        finally:
            signal.signal(signal.SIGINT, previous)


def all_running(sdk: Any, devbox_id: str, execution_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(execution_ids)
    while waiting:
        found = sdk.devboxes.executions.retrieve(waiting[0], devbox_id=devbox_id)
        if found.status == "completed":
            raise RuntimeError(f"sleep 600 ended at once: {found.exit_status} {found.stderr!r}")
        if found.status == "running":
            waiting.pop(0)
        elif time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} sleeps not running after {timeout:.0f} s")
        else:
            time.sleep(0.1)  # nothing to wait on for "running" but a status poll


def end_all(engine: Any, store: Any) -> None:
    """Shut down every sandbox of the store not yet ended, devboxes included (they are
    detached: closing the engine leaves them)."""
    from sandbench.engine.sandboxes import LIVE
    from sandbench.model.sandbox import SandboxState

    states = [*LIVE, SandboxState.SUSPENDED]
    live = [s.id for s in store.list_sandboxes(statuses=states, limit=100_000)]

    def end(sandbox_id: str) -> None:
        with contextlib.suppress(Exception):
            engine.shutdown(sandbox_id)

    if live:
        with ThreadPoolExecutor(max_workers=min(16, len(live))) as pool:
            list(pool.map(end, live))
    # each devbox's watcher (and its own Podman service) exits once it sees the shutdown
    everything = store.list_sandboxes(limit=100_000)
    watchers = {store.sandbox_bookkeeping(s.id)["watcher_pid"] for s in everything} - {None}
    deadline = time.monotonic() + 15
    while watchers and time.monotonic() < deadline:
        time.sleep(0.1)  # not our children (most are the server's): nothing to wait on
        watchers = {pid for pid in watchers if running(pid)}
    if watchers:
        print(f"  WARNING: watchers still running: {sorted(watchers)}", file=sys.stderr)


def wait_for_processes(home: Path, timeout: float = 10) -> None:
    """Until no other process names the workspace on its command line (Podman services:
    ours, the server's and the watchers', whose sockets are in it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if str(home).encode() in (entry / "cmdline").read_bytes() and running(
                    int(entry.name)
                ):
                    found.append(int(entry.name))
        if not found:
            return
        if time.monotonic() > deadline:
            print(f"  WARNING: still running in the workspace: {found}", file=sys.stderr)
            return
        time.sleep(0.1)  # exiting on their own (parent-death signal): nothing to wait on


def running(pid: int) -> bool:
    """Whether ``pid`` is alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ---------------------------------------------------------------------- the report


def ratio(ours: dict[str, Any], base: dict[str, Any], key: str) -> float:
    return float(ours[key] / base[key])


def report(results: dict[str, Any]) -> None:
    execs = results["exec"]
    engine = execs["engine_exec"]
    for row in execs.values():
        row["ratio_vs_engine"] = {
            "p50": ratio(row, engine, "p50_ms"),
            "p95": ratio(row, engine, "p95_ms"),
        }
    made = results["create_at_once"]
    for base in ("engine", "engine_detached"):
        made[f"ratio_api_vs_{base}"] = {
            key: ratio(made["api"], made[base], key) for key in ("wall_ms", "p50_ms", "p95_ms")
        }
    polls = results["long_polls"]
    for key in ("devbox_polls", "execution_polls"):
        polls[key]["ratio_p50_vs_quiet"] = ratio(polls[key], polls["quiet"], "p50_ms")
    pair = execs["api_http_pair"]["ratio_vs_engine"]["p50"]
    results["target_met"] = pair <= results["target_ratio"]

    res = results["resources"]
    warm = results["warmup_excluded"]
    print(
        f"API benchmark (sandbench serve, Runloop SDK), runtime {results['oci_runtime']},"
        f" podman {results['podman_version']}; sandboxes {res['cpu']} CPU,"
        f" {res['memory_gib']} GiB (a devbox with no launch parameters)"
    )
    print(
        f"  warm-up excluded: first devbox {warm['api_first_create_ms']:.0f} ms, first engine"
        f" sandbox {warm['engine_first_create_ms']:.0f} ms, {results['warmup']} execs each way"
    )
    header = f"  {'exec true, ' + str(results['execs']) + ' each':36} {'p50 ms':>8} {'p95 ms':>8}"
    print_header(header + f"   {'/engine p50':>11} {'p95':>6}")
    labels = {
        "engine_exec": "engine.exec in process",
        "api_http_pair": "API execute_async + wait (httpx)",
        "api_sdk_cmd_exec": "API devbox.cmd.exec (SDK, same pair)",
        "api_sdk_execute_sync": "API execute_sync (SDK, 1 request)",
    }
    for key, label in labels.items():
        row = execs[key]
        r = row["ratio_vs_engine"]
        tail = f"   {r['p50']:>10.2f}x {r['p95']:>5.2f}x"
        if key == "engine_exec":
            tail = "   (baseline)"
        print(f"  {label:36} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}{tail}")
    verdict = "met" if results["target_met"] else "NOT met"
    print(f"  target API/engine <= {results['target_ratio']}x at p50 (httpx pair): {verdict}")
    print()
    at_once_label = f"{results['devboxes']} at once, {results['rounds']} rounds (ABBA)"
    header = f"  {at_once_label:36} {'wall ms':>8} {'p50 ms':>8}"
    print_header(header + f" {'p95 ms':>8}")
    for key, label in (
        ("engine", "engine.create (owned)"),
        ("engine_detached", "engine.create(detach=True)"),
        ("api", "API create_and_await_running"),
    ):
        row = made[key]
        print(f"  {label:36} {row['wall_ms']:8.0f} {row['p50_ms']:8.0f} {row['p95_ms']:8.0f}")
    for base, label in (("engine", "API/engine owned"), ("engine_detached", "API/engine detached")):
        r = made[f"ratio_api_vs_{base}"]
        print(f"  {label:36} {r['wall_ms']:7.2f}x {r['p50_ms']:7.2f}x {r['p95_ms']:7.2f}x")
    e, d, a = (made[k]["timeline"] for k in ("engine", "engine_detached", "api"))
    print("  wall: the mean of the rounds; p50/p95: every devbox of every round")
    print(
        "  in the store, ms from the start (owned / detached / API): sandbox row p50"
        f" {e['row_inserted_p50_ms']:.0f} / {d['row_inserted_p50_ms']:.0f} /"
        f" {a['row_inserted_p50_ms']:.0f}, last {e['row_inserted_max_ms']:.0f} /"
        f" {d['row_inserted_max_ms']:.0f} / {a['row_inserted_max_ms']:.0f}"
    )
    print(
        f"  running p50 {e['running_recorded_p50_ms']:.0f} / {d['running_recorded_p50_ms']:.0f}"
        f" / {a['running_recorded_p50_ms']:.0f}, last {e['running_recorded_max_ms']:.0f} /"
        f" {d['running_recorded_max_ms']:.0f} / {a['running_recorded_max_ms']:.0f}; seen"
        f" running by the caller {e['caller_saw_it_after_p50_ms']:.0f} /"
        f" {d['caller_saw_it_after_p50_ms']:.0f} / {a['caller_saw_it_after_p50_ms']:.0f} ms"
        " later (p50)"
    )
    print(
        "  all make the spec per create; a devbox is detached like the second row (a watcher"
        " process each, with its own Podman service)"
    )
    print()
    header = f"  {'exec true while held, ' + str(results['probes']) + ' each':36} {'p50 ms':>8}"
    print_header(header + f" {'p95 ms':>8}   {'/quiet p50':>10}")
    quiet = polls["quiet"]
    print(f"  {'nothing held (before+after)':36} {quiet['p50_ms']:8.1f} {quiet['p95_ms']:8.1f}")
    n = results["polls"]
    for key, label in (
        ("devbox_polls", f"{n} devbox wait_for_status"),
        ("execution_polls", f"{n} execution wait_for_status"),
    ):
        row = polls[key]
        print(
            f"  {label:36} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f}"
            f"   {row['ratio_p50_vs_quiet']:9.2f}x"
        )
    before, after = polls["quiet_before"]["p50_ms"], polls["quiet_after"]["p50_ms"]
    d, x = polls["devbox_polls"], polls["execution_polls"]
    print(
        f"  quiet p50 {before:.1f} ms before, {after:.1f} ms after; the execution polls wait on"
        f" {n} running sleep 600 (another devbox)"
    )
    print(
        f"  all {n} polls held until released (re-polls {d['repolls']} / {x['repolls']}), the"
        f" last answering {d['release_to_last_answer_ms']:.0f} /"
        f" {x['release_to_last_answer_ms']:.0f} ms after the release began (a devbox shutdown:"
        f" {d['release_call_ms']:.0f} / {x['release_call_ms']:.0f} ms)"
    )
    print_load(results)
    write_results(results, "api")


def main() -> None:
    if min(EXECS, DEVBOXES, ROUNDS, POLLS, PROBES) < 1:
        raise SystemExit("the SANDBENCH_BENCH_API_* knobs must be >= 1")
    run_in_temporary_home("API", measure, report)


if __name__ == "__main__":
    main()
