"""Benchmarks you can trust, on real Podman: a SIGKILLed run reconciled and resumed with every
case scored once, infrastructure-only retries, repeats with pass@k, reasons for every case
that did not start, environment and secrets for every case, and pre-flight checks."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sandbench import paths, secrets
from sandbench.engine import Engine
from sandbench.model import RunState, ScorerState
from sandbench.model.benchmark import BenchmarkCase, BenchmarkRun, BenchmarkRunState, CaseState
from sandbench.model.ids import new_id
from sandbench.model.runs import Solution
from sandbench.runner import Runner
from sandbench.runner.benchmark_runs import BenchmarkRunner, pass_at_k
from sandbench.runner.events import CaseFinished
from sandbench.store import Store
from sandbench.store.database import now_ms
from tests.api.conftest import ApiServer, free_port
from tests.engine_support import (
    bash,
    containers_of,
    host_address,
    host_port_policy,
    make,
    require_podman,
    sandbench,
)
from tests.test_runner import store_scenario

pytestmark = pytest.mark.podman


def slow(name: str, seconds: int) -> dict[str, Any]:
    return make(name, [bash("wait", 1.0, f"sleep {seconds}; echo score=1")])


def wait_until(check: Any, what: str, timeout: float = 120) -> Any:
    """Poll another process's writes to the store until ``check`` answers."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # another process writes: nothing here to await
    return found


def mounts_under(path: Path) -> list[str]:
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(path))
    ]


@pytest.mark.slow
def test_a_sigkilled_benchmark_run_is_reconciled_then_resumed_scoring_each_case_once(
    store: Store, sandbench_home: Path, tmp_path: Path
) -> None:
    require_podman()
    for i in range(4):
        (tmp_path / f"slow-{i}.json").write_text(json.dumps(slow(f"slow-{i}", 4)))
    assert sandbench("scenarios", "import", str(tmp_path)).returncode == 0
    names = [word for i in range(4) for word in ("--scenario", f"slow-{i}")]
    assert sandbench("benchmarks", "create", "slow", *names).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbench", "benchmarks", "run", "slow", "-j", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: len([r for r in store.list_runs(limit=10).items if r.state == "scoring"]) == 2,
            "two cases scoring",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    [killed] = store.list_benchmark_runs("slow")
    assert killed.state == BenchmarkRunState.RUNNING  # nothing has looked yet

    listed = sandbench("benchmarks", "runs", "slow")  # any command that lists runs reconciles
    assert f"sandbench benchmarks resume {killed.id}" in listed.stderr
    interrupted = store.get_benchmark_run(killed.id)
    assert interrupted.state == BenchmarkRunState.FAILED
    assert "interrupted" in (interrupted.notes or "")
    cut = store.runs_of_benchmark_run(killed.id)
    assert len(cut) == 2 and all(r.state == RunState.FAILED for r in cut)
    assert all((r.failure_reason or "").startswith("interrupted") for r in cut)
    assert all(
        s.state == ScorerState.ERROR and "interrupted" in s.details["reason"]
        for r in cut
        for s in r.scorer_results
    )
    assert {c.state for c in store.cases_of(killed.id)} == {CaseState.INTERRUPTED}

    resumed = sandbench("benchmarks", "resume", killed.id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    document = json.loads(resumed.stdout)
    assert document["id"] == killed.id and document["state"] == "completed"
    assert document["score"] == pytest.approx(1.0)
    assert [c["state"] for c in document["cases"]] == ["completed"] * 4
    finals = [c["run_id"] for c in document["cases"]]
    runs = store.runs_of_benchmark_run(killed.id)
    completed = [r for r in runs if r.state == RunState.COMPLETED]
    assert sorted(r.id for r in completed) == sorted(finals)  # each case scored exactly once
    assert len(runs) == 6  # the two interrupted attempts stay, beside the four that scored
    assert containers_of(killed.id) == [] and all(containers_of(r.id) == [] for r in runs), (
        "no container of the run is left"
    )
    assert mounts_under(sandbench_home) == []
    with sqlite3.connect(paths.database_path()) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = sandbench("benchmarks", "resume", killed.id)
    assert again.returncode == 2 and "nothing left to run" in again.stderr


def test_resume_refuses_a_run_still_running_or_unknown(store: Store) -> None:
    missing = sandbench("benchmarks", "resume", "bmr_nope")
    assert missing.returncode == 1 and "no benchmark run" in missing.stderr


@pytest.mark.slow
def test_an_infrastructure_failure_is_retried_and_a_zero_is_not(
    store: Store, engine: Engine
) -> None:
    store_scenario(store, slow("flaky-infra", 6))
    store_scenario(store, make("zero", [bash("never", 1.0, "echo score=0")]))
    store.create_benchmark("retry", ["flaky-infra", "zero"])
    runner = Runner(store, engine)
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            run=BenchmarkRunner(runner).run("retry", jobs=2, retries=1, use_cache=False)
        )
    )
    thread.start()
    first = wait_until(
        lambda: next(
            (
                r
                for r in store.list_runs(limit=10).items
                if r.name == "flaky-infra" and r.state == "scoring"
            ),
            None,
        ),
        "the slow case scoring",
    )
    sandbox = store.get_sandbox(first.sandbox_id)
    subprocess.run(
        ["podman", "rm", "-f", f"sandbench-{sandbox.id}"], check=True, capture_output=True
    )
    thread.join(timeout=300)
    run = result["run"]
    assert run.state == BenchmarkRunState.COMPLETED, run.notes
    cases = {c.scenario_name: c for c in store.cases_of(run.id)}
    assert cases["flaky-infra"].attempts == 2 and cases["flaky-infra"].state == CaseState.DONE
    assert cases["flaky-infra"].score == pytest.approx(1.0)
    assert cases["zero"].attempts == 1 and cases["zero"].score == 0.0  # a score is a result
    attempts = [r for r in store.runs_of_benchmark_run(run.id) if r.name == "flaky-infra"]
    assert [r.state for r in attempts] == [RunState.FAILED, RunState.COMPLETED]
    assert (attempts[0].failure_reason or "").startswith("infrastructure:")
    assert run.status_breakdown == {"completed": 2, "retried": 1}


