"""The engine's command line on real Podman: doctor, secrets, sandboxes, blueprints, snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbench.engine import Engine, PodmanUnavailable
from sandbench.engine.service import Connection, connect, start_private
from sandbench.model import SandboxState
from sandbench.store import Store, open_store
from tests.engine_support import (
    containers_of,
    in_terminal,
    require_podman,
    sandbench,
    scenario,
)

pytestmark = pytest.mark.podman


@pytest.fixture
def imported(tmp_path: Path) -> str:
    """A scenario in the store, named 'cli-env', with a 2 s idle suspend."""
    require_podman()
    scn = scenario(
        "cli-env",
        resource_size_request="X_SMALL",
        after_idle={"idle_time_seconds": 2, "on_idle": "suspend"},
        launch_commands=["echo hello > greeting"],
    )
    path = tmp_path / "cli-env.json"
    path.write_text(json.dumps(scn.to_dict()))
    assert sandbench("scenarios", "import", str(path)).returncode == 0
    return "cli-env"


def test_doctor_reports_a_working_host() -> None:
    require_podman()
    result = sandbench("doctor", "--json")
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert result.returncode == 0 and report["ok"] is True, result.stdout
    assert checks["runtime"]["status"] == "ok"
    assert checks["limits"]["detail"] == "can limit cpu, memory, pids"
    assert checks["disk limit"]["status"] == "ok"
    assert checks["image x86_64"]["status"] == "ok"
    human = sandbench("doctor")
    assert "runtime" in human.stdout and "ulimits" in human.stdout


def test_doctor_says_what_to_do_when_podman_is_unreachable() -> None:
    result = sandbench("doctor", "--json", timeout=60)
    bad = subprocess.run(
        [sys.executable, "-m", "sandbench", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CONTAINER_HOST": "unix:///nonexistent/podman.sock"},
    )
    assert result.returncode in (0, 1)
    assert bad.returncode == 1 and "unix:///nonexistent/podman.sock" in bad.stdout
    assert "CONTAINER_HOST" in bad.stdout and "Traceback" not in bad.stderr


def test_explicit_uri_that_does_not_answer_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PodmanUnavailable, match="config podman_uri"):
        connect("unix:///nonexistent/podman.sock")
    monkeypatch.setenv("CONTAINER_HOST", "unix:///nonexistent/other.sock")
    with pytest.raises(PodmanUnavailable, match="CONTAINER_HOST"):
        connect(None)


def test_private_service_stops_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    require_podman()
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    connection = connect(None)
    if connection.process is None:
        pytest.skip("a system Podman service answered; no private service to stop")
    assert connection.client.ping()
    process = connection.process
    connection.close()
    assert process.poll() is not None


def test_secrets_cli_reads_stdin_and_never_prints_values(sandbench_home: Path) -> None:
    value = "hunter2-very-secret"
    stored = sandbench("secrets", "set", "DB_PASSWORD", stdin=value + "\n")
    assert stored.returncode == 0 and value not in stored.stdout + stored.stderr
    listed = sandbench("secrets", "list", "--json")
    assert json.loads(listed.stdout) == ["DB_PASSWORD"]
    path = sandbench_home / "config" / "secrets.toml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    bad = sandbench("secrets", "set", "1BAD", stdin="x")
    assert bad.returncode == 2 and "1BAD" in bad.stderr
    empty = sandbench("secrets", "set", "EMPTY", stdin="")
    assert empty.returncode == 2 and "empty" in empty.stderr
    assert sandbench("secrets", "rm", "DB_PASSWORD").returncode == 0
    assert json.loads(sandbench("secrets", "list", "--json").stdout) == []


def test_detached_sandbox_lifecycle_through_the_cli(imported: str, store: Store) -> None:
    created = sandbench("sandboxes", "create", imported)
    assert created.returncode == 0, created.stderr
    sandbox_id = created.stdout.strip()
    try:
        listed = json.loads(sandbench("sandboxes", "list", "--json").stdout)
        assert [s["id"] for s in listed] == [sandbox_id]
        ran = sandbench("sandboxes", "exec", sandbox_id, "--", "sh", "-c", "cat greeting; exit 5")
        assert ran.returncode == 5 and ran.stdout == "hello\n"
        # nobody holds the CLI's sandbox open: its watcher suspends it when idle
        with Engine(store, recover=False, monitor=False) as engine:
            engine.wait_for(sandbox_id, {SandboxState.SUSPENDED}, timeout=60)
        assert containers_of(sandbox_id) == []
        resumed = sandbench("sandboxes", "exec", sandbox_id, "--", "cat", "greeting")
        assert resumed.stdout == "hello\n"
        assert sandbench("sandboxes", "pause", sandbox_id).stdout.strip().endswith("(paused)")
        assert sandbench("sandboxes", "unpause", sandbox_id).returncode == 0
        assert "suspended" in sandbench("sandboxes", "suspend", sandbox_id).stdout
        assert "running" in sandbench("sandboxes", "resume", sandbox_id).stdout
        shown = sandbench("sandboxes", "show", sandbox_id)
        assert "resuming" in shown.stdout and "Launch output" in shown.stdout
    finally:
        removed = sandbench("sandboxes", "rm", sandbox_id)
    assert removed.returncode == 0 and "shutdown" in removed.stdout
    assert containers_of(sandbox_id) == []
    assert json.loads(sandbench("sandboxes", "list", "--json").stdout) == []
    everything = json.loads(sandbench("sandboxes", "list", "--all", "--json").stdout)
    assert everything[0]["shutdown_reason"] == "api_shutdown"


def test_exec_timeout_and_errors_through_the_cli(imported: str) -> None:
    sandbox_id = sandbench("sandboxes", "create", imported).stdout.strip()
    try:
        slow = sandbench("sandboxes", "exec", sandbox_id, "--timeout", "1", "--", "sleep", "60")
        assert slow.returncode == 124 and "killed after 1s" in slow.stderr
        missing = sandbench("sandboxes", "exec", sandbox_id)
        assert missing.returncode == 2 and "needs a command" in missing.stderr
    finally:
        sandbench("sandboxes", "rm", sandbox_id)
    gone = sandbench("sandboxes", "exec", sandbox_id, "--", "true")
    assert gone.returncode == 1 and "shutdown" in gone.stderr
    unknown = sandbench("sandboxes", "exec", "dbx_nope", "--", "true")
    assert unknown.returncode == 1 and "no sandbox" in unknown.stderr


def test_cli_execs_are_recorded_in_the_activity_log(imported: str) -> None:
    """An agent driving its sandbox with `sandboxes exec` shows in the activity log too."""
    sandbox_id = sandbench("sandboxes", "create", imported).stdout.strip()
    try:
        ran = sandbench("sandboxes", "exec", sandbox_id, "--", "sh", "-c", "echo out; exit 3")
        assert ran.returncode == 3 and ran.stdout == "out\n"
    finally:
        sandbench("sandboxes", "rm", sandbox_id)
    with open_store() as store:
        [execution] = store.list_executions(sandbox_id, with_output=True).items
    assert execution.command == "sh -c 'echo out; exit 3'"
    assert (execution.origin, execution.exit_status, execution.stdout) == ("cli", 3, "out\n")
    assert execution.status == "completed" and execution.duration_ms is not None


def test_interactive_shell_in_a_real_terminal(imported: str) -> None:
    sandbox_id = sandbench("sandboxes", "create", imported).stdout.strip()
    typed: list[bytes] = []

    def reply(screen: bytes) -> bytes | None:
        if typed:
            return None
        typed.append(b"echo shell-says-$((6*7)); cat greeting; exit 3\n")
        return typed[0]

    try:
        output, code = in_terminal("sandboxes", "shell", sandbox_id, reply=reply, timeout=60)
        assert b"shell-says-42" in output and b"hello" in output
        assert code == 3
    finally:
        sandbench("sandboxes", "rm", sandbox_id)


def _stray(home: str) -> str:
    return subprocess.run(
        [
            "podman",
            "create",
            "--label",
            "io.sandbench.sandbox=dbx_stray",
            "--label",
            f"io.sandbench.home={home}",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "localhost/sandbench-base:latest",
            "true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_prune_removes_our_stray_containers_only(imported: str) -> None:
    from sandbench import paths

    ours, theirs = _stray(paths.home_label()), _stray("another-workspace")
    try:
        result = sandbench("sandboxes", "prune")
        assert result.returncode == 0
        gone = subprocess.run(["podman", "container", "exists", ours], check=False)
        kept = subprocess.run(["podman", "container", "exists", theirs], check=False)
        assert (gone.returncode, kept.returncode) == (1, 0)
    finally:
        subprocess.run(["podman", "rm", "-f", ours, theirs], check=False, capture_output=True)


def test_blueprint_build_streams_and_failures_are_reported(tmp_path: Path, store: Store) -> None:
    require_podman()
    good = tmp_path / "good"
    good.mkdir()
    (good / "Dockerfile").write_text(
        "FROM localhost/sandbench-base:latest\nRUN echo building-the-blueprint"
        " && mkdir -p /workspace/app && echo v1 > /workspace/app/VERSION\n"
    )
    built = sandbench("blueprints", "build", "cli-good", str(good))
    assert built.returncode == 0, built.stderr
    assert "building-the-blueprint" in built.stderr  # the build's output streamed
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "Containerfile").write_text("FROM localhost/sandbench-base:latest\nRUN exit 42\n")
    failed = sandbench("blueprints", "build", "cli-bad", str(bad))
    assert failed.returncode == 1 and "failed to build" in failed.stderr
    listed = {
        b["name"]: b["status"] for b in json.loads(sandbench("blueprints", "list", "--json").stdout)
    }
    assert listed == {"cli-good": "build_complete", "cli-bad": "failed"}
    missing = sandbench("blueprints", "build", "cli-none", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    try:
        data = scenario("on-blueprint").to_dict()
        data["environment_parameters"]["blueprint_id"] = "cli-good"
        path = tmp_path / "bp.json"
        path.write_text(json.dumps(data))
        sandbench("scenarios", "import", str(path))
        sandbox_id = sandbench("sandboxes", "create", "on-blueprint").stdout.strip()
        out = sandbench("sandboxes", "exec", sandbox_id, "--", "cat", "/workspace/app/VERSION")
        assert out.stdout == "v1\n"
        snap = sandbench("snapshots", "create", sandbox_id, "cli-snap")
        assert snap.returncode == 0, snap.stderr
        snaps = json.loads(sandbench("snapshots", "list", "--json").stdout)
        assert [s["name"] for s in snaps] == ["cli-snap"]
        images = json.loads(sandbench("images", "list", "--json").stdout)
        tags = {row["tag"] for row in images}
        assert "localhost/sandbench-blueprint-cli-good:latest" in tags
        assert "localhost/sandbench-snapshot-cli-snap:latest" in tags
        sandbench("sandboxes", "rm", sandbox_id)
    finally:
        for tag in (
            "localhost/sandbench-blueprint-cli-good:latest",
            "localhost/sandbench-snapshot-cli-snap:latest",
        ):
            subprocess.run(["podman", "rmi", "-f", tag], check=False, capture_output=True)


def test_missing_requirements_fail_before_a_container(tmp_path: Path) -> None:
    require_podman()
    data = scenario("needs-things").to_dict()
    data["required_environment_variables"] = ["SOME_URL"]
    data["required_secret_names"] = ["SOME_TOKEN"]
    path = tmp_path / "needs.json"
    path.write_text(json.dumps(data))
    sandbench("scenarios", "import", str(path))
    env = {k: v for k, v in os.environ.items() if k != "SOME_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "sandbench", "sandboxes", "create", "needs-things"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "SOME_URL" in result.stderr and "SOME_TOKEN" in result.stderr
    assert json.loads(sandbench("sandboxes", "list", "--all", "--json").stdout) == []


@pytest.fixture
def podman_socket(tmp_path: Path):
    require_podman()
    socket = tmp_path / "svc" / "podman.sock"
    socket.parent.mkdir()
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # readiness poll: the service offers nothing to wait on
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.wait(timeout=20)


def test_configured_uri_and_container_host_are_used(
    podman_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    configured = connect(podman_socket)
    assert (configured.uri, configured.source, configured.process) == (
        podman_socket,
        "config podman_uri",
        None,
    )
    configured.close()
    monkeypatch.setenv("CONTAINER_HOST", podman_socket)
    from_env = connect(None)
    assert from_env.source == "CONTAINER_HOST" and from_env.client.ping()
    from_env.close()


def test_private_service_outlives_the_thread_that_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PR_SET_PDEATHSIG follows the parent thread: a service started from a worker thread
    must not die when that thread ends (it did, mid-benchmark)."""
    require_podman()
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    box: dict[str, object] = {}
    worker = threading.Thread(target=lambda: box.setdefault("c", start_private()))
    worker.start()
    worker.join()
    connection = box["c"]
    assert isinstance(connection, Connection)
    try:
        time.sleep(1.0)  # give a wrongly delivered SIGTERM time to land
        assert connection.process is not None and connection.process.poll() is None
        assert connection.client.ping()
    finally:
        connection.close()
