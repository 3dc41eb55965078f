"""Talk to the exec agent inside a sandbox (source in ``engine/agent/``).

The agent is a static Go program mounted read-only into the sandbox at ``/.sandbench/agent``
and started as the sandbox's command (``boot``: it starts its server, then becomes the
keep-alive ``sleep``). It listens on a unix socket in a directory of the sandbox's on the
host, mounted at ``/.sandbench/run``; one connection per request: a JSON line in, frames
out (``[kind u8][length u32 big-endian][payload]``: stdout, stderr, then the exit).

The host-side path of the socket can be longer than a unix socket address allows
(``SANDBENCH_HOME`` under pytest's temporary directories), so it is reached through
``/proc/self/fd/N/agent.sock`` with N an ``O_PATH`` descriptor of its directory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import socket
import struct
import time
import uuid
from pathlib import Path
from typing import Any

from sandbench.engine.errors import EngineError
from sandbench.engine.execs import MARKER, TIMEOUT_EXIT_CODE, ExecResult, OutputCallback, _Decoder

BIN_DIR = Path(__file__).resolve().parent / "agent" / "bin"
AGENT_IN_SANDBOX = "/.sandbench/agent"
RUN_DIR_IN_SANDBOX = "/.sandbench/run"
SOCKET_NAME = "agent.sock"
SOCKET_IN_SANDBOX = f"{RUN_DIR_IN_SANDBOX}/{SOCKET_NAME}"
FRAME_STREAMS = {1: "stdout", 2: "stderr"}
FRAME_EXIT = 3
# Beyond an exec's own timeout, how long the host waits on a silent agent before it gives
# the exec up (a frozen agent must not hang the caller).
HOST_GRACE_S = 30.0
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AgentUnavailable(EngineError):
    """Nothing answers on the socket: the agent is not up (yet), or was killed. No request
    reached it, so the caller can start it again or take another path."""

    def __init__(self, message: str, *, missing: bool) -> None:
        super().__init__(message)
        self.missing = missing  # no socket at all (starting), rather than a dead one


class AgentLost(EngineError):
    """The agent went away during a request: what the command did is unknown."""


def binary(machine: str | None = None) -> Path | None:
    """The agent built for this host's architecture (``scripts/setup.sh`` builds it).

    A foreign-architecture sandbox runs the host's agent natively; the commands it starts
    go through qemu as any other binary of the sandbox does."""
    arch = GOARCH.get(machine or platform.machine())
    path = BIN_DIR / f"sandbench-agent-linux-{arch}"
    return path if arch and path.is_file() and os.access(path, os.X_OK) else None


def mounts(agent: Path, run_dir: Path) -> list[dict[str, Any]]:
    """The agent (read-only) and its socket's directory, as podman-py ``mounts=``."""
    return [
        {"type": "bind", "source": str(agent), "target": AGENT_IN_SANDBOX, "read_only": True},
        {"type": "bind", "source": str(run_dir), "target": RUN_DIR_IN_SANDBOX},
    ]


def boot_command(keep_alive: list[str]) -> list[str]:
    """The sandbox's command: start the agent, then become ``keep_alive``."""
    return [AGENT_IN_SANDBOX, "boot", SOCKET_IN_SANDBOX, "--", *keep_alive]


def serve_command() -> list[str]:
    """Start the agent again (by a Podman exec) after it died."""
    return [AGENT_IN_SANDBOX, "serve", SOCKET_IN_SANDBOX]


