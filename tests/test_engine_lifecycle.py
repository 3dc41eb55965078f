"""Sandbox lifecycle on real Podman: launch, exec, idle suspend/resume, env, secrets, crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sandbench import paths, secrets
from sandbench.engine import Engine, EngineError, image_pins
from sandbench.engine.errors import MissingRequirements
from sandbench.model import FailureReason, SandboxState, ShutdownReason
from sandbench.store import Store
from tests.engine_support import containers_of, scenario, with_extra

pytestmark = pytest.mark.podman


def test_launch_commands_run_and_their_output_is_kept(engine: Engine) -> None:
    sandbox = engine.create(
        engine.spec_for(scenario(launch_commands=["echo setting up", "git init -q . && echo ok"]))
    )
    assert sandbox.status == SandboxState.RUNNING
    assert "setting up" in (sandbox.launch_output or "")
    assert [t.status for t in sandbox.state_transitions] == [
        SandboxState.PROVISIONING,
        SandboxState.INITIALIZING,
        SandboxState.RUNNING,
    ]
    times = [t.transition_time_ms for t in sandbox.state_transitions]
    assert times == sorted(times)
    assert engine.exec(sandbox.id, "test -d .git && pwd").stdout.strip() == "/workspace/repo"


def test_failed_launch_command_fails_the_sandbox_with_its_output(
    engine: Engine, store: Store
) -> None:
    spec = engine.spec_for(scenario(launch_commands=["echo before", "echo broken >&2; exit 7"]))
    with pytest.raises(EngineError, match="launch command failed"):
        engine.create(spec)
    failed = store.list_sandboxes()[0]
    assert failed.status == SandboxState.FAILURE
    assert failed.failure_reason == FailureReason.LAUNCH_FAILED
    assert "broken" in (failed.failure_detail or "") and "exit code 7" in failed.failure_detail
    assert containers_of(failed.id) == []


def test_exec_streams_output_and_reports_the_exit_code(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    seen: list[tuple[str, str, float]] = []
    start = time.monotonic()
    result = engine.exec(
        sandbox.id,
        "echo first; sleep 2; echo err >&2; exit 3",
        on_output=lambda stream, text: seen.append((stream, text, time.monotonic() - start)),
    )
    assert result.exit_code == 3
    assert result.stdout == "first\n" and result.stderr == "err\n"
    first = next(t for s, text, t in seen if "first" in text)
    assert first < 1.5, "output arrived only when the command ended"


def test_exec_timeout_kills_the_process_inside(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    result = engine.exec(sandbox.id, "sleep 300 & sleep 300; echo never", timeout=1)
    assert result.timed_out and result.exit_code == 124
    left = engine.exec(sandbox.id, "ps -eo comm | grep -c '^sleep$' || true").stdout.strip()
    assert left == "1", "only the container's own keep-alive sleep may remain"


def test_stream_exec_yields_events_then_the_result(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    events = list(engine.stream_exec(sandbox.id, "echo a; echo b >&2"))
    assert events[-1].result is not None and events[-1].result.exit_code == 0
    assert {(e.stream, e.text) for e in events[:-1]} == {("stdout", "a\n"), ("stderr", "b\n")}


def test_files_env_and_workdir(engine: Engine) -> None:
    scn = with_extra(scenario(), required_environment_variables=["API_URL"])
    sandbox = engine.create(engine.spec_for(scn, env={"API_URL": "http://example.test"}))
    engine.write_file(sandbox.id, "notes/hello.txt", "héllo\n")
    assert engine.read_file(sandbox.id, "/workspace/repo/notes/hello.txt") == "héllo\n".encode()
    out = engine.exec(sandbox.id, "echo $API_URL; cat notes/hello.txt", env={"EXTRA": "1"})
    assert out.stdout == "http://example.test\nhéllo\n"
    with pytest.raises(EngineError, match="cannot read"):
        engine.read_file(sandbox.id, "missing.txt")


def test_missing_env_and_secrets_fail_before_any_container(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    scn = with_extra(
        scenario(), required_environment_variables=["API_URL"], required_secret_names=["TOKEN"]
    )
    with pytest.raises(MissingRequirements) as caught:
        engine.spec_for(scn)
    assert "API_URL" in str(caught.value) and "TOKEN" in str(caught.value)
    assert store.list_sandboxes() == []


def test_secret_reaches_the_sandbox_but_never_the_store_or_logs(
    engine: Engine, store: Store
) -> None:
    value = "s3cr3t-VALUE-4242"
    secrets.set_secret("TOKEN", value)
    assert oct(secrets.secrets_path().stat().st_mode & 0o777) == "0o600"
    scn = with_extra(
        scenario(launch_commands=["echo token is $TOKEN"]), required_secret_names=["TOKEN"]
    )
    sandbox = engine.create(engine.spec_for(scn))
    assert engine.exec(sandbox.id, "printenv TOKEN").stdout.strip() == value
    assert "***" in (store.get_sandbox(sandbox.id).launch_output or "")
    store.close()
    for path in [*paths.data_dir().rglob("*.db*"), *paths.log_dir().rglob("*")]:
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path


def test_user_parameters_run_as_that_user(engine: Engine) -> None:
    scn = scenario(user_parameters={"username": "agent", "uid": 1234})
    sandbox = engine.create(engine.spec_for(scn))
    out = engine.exec(sandbox.id, "id -un; id -u; touch mine && stat -c %u mine").stdout
    assert out.split() == ["agent", "1234", "1234"]


def test_network_none_has_only_loopback(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario(network_policy_id="none")))
    interfaces = engine.exec(sandbox.id, "ls /sys/class/net").stdout.split()
    assert interfaces == ["lo"]
    default = engine.create(engine.spec_for(scenario(name="net-default")))
    assert len(engine.exec(default.id, "ls /sys/class/net").stdout.split()) >= 2


def test_unknown_network_policy_is_a_clear_error(engine: Engine) -> None:
    from sandbench.errors import InvalidInput

    with pytest.raises(InvalidInput, match="network_policy_id 'corp-vpn'"):
        engine.spec_for(scenario(network_policy_id="corp-vpn"))


def test_idle_suspend_then_exec_resumes_with_files_kept(engine: Engine, store: Store) -> None:
    idle = {"idle_time_seconds": 3, "on_idle": "suspend"}
    sandbox = engine.create(
        engine.spec_for(scenario(after_idle=idle, launch_commands=["echo launched >> launches"]))
    )
    engine.write_file(sandbox.id, "kept.txt", "before suspend\n")
    suspended = engine.wait_for(sandbox.id, {SandboxState.SUSPENDED}, timeout=30)
    assert containers_of(sandbox.id) == [], "a suspended sandbox has no container"
    statuses = [t.status for t in suspended.state_transitions]
    assert statuses[-2:] == [SandboxState.SUSPENDING, SandboxState.SUSPENDED]
    # any operation resumes it transparently; the disk survived, launch commands ran again
    result = engine.exec(sandbox.id, "cat kept.txt; cat launches")
    assert result.stdout == "before suspend\nlaunched\nlaunched\n"
    assert store.get_sandbox(sandbox.id).status == SandboxState.RUNNING
    assert [t.status for t in store.get_sandbox(sandbox.id).state_transitions][-2:] == [
        SandboxState.RESUMING,
        SandboxState.RUNNING,
    ]


def test_idle_shutdown_records_the_reason(engine: Engine) -> None:
    idle = {"idle_time_seconds": 2, "on_idle": "shutdown"}
    sandbox = engine.create(engine.spec_for(scenario(after_idle=idle)))
    ended = engine.wait_for(sandbox.id, {SandboxState.SHUTDOWN}, timeout=30)
    assert ended.shutdown_reason == ShutdownReason.IDLE
    assert containers_of(sandbox.id) == []


def test_a_running_exec_is_not_idle(engine: Engine, store: Store) -> None:
    idle = {"idle_time_seconds": 1, "on_idle": "suspend"}
    sandbox = engine.create(engine.spec_for(scenario(after_idle=idle)))
    result = engine.exec(sandbox.id, "sleep 3; echo done")
    assert result.stdout == "done\n"
    assert SandboxState.SUSPENDED not in [
        t.status for t in store.get_sandbox(sandbox.id).state_transitions
    ]


def test_keep_alive_shuts_down(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario(keep_alive_time_seconds=2)))
    ended = engine.wait_for(sandbox.id, {SandboxState.SHUTDOWN}, timeout=30)
    assert ended.shutdown_reason == ShutdownReason.KEEP_ALIVE_TIMEOUT


def test_manual_suspend_resume_pause_unpause(engine: Engine, store: Store) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    paused = engine.pause(sandbox.id)
    assert paused.paused
    state = engine.client.containers.get(f"sandbench-{sandbox.id}").attrs["State"]["Status"]
    assert state == "paused"
    assert engine.exec(sandbox.id, "echo thawed").stdout == "thawed\n"  # unpauses first
    assert not store.get_sandbox(sandbox.id).paused
    assert engine.suspend(sandbox.id).status == SandboxState.SUSPENDED
    assert engine.resume(sandbox.id).status == SandboxState.RUNNING
    assert engine.shutdown(sandbox.id).shutdown_reason == ShutdownReason.API_SHUTDOWN
    with pytest.raises(EngineError, match="shutdown"):
        engine.exec(sandbox.id, "true")


def test_a_command_arriving_while_the_sandbox_suspends_waits_then_runs(engine: Engine) -> None:
    """A detached sandbox's watcher may suspend it just as a command arrives: the command
    waits for the suspension to finish, resumes the sandbox and runs (it once failed with
    "is suspending")."""
    sandbox = engine.create(engine.spec_for(scenario()))
    engine.write_file(sandbox.id, "kept.txt", "still here\n")
    results: list[str] = []
    seen: list[SandboxState] = []
    runners: list[threading.Thread] = []

    def command() -> None:
        results.append(engine.exec(sandbox.id, "cat kept.txt").stdout)

    def on_transition(sandbox_id: str, status: SandboxState) -> None:
        if status == SandboxState.SUSPENDING and not seen:
            seen.append(engine.store.get_sandbox(sandbox_id).status)
            runner = threading.Thread(target=command, daemon=True)
            runners.append(runner)
            runner.start()
            runner.join(timeout=1)  # it must wait: the suspension is ours to finish
            seen.append(SandboxState.RUNNING if results else SandboxState.SUSPENDING)

    engine.on_transition.append(on_transition)
    assert engine.suspend(sandbox.id).status == SandboxState.SUSPENDED
    engine.on_transition.remove(on_transition)
    assert seen == [SandboxState.SUSPENDING, SandboxState.SUSPENDING]
    runners[0].join(timeout=120)
    assert results == ["still here\n"]
    assert engine.store.get_sandbox(sandbox.id).status == SandboxState.RUNNING
    engine.shutdown(sandbox.id)


def test_a_health_check_waiting_on_a_removal_never_overrides_its_reason(
    engine: Engine, store: Store
) -> None:
    """A watcher that finds the container gone while `rm` removes it waits for the removal
    and leaves its reason alone (it once took a fresh lock file and recorded its own)."""
    sandbox = engine.create(engine.spec_for(scenario()))
    watcher_done = threading.Event()
    seen_while_held: list[SandboxState] = []

    def watcher() -> None:  # as the watcher process does once the container is gone
        engine.shutdown(sandbox.id, ShutdownReason.ENTRYPOINT_EXIT)
        watcher_done.set()

    def on_transition(sandbox_id: str, status: SandboxState) -> None:
        if status != SandboxState.SHUTDOWN or seen_while_held:
            return  # runs inside shutdown, the lifecycle lock held, the lock file gone
        seen_while_held.append(status)
        threading.Thread(target=watcher, daemon=True).start()
        if watcher_done.wait(timeout=2):
            seen_while_held.append(SandboxState.FAILURE)  # it got in while we held it

    engine.on_transition.append(on_transition)
    ended = engine.shutdown(sandbox.id, ShutdownReason.API_SHUTDOWN)
    assert watcher_done.wait(timeout=30)
    assert seen_while_held == [SandboxState.SHUTDOWN]
    assert ended.shutdown_reason == ShutdownReason.API_SHUTDOWN
    assert store.get_sandbox(sandbox.id).shutdown_reason == ShutdownReason.API_SHUTDOWN
    assert not (paths.data_dir() / "sandboxes" / f"{sandbox.id}.lock").exists()


def test_snapshot_is_usable_as_snapshot_id(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario()))
    engine.write_file(sandbox.id, "state.txt", "snapshotted\n")
    snapshot = engine.snapshot(sandbox.id, "test-snap", lambda line: None)
    try:
        scn = scenario(name="from-snapshot")
        data = scn.to_dict()
        data["environment_parameters"]["snapshot_id"] = snapshot.name
        from sandbench.model import parse_scenarios

        restored = engine.create(engine.spec_for(parse_scenarios(data)[0].scenario))
        assert engine.exec(restored.id, "cat state.txt").stdout == "snapshotted\n"
        engine.remove_image(snapshot.image)  # a sandbox's disk is built on it: it stays
        assert image_exists(snapshot.image)
        engine.shutdown(restored.id)
        engine.remove_image(snapshot.image)  # nothing names it now: its pin goes, then it
        assert not image_exists(snapshot.image)
    finally:
        subprocess.run(["podman", "rmi", "-f", snapshot.image], check=False, capture_output=True)


def pinned_images(root: Path) -> list[str]:
    """The image ids pinned for the sandboxes under ``root``."""
    listed = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={image_pins.PIN_LABEL}={root}",
         "--format", f'{{{{index .Labels "{image_pins.IMAGE_LABEL}"}}}}'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return sorted(listed.stdout.split())


def test_one_image_pin_lasts_while_a_sandbox_names_its_image(store: Store) -> None:
    """Two sandboxes of one image share one pin; it stays for the next sandbox while the
    engine lives, and while a (detached) suspended sandbox's disk names the image; closing
    the engine removes it once nothing does (a test's or a benchmark's workspace leaves
    none)."""
    root = paths.data_dir() / "sandboxes"
    engine = Engine(store)
    try:
        spec = engine.spec_for(scenario())
        first, second = engine.create(spec), engine.create(spec, detach=True)
        image_id = engine.client.images.get(spec.image).attrs["Id"]
        assert pinned_images(root) == [image_id]
        engine.shutdown(first.id)
        assert pinned_images(root) == [image_id], "kept for the next sandbox"
        engine.suspend(second.id)
    finally:
        engine.close()
    assert pinned_images(root) == [image_id], "the suspended sandbox's disk names it"
    with Engine(store) as again:
        again.shutdown(second.id)
    assert pinned_images(root) == []


def image_exists(image: str) -> bool:
    found = subprocess.run(["podman", "image", "exists", image], check=False)
    return found.returncode == 0


def child_pid(child: subprocess.CompletedProcess[str]) -> int:
    return int(child.stderr.split("pid=", 1)[1].split()[0])


def _service_running(socket: Path) -> bool:
    found = subprocess.run(["pgrep", "-f", str(socket)], capture_output=True, check=False)
    return found.returncode == 0


CRASHER = textwrap.dedent(
    """
    import os, sys
    print(f"pid={os.getpid()}", file=sys.stderr, flush=True)
    from sandbench.engine import Engine
    from sandbench.store import open_store
    from tests.engine_support import scenario
    store = open_store()
    engine = Engine(store)
    ids = [engine.create(engine.spec_for(scenario(name=f"crash-{i}"))).id for i in range(2)]
    print(" ".join(ids), flush=True)
    os.kill(os.getpid(), 9)
    """
)


@pytest.mark.parametrize("how", ["first connection", "explicit recover"])
def test_crashed_owner_leaves_nothing_after_the_next_start(
    store: Store, engine: Engine, how: str
) -> None:
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run(
        [sys.executable, "-c", CRASHER],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ},
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    ids = child.stdout.split()
    # its private Podman service died with it (parent-death signal), even after SIGKILL
    service_socket = paths.runtime_dir() / f"podman-{child_pid(child)}.sock"
    deadline = time.monotonic() + 90  # generous: these machines are shared and get loaded
    while _service_running(service_socket) and time.monotonic() < deadline:
        time.sleep(0.1)  # the service's own SIGTERM handling takes a moment
    assert not _service_running(service_socket)
    assert len(ids) == 2 and all(containers_of(i) for i in ids), "the crash left containers"
    with Engine(store) as fresh:
        if how == "first connection":
            assert fresh.connection.uri  # first use runs start-up recovery
        else:  # called before any connection (a node's sweep does): it once deadlocked
            cleaned: list[str] = []
            worker = threading.Thread(target=lambda: cleaned.extend(fresh.recover()))
            worker.start()
            worker.join(timeout=240)
            assert not worker.is_alive(), "recover() on a fresh engine hung"
            assert set(ids) <= set(cleaned)
        for sandbox_id in ids:
            sandbox = store.get_sandbox(sandbox_id)
            assert sandbox.status == SandboxState.FAILURE
            assert sandbox.failure_reason == FailureReason.ORPHANED
            assert containers_of(sandbox_id) == []
            assert not (paths.data_dir() / "sandboxes" / sandbox_id).exists()


async def test_exec_events_never_block_the_event_loop(engine: Engine) -> None:
    import asyncio

    sandbox = await asyncio.to_thread(engine.create, engine.spec_for(scenario()))
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.05)  # measures the loop's responsiveness

    task = asyncio.create_task(ticker())
    events = [e async for e in engine.exec_events(sandbox.id, "echo start; sleep 1; echo done")]
    stop.set()
    await task
    assert [e.text for e in events if e.text] == ["start\n", "done\n"]
    assert events[-1].result is not None and events[-1].result.exit_code == 0
    assert ticks >= 10, f"the loop ticked only {ticks} times during a 1 s exec"


def test_recovery_leaves_other_workspaces_alone(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = engine.create(engine.spec_for(scenario(name="mine")))
    from sandbench.store import open_store

    with monkeypatch.context() as patch:
        patch.setenv("SANDBENCH_HOME", str(tmp_path / "another-workspace"))
        with open_store() as other_store, Engine(other_store) as other:
            assert other.recover() == []
    assert containers_of(mine.id), "another workspace's start-up removed our sandbox"
    assert engine.exec(mine.id, "echo alive").stdout == "alive\n"
