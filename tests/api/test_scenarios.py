"""Scenarios, scenario runs and scorers through the real Runloop SDK (1.32.0) against a real
`sandbench serve` on real Podman: what a user of `RunloopSDK` does, end to end.

Every object made here is an ordinary object of sandbench's store (the tests open it at
the server's SANDBENCH_HOME to check), so the TUI and the CLI see the same runs.
"""

from __future__ import annotations

import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from runloop_api_client import BadRequestError, NotFoundError, Runloop, RunloopSDK
from runloop_api_client.sdk.scenario_run import ScenarioRun

from sandbench.engine import Engine
from sandbench.model.runs import RunState, ScorerState
from sandbench.runner import Runner
from sandbench.store import open_store

pytestmark = pytest.mark.podman

WORKDIR = "/workspace"

# The "agent" of the flow tests: one exec and one file write, both needed by `answer`.
ANSWER_SCRIPT = f"""\
cd {WORKDIR}
echo "answer is $(cat answer.txt 2>/dev/null || echo missing)"
if [ "$(cat answer.txt 2>/dev/null)" = 42 ] && [ "$(cat build/status 2>/dev/null)" = ok ]; then
  echo score=1.0
else
  echo score=0.0
fi
"""
# `tests` wants build/extra, which the agent never makes: it fails unless a test makes it.
CHECK_SH = "test -f build/extra && echo extra-present || { echo extra-missing; exit 1; }\n"


def sdk_for(api_server: Any, **options: Any) -> RunloopSDK:
    return RunloopSDK(base_url=api_server.base_url, bearer_token=api_server.token, **options)


@pytest.fixture
def sdk(api_server: Any) -> Iterator[RunloopSDK]:
    with sdk_for(api_server) as opened:
        yield opened


def flow_scenario(sdk: RunloopSDK, name: str) -> Any:
    """Two scorers of different types, weights 0.75 (`answer`) and 0.25 (`tests`)."""
    return (
        sdk.scenario.builder(name)
        .with_working_directory(WORKDIR)
        .with_problem_statement("Write 42 to answer.txt and make build/status say ok.")
        .add_bash_script_scorer("answer", bash_script=ANSWER_SCRIPT, weight=3.0)
        .add_test_command_scorer(
            "tests",
            test_command="bash check.sh",
            weight=1.0,
            test_files=[{"file_path": "check.sh", "file_contents": CHECK_SH}],
        )
        .push()
    )


def do_the_work(run: Any) -> None:
    """What the agent does: an exec and a file write on the run's devbox."""
    made = run.devbox.cmd.exec(f"cd {WORKDIR} && mkdir -p build && echo ok > build/status")
    assert made.exit_code == 0, made.stderr()
    run.devbox.file.write(file_path=f"{WORKDIR}/answer.txt", contents="42")
    seen = run.devbox.cmd.exec(f"cat {WORKDIR}/answer.txt {WORKDIR}/build/status")
    assert seen.stdout() == "42ok\n"  # answer.txt has no newline


def results_by_name(view: Any) -> dict[str, Any]:
    assert view.scoring_contract_result is not None, view
    return {
        r.scoring_function_name: r for r in view.scoring_contract_result.scoring_function_results
    }