class Sequence(BaseHTTPRequestHandler):
    """Answers the scorers' requests with the next score of a fixed sequence."""

    scores: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        body = (type(self).scores.pop(0) if type(self).scores else "0").encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def score_server(store: Store) -> Iterator[tuple[str, str]]:
    """An HTTP server on the host, and a network policy that lets a sandbox reach it (the
    host's services are walled off from sandboxes otherwise): (URL, policy id)."""
    server = ThreadingHTTPServer(("0.0.0.0", 0), Sequence)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    yield f"http://{host_address()}:{port}/", host_port_policy(store, port)
    server.shutdown()


@pytest.mark.slow
def test_repeats_give_mean_std_pass_at_k_and_list_the_flaky(
    store: Store, engine: Engine, score_server: tuple[str, str]
) -> None:
    Sequence.scores = ["1.0", "0.0", "1.0"]
    url, policy = score_server
    fetch = (
        'python3 -c "import urllib.request;'
        f" print('score=' + urllib.request.urlopen('{url}').read().decode())\""
    )
    coin = make("coin", [bash("coin", 1.0, fetch)])
    coin["environment_parameters"]["launch_parameters"]["network_policy_id"] = policy
    store_scenario(store, coin)
    store_scenario(store, make("steady", [bash("steady", 1.0, "echo score=1")]))
    store.create_benchmark("repeat", ["coin", "steady"])
    seen: list[Any] = []
    runner = Runner(store, engine)
    runner.bus.subscribe(lambda e: seen.append(e) if isinstance(e, CaseFinished) else None)
    run = BenchmarkRunner(runner).run("repeat", jobs=1, repeats=3)
    assert run.total_cases == 6 and run.ok_cases == 6
    stats = {s.name: s for s in run.scenario_stats}
    coin, steady = stats["coin"], stats["steady"]
    assert (coin.runs, coin.passes, coin.k) == (3, 2, 3)
    assert coin.mean_score == pytest.approx(2 / 3)
    assert coin.score_std == pytest.approx(math.sqrt(1 / 3))
    assert coin.pass_at_1 == pytest.approx(2 / 3) and coin.pass_at_k == pytest.approx(1.0)
    assert coin.flaky and not steady.flaky
    assert (steady.pass_at_1, steady.pass_at_k, steady.score_std) == (1.0, 1.0, 0.0)
    assert run.flaky == ["coin"]
    assert run.score == pytest.approx((2 / 3 + 1.0) / 2)  # the mean of per-scenario means
    assert run.cache_hit_cases == 0, "repeats never come from the cache"
    assert len(seen) == 6
    stored = store.get_benchmark_run(run.id)
    assert [s.model_dump() for s in stored.scenario_stats] == [
        s.model_dump() for s in run.scenario_stats
    ]
    report = json.loads(
        sandbench(
            "runs", "export", "--benchmark-run", run.id, "--format", "benchmark-report-json"
        ).stdout
    )
    assert report["repeats"] == 3 and report["flaky"] == ["coin"]
    exported = {s["name"]: s for s in report["scenario_stats"]}
    assert exported["coin"]["pass_at_1"] == pytest.approx(2 / 3)
    assert exported["coin"]["pass_at_k"] == pytest.approx(1.0)
    assert sorted(c["repeat_index"] for c in report["cases"]) == [0, 0, 1, 1, 2, 2]


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(10, 0, 3) == 0.0
    assert pass_at_k(10, 10, 3) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(2 / 5)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert pass_at_k(3, 1, 3) == 1.0


