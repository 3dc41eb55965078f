"""The retention policy's decisions, from the store alone (dry runs: no Podman), and its
config keys. Removal itself is tested on real Podman in test_retention.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbench import config as config_module
from sandbench.engine import Engine
from sandbench.model import RunState, SandboxState, Solution, parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.model.resources import Resources
from sandbench.model.sandbox import SandboxSpec
from sandbench.runner import retention
from sandbench.runner.retention import Policy, Rule
from sandbench.store import Store
from sandbench.store.database import now_ms
from tests.engine_support import command, make, sandbench


@pytest.fixture
def offline_engine(store: Store) -> Iterator[Engine]:
    engine = Engine(store)  # never connected: a dry run asks Podman nothing
    yield engine
    engine.close()


def scenario_id(store: Store, name: str) -> str:
    data = make(name, [command("ok", 1.0, "true")])
    parsed = ParsedScenario(parse_scenarios(data)[0].scenario)
    return store.import_scenarios([parsed])[0].record.id


def run_with_sandbox(
    store: Store,
    scenario: str,
    *,
    state: RunState = RunState.COMPLETED,
    sandbox: SandboxState = SandboxState.RUNNING,
) -> tuple[str, str]:
    """A run of the scenario with a live sandbox of its own: (run id, sandbox id)."""
    run = store.create_run(scenario, 1, Solution.REFERENCE, name=store.get_scenario(scenario).name)
    if state != RunState.RUNNING:
        store.set_run_state(run.id, state)
    spec = SandboxSpec(image="localhost/sandbench-base:latest", resources=Resources(1, 2, 4))
    made = store.insert_sandbox(
        spec.model_copy(update={"scenario_run_id": run.id}),
        owner_pid=None,
        owner_start=None,
        initiator="scenario",
    )
    store.transition(made.id, sandbox)
    store.update_run(run.id, sandbox_id=made.id)
    return run.id, made.id


POLICY = Policy(keep_runs_per_scenario=2, suspended_ttl_s=3600, active_window_s=0)


def test_the_newest_runs_of_each_scenario_keep_their_sandboxes(
    store: Store, offline_engine: Engine
) -> None:
    a, b = scenario_id(store, "pol-a"), scenario_id(store, "pol-b")
    oldest = run_with_sandbox(store, a)
    older = run_with_sandbox(store, a, sandbox=SandboxState.SUSPENDED)
    run_with_sandbox(store, b)  # pol-b's only run: kept however old
    newer, newest = run_with_sandbox(store, a), run_with_sandbox(store, a)
    report = retention.collect(store, offline_engine, POLICY, dry_run=True)
    assert [(r.sandbox_id, r.run_id, r.rule) for r in report.removals] == [
        (older[1], older[0], Rule.KEEP_RUNS),  # newest first, as the list shows them
        (oldest[1], oldest[0], Rule.KEEP_RUNS),
    ]
    assert report.removals[0].reason == "older than the newest 2 runs of pol-a"
    assert all(not r.removed for r in report.removals)
    assert report.left == 5 and report.spared == []
    assert {newer[1], newest[1]}.isdisjoint(r.sandbox_id for r in report.removals)
    # 0: no limit
    unlimited = Policy(keep_runs_per_scenario=0, suspended_ttl_s=0, active_window_s=0)
    assert retention.collect(store, offline_engine, unlimited, dry_run=True).removals == []


def test_runs_not_finished_and_sandboxes_without_a_run_stay(
    store: Store, offline_engine: Engine
) -> None:
    a = scenario_id(store, "pol-guard")
    running = run_with_sandbox(store, a, state=RunState.RUNNING)
    scored = run_with_sandbox(store, a, state=RunState.SCORED)  # waits for the client
    failed = run_with_sandbox(store, a, state=RunState.FAILED)
    run_with_sandbox(store, a)
    run_with_sandbox(store, a)
    spec = SandboxSpec(image="localhost/sandbench-base:latest", resources=Resources(1, 2, 4))
    devbox = store.insert_sandbox(spec, owner_pid=None, owner_start=None, initiator="api")
    store.transition(devbox.id, SandboxState.SUSPENDED)
    later = now_ms() + 100 * 3600 * 1000
    report = retention.collect(store, offline_engine, POLICY, dry_run=True, now_ms=later)
    assert [r.sandbox_id for r in report.removals] == [failed[1]]
    spared = {s.sandbox_id: s.reason for s in report.spared}
    assert spared == {
        scored[1]: f"its run {scored[0]} is scored",
        running[1]: f"its run {running[0]} is running",
    }
    assert devbox.id not in spared  # no rule names a devbox
    assert retention.protected(store, offline_engine, devbox, POLICY) == (
        "made through the API: only `sandboxes rm` removes it"
    )


def test_a_suspended_run_sandbox_goes_after_the_ttl_a_recent_one_stays(
    store: Store, offline_engine: Engine
) -> None:
    a = scenario_id(store, "pol-ttl")
    asleep = run_with_sandbox(store, a, sandbox=SandboxState.SUSPENDED)
    awake = run_with_sandbox(store, a)
    policy = Policy(keep_runs_per_scenario=0, suspended_ttl_s=3600, active_window_s=30)
    now = now_ms()
    assert retention.collect(store, offline_engine, policy, dry_run=True).removals == []
    report = retention.collect(store, offline_engine, policy, dry_run=True, now_ms=now + 7200_000)
    assert [(r.sandbox_id, r.rule) for r in report.removals] == [(asleep[1], Rule.SUSPENDED_TTL)]
    assert report.removals[0].reason.startswith("suspended, unused for 2h")
    # running ones have no TTL; a running one used a moment ago is spared by any rule
    store.touch_sandbox(awake[1])
    keep_one = Policy(keep_runs_per_scenario=1, suspended_ttl_s=0, active_window_s=30)
    run_with_sandbox(store, a)
    report = retention.collect(store, offline_engine, keep_one, dry_run=True)
    assert {s.sandbox_id for s in report.spared} == {awake[1]}
    assert report.spared[0].reason.startswith("in use")
    assert [r.sandbox_id for r in report.removals] == [asleep[1]]  # suspended: no grace


def test_config_keys_set_the_policy() -> None:
    defaults = Policy.from_config(config_module.Config())
    assert defaults.keep_runs_per_scenario == 3 and defaults.suspended_ttl_s == 72 * 3600
    config_module.set_value("retention_keep_runs_per_scenario", "5")
    config_module.set_value("retention_suspended_ttl_hours", "0.5")
    policy = Policy.from_config(config_module.load())
    assert policy.keep_runs_per_scenario == 5 and policy.suspended_ttl_s == 1800
    shown = sandbench("config", "show")
    assert "retention_keep_runs_per_scenario" in shown.stdout and "0: no limit" in shown.stdout
    assert "retention_suspended_ttl_hours" in shown.stdout and "0: never" in shown.stdout
    bad = sandbench("config", "set", "retention_suspended_ttl_hours", "-1")
    assert bad.returncode == 2 and "greater than or equal to 0" in bad.stderr
    reset = sandbench("config", "set", "retention_keep_runs_per_scenario", "")
    assert reset.returncode == 0 and "= 3" in reset.stdout


def test_gc_and_rm_all_with_nothing_to_do() -> None:
    dry = sandbench("sandboxes", "gc", "--dry-run")
    assert dry.returncode == 0 and "nothing to remove" in dry.stdout
    assert "keep the newest 3 runs' sandboxes per scenario" in dry.stdout
    assert sandbench("sandboxes", "rm").returncode == 2  # ids or --all
