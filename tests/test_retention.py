"""Sandbox retention on real Podman: the policy (newest N runs per scenario, a TTL for
suspended ones), what it never touches, `sandboxes gc` and `rm --all`, the disk numbers
in the core, `doctor` and the background pass after a run."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from sandbench import config as config_module
from sandbench import paths
from sandbench.engine import Engine, EngineError
from sandbench.engine import sandboxes as sandboxes_module
from sandbench.engine.usage import sandbox_disk
from sandbench.model import RunState, SandboxState, ShutdownReason, parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.model.runs import ScenarioRun
from sandbench.runner import Runner, retention
from sandbench.runner.retention import Policy, Rule
from sandbench.store import Store
from sandbench.store.database import now_ms
from tests.engine_support import command, containers_of, in_terminal, make, sandbench, scenario

pytestmark = pytest.mark.podman

MIB = 1024 * 1024
# The policy as the tests want it: no "used in the last seconds" grace, unless a test
# is about that grace.
NOW = Policy(keep_runs_per_scenario=0, suspended_ttl_s=0, active_window_s=0)


def store_scenario(store: Store, data: dict[str, Any]) -> str:
    return store.import_scenarios([ParsedScenario(parse_scenarios(data)[0].scenario)])[0].record.id


def quick(name: str) -> dict[str, Any]:
    return make(name, [command("ok", 1.0, "test -f answer.txt")])


@pytest.fixture
def runner(store: Store, engine: Engine) -> Runner:
    return Runner(store, engine)


def run_kept(runner: Runner, name: str) -> ScenarioRun:
    """A finished run that keeps its sandbox (never a cache hit)."""
    run = runner.run(name, use_cache=False)
    assert run.state == RunState.COMPLETED and run.sandbox_id, run.failure_reason
    return run


def unused_for(store: Store, minutes: float, *runs: ScenarioRun) -> None:
    """The runs' sandboxes were last used that long ago (a run ends with a scorer's exec:
    the policy spares a sandbox used in the last seconds)."""
    for run in runs:
        assert run.sandbox_id
        store.touch_sandbox(run.sandbox_id, at_ms=now_ms() - int(minutes * 60_000))


def status(store: Store, sandbox_id: str) -> SandboxState:
    return store.get_sandbox(sandbox_id).status


def write_mib(engine: Engine, sandbox_id: str, mib: int, name: str = "blob") -> None:
    """Random data (nothing to compress or skip), flushed through the sandbox's ext4 and
    its loop device to the disk file on the host."""
    result = engine.exec(
        sandbox_id,
        f"dd if=/dev/urandom of={name} bs=1M count={mib} conv=fsync status=none && sync",
        timeout=120,
    )
    assert result.exit_code == 0, result.output


def join_background(engine: Engine) -> None:
    """Wait for the retention pass going, as ``Engine.close()`` does."""
    for thread in list(engine._background):
        thread.join(60)
        assert not thread.is_alive()


# ----------------------------------------------------------------------------- the policy


def test_keeps_the_newest_runs_per_scenario_and_removes_older_ones(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, quick("ret-a"))
    store_scenario(store, quick("ret-b"))
    a1, a2, a3 = (run_kept(runner, "ret-a") for _ in range(3))
    (b1,) = (run_kept(runner, "ret-b"),)
    assert a1.sandbox_id and a2.sandbox_id and a3.sandbox_id and b1.sandbox_id
    write_mib(engine, a1.sandbox_id, 50)
    disk_dir = paths.data_dir() / "sandboxes" / a1.sandbox_id
    held = sandbox_disk(disk_dir)
    assert held is not None and held.allocated_bytes >= 50 * MIB
    policy = Policy(keep_runs_per_scenario=2, suspended_ttl_s=0, active_window_s=0)

    planned = retention.collect(store, engine, policy, dry_run=True)
    assert [r.sandbox_id for r in planned.removals] == [a1.sandbox_id]
    assert planned.removals[0].rule == Rule.KEEP_RUNS
    assert "older than the newest 2 runs of ret-a" in planned.removals[0].reason
    assert planned.freed_bytes >= 50 * MIB
    assert status(store, a1.sandbox_id) == SandboxState.RUNNING  # a dry run removes nothing

    report = retention.collect(store, engine, policy)
    assert [r.sandbox_id for r in report.removed] == [a1.sandbox_id]
    assert report.freed_bytes >= 50 * MIB and report.failed == []
    gone = store.get_sandbox(a1.sandbox_id)
    assert gone.status == SandboxState.SHUTDOWN
    assert gone.shutdown_reason == ShutdownReason.API_SHUTDOWN
    assert containers_of(a1.sandbox_id) == [] and not disk_dir.exists()
    for kept in (a2, a3, b1):  # the newest two of ret-a, and ret-b's only run
        assert kept.sandbox_id and status(store, kept.sandbox_id) == SandboxState.RUNNING
    assert report.left == 3
    # applied again: nothing more to do
    assert retention.collect(store, engine, policy).removals == []


def test_a_suspended_run_sandbox_past_its_ttl_goes(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, quick("ret-ttl"))
    old, awake = run_kept(runner, "ret-ttl"), run_kept(runner, "ret-ttl")
    assert old.sandbox_id and awake.sandbox_id
    engine.suspend(old.sandbox_id)
    policy = Policy(keep_runs_per_scenario=0, suspended_ttl_s=3600, active_window_s=0)

    assert retention.collect(store, engine, policy).removals == []  # suspended just now
    later = now_ms() + 2 * 3600 * 1000  # two hours on
    report = retention.collect(store, engine, policy, now_ms=later)
    assert [(r.sandbox_id, r.rule) for r in report.removed] == [
        (old.sandbox_id, Rule.SUSPENDED_TTL)
    ]
    assert "suspended, unused for 2h (TTL 1h)" in report.removed[0].reason
    assert store.get_sandbox(old.sandbox_id).shutdown_reason == ShutdownReason.TTL_EXPIRED
    assert status(store, awake.sandbox_id) == SandboxState.RUNNING  # running: no TTL


def test_never_an_unfinished_run_an_api_devbox_or_a_sandbox_in_use(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, quick("ret-guard"))
    # a client's run, still going (Runloop's flow: its sandbox waits for the client)
    going = runner.start_external("ret-guard")
    assert going.sandbox_id
    engine.wait_for(going.sandbox_id, {SandboxState.RUNNING}, timeout=300)
    # a devbox made through the API, no run: suspended, and older than any TTL
    spec = engine.spec_for(scenario("ret-devbox"))
    devbox = engine.provision(spec, detach=True, initiator="api")
    engine.start(devbox.id)
    engine.suspend(devbox.id)
    middle, newest = run_kept(runner, "ret-guard"), run_kept(runner, "ret-guard")
    assert middle.sandbox_id and newest.sandbox_id
    policy = Policy(keep_runs_per_scenario=1, suspended_ttl_s=1, active_window_s=0)
    later = now_ms() + 3600 * 1000

    # a command in flight in the middle run's sandbox spares it
    started = threading.Event()
    marker = "retention-test-busy"

    def busy() -> None:
        engine.exec(
            middle.sandbox_id or "",
            "echo started; sleep 300",
            marker=marker,
            on_output=lambda _stream, text: started.set() if "started" in text else None,
        )

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    assert started.wait(120), "the command did not start"
    report = retention.collect(store, engine, policy, now_ms=later)
    spared = {s.sandbox_id: s.reason for s in report.spared}
    assert report.removals == []
    assert spared[middle.sandbox_id] == "a command is running in it"
    assert spared[going.sandbox_id] == f"its run {going.id} is running"
    assert devbox.id not in spared  # no rule names a devbox at all
    engine.kill_exec(middle.sandbox_id, marker)  # returns once the command has returned
    assert not engine.busy(middle.sandbox_id)
    worker.join(60)

    # used a moment ago (by any process: the store's activity time) spares it too
    store.touch_sandbox(middle.sandbox_id)
    grace = Policy(keep_runs_per_scenario=1, suspended_ttl_s=0, active_window_s=600)
    report = retention.collect(store, engine, grace)
    assert {s.sandbox_id: s.reason for s in report.spared}[middle.sandbox_id].startswith("in use")
    assert report.removals == []

    report = retention.collect(store, engine, policy, now_ms=later)
    assert [r.sandbox_id for r in report.removed] == [middle.sandbox_id]
    assert status(store, going.sandbox_id) == SandboxState.RUNNING
    assert status(store, devbox.id) == SandboxState.SUSPENDED
    assert status(store, newest.sandbox_id) == SandboxState.RUNNING
    assert retention.protected(store, engine, store.get_sandbox(devbox.id), policy) == (
        "made through the API: only `sandboxes rm` removes it"
    )


def test_after_a_run_the_policy_runs_in_the_background_and_never_delays_it(
    runner: Runner, store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_module.set_value("retention_keep_runs_per_scenario", "1")
    store_scenario(store, quick("ret-bg"))
    real_collect = retention.collect
    entered, release = threading.Event(), threading.Event()

    def gated(*args: Any, **kwargs: Any) -> retention.Report:
        entered.set()
        assert release.wait(300)
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(retention, "collect", gated)
    first = run_kept(runner, "ret-bg")
    assert entered.wait(60), "no background pass after the run"
    # the pass is held, and still the next run starts and returns
    second = run_kept(runner, "ret-bg")
    assert first.sandbox_id and second.sandbox_id
    assert status(store, first.sandbox_id) == SandboxState.RUNNING
    unused_for(store, 5, first)  # else spared as used a moment ago
    release.set()
    # the config's policy (keep 1): the first run's sandbox goes; the new run's stays
    engine.wait_for(first.sandbox_id, {SandboxState.SHUTDOWN}, timeout=120)
    join_background(engine)
    assert status(store, second.sandbox_id) == SandboxState.RUNNING
    log = (paths.log_dir() / retention.LOG_NAME).read_text()
    assert f"removed {first.sandbox_id}" in log and "older than the newest run" in log

    # a pass that fails is logged, never raised into the run
    def broken(*args: Any, **kwargs: Any) -> retention.Report:
        raise RuntimeError("retention exploded")

    monkeypatch.setattr(retention, "collect", broken)
    third = run_kept(runner, "ret-bg")
    assert third.state == RunState.COMPLETED
    join_background(engine)
    assert "retention exploded" in (paths.log_dir() / retention.LOG_NAME).read_text()


# ----------------------------------------------------------------------------- disk numbers


def test_disk_numbers_are_what_the_files_really_hold(store: Store, engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario("ret-disk")))
    before = engine.disk_usage(images=False).sandboxes[sandbox.id]
    path = paths.data_dir() / "sandboxes" / sandbox.id / "disk.img"
    assert before.size_bytes == sandbox.resources.disk_gib * 1024**3  # apparent: the limit
    assert before.allocated_bytes < before.size_bytes  # sparse
    write_mib(engine, sandbox.id, 50)
    after = engine.disk_usage().sandboxes[sandbox.id]
    assert after.allocated_bytes - before.allocated_bytes >= 50 * MIB
    assert after.allocated_bytes == path.stat().st_blocks * 512
    images = engine.disk_usage().images
    assert images is not None and images.count >= 1 and images.exact
    base = engine.client.images.get(sandbox.image).attrs["Size"]
    assert images.bytes >= base  # the base image's layers at least, each counted once
    assert images.bytes <= sum(images.sizes.values())


# ----------------------------------------------------------------------------- command line


def test_gc_dry_run_removes_nothing_and_gc_removes(runner: Runner, store: Store) -> None:
    store_scenario(store, quick("ret-cli"))
    old, new = run_kept(runner, "ret-cli"), run_kept(runner, "ret-cli")
    assert old.sandbox_id and new.sandbox_id
    unused_for(store, 5, old)

    dry = sandbench("sandboxes", "gc", "--dry-run", "--keep", "1", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True
    assert [r["sandbox_id"] for r in planned["removed"]] == [old.sandbox_id]
    assert status(store, old.sandbox_id) == SandboxState.RUNNING
    human = sandbench("sandboxes", "gc", "--dry-run", "--keep", "1")
    assert old.sandbox_id in human.stdout and "would remove 1 sandbox" in human.stdout
    assert status(store, old.sandbox_id) == SandboxState.RUNNING

    done = sandbench("sandboxes", "gc", "--keep", "1")
    assert done.returncode == 0, done.stderr
    line = next(li for li in done.stdout.splitlines() if li.startswith(old.sandbox_id))
    assert "older than the newest run of ret-cli" in line
    assert "removed 1 sandbox, freed" in done.stdout
    assert status(store, old.sandbox_id) == SandboxState.SHUTDOWN
    assert status(store, new.sandbox_id) == SandboxState.RUNNING
    again = sandbench("sandboxes", "gc", "--keep", "1")
    assert "nothing to remove" in again.stdout
    bad = sandbench("sandboxes", "gc", "--keep", "-1")
    assert bad.returncode == 2 and "--keep" in bad.stderr


def test_rm_all_asks_refuses_without_a_terminal_and_removes_everything_live(
    runner: Runner, store: Store, engine: Engine
) -> None:
    store_scenario(store, quick("ret-rm"))
    run = run_kept(runner, "ret-rm")
    made = sandbench("sandboxes", "create", "ret-rm")  # a detached one, no run
    assert made.returncode == 0, made.stderr
    cli_box = made.stdout.strip()
    devbox = engine.provision(engine.spec_for(scenario("ret-api")), detach=True, initiator="api")
    engine.start(devbox.id)
    engine.suspend(devbox.id)
    live = {run.sandbox_id, cli_box, devbox.id}

    refused = sandbench("sandboxes", "rm", "--all")  # stdin is not a terminal here
    assert refused.returncode == 2
    assert "--yes" in refused.stderr and "no terminal" in refused.stderr
    assert all(status(store, s or "") != SandboxState.SHUTDOWN for s in live)

    # on a terminal it asks; "n" keeps them
    shown, code = in_terminal(
        "sandboxes", "rm", "--all", reply=lambda screen: b"n\n" if b"[y/N]" in screen else None
    )
    assert code == 1 and b"3 sandboxes" in shown
    assert all(status(store, s or "") != SandboxState.SHUTDOWN for s in live)

    removed = sandbench("sandboxes", "rm", "--all", "--yes", "--json")
    assert removed.returncode == 0, removed.stderr
    report = json.loads(removed.stdout)
    assert {r["sandbox_id"] for r in report["removed"]} == live and report["left"] == 0
    assert all(status(store, s or "") == SandboxState.SHUTDOWN for s in live)
    assert all(containers_of(s or "") == [] for s in live)
    nothing = sandbench("sandboxes", "rm", "--all")  # nothing live: nothing to ask
    assert nothing.returncode == 0 and "no live sandboxes" in nothing.stderr
    both = sandbench("sandboxes", "rm", "--all", "dbx_x")
    assert both.returncode == 2


def test_doctor_shows_the_disk_used_by_sandboxes_and_images(store: Store, engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario("ret-doctor")))
    write_mib(engine, sandbox.id, 20)
    result = sandbench("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    disks = checks["sandbox disks"]
    assert disks["status"] == "ok" and disks["detail"].startswith("1 sandbox disk, ")
    assert str(paths.data_dir() / "sandboxes") in disks["detail"]
    images = checks["sandbench images"]
    assert images["status"] == "ok" and "localhost/sandbench-* image" in images["detail"]
    assert "shared layers counted once" in images["detail"]
    human = sandbench("doctor").stdout
    assert "sandbox disks" in human and "sandbench images" in human


def test_closing_never_waits_on_a_stuck_pass_nor_starts_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C ends the process even with a removal stuck in Podman: close() waits a
    bounded time, and a run that finishes while the engine closes starts no new pass."""
    monkeypatch.setattr(sandboxes_module, "CLOSE_WAIT_S", 0.0)
    engine = Engine(store, monitor=False)
    release = threading.Event()
    stuck = engine.in_background("stuck-removal", lambda: release.wait(120) and None)
    engine.close()
    try:
        assert stuck.is_alive(), "close() waited for the stuck pass"
        assert engine.closing
        assert retention.collect_in_background(store, engine) is False
        with pytest.raises(EngineError, match="closing"):
            engine.in_background("late", lambda: None)
    finally:
        release.set()
        stuck.join(10)