def test_every_case_that_cannot_start_says_why_before_any_sandbox(
    store: Store, tmp_path: Path
) -> None:
    require_podman()
    scenarios = [
        make("fine", [bash("ok", 1.0, "echo score=1")]),
        make("no-reference", [bash("ok", 1.0, "echo score=1")], reference_output=None),
        make(
            "needs-env",
            [bash("ok", 1.0, "echo score=1")],
            required_environment_variables=["WEATHER_BASE_URL"],
        ),
        make(
            "needs-secret",
            [bash("ok", 1.0, "echo score=1")],
            required_secret_names=["WEATHER_API_TOKEN"],
        ),
        {
            **make("no-blueprint", [bash("ok", 1.0, "echo score=1")]),
            "environment_parameters": {"blueprint_id": "bpt_missing"},
        },
    ]
    for data in scenarios:
        data = {k: v for k, v in data.items() if v is not None}
        (tmp_path / f"{data['name']}.json").write_text(json.dumps(data))
    assert sandbench("scenarios", "import", str(tmp_path)).returncode == 0
    names = [w for d in scenarios for w in ("--scenario", d["name"])]
    assert sandbench("benchmarks", "create", "reasons", *names).returncode == 0
    env_free = {k: v for k, v in os.environ.items() if k != "WEATHER_BASE_URL"}
    printed = subprocess.run(
        [sys.executable, "-m", "sandbench", "benchmarks", "run", "reasons", "-j", "1"],
        capture_output=True,
        text=True,
        env=env_free,
        timeout=300,
    )
    for name, why in [
        ("no-reference", "no reference_output"),
        ("needs-env", "WEATHER_BASE_URL"),
        ("needs-secret", "WEATHER_API_TOKEN"),
        ("no-blueprint", "bpt_missing"),
    ]:
        line = next(x for x in printed.stderr.splitlines() if f" {name}:" in x)
        assert "not_started" in line and why in line, line
    assert any(" fine" in x and "completed" in x for x in printed.stderr.splitlines())
    as_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "sandbench", "benchmarks", "run", "reasons", "--json"],
            capture_output=True,
            text=True,
            env=env_free,
            timeout=300,
        ).stdout
    )
    reasons = {c["scenario_name"]: (c["state"], c["reason"]) for c in as_json["cases"]}
    assert reasons["fine"][0] == "completed"
    assert (
        reasons["needs-env"][0] == "not_started" and "WEATHER_BASE_URL" in reasons["needs-env"][1]
    )
    assert as_json["status_breakdown"] == {"completed": 1, "not_started": 4}
    assert "no-blueprint: not_started:" in as_json["notes"]
    # no sandbox (and no run) was made for a case that could not start
    sandboxes = store.list_sandboxes(limit=100)
    assert sandboxes and {store.get_run(b.scenario_run_id).name for b in sandboxes} == {"fine"}
    assert {r.name for r in store.list_runs(limit=100).items} == {"fine"}


def test_a_single_run_with_no_reference_fails_before_a_sandbox(store: Store) -> None:
    require_podman()
    store_scenario(
        store,
        {
            k: v
            for k, v in make("bare", [bash("ok", 1.0, "echo score=1")]).items()
            if k != "reference_output"
        },
    )
    result = sandbench("run", "bare")
    assert result.returncode == 2 and "no reference_output" in result.stderr
    assert store.list_sandboxes(limit=10) == [] and store.list_runs().items == []


