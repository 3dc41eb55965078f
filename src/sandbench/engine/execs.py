"""Run a command in a container with live output, its real exit code, and a host-side timeout.

podman-py's streaming ``exec_run`` drops the exec id, and with it the exit code, so this
drives the exec endpoints itself. A timeout kills every process the exec started: each
exec carries a unique marker in its environment, inherited by its children, and the
killer finds them by it. That works on any image and over any Podman URI.
"""

from __future__ import annotations

import contextlib
import json
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from podman import PodmanClient

from sandbench.engine.errors import EngineError

OutputCallback = Callable[[str, str], None]  # (stream: "stdout" | "stderr", text)
MARKER = "SANDBENCH_EXEC_ID"
STREAMS = {1: "stdout", 2: "stderr"}
TIMEOUT_EXIT_CODE = 124  # as coreutils' timeout


@dataclass
class ExecResult:
    exit_code: int
    timed_out: bool = False
    duration_ms: int = 0
    via: str = "podman"  # or "agent": the path it took (an agent's answer shows the sandbox up)
    chunks: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def stdout(self) -> str:
        return "".join(text for stream, text in self.chunks if stream == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(text for stream, text in self.chunks if stream == "stderr")

    @property
    def output(self) -> str:
        """stdout and stderr interleaved in the order they arrived."""
        return "".join(text for _, text in self.chunks)


class _Decoder:
    """Incremental UTF-8 decoding per stream, so a character split across frames survives."""

    def __init__(self) -> None:
        import codecs

        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in STREAMS.values()
        }

    def feed(self, stream: str, data: bytes) -> str:
        return self._decoders[stream].decode(data)

    def flush(self) -> list[tuple[str, str]]:
        return [(s, d.decode(b"", final=True)) for s, d in self._decoders.items()]


def kill_marked(client: PodmanClient, container: str, marker: str, user: str | None = None) -> None:
    """SIGKILL every process in ``container`` whose environment carries ``marker``.

    The sweep runs as root and, for an exec run as ``user``, as that user too: without
    CAP_SYS_PTRACE the sandbox's root cannot read another user's process environment."""
    for who in dict.fromkeys(["0", user or "0"]):
        _sweep(client, container, marker, who)


def _sweep(client: PodmanClient, container: str, marker: str, user: str) -> None:
    script = (
        "for p in /proc/[0-9]*; do "
        f'if tr "\\0" "\\n" < "$p/environ" 2>/dev/null | grep -qx "{MARKER}={marker}"; then '
        'kill -9 "${p#/proc/}" 2>/dev/null; fi; done; true'
    )
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": ["sh", "-c", script], "User": user}
    response = client.api.post(f"/containers/{container}/exec", data=json.dumps(body))
    response.raise_for_status()
    exec_id = response.json()["Id"]
    start = client.api.post(f"/exec/{exec_id}/start", data=json.dumps({"Detach": False}))
    start.raise_for_status()


def run_exec(
    client: PodmanClient,
    container: str,
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    timeout: float | None = None,
    on_output: OutputCallback | None = None,
    marker: str | None = None,
) -> ExecResult:
    """``marker`` names the exec's processes, for ``kill_marked`` from elsewhere."""
    marker = marker or uuid.uuid4().hex
    environment = {**(env or {}), MARKER: marker}
    body: dict[str, object] = {
        "AttachStdout": True,
        "AttachStderr": True,
        "AttachStdin": False,
        "Tty": False,
        "Cmd": command,
        "Env": [f"{k}={v}" for k, v in environment.items()],
    }
    if workdir:
        body["WorkingDir"] = workdir
    if user:
        body["User"] = user
    started = time.monotonic()
    try:
        response = client.api.post(f"/containers/{container}/exec", data=json.dumps(body))
    except Exception as error:  # podman-py raises its own NotFound/APIError here
        raise EngineError(f"exec in {container} failed: {error}") from error
    if response.status_code >= 400:
        raise EngineError(f"exec in {container[:12]} failed: {_message(response)}")
    exec_id = response.json()["Id"]

    timed_out = threading.Event()
    finished = threading.Event()

    def watchdog() -> None:
        if timeout is not None and not finished.wait(timeout):
            timed_out.set()
            with contextlib.suppress(Exception):  # the container may be gone already
                kill_marked(client, container, marker, user)

    killer = threading.Thread(target=watchdog, name=f"exec-timeout-{exec_id[:8]}", daemon=True)
    killer.start()
    result = ExecResult(exit_code=-1)
    decoder = _Decoder()

    def emit(stream: str, text: str) -> None:
        if text:
            result.chunks.append((stream, text))
            if on_output is not None:
                on_output(stream, text)

    try:
        try:
            start = client.api.post(
                f"/exec/{exec_id}/start",
                data=json.dumps({"Detach": False, "Tty": False}),
                stream=True,
                timeout=None,
            )
        except Exception as error:
            raise EngineError(f"exec in {container} failed to start: {error}") from error
        if start.status_code >= 400:
            raise EngineError(f"exec in {container[:12]} failed: {_message(start)}")
        raw = start.raw
        while True:
            header = raw.read(8)
            if len(header) < 8:
                break
            kind, length = struct.unpack(">BxxxL", header)
            data = raw.read(length) if length else b""
            stream = STREAMS.get(kind, "stdout")
            emit(stream, decoder.feed(stream, data))
        for stream, text in decoder.flush():
            emit(stream, text)
    finally:
        finished.set()
    try:
        info = client.api.get(f"/exec/{exec_id}/json")
        info.raise_for_status()
        details = info.json()
    except Exception as error:  # the container went away under the command
        raise EngineError(f"exec in {container} ended without an exit code: {error}") from error
    result.duration_ms = int((time.monotonic() - started) * 1000)
    result.timed_out = timed_out.is_set()
    code = details.get("ExitCode")
    result.exit_code = (
        TIMEOUT_EXIT_CODE if result.timed_out else int(code if code is not None else -1)
    )
    return result


def _message(response: object) -> str:
    try:
        return str(response.json().get("message", response.text))  # type: ignore[attr-defined]
    except ValueError:
        return str(getattr(response, "text", response))
