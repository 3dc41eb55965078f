"""Commands run in sandboxes on a client's behalf, each recorded as it runs.

Every execution is a row with its command, user, working directory, exit status and
duration, and its output is stored chunk by chunk as it streams (secret values redacted):
together they are the sandbox's activity log, which the TUI shows live and the API's
devbox logs serve. Executions run on a bounded pool of worker threads; a client that
stops listening does not stop its command.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sandbench import secrets
from sandbench.engine import Engine
from sandbench.engine.execs import ExecResult, OutputCallback
from sandbench.engine.sandboxes import process_start
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.execution import Execution, ExecutionStatus
from sandbench.model.sandbox import SandboxState
from sandbench.runner.events import EventBus, ExecutionChanged, SandboxChanged
from sandbench.runner.redaction import RedactingStream
from sandbench.store import Store

DEFAULT_WORKERS = 64
POLL_S = 0.25  # how often a waiter re-reads the store for changes made by other processes
BOOT_WAIT_S = 600.0  # a command sent while its sandbox still boots waits for it
BOOTING = {SandboxState.PROVISIONING, SandboxState.INITIALIZING, SandboxState.RESUMING}
SETTLED = {
    SandboxState.RUNNING,
    SandboxState.SUSPENDED,
    SandboxState.FAILURE,
    SandboxState.SHUTDOWN,
}


class SandboxEnded(InvalidInput):
    """A command for a sandbox that has ended: permanent (HTTP 400), though not a typo
    (the CLI's exit code stays 1, as for the engine's own refusal)."""

    exit_code = 1


@dataclass
class _Job:
    execution_id: str
    sandbox_id: str
    command: str | list[str]
    marker: str  # names its processes, for kill
    secret_values: list[str]
    user: str | None = None
    workdir: str | None = None
    env: dict[str, str] | None = None
    timeout: float | None = None


class Executions:
    """One per process that runs commands for clients (the API server)."""

    def __init__(
        self, store: Store, engine: Engine, bus: EventBus, *, workers: int = DEFAULT_WORKERS
    ) -> None:
        self.store = store
        self.engine = engine
        self.bus = bus
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="execution")
        self._markers: dict[str, tuple[str, str]] = {}  # execution -> (sandbox, marker)
        self._killed: set[str] = set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pid, self._start = os.getpid(), process_start(os.getpid())
        engine.on_transition.append(self._sandbox_changed)
        self.recover()

    def close(self) -> None:
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(ValueError):
            self.engine.on_transition.remove(self._sandbox_changed)

    # ------------------------------------------------------------------ running

    def start(
        self,
        sandbox_id: str,
        command: str,
        *,
        user: str | None = None,
        shell_name: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        origin: str = "api",
    ) -> Execution:
        """Record the command and start it on the pool; returns at once (``queued``)."""
        job = self._record(sandbox_id, command, user, shell_name, workdir, env, timeout, origin)
        self._pool.submit(self._run, job)
        return self.store.get_execution(job.execution_id, with_output=False)

    def run(
        self,
        sandbox_id: str,
        command: str | list[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        origin: str = "cli",
        on_output: OutputCallback | None = None,
    ) -> tuple[Execution, ExecResult | None]:
        """Record the command and run it here, to the end (the CLI's ``sandboxes exec``);
        ``on_output`` sees the output as it comes (redacted, as stored)."""
        job = self._record(sandbox_id, command, user, None, workdir, env, timeout, origin)
        result = self._run(job, on_output)
        return self.store.get_execution(job.execution_id), result

    def _record(
        self,
        sandbox_id: str,
        command: str | list[str],
        user: str | None,
        shell_name: str | None,
        workdir: str | None,
        env: dict[str, str] | None,
        timeout: float | None,
        origin: str,
    ) -> _Job:
        text = command if isinstance(command, str) else shlex.join(command)
        if not text.strip():
            raise InvalidInput("command: must not be empty")
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status.terminal:
            raise SandboxEnded(
                f"sandbox {sandbox.id} is {sandbox.status.value}; it runs no more commands"
            )
        spec = sandbox.spec
        values = list(secrets.get_values((spec.secret_env if spec else {}).values()).values())
        execution = self.store.create_execution(
            sandbox.id,
            secrets.redactor(values)(text),
            user=user or (str(spec.user.username) if spec and spec.user else None),
            working_directory=workdir or (spec.working_directory if spec else None),
            shell_name=shell_name,
            origin=origin,
            owner_pid=self._pid,
            owner_start=self._start,
        )
        job = _Job(execution.id, sandbox.id, command, uuid.uuid4().hex, values)
        job.user, job.workdir, job.env, job.timeout = user, workdir, env, timeout
        with self._lock:
            self._markers[execution.id] = (sandbox.id, job.marker)
        return job

    def _run(self, job: _Job, echo: OutputCallback | None = None) -> ExecResult | None:
        execution_id, sandbox_id = job.execution_id, job.sandbox_id
        streams = {name: RedactingStream(job.secret_values) for name in ("stdout", "stderr")}

        def write(stream: str, text: str) -> None:
            if text:
                self.store.append_execution_output(execution_id, stream, text)
                self._notify(execution_id, sandbox_id)
                if echo is not None:
                    echo(stream, text)

        try:
            if self.store.get_sandbox(sandbox_id).status in BOOTING:  # asked for early
                self.engine.wait_for(sandbox_id, SETTLED, timeout=BOOT_WAIT_S)
            self.store.start_execution(execution_id)
            self._notify(execution_id, sandbox_id)
            result = self.engine.exec(
                sandbox_id,
                job.command,
                env=job.env,
                workdir=job.workdir,
                user=job.user,
                timeout=job.timeout,
                marker=job.marker,
                on_output=lambda stream, text: write(stream, streams[stream].feed(text)),
            )
            for name, stream in streams.items():
                write(name, stream.flush())
            with self._lock:
                killed = execution_id in self._killed
            failure = "killed" if killed else "timed out" if result.timed_out else None
            self.store.finish_execution(execution_id, result.exit_code, failure=failure)
            return result
        except BaseException as error:  # the sandbox died or Podman failed: no exit status
            for name, stream in streams.items():
                with contextlib.suppress(Exception):
                    write(name, stream.flush())
            reason = str(error) if isinstance(error, SandbenchError) else repr(error)
            if self._closing.is_set():
                reason = "interrupted: the sandbench process running it stopped"
            with contextlib.suppress(Exception):
                self.store.finish_execution(execution_id, None, failure=reason)
            if echo is not None:  # the caller (the CLI) reports the error itself
                raise
            return None
        finally:
            with self._lock:
                self._markers.pop(execution_id, None)
                self._killed.discard(execution_id)
            self._notify(execution_id, sandbox_id)

    def kill(self, sandbox_id: str, execution_id: str) -> Execution:
        """End the command and every process it started; a finished one stays as it is."""
        execution = self.store.get_execution(execution_id, sandbox_id=sandbox_id)
        with self._lock:
            found = self._markers.get(execution.id)
            if found is not None:
                self._killed.add(execution.id)
        if found is not None:
            self.engine.kill_exec(*found)
            self.wait(execution.id, {ExecutionStatus.COMPLETED}, timeout=10)
        elif execution.status != ExecutionStatus.COMPLETED:  # run by a process now gone
            self.store.finish_execution(execution.id, None, failure="killed")
        return self.store.get_execution(execution.id)

    # ------------------------------------------------------------------ waiting

    def wait(
        self, execution_id: str, statuses: set[ExecutionStatus], timeout: float
    ) -> Execution | None:
        """Block until the execution's status is one of ``statuses``; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.store.get_execution(execution_id, with_output=False)
            if execution.status in statuses:
                return self.store.get_execution(execution_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._changed:
                self._changed.wait(min(remaining, POLL_S))

    def _notify(self, execution_id: str, sandbox_id: str) -> None:
        with self._changed:
            self._changed.notify_all()
        self.bus.emit(ExecutionChanged(execution_id, sandbox_id))

    def _sandbox_changed(self, sandbox_id: str, status: SandboxState) -> None:
        self.bus.emit(SandboxChanged(sandbox_id, status.value))

    # ------------------------------------------------------------------ recovery

    def recover(self) -> list[str]:
        """Executions left unfinished by a process that is gone end without an exit
        status (``interrupted``): nothing is shown running that nothing runs."""
        ended = []
        for execution, pid, start in self.store.unfinished_executions():
            if pid is not None and process_start(pid) == start:
                continue
            self.store.finish_execution(
                execution.id,
                None,
                failure=f"interrupted: the sandbench process running it (pid {pid}) exited",
            )
            ended.append(execution.id)
        return ended


__all__ = ["Executions"]
