"""A real `sandbench serve` on loopback, in its own workspace, for the real clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine_support import require_podman

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    home: Path
    port: int
    token: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RUNLOOP_BASE_URL": self.base_url,
            "RUNLOOP_API_KEY": self.token,
            "SANDBENCH_HOME": str(self.home),
        }

    def start(self) -> None:
        env = {**os.environ, "SANDBENCH_HOME": str(self.home)}
        env.pop("SANDBENCH_API_TOKEN", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sandbench",
                    "serve",
                    "--port",
                    str(self.port),
                    "--token",
                    self.token,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"sandbench serve exited:\n{self.log.read_text()}")
            try:
                answer = httpx.get(
                    f"{self.base_url}/v1/devboxes",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=2,
                )
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"sandbench serve did not answer:\n{self.log.read_text()}")
            time.sleep(0.1)  # polling a port that is not open yet: nothing to await

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def restart(self) -> None:
        self.stop()
        self.start()

    def sdk(self, **kwargs: Any) -> Any:
        from runloop_api_client import Runloop

        return Runloop(base_url=self.base_url, bearer_token=self.token, **kwargs)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )


def _end_sandboxes(home: Path) -> None:
    """Devboxes outlive the server by design: end them with the test."""
    env = {**os.environ, "SANDBENCH_HOME": str(home)}
    code = (
        "from sandbench.store import open_store\n"
        "from sandbench.engine import Engine\n"
        "from sandbench.model import SandboxState\n"
        "s = open_store()\n"
        "with Engine(s) as e:\n"
        "    for b in s.list_sandboxes(statuses=[x for x in SandboxState if not x.terminal]):\n"
        "        e.shutdown(b.id)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=False, timeout=300)


@pytest.fixture
def api_server(sandbench_home: Path, tmp_path: Path) -> Iterator[ApiServer]:
    require_podman()
    server = ApiServer(
        home=sandbench_home,
        port=free_port(),
        token="sbk_test_" + os.urandom(8).hex(),
        log=tmp_path / "serve.log",
    )
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()
        _end_sandboxes(sandbench_home)