@pytest.mark.slow
def test_env_and_secrets_reach_every_case_and_only_names_are_stored(store: Store) -> None:
    require_podman()
    secrets.set_secret("WEATHER_TOKEN_VALUE", "s3cr3t-value-42")
    digest = hashlib.sha256(b"s3cr3t-value-42").hexdigest()  # the value itself is stored nowhere
    check = (
        '[ "$REGION" = eu-west ]'
        f' && [ "$(printf %s "$API_TOKEN" | sha256sum | cut -d" " -f1)" = {digest} ]'
        " && echo score=1 || echo score=0"
    )
    store_scenario(store, make("env-a", [bash("env", 1.0, check)]))
    store_scenario(store, make("env-b", [bash("env", 1.0, check)]))
    assert sandbench("benchmarks", "create", "envs", "-s", "env-a", "-s", "env-b").returncode == 0
    result = sandbench(
        "benchmarks",
        "run",
        "envs",
        "--env",
        "REGION=eu-west",
        "--secret",
        "API_TOKEN=WEATHER_TOKEN_VALUE",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["score"] == pytest.approx(1.0)
    assert document["environment_variables"] == {"REGION": "eu-west"}
    assert document["secrets_provided"] == {"API_TOKEN": "WEATHER_TOKEN_VALUE"}
    exported = sandbench(
        "runs", "export", "--benchmark-run", document["id"], "--format", "benchmark-run-json"
    ).stdout
    assert json.loads(exported)["secrets_provided"] == {"API_TOKEN": "WEATHER_TOKEN_VALUE"}
    for path in paths.data_dir().rglob("sandbench.db*"):
        assert b"s3cr3t-value-42" not in path.read_bytes()
    bad = sandbench("benchmarks", "run", "envs", "--secret", "API_TOKEN")
    assert bad.returncode == 2 and "ENV_NAME=SECRET_NAME" in bad.stderr


def test_serve_reconciles_what_a_dead_process_left_when_it_starts(
    store: Store, sandbench_home: Path, tmp_path: Path
) -> None:
    require_podman()
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid belongs to nobody now
    scenario_id = store_scenario(store, slow("left", 1))
    run = store.create_run(scenario_id, 1, Solution.REFERENCE, owner_pid=gone.pid, owner_start="0")
    store.set_run_state(run.id, RunState.SCORING)
    scorer = store.start_scorer(run.id, "wait", "bash_script_scorer", 1.0)
    bench = store.create_benchmark_run(
        BenchmarkRun(id=new_id("benchmark_run"), start_time_ms=now_ms(), state="running"),
        owner_pid=gone.pid,
        owner_start="0",
    )
    store.create_cases(
        [
            BenchmarkCase(
                benchmark_run_id=bench.id, position=0, scenario_id=scenario_id, scenario_version=1
            )
        ]
    )
    server = ApiServer(home=sandbench_home, port=free_port(), token="t", log=tmp_path / "s.log")
    server.start()
    try:
        reconciled = store.get_run(run.id)
        assert reconciled.state == RunState.FAILED
        assert (reconciled.failure_reason or "").startswith("interrupted")
        assert store.get_scorer_result(scorer.id).state == ScorerState.ERROR
        assert store.get_benchmark_run(bench.id).state == BenchmarkRunState.FAILED
        assert [c.state for c in store.cases_of(bench.id)] == [CaseState.INTERRUPTED]
    finally:
        server.stop()


def test_a_ctrl_c_handed_to_a_worker_thread_cancels_at_once(store: Store, engine: Engine) -> None:
    """The kernel gives a process's SIGINT to any of its threads; the benchmark's waiting
    main thread must still see it now, not when the case it waits on ends."""
    for name in ("ctrl-c-0", "ctrl-c-1"):
        store_scenario(store, slow(name, 40))
    store.create_benchmark("ctrl-c", ["ctrl-c-0", "ctrl-c-1"])

    def interrupt_from_this_thread() -> None:
        wait_until(
            lambda: any(r.state == RunState.SCORING for r in store.list_runs(limit=10).items),
            "the first case scoring",
        )
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # not the main thread

    threading.Thread(target=interrupt_from_this_thread, daemon=True).start()
    started = time.monotonic()
    run = BenchmarkRunner(Runner(store, engine)).run("ctrl-c", jobs=1, use_cache=False)
    cases = {c.scenario_name: c.state for c in store.cases_of(run.id)}
    assert cases == {"ctrl-c-0": CaseState.CANCELED, "ctrl-c-1": CaseState.NOT_STARTED}
    assert run.state == BenchmarkRunState.CANCELED
    assert time.monotonic() - started < 40  # the scorer sleeps 40 s: it never finished
