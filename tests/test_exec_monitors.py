"""Execs through Podman leave no monitor processes behind for long (exit_command_delay)."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest

from sandbench.engine import Engine, service
from sandbench.engine.execs import run_exec
from tests.engine_support import need, scenario


def monitors_of(container_id: str) -> list[str]:
    """The conmon processes (their pids) working for ``container_id``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if args[0].endswith(b"conmon") and container_id.encode() in args:
            found.append(proc.name)
    return found


def wait_until(predicate: object, timeout: float) -> bool:
    """Poll ``predicate`` (processes offer nothing to wait on) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return bool(predicate())  # type: ignore[operator]


def test_private_conf_keeps_the_host_settings_and_shortens_the_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_conf = tmp_path / "host.conf"
    host_conf.write_text(
        '[containers]\ndefault_capabilities = ["CHOWN", "KILL"]\n'
        '[engine]\nexit_command_delay = 300\nevents_logger = "file"\n'
    )
    monkeypatch.setenv("CONTAINERS_CONF", str(host_conf))
    monkeypatch.delenv("CONTAINERS_CONF_OVERRIDE", raising=False)
    assert service.exit_command_delay() == 300
    written = tomllib.loads(service.write_private_containers_conf(tmp_path).read_text())
    assert written["containers"]["default_capabilities"] == ["CHOWN", "KILL"]
    assert written["engine"]["events_logger"] == "file"
    assert written["engine"]["exit_command_delay"] == service.EXEC_EXIT_DELAY_S


@pytest.mark.podman
@pytest.mark.slow
def test_podman_execs_leave_no_monitor_behind(engine: Engine) -> None:
    need(
        engine.connection.source == "private service",
        f"a Podman service of the user's answers ({engine.connection.uri}): its delay is theirs",
    )
    sandbox = engine.create(engine.spec_for(scenario()))
    container = engine.client.containers.get(f"sandbench-{sandbox.id}")
    before = len(monitors_of(container.id))
    for number in range(10):
        result = run_exec(engine.client, container.name, ["sh", "-c", f"exit {number}"])
        assert result.exit_code == number  # the exit code is still read after the exec
    assert len(monitors_of(container.id)) > before  # each exec had its monitor
    gone = wait_until(
        lambda: len(monitors_of(container.id)) <= before, service.EXEC_EXIT_DELAY_S + 15
    )
    assert gone, f"still lingering: {monitors_of(container.id)}"
