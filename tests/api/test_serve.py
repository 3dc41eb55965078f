"""`sandbench serve` itself: the token, the bind warning, both protocols on one port, and
a clean stop on SIGINT/SIGTERM that leaves devboxes running for the next start."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ROOT, ApiServer, free_port
from tests.engine_support import require_podman


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SANDBENCH_HOME": str(home)}
    env.pop("SANDBENCH_API_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sandbench", "serve", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_lines(process: subprocess.Popen[str], count: int) -> list[str]:
    assert process.stdout is not None
    return [process.stdout.readline() for _ in range(count)]


@pytest.mark.podman
def test_token_is_made_once_kept_private_and_printed(sandbench_home: Path) -> None:
    require_podman()
    port = free_port()
    process = _serve(sandbench_home, "--port", str(port))
    try:
        lines = _first_lines(process, 3)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    token_file = sandbench_home / "config" / "api-token"
    token = token_file.read_text().strip()
    assert token.startswith("sbk_") and len(token) > 30
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert f"RUNLOOP_API_KEY={token}" in lines[2]
    assert f"RUNLOOP_BASE_URL=http://127.0.0.1:{port}" in lines[2]
    # a second start keeps the same token
    again = _serve(sandbench_home, "--port", str(free_port()))
    try:
        assert token in "".join(_first_lines(again, 3))
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=60) == 0
    assert token_file.read_text().strip() == token


@pytest.mark.podman
def test_binding_beyond_loopback_warns_that_the_token_is_the_only_protection(
    sandbench_home: Path,
) -> None:
    require_podman()
    process = _serve(sandbench_home, "--host", "0.0.0.0", "--port", str(free_port()))
    try:
        _first_lines(process, 3)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.stderr is not None
    warning = process.stderr.read()
    assert "not loopback" in warning and "the token is the only protection" in warning


def test_a_bad_port_is_refused_with_a_message(sandbench_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbench", "serve", "--port", "70000"],
        env={**os.environ, "SANDBENCH_HOME": str(sandbench_home)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--port must be between 1 and 65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.podman
def test_http1_and_cleartext_http2_on_one_port(api_server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {api_server.token}"}
    with httpx.Client(http1=True, http2=False, headers=headers) as h1:
        answer = h1.get(f"{api_server.base_url}/v1/scenarios")
        assert (answer.status_code, answer.http_version) == (200, "HTTP/1.1")
    # prior knowledge: no upgrade, the first bytes are HTTP/2's preface (Node's client)
    with httpx.Client(http1=False, http2=True, headers=headers) as h2:
        answer = h2.get(f"{api_server.base_url}/v1/scenarios")
        assert (answer.status_code, answer.http_version) == (200, "HTTP/2")
        assert answer.json()["scenarios"] == []


@pytest.mark.podman
def test_every_route_wants_the_token(api_server: ApiServer) -> None:
    for method, path in [
        ("GET", "/v1/devboxes"),
        ("POST", "/v1/devboxes"),
        ("GET", "/v1/scenarios"),
        ("POST", "/v1/objects"),
        ("GET", "/v1/benchmark_runs"),
        ("GET", "/v1/secrets"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            answer = httpx.request(method, api_server.base_url + path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert "token" in answer.json()["message"]


@pytest.mark.podman
@pytest.mark.slow
def test_sigterm_mid_life_keeps_the_devbox_and_a_restart_serves_it(
    api_server: ApiServer,
) -> None:
    client = api_server.sdk()
    devbox = client.devboxes.create_and_await_running(name="survivor")
    client.devboxes.write_file_contents(devbox.id, file_path="/tmp/kept", contents="still here")
    assert api_server.stop(signal.SIGTERM) == 0
    api_server.start()
    client = api_server.sdk()
    found = client.devboxes.retrieve(devbox.id)
    assert found.status == "running" and found.name == "survivor"
    assert client.devboxes.read_file_contents(devbox.id, file_path="/tmp/kept") == "still here"
