"""Scenario runs on real Podman: events, totals, reruns, cache, failures, secrets, exports."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from sandbench import paths, secrets
from sandbench.engine import Engine
from sandbench.model import RunState, SandboxState, ScorerState, Solution, parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.runner import Runner
from sandbench.runner.events import OutputChunk, RunEvent, ScorerFinished, ScorerStarted
from sandbench.runner.exports import benchmark_run_json, eval_jsonl
from sandbench.runner.validation import check
from sandbench.store import Store
from tests.conftest import schema_errors
from tests.engine_support import bash, command, containers_of, make

pytestmark = pytest.mark.podman


ANSWER = make(
    "answer",
    [
        command("exists", 0.25, "test -f answer.txt"),
        bash("correct", 0.75, "grep -qx 42 answer.txt && echo score=1 || echo score=0"),
    ],
)


def store_scenario(store: Store, data: dict[str, Any]) -> str:
    return store.import_scenarios([ParsedScenario(parse_scenarios(data)[0].scenario)])[0].record.id


@pytest.fixture
def runner(store: Store, engine: Engine) -> Runner:
    return Runner(store, engine)


def test_reference_and_baseline_totals(runner: Runner, store: Store) -> None:
    store_scenario(store, ANSWER)
    solved = runner.run("answer", solution=Solution.REFERENCE, keep_sandbox=False)
    assert solved.state == RunState.COMPLETED and solved.score == pytest.approx(1.0)
    unsolved = runner.run("answer", solution=Solution.BASELINE, keep_sandbox=False)
    assert unsolved.state == RunState.COMPLETED and unsolved.score == pytest.approx(0.0)
    partial = make(
        "partial",
        ANSWER["scoring_contract"]["scoring_function_parameters"],
        reference_output="echo 41 > answer.txt\n",
    )
    store_scenario(store, partial)
    half = runner.run("partial", keep_sandbox=False)
    assert half.score == pytest.approx(0.25)  # sum(weight * score) / sum(weight)
    contributions = {r.name: r.contribution for r in half.scorer_results}
    assert contributions == {"exists": pytest.approx(0.25), "correct": 0.0}


def test_events_arrive_while_the_scorer_runs(runner: Runner, store: Store) -> None:
    store_scenario(store, make("slow", [bash("slow", 1.0, "echo first; sleep 3; echo score=1")]))
    seen: list[tuple[float, RunEvent]] = []
    start = time.monotonic()
    runner.bus.subscribe(lambda event: seen.append((time.monotonic() - start, event)))
    run = runner.run("slow", keep_sandbox=False)
    assert run.state == RunState.COMPLETED
    first_chunk = next(t for t, e in seen if isinstance(e, OutputChunk) and "first" in e.text)
    finished = next(t for t, e in seen if isinstance(e, ScorerFinished))
    assert finished - first_chunk >= 2.5, "output came only when the scorer ended"
    kinds = [type(e).__name__ for _, e in seen]
    assert kinds.index("ScorerStarted") < kinds.index("OutputChunk") < kinds.index("ScorerFinished")
    assert kinds[-1] == "RunFinished"


def test_stored_output_is_written_as_it_streams(runner: Runner, store: Store) -> None:
    store_scenario(store, make("stream", [bash("s", 1.0, "echo one; sleep 2; echo score=1")]))
    observed: list[str] = []

    def watch(event: RunEvent) -> None:
        if isinstance(event, OutputChunk) and "one" in event.text:
            with Store(store.path) as other:  # another connection, like another process
                observed.append(other.scorer_output(event.result_id))

    runner.bus.subscribe(watch)
    runner.run("stream", keep_sandbox=False)
    assert observed == ["one\n"]


def test_rerun_one_scorer_is_a_new_attempt_with_the_same_score(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, ANSWER)
    run = runner.run("answer")
    again = runner.rerun_scorers(run.id, "correct")
    attempts = [(r.name, r.attempt, r.score) for r in again.scorer_results]
    assert ("correct", 1, 1.0) in attempts and ("correct", 2, 1.0) in attempts
    assert again.score == pytest.approx(1.0) and again.id == run.id
    # after the sandbox was suspended, a rerun resumes it
    engine.suspend(run.sandbox_id)  # type: ignore[arg-type]
    assert store.get_sandbox(run.sandbox_id).status == SandboxState.SUSPENDED  # type: ignore[arg-type]
    third = runner.rerun_scorers(run.id, "correct")
    assert max(r.attempt for r in third.scorer_results if r.name == "correct") == 3
    assert store.get_sandbox(run.sandbox_id).status == SandboxState.RUNNING  # type: ignore[arg-type]
    # the total follows the latest attempt of each scorer
    engine.exec(run.sandbox_id, "echo 7 > answer.txt")  # type: ignore[arg-type]
    fourth = runner.rerun_scorers(run.id)
    assert fourth.score == pytest.approx(0.25)
    engine.shutdown(run.sandbox_id)  # type: ignore[arg-type]
    # a whole-run rerun is a new run of the same version
    whole = runner.rerun(run.id, use_cache=False)
    assert whole.id != run.id and whole.scenario_version == run.scenario_version
    assert whole.score == pytest.approx(1.0)
    engine.shutdown(whole.sandbox_id)  # type: ignore[arg-type]


def test_rerun_recreates_a_removed_sandbox(runner: Runner, store: Store, engine: Engine) -> None:
    store_scenario(store, ANSWER)
    run = runner.run("answer")
    engine.shutdown(run.sandbox_id)  # type: ignore[arg-type]
    again = runner.rerun_scorers(run.id)
    assert again.score == pytest.approx(1.0) and again.sandbox_id != run.sandbox_id
    engine.shutdown(again.sandbox_id)  # type: ignore[arg-type]


def test_result_cache(runner: Runner, store: Store) -> None:
    store_scenario(store, ANSWER)
    first = runner.run("answer", keep_sandbox=False)
    cached = runner.run("answer", keep_sandbox=False)
    assert cached.cache_hit and cached.score == first.score and cached.sandbox_id is None
    assert [r.score for r in cached.scorer_results] == [r.score for r in first.scorer_results]
    fresh = runner.run("answer", keep_sandbox=False, use_cache=False)
    assert not fresh.cache_hit and fresh.sandbox_id is not None
    # any change to what decides the result misses the cache
    edited = dict(ANSWER, reference_output="echo 42 > answer.txt\necho done\n")
    store_scenario(store, edited)
    assert not runner.run("answer", keep_sandbox=False).cache_hit
    assert not runner.run("answer", solution=Solution.BASELINE, keep_sandbox=False).cache_hit


def test_infrastructure_failure_fails_the_run_without_a_score(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, make("doomed", [bash("slow", 1.0, "sleep 30; echo score=1")]))
    runner.bus.subscribe(
        lambda e: (
            isinstance(e, ScorerStarted)
            and threading.Timer(1.0, lambda: _kill_container(engine, e.run_id, store)).start()
        )
    )
    run = runner.run("doomed", keep_sandbox=False)
    assert run.state == RunState.FAILED and run.score is None
    assert "infrastructure" in (run.failure_reason or "")
    assert run.scorer_results[0].state == ScorerState.ERROR


def _kill_container(engine: Engine, run_id: str, store: Store) -> None:
    sandbox_id = store.get_run(run_id).sandbox_id
    engine.client.containers.get(f"sandbench-{sandbox_id}").remove(force=True)


def test_reference_that_does_not_apply_fails_the_run(runner: Runner, store: Store) -> None:
    broken = make(
        "broken-ref",
        [command("ok", 1.0, "true")],
        reference_output="diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
    )
    store_scenario(store, broken)
    run = runner.run("broken-ref", keep_sandbox=False)
    assert run.state == RunState.FAILED and "did not apply" in (run.failure_reason or "")
    assert run.score is None


def test_agent_solution_drives_the_sandbox_and_reports_usage(runner: Runner, store: Store) -> None:
    store_scenario(store, ANSWER)
    agent = (
        'test -s "$SANDBENCH_PROBLEM_FILE" && '
        '$SANDBENCH sandboxes exec "$SANDBENCH_SANDBOX_ID" -- sh -c "echo 42 > answer.txt" && '
        'echo \'{"input_tokens": 120, "output_tokens": 30, "cost_usd": 0.01}\''
        ' > "$SANDBENCH_USAGE_FILE"'
    )
    run = runner.run("answer", solution=Solution.AGENT, agent_command=agent, keep_sandbox=False)
    assert run.state == RunState.COMPLETED and run.score == pytest.approx(1.0)
    assert run.usage is not None and run.usage.cost_usd == pytest.approx(0.01)


def test_cancel_from_another_thread(runner: Runner, store: Store) -> None:
    store_scenario(store, make("long", [bash("long", 1.0, "sleep 60; echo score=1")]))
    runner.bus.subscribe(
        lambda e: (
            isinstance(e, ScorerStarted)
            and threading.Timer(0.5, lambda: runner.cancel(e.run_id)).start()
        )
    )
    start = time.monotonic()
    run = runner.run("long")
    assert run.state == RunState.CANCELED and time.monotonic() - start < 30
    assert containers_of(run.sandbox_id) == []  # type: ignore[arg-type]


def test_secret_never_reaches_store_output_or_export(runner: Runner, store: Store) -> None:
    value = "tok-SUPERSECRET-9000"
    secrets.set_secret("API_TOKEN", value)
    leaky = make(
        "leaky",
        [
            bash(
                "leak",
                1.0,
                'echo "token=$API_TOKEN"; printf "%s" "$API_TOKEN" | head -c 7; echo; echo score=1',
            )
        ],
        required_secret_names=["API_TOKEN"],
    )
    store_scenario(store, leaky)
    run = runner.run("leaky", keep_sandbox=False)
    assert run.score == pytest.approx(1.0)
    output = run.scorer_results[0].output
    assert value not in output and "token=***" in output
    exported = eval_jsonl(store, [run])
    assert value not in exported
    assert run.sandbox_id is not None  # removed in the background: wait for it to go
    ended = {SandboxState.SHUTDOWN, SandboxState.FAILURE}
    runner.engine.wait_for(run.sandbox_id, ended, timeout=60)
    store.close()
    for path in paths.data_dir().rglob("*"):
        if path.is_file() and path.suffix != ".img":
            assert value.encode() not in path.read_bytes(), path


def test_check_reports_which_scorer_fails_to_separate(runner: Runner, store: Store) -> None:
    store_scenario(
        store,
        make(
            "weak",
            [
                command("exists", 0.5, "test -f answer.txt"),
                command("always", 0.5, "true"),
            ],
        ),
    )
    report = check(runner, "weak")
    assert report.forward_ok and report.reverse_ok  # baseline 0.5 < 1.0
    problems = {v.name: v.problem for v in report.scorers}
    assert problems["exists"] == ""
    assert "does not separate" in problems["always"]
    store_scenario(store, make("blind", [command("always", 1.0, "true")]))
    blind = check(runner, "blind")
    assert blind.forward_ok and not blind.reverse_ok and not blind.ok


def test_check_tells_each_run_as_it_is_created(runner: Runner, store: Store) -> None:
    store_scenario(store, make("told", [command("exists", 1.0, "test -f answer.txt")]))
    told: list[tuple[str, Solution, RunState]] = []
    report = check(runner, "told", on_created=lambda r: told.append((r.id, r.solution, r.state)))
    assert told == [
        (report.forward.id, Solution.REFERENCE, RunState.RUNNING),
        (report.reverse.id, Solution.BASELINE, RunState.RUNNING),
    ]
    assert report.ok


def test_a_run_canceled_as_it_is_created_starts_nothing(runner: Runner, store: Store) -> None:
    store_scenario(store, make("quick", [command("ok", 1.0, "true")]))
    assert runner.run("quick", keep_sandbox=False).state == RunState.COMPLETED  # now cached
    for use_cache in (True, False):
        run = runner.run("quick", use_cache=use_cache, on_created=lambda r: runner.cancel(r.id))
        assert run.state == RunState.CANCELED, use_cache
        assert run.sandbox_id is None and not run.cache_hit and run.scorer_results == []


def test_a_failing_on_created_hook_leaves_no_run_running(runner: Runner, store: Store) -> None:
    """A display gone mid-run (its hook raises) must not leave a run "running" forever."""
    store_scenario(store, make("hooked", [command("ok", 1.0, "true")]))

    def gone(_: object) -> None:
        raise RuntimeError("the app has exited")

    with pytest.raises(RuntimeError, match="the app has exited"):
        runner.run("hooked", on_created=gone)
    (run,) = store.list_runs().items
    assert run.state == RunState.FAILED and run.sandbox_id is None
    assert run.failure_reason == "not started: on_created failed: the app has exited"


def test_exports_validate_against_the_reference_schemas(runner: Runner, store: Store) -> None:
    from sandbench.runner.benchmark_runs import BenchmarkRunner

    store_scenario(store, ANSWER)
    store.create_benchmark("one", ["answer"])
    bench = BenchmarkRunner(runner).run("one", jobs=1)
    records = [
        json.loads(line)
        for line in eval_jsonl(store, store.runs_of_benchmark_run(bench.id)).splitlines()
    ]
    assert len(records) == 2
    for record in records:
        assert schema_errors(record, "eval-run.structure.json") == []
    exported = json.loads(benchmark_run_json(store, bench.id))
    assert schema_errors(exported, "runloop-benchmark-run.schema.json") == []
    assert exported["state"] == "completed" and exported["score"] == pytest.approx(1.0)