def container_memory(devbox_id: str) -> int:
    """The memory limit Podman enforces on the devbox's container, in bytes."""
    found = subprocess.run(
        ["podman", "inspect", f"sandbench-{devbox_id}", "--format", "{{.HostConfig.Memory}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(found.stdout.strip())


def devbox_status(sdk: RunloopSDK, devbox_id: str) -> str:
    return sdk.api.devboxes.retrieve(devbox_id).status


# ---------------------------------------------------------------------------- scenarios


def test_scenario_create_retrieve_list_update_archive(sdk: RunloopSDK) -> None:
    scenario = (
        sdk.scenario.builder("crud-scenario")
        .with_working_directory(WORKDIR)
        .with_problem_statement("Fix the bug.")
        .with_additional_context({"hint": "look at main.py"})
        .with_metadata({"team": "evals"})
        .add_bash_script_scorer("script", bash_script="echo score=1.0", weight=1.0)
        .add_test_command_scorer("tests", test_command="true", weight=1.0)
        .add_shell_command_scorer("lint", command="true", weight=2.0)
        .push()
    )
    other = (
        sdk.scenario.builder("crud-other")
        .with_problem_statement("x")
        .with_validation_type("FORWARD")
        .add_shell_command_scorer("ok", command="true")
        .push()
    )

    info = scenario.get_info()
    assert info.id.startswith("scn_")
    assert info.name == "crud-scenario"
    assert info.status == "active"
    assert info.input_context.problem_statement == "Fix the bug."
    assert info.input_context.additional_context == {"hint": "look at main.py"}
    assert info.metadata == {"team": "evals"}
    assert info.environment is not None and info.environment.working_directory == WORKDIR
    functions = info.scoring_contract.scoring_function_parameters
    assert [(f.name, f.scorer.type, f.weight) for f in functions] == [
        ("script", "bash_script_scorer", 0.25),
        ("tests", "test_based_scorer", 0.25),
        ("lint", "command_scorer", 0.5),
    ]
    assert functions[0].scorer.bash_script == "echo score=1.0"
    assert info.version == 1  # sandbench's own

    found = sdk.scenario.list(name="crud-scen")
    assert [s.id for s in found] == [scenario.id]
    assert {s.id for s in sdk.scenario.list()} >= {scenario.id}
    assert len(sdk.scenario.list()) == 2
    assert [s.id for s in sdk.scenario.list(search=scenario.id)] == [scenario.id]  # id or name
    assert [s.id for s in sdk.scenario.list(search="other")] == [other.id]
    assert [s.id for s in sdk.scenario.list(validation_type="FORWARD")] == [other.id]

    # a new version: given fields replace, null/absent ones keep their values
    updated = scenario.update(
        input_context={"problem_statement": "Fix the bug, properly."},
        metadata=None,
        reference_output="echo fixed",
    )
    assert updated.version == 2
    assert updated.input_context.problem_statement == "Fix the bug, properly."
    assert updated.metadata == {"team": "evals"}
    assert updated.reference_output == "echo fixed"
    assert [f.name for f in updated.scoring_contract.scoring_function_parameters] == [
        "script",
        "tests",
        "lint",
    ]
    assert updated.environment is not None and updated.environment.working_directory == WORKDIR
    assert scenario.get_info().version == 2

    archived = sdk.api.scenarios.archive(scenario.id)
    assert archived.status == "archived"
    assert scenario.id not in {s.id for s in sdk.scenario.list()}
    assert sdk.scenario.list(name="crud-scen") == []
    kept = scenario.get_info()
    assert kept.status == "archived"
    assert kept.input_context.problem_statement == "Fix the bug, properly."


def test_scenario_create_errors_name_the_field(sdk: RunloopSDK) -> None:
    base: dict[str, Any] = {
        "name": "bad-scenario",
        "input_context": {"problem_statement": "x"},
    }
    with pytest.raises(BadRequestError) as raised:
        sdk.api.scenarios.create(
            **base,
            scoring_contract={
                "scoring_function_parameters": [
                    {
                        "name": "a",
                        "weight": 0.5,
                        "scorer": {"type": "command_scorer", "command": "true"},
                    },
                    {
                        "name": "b",
                        "weight": 0.2,
                        "scorer": {"type": "command_scorer", "command": "true"},
                    },
                ]
            },
        )
    assert raised.value.status_code == 400
    assert "scoring_contract: weights sum to 0.7" in raised.value.message

    with pytest.raises(BadRequestError) as raised:
        sdk.api.scenarios.create(
            **base,
            scoring_contract={
                "scoring_function_parameters": [
                    {"name": "a", "weight": 1.0, "scorer": {"type": "no_such_scorer"}},
                ]
            },
        )
    assert raised.value.status_code == 400
    assert "scoring_contract.scoring_function_parameters[0].scorer:" in raised.value.message
    assert "no_such_scorer" in raised.value.message
    assert sdk.scenario.list() == []

    with pytest.raises(NotFoundError):
        sdk.api.scenarios.start_run(scenario_id="scn_doesnotexist")
    assert sdk.api.scenarios.runs.list().runs == []


def test_scenario_list_pages_through_all(api_server: Any, sdk: RunloopSDK) -> None:
    made = {
        sdk.scenario.builder(f"page-{i:02d}")
        .with_problem_statement("x")
        .add_shell_command_scorer("ok", command="true")
        .push()
        .id
        for i in range(25)
    }
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]}, timeout=60)
    client = Runloop(base_url=api_server.base_url, bearer_token=api_server.token, http_client=http)
    try:
        seen = [s.id for s in client.scenarios.list(limit=7)]
    finally:
        client.close()
    assert len(seen) == 25
    assert set(seen) == made
    listing = [r for r in sent if r.url.path == "/v1/scenarios"]
    assert len(listing) == 4, [str(r.url) for r in listing]
    assert "starting_after" not in listing[0].url.params
    assert all(r.url.params.get("limit") == "7" for r in listing)


