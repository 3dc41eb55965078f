"""Every sample passes `scenarios check`; a benchmark of all samples scores and caches;
Ctrl-C mid-benchmark leaves a canceled run and no containers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from sandbench.engine import Engine
from sandbench.model import Architecture, BenchmarkRunState, RunState, parse_scenarios
from sandbench.runner import Runner
from sandbench.runner.benchmark_runs import BenchmarkRunner
from sandbench.runner.validation import check
from sandbench.store import Store
from tests.conftest import sample_files
from tests.engine_support import require_podman
from tests.sample_support import requirements

pytestmark = pytest.mark.podman
FILES = sample_files()


def load(path: Path):
    return parse_scenarios(tomllib.loads(path.read_text()))[0].scenario


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_sample_passes_check(
    path: Path, sample_store: Store, engine: Engine, request: pytest.FixtureRequest
) -> None:
    scenario = load(path)
    if scenario.architecture == Architecture.ARM64:
        request.getfixturevalue("arm64_base")
    report = check(Runner(sample_store, engine), scenario.name, env=requirements(scenario))
    detail = {v.name: (v.reference, v.baseline, v.problem) for v in report.scorers}
    assert report.forward_ok, (report.forward.failure_reason, detail)
    assert report.reverse_ok, (report.reverse.score, detail)


def test_benchmark_of_all_samples_then_its_cached_rerun(
    sample_store: Store,
    engine: Engine,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenarios = [load(p) for p in FILES]
    if any(s.architecture == Architecture.ARM64 for s in scenarios):
        request.getfixturevalue("arm64_base")
    for scenario in scenarios:
        for key, value in requirements(scenario).items():
            monkeypatch.setenv(key, value)
    sample_store.create_benchmark("samples", [s.name for s in scenarios])
    runner = BenchmarkRunner(Runner(sample_store, engine))
    first = runner.run("samples", jobs=2)
    assert first.state == BenchmarkRunState.COMPLETED, first.notes
    runs = sample_store.runs_of_benchmark_run(first.id)
    assert {r.name: r.score for r in runs} == {s.name: pytest.approx(1.0) for s in scenarios}
    assert first.ok_cases == first.total_cases == len(scenarios)
    assert first.status_breakdown == {"completed": len(scenarios)}
    assert first.score == pytest.approx(1.0)
    again = BenchmarkRunner(Runner(sample_store, engine)).run("samples", jobs=2)
    assert again.cache_hit_cases == len(scenarios), "an unchanged rerun is all cache hits"
    assert again.score == pytest.approx(1.0)
    assert (again.duration_ms or 0) < (first.duration_ms or 0) / 3


SLOW = {
    "input_context": {"problem_statement": "wait"},
    "scoring_contract": {
        "scoring_function_parameters": [
            {
                "name": "wait",
                "weight": 1.0,
                "scorer": {"type": "bash_script_scorer", "bash_script": "sleep 120; echo score=1"},
            }
        ]
    },
    "environment_parameters": {"launch_parameters": {"resource_size_request": "X_SMALL"}},
    "reference_output": "true\n",
}


def test_ctrl_c_mid_benchmark_cancels_and_leaves_no_containers(
    tmp_path: Path, store: Store
) -> None:
    require_podman()
    for i in range(4):
        (tmp_path / f"slow-{i}.json").write_text(json.dumps({**SLOW, "name": f"slow-{i}"}))
    cli = [sys.executable, "-m", "sandbench"]
    subprocess.run([*cli, "scenarios", "import", str(tmp_path)], check=True, capture_output=True)
    subprocess.run(
        [
            *cli,
            "benchmarks",
            "create",
            "slow",
            *[word for i in range(4) for word in ("--scenario", f"slow-{i}")],
        ],
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [*cli, "benchmarks", "run", "slow", "-j", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until two scorers are running
        scoring = [r for r in store.list_runs(limit=10).items if r.state == RunState.SCORING]
        if len(scoring) == 2:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the benchmark never started scoring")
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # its threads' stacks, to stderr
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=5)
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"a Ctrl-C'd benchmark did not exit within 120 s; its stacks:\n{err}")
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["state"] == "canceled"
    assert result["status_breakdown"].get("canceled") == 2
    assert result["status_breakdown"].get("not_started") == 2
    labels = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert not any(r.sandbox_id and r.sandbox_id in labels for r in store.list_runs().items)
    assert "Traceback" not in err
    assert os.environ.get("SANDBENCH_HOME")  # the subprocess used this test's workspace