class AgentClient:
    """Requests to one sandbox's agent; safe to share between threads (a connection each)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @property
    def socket_path(self) -> Path:
        return self.run_dir / SOCKET_NAME

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            directory = os.open(self.run_dir, os.O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            sock.close()
            raise AgentUnavailable(f"no agent directory {self.run_dir}", missing=True) from None
        try:
            sock.connect(f"/proc/self/fd/{directory}/{SOCKET_NAME}")
        except OSError as error:
            sock.close()
            missing = error.errno == errno.ENOENT
            raise AgentUnavailable(
                f"the exec agent does not answer: {error}", missing=missing
            ) from None
        finally:
            os.close(directory)
        return sock

    def wait_ready(self, timeout: float) -> bool:
        """Until the agent answers a ping, at most ``timeout`` s. (It renames its socket into
        place once it listens; a path offers nothing to wait on, so this polls.)"""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request({"op": "ping"}, timeout=2.0)
                return True
            except EngineError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(0.005)

    def request(self, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """A request answered by an exit frame alone (ping, kill)."""
        sock = self._connect()
        with sock:
            sock.settimeout(timeout)
            sock.sendall(json.dumps(body).encode() + b"\n")
            reader = _Frames(sock)
            for kind, payload in reader:
                if kind == FRAME_EXIT:
                    return dict(json.loads(payload))
        raise AgentLost("the exec agent closed the connection without an answer")

    def kill(self, marker: str, user: str | None = None) -> None:
        """SIGKILL every process of the exec started with ``marker`` (as ``user``: only
        that user can see its processes' environments, where the marker is)."""
        self.request({"op": "kill", "marker": marker, "user": user or ""}, timeout=HOST_GRACE_S)

    def exec(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
        marker: str | None = None,
    ) -> ExecResult:
        """Run ``argv`` through the agent, as ``execs.run_exec`` does through Podman."""
        marker = marker or uuid.uuid4().hex
        started = time.monotonic()
        sock = self._connect()  # AgentUnavailable: nothing was sent
        body = {
            "op": "exec",
            "argv": argv,
            "env": [f"{k}={v}" for k, v in (env or {}).items()],
            "cwd": workdir or "",
            "user": user or "",
            "timeout_ms": int(timeout * 1000) if timeout else 0,
            "marker": marker,
        }
        result = ExecResult(exit_code=-1, via="agent")
        decoder = _Decoder()

        def emit(stream: str, text: str) -> None:
            if text:
                result.chunks.append((stream, text))
                if on_output is not None:
                    on_output(stream, text)

        with sock:
            sock.settimeout(None if timeout is None else timeout + HOST_GRACE_S)
            try:
                sock.sendall(json.dumps(body).encode() + b"\n")
                for kind, payload in _Frames(sock):
                    if kind in FRAME_STREAMS:
                        stream = FRAME_STREAMS[kind]
                        emit(stream, decoder.feed(stream, payload))
                    elif kind == FRAME_EXIT:
                        for stream, text in decoder.flush():
                            emit(stream, text)
                        outcome = json.loads(payload)
                        result.timed_out = bool(outcome.get("timed_out"))
                        result.exit_code = (
                            TIMEOUT_EXIT_CODE if result.timed_out else int(outcome["code"])
                        )
                        result.duration_ms = int((time.monotonic() - started) * 1000)
                        return result
            except TimeoutError:
                with contextlib.suppress(EngineError, OSError):
                    self.kill(marker, user)
                raise AgentLost(
                    f"the exec agent sent nothing for {timeout}s past the command's timeout"
                ) from None
            except OSError as error:
                raise AgentLost(f"the exec agent's connection failed: {error}") from error
        raise AgentLost(
            "the exec agent stopped during the command (killed?): its outcome is unknown"
        )


class _Frames:
    """Frames read from a socket until it closes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _read(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            chunk = self._sock.recv(max(65536, size - len(self._buffer)))
            if not chunk:
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def __iter__(self) -> _Frames:
        return self

    def __next__(self) -> tuple[int, bytes]:
        header = self._read(5)
        if header is None:
            raise StopIteration
        kind, length = struct.unpack(">BL", header)
        payload = self._read(length) if length else b""
        if payload is None:
            raise StopIteration
        return kind, payload


__all__ = ["MARKER", "AgentClient", "AgentLost", "AgentUnavailable", "binary"]