# ---------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_run_flow_agent_work_scored_then_completed(api_server: Any, sdk: RunloopSDK) -> None:
    scenario = flow_scenario(sdk, "flow-agent")
    started = sdk.api.scenarios.start_run(
        scenario_id=scenario.id, run_name="agent-run", metadata={"agent": "test"}
    )
    assert started.state == "running"
    assert started.devbox_id.startswith("dbx_")
    assert started.name == "agent-run" and started.metadata == {"agent": "test"}
    assert started.scenario_id == scenario.id and started.scoring_contract_result is None
    run = ScenarioRun(sdk.api, started.id, started.devbox_id)
    ready = run.await_env_ready()
    assert ready.state == "running" and ready.devbox_id == started.devbox_id
    assert devbox_status(sdk, run.devbox_id) == "running"
    with pytest.raises(BadRequestError, match="score it"):
        run.complete()  # nothing to complete before it is scored

    do_the_work(run)
    scored = run.score_and_await()
    assert scored.state == "scored"
    results = results_by_name(scored)
    assert set(results) == {"answer", "tests"}
    assert results["answer"].score == 1.0 and results["answer"].state == "complete"
    assert "answer is 42" in results["answer"].output
    assert results["tests"].score == 0.0
    assert "extra-missing" in results["tests"].output
    assert results["answer"].weight == 0.75 and results["answer"].weighted_score == 0.75
    assert results["tests"].weight == 0.25 and results["tests"].weighted_score == 0.0
    assert scored.scoring_contract_result.score == pytest.approx(0.75)
    assert run.get_score().score == pytest.approx(0.75)

    logs = api_server.home.parent / "logs.zip"
    run.download_logs(logs)
    with zipfile.ZipFile(logs) as archive:
        names = archive.namelist()
        scorer_logs = {n: archive.read(n).decode() for n in names if n.startswith("scorers/")}
    assert "run.json" in names
    assert any("answer is 42" in text for name, text in scorer_logs.items() if "answer" in name)
    assert any("extra-missing" in text for name, text in scorer_logs.items() if "tests" in name)

    completed = run.complete()
    assert completed.state == "completed"
    assert completed.scoring_contract_result.score == pytest.approx(0.75)
    assert devbox_status(sdk, run.devbox_id) == "shutdown"

    # without the agent's work the same scorers give less: they separate the two
    baseline_run = scenario.run(run_name="baseline")
    found = sdk.api.scenarios.runs.list(search="baseline").runs
    assert [r.id for r in found] == [baseline_run.id]
    assert [r.id for r in sdk.api.scenarios.runs.list(search=run.id).runs] == [run.id]
    baseline = baseline_run.score_and_complete()
    assert baseline.state == "completed"
    assert baseline.scoring_contract_result.score == pytest.approx(0.0)
    assert baseline.scoring_contract_result.score < completed.scoring_contract_result.score
    assert results_by_name(baseline)["answer"].output.count("answer is missing") == 1


