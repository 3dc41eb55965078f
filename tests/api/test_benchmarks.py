"""Benchmarks and benchmark runs through the real Runloop SDK (1.32.0) against a real
`sandbench serve` on real Podman: the caller starts one scenario run per scenario under a
benchmark run, scores them, then completes or cancels the benchmark run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runloop_api_client import NotFoundError, RunloopSDK

from sandbench.model.benchmark import BenchmarkRunState
from sandbench.store import open_store
from tests.api.conftest import ApiServer, free_port
from tests.api.test_scenarios import devbox_status, flow_scenario, sdk_for
from tests.engine_support import require_podman

pytestmark = pytest.mark.podman


@pytest.fixture
def sdk(api_server: Any) -> Iterator[RunloopSDK]:
    with sdk_for(api_server) as opened:
        yield opened


def passing_scenario(sdk: RunloopSDK, name: str) -> Any:
    return (
        sdk.scenario.builder(name)
        .with_problem_statement("Nothing to do.")
        .add_shell_command_scorer("ok", command="true")
        .push()
    )


def test_benchmark_create_retrieve_list_update(sdk: RunloopSDK) -> None:
    first = passing_scenario(sdk, "bench-a")
    second = passing_scenario(sdk, "bench-b")
    third = passing_scenario(sdk, "bench-c")

    created = sdk.api.benchmarks.create(
        name="suite",
        scenario_ids=[first.id, second.id],
        description="two easy ones",
        metadata={"owner": "tests"},
    )
    assert created.id.startswith("bmd_")
    assert created.scenario_ids == [first.id, second.id]  # read from the wire's scenarioIds
    benchmark = sdk.benchmark.from_id(created.id)
    info = benchmark.get_info()
    assert info.name == "suite" and info.status == "active"
    assert info.scenario_ids == [first.id, second.id]
    assert info.description == "two easy ones" and info.metadata == {"owner": "tests"}

    made = sdk.benchmark.create(name="other-suite", scenario_ids=[third.id])
    assert made.get_info().scenario_ids == [third.id]
    assert {b.id for b in sdk.benchmark.list()} == {benchmark.id, made.id}
    assert [b.id for b in sdk.benchmark.list(name="other")] == [made.id]
    assert [b.id for b in sdk.benchmark.list(search=benchmark.id)] == [benchmark.id]
    assert [b.id for b in sdk.benchmark.list(search="other")] == [made.id]
    assert [s.id for s in sdk.scenario.list(benchmark_id=made.id)] == [third.id]

    # null keeps a field; a given one replaces it
    updated = benchmark.update(name="suite-v2", description=None, scenario_ids=None)
    assert updated.name == "suite-v2"
    assert updated.description == "two easy ones"
    assert updated.scenario_ids == [first.id, second.id]
    assert benchmark.get_info().name == "suite-v2"

    assert benchmark.add_scenarios([third.id]).scenario_ids == [first.id, second.id, third.id]
    assert benchmark.remove_scenarios([first.id]).scenario_ids == [second.id, third.id]
    definitions = sdk.api.benchmarks.definitions(benchmark.id)
    assert {s.id for s in definitions.scenarios} == {second.id, third.id}

    with pytest.raises(NotFoundError):
        sdk.api.benchmarks.retrieve("bmd_doesnotexist")


@pytest.mark.slow
def test_benchmark_run_scored_and_completed(sdk: RunloopSDK) -> None:
    easy = passing_scenario(sdk, "bench-easy")  # scores 1.0
    flow = flow_scenario(sdk, "bench-flow")  # scores 0.0 with nothing done
    benchmark = sdk.benchmark.create(name="scored-suite", scenario_ids=[easy.id, flow.id])

    benchmark_run = benchmark.start_run(run_name="nightly", metadata={"build": "7"})
    assert benchmark_run.benchmark_id == benchmark.id
    info = benchmark_run.get_info()
    assert info.state == "running" and info.name == "nightly"
    assert info.metadata.get("build") == "7"
    assert [r.id for r in benchmark.list_runs()] == [benchmark_run.id]
    assert [r.id for r in sdk.api.benchmark_runs.list(search="night").runs] == [benchmark_run.id]
    assert sdk.api.benchmark_runs.list(search="daily").runs == []

    scores: dict[str, float] = {}
    run_ids = []
    for scenario_id in benchmark.get_info().scenario_ids:
        run = sdk.scenario.from_id(scenario_id).run(
            benchmark_run_id=benchmark_run.id, run_name=f"nightly-{scenario_id}"
        )
        run_ids.append(run.id)
        assert run.get_info().benchmark_run_id == benchmark_run.id
        done = run.score_and_complete()
        assert done.state == "completed"
        scores[scenario_id] = done.scoring_contract_result.score
    assert scores == {easy.id: 1.0, flow.id: 0.0}

    listed = benchmark_run.list_scenario_runs()
    assert sorted(r.id for r in listed) == sorted(run_ids)
    assert {r.get_info().state for r in listed} == {"completed"}
    page = sdk.api.benchmark_runs.list_scenario_runs(benchmark_run.id)
    assert {r.scenario_id for r in page.runs} == {easy.id, flow.id}

    completed = benchmark_run.complete()
    assert completed.state == "completed"
    assert completed.score == pytest.approx(0.5)  # the mean of 1.0 and 0.0
    assert benchmark_run.get_info().score == pytest.approx(0.5)
    with open_store() as store:
        stored = store.get_benchmark_run(benchmark_run.id)
        assert stored.state == BenchmarkRunState.COMPLETED
        assert {r.id for r in store.runs_of_benchmark_run(benchmark_run.id)} == set(run_ids)


@pytest.mark.slow
def test_benchmark_run_cancel_cancels_the_runs_still_going(sdk: RunloopSDK) -> None:
    easy = passing_scenario(sdk, "cancel-easy")
    flow = flow_scenario(sdk, "cancel-flow")
    benchmark = sdk.benchmark.create(name="cancel-suite", scenario_ids=[easy.id, flow.id])
    benchmark_run = benchmark.start_run(run_name="to-cancel")

    finished = easy.run(benchmark_run_id=benchmark_run.id).score_and_complete()
    assert finished.scoring_contract_result.score == 1.0
    going = flow.run(benchmark_run_id=benchmark_run.id)
    assert going.get_info().state == "running"
    assert devbox_status(sdk, going.devbox_id) == "running"

    canceled = benchmark_run.cancel()
    assert canceled.state == "canceled"
    assert canceled.score == pytest.approx(1.0)  # from the completed scenario run only
    assert going.get_info().state == "canceled"
    assert devbox_status(sdk, going.devbox_id) == "shutdown"
    states = {r.id: r.get_info().state for r in benchmark_run.list_scenario_runs()}
    assert states == {finished.id: "completed", going.id: "canceled"}
    assert benchmark_run.get_info().state == "canceled"

    with pytest.raises(NotFoundError):
        flow.run_async(benchmark_run_id="bmr_doesnotexist")


def test_benchmark_create_and_start_run_are_idempotent_on_x_request_id(
    api_server: Any, sdk: RunloopSDK
) -> None:
    scenario = passing_scenario(sdk, "idem-a")
    key = {"x-request-id": f"test-{uuid.uuid4()}"}
    with api_server.http() as http:
        made = [
            http.post(
                "/v1/benchmarks", json={"name": "idem", "scenario_ids": [scenario.id]}, headers=key
            )
            for _ in range(2)
        ]
        assert made[0].json()["id"] == made[1].json()["id"]
        assert made[0].json()["scenarioIds"] == [scenario.id]
        benchmark_id = made[0].json()["id"]
        runs = [
            http.post("/v1/benchmarks/start_run", json={"benchmark_id": benchmark_id}, headers=key)
            for _ in range(2)
        ]
    assert [r.status_code for r in runs] == [200, 200]
    assert runs[0].json()["id"] == runs[1].json()["id"]
    assert runs[0].json()["benchmark_id"] == benchmark_id
    assert [b.id for b in sdk.benchmark.list()] == [benchmark_id]
    assert [r.id for r in sdk.benchmark.from_id(benchmark_id).list_runs()] == [runs[0].json()["id"]]


def test_start_run_on_a_cluster_without_ray_names_the_extra(
    sandbench_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose Python cannot import `ray`: a start_run with cluster_address is a 400
    naming the extra, and no benchmark run is made."""
    require_podman()
    blocker = tmp_path / "noray"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('no ray here', name='ray')\n")
    monkeypatch.setenv("PYTHONPATH", f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    server = ApiServer(
        home=sandbench_home, port=free_port(), token="sbk_test_noray", log=tmp_path / "serve.log"
    )
    server.start()
    try:
        with server.http() as http:
            made = http.post("/v1/benchmarks", json={"name": "far", "scenario_ids": []})
            assert made.status_code == 200, made.text
            answer = http.post(
                "/v1/benchmarks/start_run",
                json={"benchmark_id": made.json()["id"], "cluster_address": "127.0.0.1:6379"},
            )
            assert answer.status_code == 400, answer.text
            assert "sandbench[cluster]" in answer.text
            assert http.get("/v1/benchmark_runs").json()["runs"] == []
    finally:
        server.stop()
