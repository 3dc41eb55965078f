"""How a command reaches a sandbox: through its exec agent when it has one, else a Podman
exec (``execs.run_exec``).

The agent answers in about a millisecond and leaves no process on the host; a Podman exec
costs a runc exec and two ``conmon`` processes. A sandbox has an agent when its agent
directory exists (made at bring-up, when the agent binary is built and the Podman host is
this machine), so any sandbench process on the machine finds it.

When the agent does not answer, nothing was sent to it, so the exec is safe to route again:
a fresh sandbox's agent may still be starting (wait for it), a killed one is started again
by one Podman exec, and when that fails too the command runs through Podman. An agent that
dies during a command fails that command with a clear reason (``AgentLost``): it is never
run twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbench.engine import agent_client
from sandbench.engine.agent_client import AgentClient, AgentUnavailable
from sandbench.engine.errors import EngineError
from sandbench.engine.execs import ExecResult, kill_marked, run_exec

log = logging.getLogger("sandbench.engine")
START_WAIT_S = 10.0  # for an agent starting (with its sandbox, or again after a kill)


class ExecPaths:
    """Routes execs to the agent or to Podman, and revives a dead agent once per failure."""

    def __init__(self, client: Callable[[], Any], agent_dir: Callable[[str], Path]) -> None:
        self._client = client
        self._agent_dir = agent_dir
        self._lock = threading.Lock()
        self._reviving: dict[str, threading.Lock] = {}
        self.fallbacks = 0  # execs that took the Podman path although the sandbox has an agent

    def agent(self, sandbox_id: str) -> AgentClient | None:
        run_dir = self._agent_dir(sandbox_id)
        return AgentClient(run_dir) if run_dir.is_dir() else None

    def run(self, sandbox_id: str, container: str, argv: list[str], **kwargs: Any) -> ExecResult:
        """``argv`` in the sandbox, with ``run_exec``'s keyword arguments and result."""
        agent = self.agent(sandbox_id)
        if agent is not None:
            try:
                return agent.exec(argv, **kwargs)
            except AgentUnavailable as error:
                if self._revive(sandbox_id, container, agent, missing=error.missing):
                    try:
                        return agent.exec(argv, **kwargs)
                    except AgentUnavailable:
                        pass
                self.fallbacks += 1
                log.warning(
                    "sandbox %s: the exec agent does not answer (%s); using a Podman exec",
                    sandbox_id,
                    error,
                )
        return run_exec(self._client(), container, argv, **kwargs)

    def kill(self, sandbox_id: str, container: str, marker: str, user: str | None = None) -> None:
        """SIGKILL every process of the exec started with ``marker`` (run as ``user``)."""
        agent = self.agent(sandbox_id)
        if agent is not None:
            try:
                agent.kill(marker, user)
                return
            except EngineError:
                pass
        kill_marked(self._client(), container, marker, user)

    def _revive(
        self, sandbox_id: str, container: str, agent: AgentClient, *, missing: bool
    ) -> bool:
        """The agent answers again: it was starting (``missing``: no socket yet), another
        thread revived it, or it is started again here. One thread at a time per sandbox."""
        with self._lock:
            lock = self._reviving.setdefault(sandbox_id, threading.Lock())
        with lock:
            if agent.wait_ready(START_WAIT_S if missing else 0.0):
                return True
            agent.socket_path.unlink(missing_ok=True)  # a dead agent's
            try:
                start_detached(self._client(), container, agent_client.serve_command())
            except EngineError as error:
                log.warning("sandbox %s: could not start the exec agent: %s", sandbox_id, error)
                return False
            return agent.wait_ready(START_WAIT_S)

    def forget(self, sandbox_id: str) -> None:
        with self._lock:
            self._reviving.pop(sandbox_id, None)


def start_detached(client: Any, container: str, argv: list[str]) -> None:
    """Start ``argv`` in the container as root through Podman, without waiting for it."""
    body = {"Cmd": argv, "User": "0", "AttachStdout": False, "AttachStderr": False}
    try:
        created = client.api.post(f"/containers/{container}/exec", data=json.dumps(body))
        created.raise_for_status()
        exec_id = created.json()["Id"]
        started = client.api.post(f"/exec/{exec_id}/start", data=json.dumps({"Detach": True}))
        started.raise_for_status()
    except Exception as error:  # podman-py and requests raise their own
        raise EngineError(f"exec in {container} failed: {error}") from error