@pytest.mark.slow
def test_api_run_is_a_store_run_and_core_rerun_shows_in_the_api(
    api_server: Any, sdk: RunloopSDK
) -> None:
    scenario = flow_scenario(sdk, "flow-store")
    run = scenario.run()
    do_the_work(run)
    assert run.score_and_await().scoring_contract_result.score == pytest.approx(0.75)

    with open_store() as store:
        stored = store.get_run(run.id)
        assert stored.state == RunState.SCORED
        assert stored.scenario_id == scenario.id and stored.scenario_version == 1
        assert stored.sandbox_id == run.devbox_id
        assert [(r.name, r.score, r.attempt) for r in stored.scorer_results] == [
            ("answer", 1.0, 1),
            ("tests", 0.0, 1),
        ]
        assert stored.score == pytest.approx(0.75)
        sandbox = store.get_sandbox(run.devbox_id)
        assert sandbox.scenario_run_id == run.id
        assert sandbox.status.value == "running"

        # make `tests` pass in the same sandbox, then rerun just it with the core
        made = run.devbox.cmd.exec(f"touch {WORKDIR}/build/extra")
        assert made.exit_code == 0
        with Engine(store) as engine:
            rerun = Runner(store, engine).rerun_scorers(run.id, "tests")
        assert rerun.state == RunState.SCORED
        attempts = [(r.name, r.attempt, r.state) for r in rerun.scorer_results]
        assert ("tests", 2, ScorerState.COMPLETE) in attempts
        assert store.get_sandbox(run.devbox_id).id == run.devbox_id

    view = run.get_info()
    assert view.state == "scored"
    results = results_by_name(view)
    assert results["tests"].score == 1.0 and results["tests"].attempt == 2
    assert "extra-present" in results["tests"].output
    assert results["answer"].attempt == 1
    assert view.scoring_contract_result.score == pytest.approx(1.0)
    assert run.complete().scoring_contract_result.score == pytest.approx(1.0)


