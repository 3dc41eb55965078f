"""Devboxes through the real Runloop SDK (1.32.0) against a real `sandbench serve`.

Lifecycle, commands (exit codes, streams, background processes, kill), the raw SSE
stream, the activity log and secrets, files, disk snapshots, network policies and a
server restart. Every wait is the SDK's own (long-polls, polling helpers) or a stream.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.podman

PROMPT_S = 10.0  # "promptly": far below the 30 s a held stdout would have cost


def sdk_for(api_server: Any) -> Any:
    from runloop_api_client import RunloopSDK

    return RunloopSDK(base_url=api_server.base_url, bearer_token=api_server.token)


def shell(devbox: Any, command: str) -> str:
    result = devbox.cmd.exec(command)
    assert result.exit_code == 0, f"{command!r}: {result.exit_code} {result.stderr()}"
    return str(result.stdout())


MEMORY_LIMIT = (
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
)
CPU_LIMIT = (  # cgroup v2, else v1: "QUOTA PERIOD"
    "cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo"
    " $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
)


def cpu_cores(devbox: Any) -> float:
    quota, period = shell(devbox, CPU_LIMIT).split()
    return int(quota) / int(period)


# ---------------------------------------------------------------------------- lifecycle


def test_create_with_a_preset_user_launch_commands_and_environment(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create(
        name="preset-box",
        launch_parameters={
            "resource_size_request": "SMALL",
            "launch_commands": ["echo launched-$GREETING > /tmp/launch.txt"],
            "user_parameters": {"username": "alice", "uid": 1234},
        },
        environment_variables={"GREETING": "hello", "SECOND": "two words"},
    )
    info = devbox.get_info()
    assert info.status == "running"
    assert info.name == "preset-box"
    assert info.launch_parameters.resource_size_request == "SMALL"
    assert [t.status for t in info.state_transitions][:1] == ["provisioning"]
    assert [t.status for t in info.state_transitions][-1] == "running"
    # SMALL is 1 CPU / 2 GiB, enforced by the sandbox's cgroup
    assert int(shell(devbox, MEMORY_LIMIT)) == 2 * 1024**3
    assert cpu_cores(devbox) == pytest.approx(1.0)
    assert shell(devbox, "id -u; id -un") == "1234\nalice\n"
    assert shell(devbox, 'echo "$GREETING|$SECOND"') == "hello|two words\n"
    assert shell(devbox, "cat /tmp/launch.txt") == "launched-hello\n"


def test_create_with_custom_size(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create(
        launch_parameters={
            "resource_size_request": "CUSTOM_SIZE",
            "custom_cpu_cores": 2,
            "custom_gb_memory": 4,
        }
    )
    info = devbox.get_info()
    assert info.status == "running"
    assert info.launch_parameters.custom_cpu_cores == 2
    assert info.launch_parameters.custom_gb_memory == 4
    assert int(shell(devbox, MEMORY_LIMIT)) == 4 * 1024**3
    assert cpu_cores(devbox) == pytest.approx(2.0)


def test_suspend_then_resume_keeps_the_disk(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create(
        launch_parameters={"launch_commands": ["echo boot >> /tmp/boots.txt"]}
    )
    devbox.file.write(file_path="/workspace/kept.txt", contents="still here\n")

    suspended = devbox.suspend()
    assert suspended.status == "suspended"
    assert devbox.get_info().status == "suspended"

    resumed = devbox.resume()
    assert resumed.status == "running"
    assert devbox.file.read(file_path="/workspace/kept.txt") == "still here\n"
    # launch commands run again after every resume (documented in DESIGN.md)
    assert shell(devbox, "cat /tmp/boots.txt") == "boot\nboot\n"
    statuses = [t.status for t in devbox.get_info().state_transitions]
    assert "suspended" in statuses
    assert statuses[-1] == "running"


def test_shutdown_and_list_by_status(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    kept = sdk.devbox.create(name="kept")
    ended = sdk.devbox.create(name="ended")

    view = ended.shutdown()
    assert view.status == "shutdown"
    info = ended.get_info()
    assert info.status == "shutdown"
    assert info.shutdown_reason == "api_shutdown"
    assert info.end_time_ms is not None

    running = {d.id for d in sdk.api.devboxes.list(status="running").devboxes}
    shut = {d.id for d in sdk.api.devboxes.list(status="shutdown").devboxes}
    assert kept.id in running and ended.id not in running
    assert ended.id in shut and kept.id not in shut
    everything = sdk.api.devboxes.list()
    assert {kept.id, ended.id} <= {d.id for d in everything.devboxes}
    # a shut-down devbox runs no more commands
    from runloop_api_client import BadRequestError

    with pytest.raises(BadRequestError, match="shutdown"):
        sdk.api.devboxes.execute_async(ended.id, command="true")


def test_wait_for_status_answers_408_at_the_timeout_and_200_as_soon_as_it_comes(
    api_server: Any,
) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    with api_server.http() as http:
        url = f"/v1/devboxes/{devbox.id}/wait_for_status"
        start = time.monotonic()
        never = http.post(url, json={"statuses": ["suspended"], "timeout_seconds": 1})
        waited = time.monotonic() - start
        assert never.status_code == 408, never.text
        assert 0.9 <= waited < 5, waited

        start = time.monotonic()
        now = http.post(url, json={"statuses": ["running"], "timeout_seconds": 25})
        assert now.status_code == 200
        assert now.json()["status"] == "running"
        assert time.monotonic() - start < 2

        # a wait already holding returns the moment the status arrives, not at its timeout
        answer: dict[str, Any] = {}

        def hold() -> None:
            start = time.monotonic()
            with api_server.http() as other:
                response = other.post(url, json={"statuses": ["shutdown"], "timeout_seconds": 30})
            answer.update(response=response, waited=time.monotonic() - start)

        waiter = threading.Thread(target=hold)
        waiter.start()
        devbox.shutdown()
        waiter.join(timeout=60)
        assert not waiter.is_alive()
        assert answer["response"].status_code == 200, answer["response"].text
        assert answer["response"].json()["status"] == "shutdown"
        assert answer["waited"] < 20, answer["waited"]


# ---------------------------------------------------------------------------- exec


def test_exec_exit_codes_and_separate_streams(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    ok = devbox.cmd.exec("echo out; echo err >&2")
    assert ok.exit_code == 0
    assert ok.success
    assert ok.stdout() == "out\n"
    assert ok.stderr() == "err\n"

    bad = devbox.cmd.exec("echo partial; echo broken >&2; exit 3")
    assert bad.exit_code == 3
    assert bad.failed
    assert bad.stdout() == "partial\n"
    assert bad.stderr() == "broken\n"

    missing = devbox.cmd.exec("no-such-command-here")
    assert missing.exit_code == 127
    assert "not found" in missing.stderr()


def test_exec_streams_output_line_by_line_to_callbacks(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    seen: list[tuple[float, str]] = []
    errors: list[str] = []
    start = time.monotonic()
    result = devbox.cmd.exec(
        "for i in 1 2 3; do echo line$i; echo warn$i >&2; sleep 0.6; done",
        stdout=lambda text: seen.append((time.monotonic() - start, text)),
        stderr=errors.append,
    )
    took = time.monotonic() - start
    assert result.exit_code == 0
    assert [text for _, text in seen] == ["line1\n", "line2\n", "line3\n"]
    assert "".join(errors) == "warn1\nwarn2\nwarn3\n"
    # live: the first line arrived well before the command ended
    assert seen[0][0] < took - 1.0, (seen, took)
    assert seen[-1][0] - seen[0][0] >= 1.0, seen
    assert result.stdout() == "line1\nline2\nline3\n"


def test_exec_async_result_and_kill(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    execution = devbox.cmd.exec_async("sleep 1; echo done; exit 4")
    result = execution.result()
    assert result.exit_code == 4
    assert result.stdout() == "done\n"
    assert execution.get_state().status == "completed"

    long = devbox.cmd.exec_async("sleep 600")
    running = sdk.api.devboxes.wait_for_command(
        long.execution_id, devbox_id=devbox.id, statuses=["running"], timeout_seconds=20
    )
    assert running.status == "running"
    assert "sleep 600" in shell(devbox, "ps -eo args")
    start = time.monotonic()
    long.kill()
    state = long.get_state()
    assert state.status == "completed"
    assert state.exit_status != 0
    assert time.monotonic() - start < PROMPT_S
    assert "sleep 600" not in shell(devbox, "ps -eo args")


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # deprecated, still served
def test_execute_sync_raw(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    detail = sdk.api.devboxes.execute_sync(devbox.id, command="echo sync; echo e >&2; exit 2")
    assert detail.exit_status == 2
    assert detail.stdout == "sync\n"
    assert detail.stderr == "e\n"
    assert detail.devbox_id == devbox.id


@pytest.mark.parametrize(
    ("command", "marker"),
    [
        ("nohup sleep 30 >/dev/null 2>&1 &", "sleep 30"),
        ("setsid sleep 31 &", "sleep 31"),  # no redirect: it holds the exec's stdout
    ],
)
def test_background_process_outlives_its_exec(api_server: Any, command: str, marker: str) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    start = time.monotonic()
    result = devbox.cmd.exec(command)
    assert result.exit_code == 0
    assert time.monotonic() - start < PROMPT_S
    assert marker in shell(devbox, "ps -eo args").splitlines()
    # and the exec that started it is over, not merely answered
    logs = devbox.logs().logs
    assert any(e.cmd == command and e.exit_code == 0 for e in logs)


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            events.append(json.loads(line.removeprefix("data:").strip()))
    return events


def test_sse_stream_raw_closes_at_the_end_and_resumes_from_an_offset(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    with api_server.http() as http:
        started = http.post(
            f"/v1/devboxes/{devbox.id}/execute_async",
            json={"command": "for i in 1 2 3 4; do echo chunk$i; sleep 0.3; done; exit 5"},
        ).json()
        stream = (
            f"/v1/devboxes/{devbox.id}/executions/{started['execution_id']}/stream_stdout_updates"
        )
        headers = {"Accept": "text/event-stream"}
        with http.stream("GET", stream, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)  # returns only because the server closes it
        state = http.get(f"/v1/devboxes/{devbox.id}/executions/{started['execution_id']}")
        assert state.json()["status"] == "completed"
        assert state.json()["exit_status"] == 5

        full = "chunk1\nchunk2\nchunk3\nchunk4\n"
        assert "".join(e["output"] for e in events) == full
        assert all(e["output"] for e in events)  # no empty events
        offsets = [e["offset"] for e in events]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert offsets[-1] == len(full)

        cut = offsets[0]
        with http.stream("GET", stream, params={"offset": cut}, headers=headers) as response:
            rest = sse_events(response)
        assert "".join(e["output"] for e in rest) == full[cut:]
        assert rest[-1]["offset"] == len(full)

        with http.stream("GET", stream, params={"offset": len(full)}, headers=headers) as response:
            assert sse_events(response) == []


def test_a_client_leaving_the_stream_does_not_kill_the_execution(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    with api_server.http() as http:
        started = http.post(
            f"/v1/devboxes/{devbox.id}/execute_async",
            json={"command": "echo first; sleep 2; echo last; exit 7"},
        ).json()
        execution_id = started["execution_id"]
        stream = f"/v1/devboxes/{devbox.id}/executions/{execution_id}/stream_stdout_updates"
        with http.stream("GET", stream, headers={"Accept": "text/event-stream"}) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    assert json.loads(line[5:])["output"] == "first\n"
                    break  # leave mid-stream: the connection closes here
    final = sdk.api.devboxes.executions.await_completed(execution_id, devbox_id=devbox.id)
    assert final.status == "completed"
    assert final.exit_status == 7
    assert final.stdout == "first\nlast\n"


# ---------------------------------------------------------------------------- logs, secrets


def test_every_execution_is_in_the_devbox_logs(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    devbox.cmd.exec("echo alpha-out")
    devbox.cmd.exec("echo beta-err >&2; exit 9")
    second = devbox.cmd.exec_async("echo gamma").result()

    logs = devbox.logs().logs
    execs = [entry for entry in logs if entry.source == "exec"]
    by_command: dict[str, list[Any]] = {}
    for entry in execs:
        by_command.setdefault(entry.cmd, []).append(entry)
    assert list(by_command) == ["echo alpha-out", "echo beta-err >&2; exit 9", "echo gamma"]
    exits = {
        cmd: [e.exit_code for e in es if e.exit_code is not None] for cmd, es in by_command.items()
    }
    assert exits == {"echo alpha-out": [0], "echo beta-err >&2; exit 9": [9], "echo gamma": [0]}
    messages = {cmd: "".join(e.message or "" for e in es) for cmd, es in by_command.items()}
    assert "alpha-out\n" in messages["echo alpha-out"]
    assert "beta-err\n" in messages["echo beta-err >&2; exit 9"]

    only = devbox.logs(execution_id=second.execution_id).logs
    assert only and {e.cmd for e in only} == {"echo gamma"}


def stored_bytes(home: Path) -> bytes:
    """Everything the store keeps: the database, its WAL, the objects (not the sandboxes'
    own disks, under data/sandboxes)."""
    data = home / "data"
    files = [*data.glob("sandbench.db*"), *data.glob("objects/*")]
    assert any(f.name == "sandbench.db" for f in files)
    return b"".join(f.read_bytes() for f in sorted(files) if f.is_file())


def test_secret_values_never_reach_output_logs_or_store(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    value = "s3cr3t-" + "x9q7" * 4
    record = sdk.api.secrets.create(name="API_SECRET_ONE", value=value)
    assert record.name == "API_SECRET_ONE"
    assert value not in record.model_dump_json()

    devbox = sdk.devbox.create(secrets={"MY_VAR": "API_SECRET_ONE"})
    echoed = devbox.cmd.exec("echo $MY_VAR")
    # the server redacts what it stores and returns: the exec's own stdout is ***
    assert echoed.exit_code == 0
    assert echoed.stdout() == "***\n"
    assert value not in echoed.stdout()
    # yet the value is really there, in the devbox's environment
    same = shell(devbox, f'test "$MY_VAR" = "{value}" && echo same')
    assert same == "same\n"
    streamed: list[str] = []
    devbox.cmd.exec("echo $MY_VAR >&2", stderr=streamed.append)
    assert "".join(streamed) == "***\n"
    # a command that spells the value out is recorded redacted too
    spelled = devbox.cmd.exec(f"echo {value} | tr a-z A-Z")
    assert spelled.stdout() == value.upper() + "\n"  # not the value itself: left as it is
    assert any(e.cmd == "echo *** | tr a-z A-Z" for e in devbox.logs().logs)

    with api_server.http() as http:
        logs = http.get(f"/v1/devboxes/{devbox.id}/logs")
        assert logs.status_code == 200
        assert "***" in logs.text
        assert value not in logs.text
        listed = http.get("/v1/secrets").text
        assert "API_SECRET_ONE" in listed and value not in listed
        devbox_view = http.get(f"/v1/devboxes/{devbox.id}").text
        assert value not in devbox_view
    assert value.encode() not in stored_bytes(api_server.home)


# ---------------------------------------------------------------------------- files


def test_write_and_read_file_contents(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    text = "first line\nsecond: ünïcødé ✓\n"
    written = devbox.file.write(file_path="/workspace/sub/dir/notes.txt", contents=text)
    assert written.exit_status == 0
    assert devbox.file.read(file_path="/workspace/sub/dir/notes.txt") == text
    assert shell(devbox, "cat /workspace/sub/dir/notes.txt") == text


def test_upload_and_download_binary_files_both_ways(api_server: Any, tmp_path: Path) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    payload = bytes(range(256)) * 64 + b"\x00\r\n\xff"
    local = tmp_path / "local-name.bin"
    local.write_bytes(payload)

    devbox.file.upload(path="/workspace/uploaded/target.bin", file=local)
    listing = shell(devbox, "ls /workspace/uploaded")
    assert listing == "target.bin\n"  # the target is `path`, not the local filename
    assert shell(devbox, "stat -c %s /workspace/uploaded/target.bin") == f"{len(payload)}\n"
    assert devbox.file.download(path="/workspace/uploaded/target.bin") == payload

    # made in the devbox, downloaded here
    shell(devbox, r"printf '\000\001\377\376binary\n' > /tmp/made.bin")
    assert devbox.file.download(path="/tmp/made.bin") == b"\x00\x01\xff\xfebinary\n"


def test_download_of_a_missing_file_is_404(api_server: Any) -> None:
    from runloop_api_client import NotFoundError

    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    with pytest.raises(NotFoundError):
        devbox.file.download(path="/no/such/file.bin")
    with pytest.raises(NotFoundError):
        devbox.file.read(file_path="/no/such/file.txt")


# ---------------------------------------------------------------------------- snapshots


def test_disk_snapshots_sync_async_restore_list_delete(api_server: Any) -> None:
    from runloop_api_client import BadRequestError, NotFoundError

    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    devbox.file.write(file_path="/workspace/snap.txt", contents="one\n")
    first = sdk.api.devboxes.snapshot_disk(devbox.id, name="sync-snap", metadata={"k": "v"})
    assert first.source_devbox_id == devbox.id
    assert first.name == "sync-snap"
    assert sdk.api.devboxes.disk_snapshots.query_status(first.id).status == "complete"

    devbox.file.write(file_path="/workspace/snap.txt", contents="two\n")
    second = devbox.snapshot_disk_async(name="async-snap")
    done = second.await_completed()
    assert done.status == "complete"
    assert done.snapshot is not None and done.snapshot.id == second.id

    restored = sdk.devbox.create_from_snapshot(second.id)
    assert restored.file.read(file_path="/workspace/snap.txt") == "two\n"
    assert restored.get_info().snapshot_id == second.id
    older = sdk.devbox.create_from_snapshot(first.id)
    assert older.file.read(file_path="/workspace/snap.txt") == "one\n"

    listed = sdk.api.devboxes.list_disk_snapshots(devbox_id=devbox.id).snapshots
    assert {s.id for s in listed} == {first.id, second.id}
    sdk.api.devboxes.disk_snapshots.delete(first.id)
    listed = sdk.api.devboxes.list_disk_snapshots(devbox_id=devbox.id).snapshots
    assert [s.id for s in listed] == [second.id]
    with pytest.raises(NotFoundError):
        sdk.api.devboxes.disk_snapshots.query_status(first.id)
    with pytest.raises(BadRequestError, match=first.id):  # a permanent error, not retried
        sdk.devbox.create_from_snapshot(first.id)


# ---------------------------------------------------------------------------- network


def test_a_no_egress_policy_gives_a_devbox_without_network(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    policy = sdk.api.network_policies.create(name="no-network", allow_all=False)
    assert policy.egress.allow_all is False
    assert policy.egress.allowed_hostnames == []

    closed = sdk.devbox.create(launch_parameters={"network_policy_id": policy.id})
    assert shell(closed, "ls /sys/class/net") == "lo\n"
    assert closed.cmd.exec("getent hosts deb.debian.org").exit_code != 0
    assert closed.get_info().launch_parameters.network_policy_id == policy.id

    # the default devbox does have an interface besides lo
    opened = sdk.devbox.create()
    assert shell(opened, "ls /sys/class/net").split() != ["lo"]


def test_a_hostname_allowlist_is_refused_for_a_devbox_and_echoed_in_order(
    api_server: Any,
) -> None:
    from runloop_api_client import BadRequestError

    sdk = sdk_for(api_server)
    hostnames = ["pypi.org", "*.github.com", "api.example.com", "files.pythonhosted.org"]
    policy = sdk.api.network_policies.create(
        name="allowlist-policy", allow_all=False, allowed_hostnames=hostnames
    )
    assert policy.egress.allowed_hostnames == hostnames

    found = sdk.api.network_policies.list(name="allowlist-policy").network_policies
    assert [p.id for p in found] == [policy.id]
    assert found[0].egress.allowed_hostnames == hostnames
    assert found[0].egress.allow_all is False

    with pytest.raises(BadRequestError) as refused:
        sdk.api.devboxes.create(launch_parameters={"network_policy_id": policy.id})
    assert policy.id in str(refused.value)
    assert "allowlist-policy" in str(refused.value)
    assert sdk.api.devboxes.list().devboxes == []


# ---------------------------------------------------------------------------- restart


@pytest.mark.slow
def test_a_restarted_server_finds_the_devbox_its_file_and_its_history(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create(name="survivor")
    devbox.file.write(file_path="/workspace/survives.txt", contents="across restarts\n")
    assert shell(devbox, "echo before-restart") == "before-restart\n"

    api_server.restart()

    sdk = sdk_for(api_server)
    again = sdk.devbox.from_id(devbox.id)  # sync from_id waits until running
    info = again.get_info()
    assert info.status == "running"
    assert info.name == "survivor"
    assert again.file.read(file_path="/workspace/survives.txt") == "across restarts\n"
    history = [e for e in again.logs().logs if e.source == "exec"]
    assert any(e.cmd == "echo before-restart" and e.exit_code == 0 for e in history)
    assert any("before-restart" in (e.message or "") and e.exit_code is None for e in history)
    assert shell(again, "echo after-restart") == "after-restart\n"