@pytest.mark.slow
def test_cancel_a_running_run(sdk: RunloopSDK) -> None:
    scenario = flow_scenario(sdk, "flow-cancel")
    run = scenario.run()
    assert devbox_status(sdk, run.devbox_id) == "running"
    canceled = run.cancel()
    assert canceled.state == "canceled"
    assert canceled.scoring_contract_result is None
    assert run.get_info().state == "canceled"
    assert devbox_status(sdk, run.devbox_id) == "shutdown"
    with pytest.raises(BadRequestError):
        run.score()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll the store (another process writes it) until ``check`` answers."""
    deadline = time.monotonic() + timeout
    while (found := check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # a poll of another process's writes, not a fixed delay
    return found


def scorer_attempts(run_id: str) -> list[Any]:
    with open_store() as store:
        return store.get_run(run_id).scorer_results


@pytest.mark.slow
def test_cancel_while_scoring_ends_canceled_not_failed(sdk: RunloopSDK) -> None:
    scenario = (
        sdk.scenario.builder("flow-cancel-scoring")
        .with_problem_statement("x")
        .add_bash_script_scorer("slow", bash_script="echo started; sleep 60; echo score=1.0")
        .push()
    )
    run = scenario.run()
    assert run.score().state == "scoring"
    wait_for(
        lambda: any("started" in r.output for r in scorer_attempts(run.id)), "the scorer to start"
    )
    canceled = run.cancel()  # shuts the devbox down under the running scorer
    assert canceled.state == "canceled"
    assert devbox_status(sdk, run.devbox_id) == "shutdown"
    wait_for(
        lambda: all(r.state != ScorerState.RUNNING for r in scorer_attempts(run.id)),
        "the scorer to end",
    )
    view = run.get_info()
    assert view.state == "canceled", view
    assert view.scoring_contract_result is None


@pytest.mark.slow
def test_run_profile_env_vars_secrets_and_launch_parameters(sdk: RunloopSDK) -> None:
    scenario = (
        sdk.scenario.builder("profile-scenario")
        .with_working_directory(WORKDIR)
        .with_problem_statement("Use the token.")
        .with_required_env_vars(["SB_TEST_REGION"])
        .with_required_secrets(["SB_TEST_TOKEN"])
        .add_bash_script_scorer(
            "env",
            bash_script='[ "$SB_TEST_REGION" = eu-west ] && echo score=1.0 || echo score=0.0',
        )
        .push()
    )

    # nothing given: 400 naming both, and no run made
    with pytest.raises(BadRequestError) as raised:
        scenario.run_async()
    assert "SB_TEST_REGION" in str(raised.value) and "SB_TEST_TOKEN" in str(raised.value)
    with pytest.raises(BadRequestError) as raised:
        scenario.run_async(run_profile={"env_vars": {"SB_TEST_REGION": "eu-west"}})
    assert "SB_TEST_TOKEN" in str(raised.value)
    assert sdk.api.scenarios.runs.list(scenario_id=scenario.id).runs == []

    sdk.secret.create("SB_TEST_TOKEN", "tok-s3cret-value")
    run = scenario.run(
        run_profile={
            "env_vars": {"SB_TEST_REGION": "eu-west"},
            "secrets": {"API_TOKEN": "SB_TEST_TOKEN"},
            "launch_parameters": {"resource_size_request": "MEDIUM"},
        }
    )
    view = run.get_info()
    assert view.environment_variables == {"SB_TEST_REGION": "eu-west"}
    assert view.secrets_provided is not None and "API_TOKEN" in view.secrets_provided
    assert "tok-s3cret-value" not in str(view.secrets_provided)

    region = run.devbox.cmd.exec("printenv SB_TEST_REGION")
    assert region.stdout().strip() == "eu-west"
    token = run.devbox.cmd.exec(
        'test "$API_TOKEN" = tok-s3cret-value && test "$SB_TEST_TOKEN" = tok-s3cret-value'
    )
    assert token.exit_code == 0
    shown = run.devbox.cmd.exec("printenv API_TOKEN")
    assert shown.stdout().strip() == "***"  # redacted wherever it would appear

    devbox = sdk.api.devboxes.retrieve(run.devbox_id)
    assert devbox.launch_parameters.resource_size_request == "MEDIUM"
    assert devbox.resources == {"cpu": 2, "memory_gib": 4, "disk_gib": 8}  # MEDIUM
    assert container_memory(run.devbox_id) == 4 * 1024**3  # enforced, not only shown

    assert run.score_and_complete().scoring_contract_result.score == 1.0


@pytest.mark.slow
def test_custom_scorer_scores_and_scorer_crud(sdk: RunloopSDK) -> None:
    scorer = sdk.scorer.create(type="half_scorer", bash_script="echo score=0.5")
    other = sdk.scorer.create(type="other_scorer", bash_script="echo score=1.0")
    info = scorer.get_info()
    assert info.id == scorer.id and info.id.startswith("sco_")
    assert (info.type, info.bash_script) == ("half_scorer", "echo score=0.5")
    assert {s.id for s in sdk.scorer.list()} == {scorer.id, other.id}
    assert [s.id for s in sdk.scorer.list(search="half")] == [scorer.id]
    assert [s.id for s in sdk.scorer.list(search=other.id)] == [other.id]
    page = sdk.api.scenarios.scorers.list(limit=1)
    assert len(page.scorers) == 1 and page.has_more
    assert {s.id for s in sdk.api.scenarios.scorers.list(limit=1)} == {scorer.id, other.id}

    updated = other.update(type="other_scorer", bash_script="echo score=0.25")
    assert updated.bash_script == "echo score=0.25"
    assert other.get_info().bash_script == "echo score=0.25"

    scenario = (
        sdk.scenario.builder("custom-scenario")
        .with_problem_statement("anything")
        .add_custom_scorer("half", custom_scorer_type="half_scorer", scorer_params={"k": 1})
        .push()
    )
    functions = scenario.get_info().scoring_contract.scoring_function_parameters
    assert functions[0].scorer.custom_scorer_type == "half_scorer"
    scored = scenario.run().score_and_complete()
    assert scored.scoring_contract_result.score == pytest.approx(0.5)
    assert results_by_name(scored)["half"].score == pytest.approx(0.5)


# ---------------------------------------------------------------------------- idempotency


@pytest.mark.slow
def test_start_run_is_idempotent_on_x_request_id(api_server: Any, sdk: RunloopSDK) -> None:
    scenario = flow_scenario(sdk, "flow-idempotent")
    key = f"test-{uuid.uuid4()}"
    with api_server.http() as http:
        first = http.post(
            "/v1/scenarios/start_run",
            json={"scenario_id": scenario.id},
            headers={"x-request-id": key},
        )
        second = http.post(
            "/v1/scenarios/start_run",
            json={"scenario_id": scenario.id},
            headers={"x-request-id": key},
        )
        other = http.post("/v1/scenarios/start_run", json={"scenario_id": scenario.id})
    assert first.status_code == second.status_code == other.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["devbox_id"] == second.json()["devbox_id"]
    assert other.json()["id"] != first.json()["id"]
    runs = sdk.api.scenarios.runs.list(scenario_id=scenario.id).runs
    assert sorted(r.id for r in runs) == sorted({first.json()["id"], other.json()["id"]})
    for run_id in (first.json()["id"], other.json()["id"]):
        sdk.api.scenarios.runs.cancel(run_id)


@pytest.mark.slow
def test_a_run_outlives_a_server_restart(api_server: Any) -> None:
    """Started, worked on, then the server restarts: the run and its devbox are still
    there, and it scores and completes under the new server."""
    with sdk_for(api_server) as sdk:
        run = flow_scenario(sdk, "flow-restart").run()
        do_the_work(run)
    api_server.restart()
    with sdk_for(api_server) as sdk:
        again = ScenarioRun(sdk.api, run.id, run.devbox_id)
        assert again.get_info().state == "running"
        assert devbox_status(sdk, run.devbox_id) == "running"
        done = again.score_and_complete()
        assert done.state == "completed"
        assert done.scoring_contract_result.score == pytest.approx(0.75)
        assert devbox_status(sdk, run.devbox_id) == "shutdown"


def test_scenario_and_scorer_creates_are_idempotent_on_x_request_id(
    api_server: Any, sdk: RunloopSDK
) -> None:
    body = {
        "name": "made-once",
        "input_context": {"problem_statement": "x"},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "ok",
                    "weight": 1.0,
                    "scorer": {"type": "command_scorer", "command": "true"},
                }
            ]
        },
    }
    key = {"x-request-id": f"test-{uuid.uuid4()}"}
    with api_server.http() as http:
        answers = [http.post("/v1/scenarios", json=body, headers=key) for _ in range(2)]
        scorers = [
            http.post(
                "/v1/scenarios/scorers",
                json={"type": "once_scorer", "bash_script": "echo score=1"},
                headers=key,  # the same key in another scope makes its own object
            )
            for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert [s.id for s in sdk.scenario.list()] == [answers[0].json()["id"]]
    assert [a.status_code for a in scorers] == [200, 200], scorers[1].text
    assert scorers[0].json()["id"] == scorers[1].json()["id"]
    assert [s.id for s in sdk.scorer.list()] == [scorers[0].json()["id"]]


@pytest.mark.slow
def test_scoring_cut_by_a_server_stop_starts_again_at_the_next_start(api_server: Any) -> None:
    """The server stops while a scorer runs: the next server scores the run again (the
    cut attempt recorded as an error), so a client still polling gets ``scored``."""
    with sdk_for(api_server) as sdk:
        scenario = (
            sdk.scenario.builder("flow-rescore")
            .with_problem_statement("x")
            .add_bash_script_scorer(
                "slow",
                bash_script="echo started; [ -f /tmp/second ] || { touch /tmp/second; sleep 60; }"
                "; echo score=1.0",
            )
            .push()
        )
        run = scenario.run()
        assert run.score().state == "scoring"
        wait_for(
            lambda: any("started" in r.output for r in scorer_attempts(run.id)),
            "the scorer to start",
        )
    api_server.restart()
    with sdk_for(api_server) as sdk:
        again = ScenarioRun(sdk.api, run.id, run.devbox_id)
        scored = again.await_scored()
        assert scored.state == "scored"
        assert scored.scoring_contract_result.score == pytest.approx(1.0)
    attempts = scorer_attempts(run.id)
    assert [(r.attempt, r.state) for r in attempts] == [
        (1, ScorerState.ERROR),
        (2, ScorerState.COMPLETE),
    ]
    assert "interrupted" in attempts[0].details["reason"]
