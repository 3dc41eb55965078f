"""The sandbox engine: create, exec, suspend/resume, pause, shut down, recover after a crash.

Every Podman call here blocks; callers on an event loop run them in worker threads (see
``stream_exec`` for an iterator fed by a thread through a queue).

A sandbox's root filesystem is an overlay whose writable layer is a fixed-size ext4 file
(``disk.SizedRootfs``), so the disk preset is enforced, and suspend is cheap and exact:
the container goes (processes, memory, CPU freed), the disk file stays; resume mounts it
again under a new container and re-runs the launch commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import queue
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import requests
from podman.errors import APIError, PodmanError
from podman.errors import NotFound as PodmanNotFound

from sandbench import config as config_module
from sandbench import paths, secrets
from sandbench.config import Config
from sandbench.engine import agent_client, disk, image_pins, images, isolation, usage, userns
from sandbench.engine import host as host_module
from sandbench.engine.errors import (
    EngineError,
    HostCannotEnforce,
    MissingRequirements,
)
from sandbench.engine.exec_paths import ExecPaths
from sandbench.engine.execs import ExecResult, OutputCallback
from sandbench.engine.pool import LABEL_OWNER_START, LABEL_POOL, WarmPool
from sandbench.engine.service import Connection, connect
from sandbench.errors import InvalidInput, NotFound
from sandbench.model.network import LocalNetwork
from sandbench.model.sandbox import (
    FailureReason,
    NetworkPolicy,
    Sandbox,
    SandboxSpec,
    SandboxState,
    ShutdownReason,
)
from sandbench.model.scenario import (
    Architecture,
    LaunchParameters,
    Scenario,
    ScenarioEnvironment,
)
from sandbench.store import Store
from sandbench.store.database import now_ms

LABEL_SANDBOX = "io.sandbench.sandbox"
LABEL_RUN = "io.sandbench.run"
LABEL_OWNER = "io.sandbench.owner"
LABEL_HOME = "io.sandbench.home"  # which store a container belongs to: recovery touches only ours
DEFAULT_KEEP_ALIVE_S = 3600  # Runloop's default
LAUNCH_TIMEOUT_S = 1800
MONITOR_INTERVAL_S = 0.5
TOUCH_INTERVAL_S = 0.25  # activity is recorded at most this often per sandbox
log = logging.getLogger("sandbench.engine")
KILL_RESWEEP_S = 5.0  # a killed exec still running after this is swept again
CLOSE_WAIT_S = 15.0  # close() waits this long, in all, for background work to stop
AGENT_DIR = "agent"  # in a sandbox's directory: the exec agent's socket
KEEP_ALIVE = ["sleep", "2147483647"]  # "infinity" is not portable (busybox)
SHELL = 'if [ -x /bin/bash ]; then exec /bin/bash -c "$1"; fi; exec /bin/sh -c "$1"'
LIVE = (
    SandboxState.PROVISIONING,
    SandboxState.INITIALIZING,
    SandboxState.RUNNING,
    SandboxState.SUSPENDING,
    SandboxState.RESUMING,
)


def shell_command(command: str) -> list[str]:
    """Run ``command`` with bash where the image has it, else sh."""
    return ["/bin/sh", "-c", SHELL, "sandbench", command]


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int | None, start: str | None) -> bool:
    return pid is not None and process_start(pid) == start


P = ParamSpec("P")
R = TypeVar("R")


def podman_errors_are_engine_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Nothing from podman-py leaves the engine raw: callers handle ``EngineError`` (an
    infrastructure failure) and nothing else."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (APIError, PodmanError, requests.RequestException) as error:
            raise EngineError(f"Podman failed: {error}") from error

    return wrapper


@dataclass
class ExecEvent:
    """One item of ``stream_exec``: output while it runs, then the result."""

    stream: str | None = None
    text: str = ""
    result: ExecResult | None = None
    error: BaseException | None = None


class Engine:
    """One per process (or per worker pool): owns a Podman connection and a monitor thread."""

    def __init__(
        self,
        store: Store,
        config: Config | None = None,
        *,
        connection: Connection | None = None,
        recover: bool = True,
        monitor: bool = True,
    ) -> None:
        self.store = store
        self.config = config or config_module.load()
        self._connection = connection
        self._host: host_module.HostProfile | None = None
        self._owned: set[str] = set()
        self._active: dict[str, int] = {}  # sandbox id -> execs in flight
        # (sandbox id, marker) -> set when that exec of this process has returned
        self._marked: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # called with (sandbox id, new status) after every transition this engine makes
        self.on_transition: list[Callable[[str, SandboxState], None]] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._want_monitor = monitor
        self._pid = os.getpid()
        self._start = process_start(self._pid)
        self._recover = recover
        self._disk_support: tuple[bool, str] | None = None
        self._userns_support: tuple[bool, str] | None = None
        self._background: list[threading.Thread] = []  # close() waits for these
        # The workspace is fixed when the engine is made, not re-read from the environment
        # later: clean-up must find the disks this engine created.
        self._sandboxes_root = paths.data_dir() / "sandboxes"
        self._home_label = paths.home_label()
        self._log_dir = paths.log_dir()
        self.execs = ExecPaths(lambda: self.client, self._agent_dir)
        self._cgroups: dict[str, tuple[str, str]] = {}  # sandbox id -> (container id, cgroup)
        self._pool: WarmPool | None = None
        self._touched: dict[str, float] = {}  # sandbox id -> when this engine last touched it
        self._heartbeat: threading.Thread | None = None  # while any exec is in flight
        self.keep_warm = False  # long-lived adapters (workbench, serve) set it: see provision()

    # ------------------------------------------------------------------ plumbing

    @property
    def connection(self) -> Connection:
        with self._lock:
            if self._connection is None:
                self._connection = connect(self.config.podman_uri)
                if self._recover:
                    self._recover = False
                    self.recover()
            return self._connection

    @property
    def client(self) -> Any:
        return self.connection.client

    @property
    def host(self) -> host_module.HostProfile:
        with self._lock:
            if self._host is None or not self._host.runtime_probed:
                probe = images.base_image(self.config.default_image, host_module.host_arch())
                has_probe = images.inspect(self.client, probe) is not None
                self._host = host_module.profile(
                    self.client,
                    runtime_override=self.config.oci_runtime,
                    probe_image=probe if has_probe else None,
                    local=self.connection.local,
                )
            return self._host

    def close(self) -> None:
        """Shut down the sandboxes this process owns; detached ones live on."""
        self._stop.set()
        if self._pool is not None:
            self._pool.wake()
        if self._monitor is not None:
            self._monitor.join(timeout=10)
        with self._lock:
            background, self._background = self._background, []
        # Each stops at its next step once ``closing``; one step is at most one removal.
        # The wait is bounded so that a Podman call stuck under load never holds the
        # process (a Ctrl-C must end it): what is left half done, the next start recovers.
        deadline = time.monotonic() + CLOSE_WAIT_S
        for thread in background:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        # Side by side: under load each removal waits on Podman, and a Ctrl-C'd benchmark
        # has a case's sandbox per job and the warm ones to remove before it can exit.
        removals: list[Callable[[], None]] = [
            functools.partial(self.shutdown, sandbox_id, ShutdownReason.API_SHUTDOWN)
            for sandbox_id in list(self._owned)
        ]
        if self._pool is not None:
            removals += self._pool.drain_steps()
        try:
            with ThreadPoolExecutor(max(1, min(8, len(removals))), "engine-close") as pool:
                for done in [pool.submit(step) for step in removals]:
                    with contextlib.suppress(Exception):  # what stays, the next start reaps
                        done.result()
        except RuntimeError:  # no new threads at interpreter shutdown: one at a time
            for step in removals:
                with contextlib.suppress(Exception):
                    step()
        if self._connection is not None and self._connection.local:
            # the image pins this workspace no longer needs (a short-lived workspace's, a
            # test's, would otherwise outlive it): those a suspended sandbox names stay
            with contextlib.suppress(Exception):
                image_pins.release(self._connection.client, self._sandboxes_root)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closing(self) -> bool:
        """close() has begun: background work stops at its next step."""
        return self._stop.is_set()

    @property
    def log_dir(self) -> Path:
        return self._log_dir

    def in_background(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Run ``target`` in a daemon thread that close() waits for, so a process does not
        exit half way through a removal; ``target`` checks ``closing`` between its steps."""
        if self.closing:
            raise EngineError(f"the engine is closing: {name} not started")
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._background = [t for t in self._background if t.is_alive()]
            self._background.append(thread)
        thread.start()
        return thread

    @property
    def pool(self) -> WarmPool | None:
        """This engine's warm pool, once ``start_pool`` has run."""
        return self._pool

    def start_pool(self, sizes: dict[str, int] | None = None) -> WarmPool:
        """Keep warm sandboxes (``sizes``: preset -> count, default the config's
        ``warm_pool``) for long-lived processes: the workbench, the API server."""
        with self._lock:
            if self._pool is None:
                wanted = self.config.warm_pool if sizes is None else sizes
                self._pool = WarmPool(self, dict(wanted))
        self._pool.start()
        return self._pool

    def busy(self, sandbox_id: str) -> bool:
        """An exec, file access or shell of this process is in flight in the sandbox.
        (Other processes' show as the sandbox's activity time, touched every second.)"""
        with self._lock:
            return self._active.get(sandbox_id, 0) > 0

    def disk_usage(self, *, images: bool = True) -> usage.DiskUsage:
        """Bytes held by this workspace's sandbox disks (per sandbox) and, with ``images``,
        by sandbench's images (one Podman call)."""
        disks = usage.sandbox_disks(self._sandboxes_root)
        measured = None
        if images:
            measured = usage.image_usage(self.client, local=self.connection.local)
        return usage.DiskUsage(disks, measured)

    def sandbox_disks(self) -> dict[str, usage.SandboxDisk]:
        """The sandbox disks alone: file stats, no Podman call."""
        return usage.sandbox_disks(self._sandboxes_root)

    def _disk_dir(self, sandbox_id: str) -> Path:
        return self._sandboxes_root / sandbox_id

    def _agent_dir(self, sandbox_id: str) -> Path:
        """The exec agent's socket directory (mounted into the sandbox), beside its disk."""
        return self._disk_dir(sandbox_id) / AGENT_DIR

    def agent_binary(self) -> Path | None:
        """The exec agent for new sandboxes, or None: Podman execs only (turned off, not
        built, or a remote Podman host that cannot see the file)."""
        if not self.config.exec_agent or not self.connection.local:
            return None
        return agent_client.binary()

    @contextlib.contextmanager
    def _exclusive(self, sandbox_id: str) -> Iterator[None]:
        """One lifecycle change at a time per sandbox, across threads and processes.

        The lock file goes when the sandbox has ended, removed while still held: a waiter
        that then gets the old file sees it is no longer at the path and takes the path's
        new one, so it never acts on the sandbox between its removal and its end state."""
        lock_path = self._sandboxes_root / f"{sandbox_id}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(lock_path, "a")  # noqa: SIM115 (held across the yield)
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            handle.close()  # unlinked while we waited: the sandbox ended meanwhile
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                if self.store.get_sandbox(sandbox_id).status.terminal:
                    lock_path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _transition(self, sandbox_id: str, status: SandboxState, **kwargs: Any) -> None:
        self.store.transition(sandbox_id, status, **kwargs)
        with self._changed:
            self._changed.notify_all()
        for listener in list(self.on_transition):
            with contextlib.suppress(Exception):
                listener(sandbox_id, status)

    def wait_for(self, sandbox_id: str, statuses: set[SandboxState], timeout: float) -> Sandbox:
        """Block until the sandbox reaches one of ``statuses`` (raises on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                sandbox = self.store.get_sandbox(sandbox_id)
                if sandbox.status in statuses:
                    return sandbox
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineError(
                        f"sandbox {sandbox_id} is {sandbox.status.value}, not"
                        f" {'/'.join(sorted(s.value for s in statuses))}, after {timeout}s"
                    )
                # transitions made by other processes are seen at the next poll
                self._changed.wait(min(remaining, MONITOR_INTERVAL_S))

    # ------------------------------------------------------------------ specs

    def spec_for(
        self,
        scenario: Scenario,
        *,
        env: dict[str, str] | None = None,
        name: str | None = None,
        scenario_run_id: str | None = None,
        secret_env: dict[str, str] | None = None,
        launch: LaunchParameters | None = None,
    ) -> SandboxSpec:
        """A sandbox spec for ``scenario``. Missing required env vars or secrets fail here,
        before any container exists, naming every one that is missing.

        ``secret_env`` maps more env vars to secret names (a run profile's secrets);
        ``launch`` replaces the scenario's launch parameters (a run profile's)."""
        given = dict(env or {})
        wanted_env = scenario.required_environment_variables or []
        for key in wanted_env:
            if key not in given and key in os.environ:
                given[key] = os.environ[key]
        missing_env = [k for k in wanted_env if k not in given]
        mapped = {s: s for s in scenario.required_secret_names or []}
        mapped.update(secret_env or {})
        missing_secrets = self._missing_secrets(mapped)
        if missing_env or missing_secrets:
            parts = []
            if missing_env:
                parts.append(f"environment variables {', '.join(missing_env)} (set them)")
            if missing_secrets:
                parts.append(
                    f"secrets {', '.join(missing_secrets)}"
                    " (`sandbench secrets set NAME`, value on stdin)"
                )
            raise MissingRequirements(f"scenario {scenario.name!r} needs " + " and ".join(parts))
        environment = scenario.environment_parameters or ScenarioEnvironment()
        if launch is not None:
            environment = environment.model_copy(update={"launch_parameters": launch})
        return self.spec_for_environment(
            environment,
            env=given,
            secret_env=mapped,
            name=name or scenario.name,
            scenario_run_id=scenario_run_id,
            default_workdir="/workspace",
        )

    def _missing_secrets(self, secret_env: dict[str, str]) -> list[str]:
        have = secrets.get_values(secret_env.values())
        return sorted({name for name in secret_env.values() if name not in have})

    def spec_for_environment(
        self,
        environment: ScenarioEnvironment,
        *,
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        name: str | None = None,
        scenario_run_id: str | None = None,
        default_workdir: str | None = None,
    ) -> SandboxSpec:
        """A sandbox spec for an environment (image source, launch parameters, working
        directory): a scenario's, or a devbox's as an API client asks for it.

        With no ``default_workdir``, the image's own WORKDIR is the working directory
        (else /workspace), as a container user expects."""
        missing = self._missing_secrets(secret_env or {})
        if missing:
            raise MissingRequirements(
                f"no secret {', '.join(missing)} here (`sandbench secrets set NAME`)"
            )
        launch = environment.launch_parameters or LaunchParameters()
        arch = launch.architecture or Architecture.X86_64
        image, blueprint_id, snapshot_id = images.resolve(
            self.client, self.store, environment, arch, self.config.default_image
        )
        workdir = environment.working_directory or default_workdir
        if workdir is None:
            attrs = images.inspect(self.client, image) or {}
            found = (attrs.get("Config") or {}).get("WorkingDir") or ""
            workdir = found if found not in ("", "/") else "/workspace"
        idle = launch.idle_policy()
        network = self.network_for(launch.network_policy_id)
        return SandboxSpec(
            image=image,
            architecture=arch,
            resources=launch.resources(),
            working_directory=workdir,
            env=dict(env or {}),
            secret_env=dict(secret_env or {}),
            user=launch.user_parameters,
            network=network.network,
            devbox_to_devbox=network.devbox_to_devbox,
            host_access=network.host_access,
            launch_commands=list(launch.launch_commands or []),
            idle=idle,
            keep_alive_seconds=None
            if idle
            else (launch.keep_alive_time_seconds or DEFAULT_KEEP_ALIVE_S),
            name=name,
            scenario_run_id=scenario_run_id,
            blueprint_id=blueprint_id,
            snapshot_id=snapshot_id,
        )

    def network_for(self, policy_id: str | None) -> LocalNetwork:
        """A local network (``default``/``none``) or a stored network policy, by id or name;
        a policy that cannot be enforced is refused, never widened."""
        policy = policy_id or NetworkPolicy.DEFAULT.value
        with contextlib.suppress(ValueError):
            return LocalNetwork(network=NetworkPolicy(policy))
        try:
            return self.store.get_network_policy(policy).local()
        except NotFound:
            known = ", ".join(p.value for p in NetworkPolicy)
            raise InvalidInput(
                f"network_policy_id {policy!r} is neither a network policy here nor a local"
                f" network ({known})"
            ) from None

    def check_enforceable(self, spec: SandboxSpec) -> None:
        """Every limit the spec asks for can be enforced here, or an error before start."""
        found = self.host
        host_module.require_runtime(found)
        host_module.require_arch(spec.architecture, local=self.connection.local, host=found)
        missing = [w for w in ("cpu", "memory", "pids") if not found.can_limit(w)]
        if missing:
            raise HostCannotEnforce(
                f"this host's cgroups cannot limit {', '.join(missing)} (controllers:"
                f" {', '.join(found.cgroup_controllers) or 'none'}); enable those cgroup"
                " controllers, or run Podman as root"
            )
        if not self.connection.local:
            raise HostCannotEnforce(
                f"disk limits need the Podman host's file system; {self.connection.uri} is"
                " remote. Run sandbench on the Podman host itself"
            )
        if self._disk_support is None:  # a test mount: once per engine, not per create
            self._disk_support = disk.disk_limit_support()
        supported, reason = self._disk_support
        if not supported:
            raise HostCannotEnforce(f"this host cannot enforce disk limits: {reason}")
        if self.config.user_namespaces:
            if self._userns_support is None:
                self._userns_support = userns.support()
            supported, reason = self._userns_support
            if not supported:
                raise HostCannotEnforce(
                    f"this host cannot give sandboxes user namespaces: {reason}; or turn them"
                    " off (`sandbench config set user_namespaces false`: uid 0 inside is then"
                    " uid 0 on the host)"
                )

    # ------------------------------------------------------------------ create

    @podman_errors_are_engine_errors
    def create(self, spec: SandboxSpec, *, detach: bool = False) -> Sandbox:
        """Provision, initialise (launch commands) and start a sandbox.

        ``detach``: the sandbox outlives this process; a small watcher process enforces its
        idle and keep-alive policy. Otherwise this process owns it and removes it on close.
        """
        sandbox = self.provision(spec, detach=detach)
        return self.start(sandbox.id)

    def provision(
        self,
        spec: SandboxSpec,
        *,
        detach: bool = False,
        metadata: dict[str, str] | None = None,
        launch_parameters: dict[str, Any] | None = None,
        initiator: str | None = None,
    ) -> Sandbox:
        """Check the spec can be enforced and record the sandbox (``provisioning``); ``start``
        brings it up. Apart, a caller can answer with the sandbox's id at once (the API)."""
        self.check_enforceable(spec)
        warm = self._pool.claim(spec) if self._pool is not None else None
        if self.keep_warm and self._pool is None:
            self.start_pool()  # from the first create on: a process that never creates
            # one (a look around the workbench) costs no warm sandboxes
        sandbox = self.store.insert_sandbox(
            spec,
            owner_pid=None if detach else self._pid,
            owner_start=None if detach else self._start,
            metadata=metadata,
            launch_parameters=launch_parameters,
            initiator=initiator,
            sandbox_id=warm[0] if warm else None,
        )
        if warm is not None:  # start() finds its container up and only initialises it
            container = self.client.containers.get(self._container_name(sandbox.id))
            self.store.update_sandbox(
                sandbox.id, container_id=container.id, disk_dir=str(self._disk_dir(sandbox.id))
            )
        if not detach:
            self._owned.add(sandbox.id)
        return sandbox

    @podman_errors_are_engine_errors
    def start(self, sandbox_id: str) -> Sandbox:
        """Bring a provisioned sandbox up: running, or failed with the reason (raises)."""
        sandbox = self.store.get_sandbox(sandbox_id)
        assert sandbox.spec is not None
        with self._exclusive(sandbox.id):
            current = self.store.get_sandbox(sandbox.id)
            if current.status != SandboxState.PROVISIONING:
                return current  # shut down before it started
            self._bring_up(
                sandbox.id, sandbox.spec, resuming=False, warm=current.container_id is not None
            )
        if self.store.sandbox_bookkeeping(sandbox.id)["owner_pid"] is None:
            self._spawn_watcher(sandbox.id)
        else:
            self._ensure_monitor()
        return self.store.get_sandbox(sandbox.id)

    def _start_container(
        self,
        sandbox_id: str,
        spec: SandboxSpec,
        labels: dict[str, str] | None = None,
        *,
        new: bool = True,
    ) -> Any:
        """Disk mounted, working directory made, container created and started. A ``new``
        sandbox gets its user-namespace range here (with the switch on); a resumed one keeps
        the range its disk was made with, whatever the switch says now."""
        directory = self._disk_dir(sandbox_id)
        if new and self.config.user_namespaces:
            userns.allocate(directory)
        rootfs = self._rootfs_for(sandbox_id, spec)
        merged = rootfs.prepare(defer_pin=True)  # the pin overlaps create and start
        try:
            _make_dirs(merged, spec.working_directory, rootfs.ids)  # on the sized disk, no exec
            extra_env = self._trust_host_ca(spec, merged, rootfs.ids)
            mounts = rootfs.bind_mounts()
            agent = self._prepare_agent(sandbox_id, rootfs.ids)
            if agent is not None:
                # through the door: the runtime, as the range's root, cannot pass the data dir
                run_dir = (rootfs.door if rootfs.ids else directory) / AGENT_DIR
                mounts += agent_client.mounts(agent, run_dir)
            container = self._create_container(
                sandbox_id,
                spec,
                rootfs.container_rootfs,
                mounts,
                extra_env,
                rootfs.ids,
                agent=agent is not None,
                labels=labels,
                new=new,
                image_attrs=rootfs.image_attrs,
            )
            container.start()
        except BaseException:
            with contextlib.suppress(Exception):  # so that teardown finds and removes it
                rootfs.join_pin()
            raise
        rootfs.join_pin()
        return container

    def warm_up(self, sandbox_id: str, spec: SandboxSpec, pool_key: str) -> None:
        """A warm sandbox for the pool: started, its agent answering, and no store row."""
        self.check_enforceable(spec)
        labels = {LABEL_POOL: pool_key, LABEL_OWNER_START: self._start or ""}
        try:
            self._start_container(sandbox_id, spec, labels)
            agent = self.execs.agent(sandbox_id)
            if agent is not None and not agent.wait_ready(10.0):
                raise EngineError("its exec agent did not answer")
        except BaseException:
            with contextlib.suppress(Exception):
                self.remove_unrecorded(sandbox_id, spec)
            raise

    def remove_unrecorded(self, sandbox_id: str, spec: SandboxSpec | None) -> None:
        """Remove a sandbox the store does not know (a warm one): container and disk."""
        with contextlib.suppress(PodmanNotFound, APIError):
            self.client.containers.get(self._container_name(sandbox_id)).remove(force=True, v=True)
        self._release_network(sandbox_id)
        directory = self._disk_dir(sandbox_id)
        if spec is not None:
            self._rootfs_for(sandbox_id, spec).destroy()
        elif directory.exists():
            disk.SizedRootfs(directory, "", 1).destroy()

    def _bring_up(
        self, sandbox_id: str, spec: SandboxSpec, *, resuming: bool, warm: bool = False
    ) -> None:
        """Disk, container, user, launch commands; leaves the sandbox running or failed.
        ``warm``: its container runs already (claimed from the pool): only the working
        directory is made."""
        try:
            if warm:
                rootfs = self._rootfs_for(sandbox_id, spec)
                _make_dirs(rootfs.rootfs, spec.working_directory, rootfs.ids)
            else:
                container = self._start_container(sandbox_id, spec, new=not resuming)
                self.store.update_sandbox(
                    sandbox_id,
                    disk_dir=str(self._disk_dir(sandbox_id)),
                    container_id=container.id,
                )
            ids = userns.recorded(self._disk_dir(sandbox_id))  # kept for resume
            self.store.update_sandbox(sandbox_id, userns_base=ids.base if ids else None)
        except Exception as error:
            self._teardown(sandbox_id, keep_disk=resuming)
            self._transition(
                sandbox_id,
                SandboxState.FAILURE,
                failure_reason=FailureReason.ENGINE_ERROR,
                detail=str(error),
            )
            if isinstance(error, EngineError):
                raise
            raise EngineError(f"sandbox {sandbox_id} failed to start: {error}") from error
        if not resuming:
            self._transition(sandbox_id, SandboxState.INITIALIZING)
        try:
            output = self._initialise(sandbox_id, spec, resuming=resuming)
        except Exception as error:  # the engine failed, not a launch command
            self._teardown(sandbox_id, keep_disk=resuming)
            self._transition(
                sandbox_id,
                SandboxState.FAILURE,
                failure_reason=FailureReason.ENGINE_ERROR,
                detail=str(error),
            )
            raise EngineError(f"sandbox {sandbox_id} failed to initialise: {error}") from error
        if output is not None:  # a launch command failed
            self._teardown(sandbox_id, keep_disk=False)
            self._transition(
                sandbox_id,
                SandboxState.FAILURE,
                failure_reason=FailureReason.LAUNCH_FAILED,
                detail=output,
            )
            raise EngineError(f"sandbox {sandbox_id}: a launch command failed:\n{output}")
        self.store.touch_sandbox(sandbox_id)
        self._transition(sandbox_id, SandboxState.RUNNING)

    def _prepare_agent(self, sandbox_id: str, ids: userns.Range | None) -> Path | None:
        """The agent binary to mount, its socket directory made (root's alone: a sandbox
        user must not reach the agent, which runs as root) and a stale socket gone."""
        run_dir = self._agent_dir(sandbox_id)
        agent = self.agent_binary()
        if agent is None:
            shutil.rmtree(run_dir, ignore_errors=True)  # no agent: execs go through Podman
            return None
        run_dir.mkdir(mode=0o700, exist_ok=True)
        if ids is not None:  # the agent is the sandbox's root: the range's root outside
            userns.chown_into(run_dir, ids)
        (run_dir / agent_client.SOCKET_NAME).unlink(missing_ok=True)
        return agent

    def _container_env(
        self, spec: SandboxSpec, attrs: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """The image's environment under the spec's. ``attrs``: the image's inspection
        when the disk has just made one (a Podman call fewer)."""
        attrs = attrs or images.inspect(self.client, spec.image) or {}
        env: dict[str, str] = {}
        for item in (attrs.get("Config") or {}).get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env.update(spec.env)
        env["SANDBENCH_WORKDIR"] = spec.working_directory
        return env

    def _exec_env(self, spec: SandboxSpec, env: dict[str, str] | None) -> dict[str, str]:
        """Each exec's environment: the sandbox's secrets, then the caller's ``env``.

        Secrets are given per exec, never in the container's configuration, so `podman
        inspect` and the stored container config do not hold them and they are gone with the
        exec. Every command of a sandbox (launch commands, ``exec``, scorers, the shell) gets
        its environment here."""
        values = secrets.get_values(spec.secret_env.values())
        given = {var: values[name] for var, name in spec.secret_env.items() if name in values}
        return {"SANDBENCH_WORKDIR": spec.working_directory, **given, **(env or {})}

    def _trust_host_ca(
        self, spec: SandboxSpec, merged: Path, ids: userns.Range | None
    ) -> dict[str, str]:
        """Behind a TLS-intercepting proxy the host trusts a CA the image does not: give a
        networked sandbox the host's bundle (in its own disk) so pip, uv and curl work."""
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        target = merged / "etc/ssl/certs/ca-certificates.crt"
        if (
            not self.config.trust_host_ca
            or spec.network == NetworkPolicy.NONE
            or not bundle.is_file()
            or not target.parent.is_dir()
        ):
            return {}
        target.unlink(missing_ok=True)  # may be a symlink into the read-only image
        shutil.copyfile(bundle, target)
        if ids is not None:
            userns.chown_into(target, ids)
        path = "/etc/ssl/certs/ca-certificates.crt"
        return {"SSL_CERT_FILE": path, "REQUESTS_CA_BUNDLE": path, "PIP_CERT": path}

    def _create_container(
        self,
        sandbox_id: str,
        spec: SandboxSpec,
        merged: Path,
        mounts: list[dict[str, Any]],
        extra_env: dict[str, str],
        ids: userns.Range | None,
        *,
        agent: bool,
        labels: dict[str, str] | None = None,
        new: bool = True,
        image_attrs: dict[str, Any] | None = None,
    ) -> Any:
        found = self.host
        cpu_period = 100_000
        memory = f"{spec.resources.memory_gib}g"
        labels = {
            LABEL_SANDBOX: sandbox_id,
            LABEL_RUN: spec.scenario_run_id or "",
            LABEL_OWNER: str(self._pid),
            LABEL_HOME: self._home_label,
            **(labels or {}),
        }
        if not new:  # a leftover from a crash (a new sandbox's id is new to Podman too)
            with contextlib.suppress(PodmanNotFound, APIError):
                self.client.containers.get(f"sandbench-{sandbox_id}").remove(force=True)
        mapped: dict[str, Any] = {}
        if ids is not None:  # libpod wants the mode "private" with explicit mappings
            mapped = {"userns_mode": "private", "idmappings": ids.podman()}
        return self.client.containers.create(
            **self._isolation_options(sandbox_id, spec, labels),
            **mapped,
            image=None,
            rootfs=str(merged),
            command=agent_client.boot_command(KEEP_ALIVE) if agent else KEEP_ALIVE,
            init=True,  # catatonit as PID 1 reaps what killed commands leave behind
            name=f"sandbench-{sandbox_id}",
            hostname=_hostname(sandbox_id),
            mounts=mounts,  # /etc/hosts & co. on the sized disk, not Podman's run root
            labels=labels,
            environment={**extra_env, **self._container_env(spec, image_attrs)},
            working_dir=spec.working_directory,
            cpu_period=cpu_period,
            cpu_quota=int(spec.resources.cpu * cpu_period),
            mem_limit=memory,
            memswap_limit=memory,  # no swap: the memory limit is the limit
            pids_limit=spec.pids_limit,
            ulimits=found.ulimits,
            runtime=found.runtime,
            stop_signal=9,  # SIGKILL: sleep as PID 1 ignores SIGTERM
            # Podman's container log is unbounded and lives outside the sized disk
            log_config={"Type": "k8s-file", "Config": {"size": 1024 * 1024}},
        )

    def _isolation_options(
        self, sandbox_id: str, spec: SandboxSpec, labels: dict[str, str]
    ) -> dict[str, Any]:
        """Least privilege and the sandbox's own network (see ``isolation``); with the
        ``isolation`` config switch off, Podman's defaults and its shared bridge."""
        if spec.network == NetworkPolicy.NONE:
            network: dict[str, Any] = {"network_mode": "none"}
        elif not self.config.isolation:
            network = {"network_mode": "bridge"}
        else:
            listed = isolation.ensure_wall()
            key = isolation.SHARED if spec.devbox_to_devbox else sandbox_id
            labels = {LABEL_HOME: labels[LABEL_HOME]}
            found = isolation.ensure_network(self.client, self._home_label, key, labels)
            isolation.revoke_host(self._home_label, only=sandbox_id, listed=listed)
            isolation.allow_host(self._home_label, sandbox_id, found.interface, spec.host_access)
            network = {"network_mode": "bridge", "networks": {found.name: {}}}
        if not self.config.isolation:
            return network
        return {**network, **isolation.security_options()}

    def _release_network(self, sandbox_id: str) -> None:
        """The sandbox's own network and host openings go with its container (whatever the
        config says now: it may have been made while isolation was on)."""
        if not self.connection.local:
            return
        isolation.revoke_host(self._home_label, only=sandbox_id)
        with contextlib.suppress(PodmanNotFound, APIError):
            isolation.remove_network(self.client, self._home_label, sandbox_id)
            # the shared network goes with its last sandbox (refused while one uses it)
            isolation.remove_network(self.client, self._home_label, isolation.SHARED, force=False)

    def _initialise(self, sandbox_id: str, spec: SandboxSpec, *, resuming: bool) -> str | None:
        """User and launch commands (the working directory exists already: it was made in the
        root filesystem before start). Returns the output if a launch command failed."""
        container = self._container_name(sandbox_id)
        if spec.user is not None and not resuming:  # on resume the user is on the disk
            name, uid = spec.user.username, spec.user.uid
            setup = (
                f"(id -u {name} >/dev/null 2>&1 || useradd -m -u {uid} {name} 2>/dev/null"
                f" || adduser -D -u {uid} {name}) && chown {uid} {_quote(spec.working_directory)}"
            )
            prepared = self.execs.run(
                sandbox_id, container, shell_command(setup), user="0", timeout=120
            )
            if prepared.exit_code != 0:
                return f"$ (create user {name})\n{prepared.output}"
        redact = secrets.redactor(secrets.get_values(spec.secret_env.values()).values())
        log: list[str] = []
        for command in spec.launch_commands:
            result = self.execs.run(
                sandbox_id,
                container,
                shell_command(command),
                env=self._exec_env(spec, None),
                workdir=spec.working_directory,
                user=self._user(spec),
                timeout=LAUNCH_TIMEOUT_S,
            )
            log.append(f"$ {command}\n{result.output}")
            self.store.update_sandbox(sandbox_id, launch_output=redact("".join(log)))
            if result.exit_code != 0:
                reason = "timed out" if result.timed_out else f"exit code {result.exit_code}"
                return redact("".join(log) + f"[launch command failed: {reason}]\n")
        return None

    def _user(self, spec: SandboxSpec) -> str | None:
        return str(spec.user.uid) if spec.user is not None else None

    def _container_name(self, sandbox_id: str) -> str:
        return f"sandbench-{sandbox_id}"

    # ------------------------------------------------------------------ use

    def _ready(self, sandbox_id: str) -> Sandbox:
        """The sandbox, running: a suspended one is resumed, a paused one unpaused, and one
        in the middle of a change (its watcher suspending it as a command arrives) is
        waited for, then used."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status in _CHANGING:
            settled = {SandboxState.RUNNING, SandboxState.SUSPENDED}
            sandbox = self.wait_for(sandbox.id, settled | _ENDED, timeout=LAUNCH_TIMEOUT_S)
        if sandbox.status == SandboxState.SUSPENDED:
            self.resume(sandbox.id)
            sandbox = self.store.get_sandbox(sandbox.id)
        elif sandbox.paused:
            self.unpause(sandbox.id)
            sandbox = self.store.get_sandbox(sandbox.id)
        if sandbox.status != SandboxState.RUNNING:
            detail = f": {sandbox.failure_detail}" if sandbox.failure_detail else ""
            reason = sandbox.failure_reason or sandbox.shutdown_reason
            raise EngineError(
                f"sandbox {sandbox.id} is {sandbox.status.value}"
                + (f" ({reason})" if reason else "")
                + detail
            )
        return sandbox

    @contextlib.contextmanager
    def _activity(self, sandbox_id: str) -> Iterator[None]:
        """Counts as activity for the idle timer for as long as it lasts."""
        with self._lock:
            self._active[sandbox_id] = self._active.get(sandbox_id, 0) + 1
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(
                    target=self._beat, daemon=True, name="activity-heartbeat"
                )
                self._heartbeat.start()
        self._touch(sandbox_id)
        try:
            yield
        finally:
            with self._lock:
                self._active[sandbox_id] -= 1
            self._touch(sandbox_id)

    def _beat(self) -> None:
        """Every second, touch each sandbox with work in flight: other processes judge
        idleness from the store. One thread for all of them, not one per exec: 32 execs at
        once would otherwise be 32 threads waking under the GIL."""
        while not self._stop.wait(1.0):
            with self._lock:
                busy = [sandbox_id for sandbox_id, n in self._active.items() if n > 0]
                if not busy:
                    self._heartbeat = None
                    return
            for sandbox_id in busy:
                with contextlib.suppress(Exception):
                    self.store.touch_sandbox(sandbox_id)

    def _touch(self, sandbox_id: str) -> None:
        """Record activity, at most every TOUCH_INTERVAL_S per sandbox: a burst of
        millisecond execs would otherwise be a burst of store writes."""
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(sandbox_id, -TOUCH_INTERVAL_S) < TOUCH_INTERVAL_S:
                return
            self._touched[sandbox_id] = now
        self.store.touch_sandbox(sandbox_id)

    @podman_errors_are_engine_errors
    def exec(
        self,
        sandbox_id: str,
        command: str | list[str],
        *,
        env: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
        marker: str | None = None,
    ) -> ExecResult:
        """Run ``command`` (a string goes through the shell) with live output; ``marker``
        lets ``kill_exec`` end it (and every process it started) from another thread."""
        sandbox = self._ready(sandbox_id)
        spec = sandbox.spec
        assert spec is not None
        argv = shell_command(command) if isinstance(command, str) else command
        with self._activity(sandbox.id), self._marked_exec(sandbox.id, marker):
            try:
                result = self.execs.run(
                    sandbox.id,
                    self._container_name(sandbox.id),
                    argv,
                    env=self._exec_env(spec, env),
                    workdir=workdir or spec.working_directory,
                    user=user or self._user(spec),
                    timeout=timeout,
                    on_output=on_output,
                    marker=marker,
                )
            except EngineError as error:
                failed: EngineError | None = error  # an ended sandbox is the better reason
            else:
                failed = None
        healthy = self._check_health(sandbox.id, alive=failed is None and result.via == "agent")
        if healthy and failed is None:
            return result  # the health check has just read it running: no second read
        after = self.store.get_sandbox(sandbox.id)
        if after.status != SandboxState.RUNNING:
            # The sandbox died under the command (OOM kill, removed, shut down): that is an
            # infrastructure failure, not the command's result.
            reason = after.failure_reason or after.shutdown_reason or "ended"
            raise EngineError(
                f"sandbox {sandbox.id} is {after.status.value} ({reason}) after the command"
                + (f": {after.failure_detail}" if after.failure_detail else "")
            )
        if failed is not None:
            raise failed
        return result

    def _exec_in_thread(
        self,
        sandbox_id: str,
        command: str | list[str],
        put: Callable[[ExecEvent], None],
        kwargs: dict[str, Any],
    ) -> None:
        def work() -> None:
            try:
                result = self.exec(
                    sandbox_id,
                    command,
                    on_output=lambda stream, text: put(ExecEvent(stream=stream, text=text)),
                    **kwargs,
                )
                put(ExecEvent(result=result))
            except BaseException as error:  # handed to the consumer
                put(ExecEvent(error=error))

        threading.Thread(target=work, daemon=True, name=f"exec-{sandbox_id}").start()

    def stream_exec(
        self, sandbox_id: str, command: str | list[str], **kwargs: Any
    ) -> Iterator[ExecEvent]:
        """``exec`` as an iterator fed by a worker thread: output events, then the result."""
        events: queue.Queue[ExecEvent] = queue.Queue()
        self._exec_in_thread(sandbox_id, command, events.put, kwargs)
        while True:
            event = events.get()
            yield event
            if event.result is not None or event.error is not None:
                return

    async def exec_events(
        self, sandbox_id: str, command: str | list[str], **kwargs: Any
    ) -> AsyncIterator[ExecEvent]:
        """``stream_exec`` for an event loop: Podman blocks a worker thread, never the loop."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[ExecEvent] = asyncio.Queue()
        self._exec_in_thread(
            sandbox_id,
            command,
            lambda event: loop.call_soon_threadsafe(events.put_nowait, event),
            kwargs,
        )
        while True:
            event = await events.get()
            yield event
            if event.result is not None or event.error is not None:
                return

    @contextlib.contextmanager
    def _marked_exec(self, sandbox_id: str, marker: str | None) -> Iterator[None]:
        """Registers an exec ``kill_exec`` can name, so the kill can see it end."""
        if marker is None:
            yield
            return
        key, done = (sandbox_id, marker), threading.Event()
        with self._lock:
            self._marked[key] = done
        try:
            yield
        finally:
            done.set()
            with self._lock:
                if self._marked.get(key) is done:
                    del self._marked[key]

    @podman_errors_are_engine_errors
    def kill_exec(self, sandbox_id: str, marker: str, *, timeout: float = 60.0) -> None:
        """SIGKILL the processes of the exec started with ``marker`` (gone ones are fine).

        When this process runs that exec, return once it has returned, sweeping again while
        it has not (a sweep under heavy load has been seen to leave it running): a caller
        that asked for a kill can count on it. EngineError if it outlives ``timeout``."""
        with self._lock:
            done = self._marked.get((sandbox_id, marker))
        deadline = time.monotonic() + timeout
        sweeps = 0
        while True:
            sandbox = self.store.get_sandbox(sandbox_id)
            if sandbox.status == SandboxState.RUNNING:
                user = self._user(sandbox.spec) if sandbox.spec is not None else None
                self.execs.kill(sandbox.id, self._container_name(sandbox.id), marker, user)
                sweeps += 1
            if done is None or done.wait(
                min(KILL_RESWEEP_S, max(0.0, deadline - time.monotonic()))
            ):
                break
            if time.monotonic() >= deadline:
                raise EngineError(
                    f"sandbox {sandbox_id}: the command {marker} still runs "
                    f"{timeout:.0f}s after it was killed ({sweeps} sweeps)"
                )
            log.warning(
                "sandbox %s: the command %s still runs after a kill; sweeping again",
                sandbox_id,
                marker,
            )

    @podman_errors_are_engine_errors
    def write_file(
        self, sandbox_id: str, path: str, content: bytes | str, mode: int = 0o644
    ) -> None:
        sandbox = self._ready(sandbox_id)
        spec = sandbox.spec
        assert spec is not None
        data = content.encode() if isinstance(content, str) else content
        target = path if path.startswith("/") else f"{spec.working_directory}/{path}"
        directory, _, name = target.rpartition("/")
        directory = directory or "/"
        ids = self._ids(sandbox.id)
        if ids is not None:
            self._write_mapped(sandbox.id, spec, target, data, mode, ids)
            return
        buffer = BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            if spec.user is not None:
                info.uid = spec.user.uid
            archive.addfile(info, BytesIO(data))
        with self._activity(sandbox.id):
            container = self.client.containers.get(self._container_name(sandbox.id))
            try:
                if container.put_archive(directory, buffer.getvalue()):
                    return
            except (PodmanNotFound, APIError):
                pass  # most often the directory is missing: make it, then try once more
            made = self.execs.run(
                sandbox.id, container.name, ["mkdir", "-p", directory], user=self._user(spec)
            )
            if made.exit_code != 0 or not container.put_archive(directory, buffer.getvalue()):
                raise EngineError(
                    f"could not write {target} in sandbox {sandbox.id}: {made.output.strip()}"
                )

    def _write_mapped(
        self, sandbox_id: str, spec: SandboxSpec, target: str, data: bytes, mode: int,
        ids: userns.Range,
    ) -> None:  # fmt: skip
        """write_file in a sandbox with a user namespace: straight into its root, resolved
        inside it (see ``userns.write_file``)."""
        rootfs = self._rootfs_for(sandbox_id, spec)
        owner = (spec.user.uid if spec.user is not None else 0, 0)
        with self._activity(sandbox_id):
            try:
                userns.write_file(rootfs.rootfs, target, data, mode, owner, ids)
                return
            except FileNotFoundError:
                pass  # the directory is missing: make it as the sandbox's user, then once more
            except OSError as error:
                raise EngineError(
                    f"could not write {target} in sandbox {sandbox_id}: {error}"
                ) from None
            directory = target.rpartition("/")[0] or "/"
            made = self.execs.run(
                sandbox_id,
                self._container_name(sandbox_id),
                ["mkdir", "-p", directory],
                user=self._user(spec),
            )
            try:
                userns.write_file(rootfs.rootfs, target, data, mode, owner, ids)
            except OSError as error:
                raise EngineError(
                    f"could not write {target} in sandbox {sandbox_id}:"
                    f" {made.output.strip() or error}"
                ) from None

    @podman_errors_are_engine_errors
    def read_file(self, sandbox_id: str, path: str) -> bytes:
        sandbox = self._ready(sandbox_id)
        target = path if path.startswith("/") else f"{sandbox.spec.working_directory}/{path}"  # type: ignore[union-attr]
        with self._activity(sandbox.id):
            container = self.client.containers.get(self._container_name(sandbox.id))
            try:
                chunks, _ = container.get_archive(target)
            except (PodmanNotFound, APIError) as error:
                raise EngineError(
                    f"cannot read {target} in sandbox {sandbox.id}: {error}"
                ) from None
            with tarfile.open(fileobj=BytesIO(b"".join(chunks))) as archive:
                member = archive.next()
                handle = archive.extractfile(member) if member else None
                if handle is None:
                    raise EngineError(f"{target} in sandbox {sandbox.id} is not a file")
                return handle.read()

    def shell(self, sandbox_id: str) -> int:
        """An interactive shell in the sandbox (in this terminal); returns its exit code."""
        sandbox = self._ready(sandbox_id)
        spec = sandbox.spec
        assert spec is not None
        argv = [
            *images.podman_cli(self.connection.uri),
            "exec",
            "-it",
            "-w",
            spec.working_directory,
        ]
        if spec.user is not None:
            argv += ["--user", str(spec.user.uid)]
        secret_env = self._exec_env(spec, None)
        for name in secret_env:  # by name: the value is in podman's environment, not argv
            argv += ["--env", name]
        argv += [
            self._container_name(sandbox.id),
            "/bin/sh",
            "-c",
            "if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l",
        ]
        with self._activity(sandbox.id):
            return subprocess.call(argv, env={**os.environ, **secret_env})

    # ------------------------------------------------------------------ lifecycle

    @podman_errors_are_engine_errors
    def suspend(self, sandbox_id: str) -> Sandbox:
        """Keep the disk, drop the processes: the container goes, memory and CPU are freed."""
        sandbox = self.store.get_sandbox(sandbox_id)
        with self._exclusive(sandbox.id):
            sandbox = self.store.get_sandbox(sandbox.id)
            if sandbox.status == SandboxState.SUSPENDED:
                return sandbox
            if sandbox.status != SandboxState.RUNNING:
                raise EngineError(f"sandbox {sandbox.id} is {sandbox.status.value}; cannot suspend")
            self._transition(sandbox.id, SandboxState.SUSPENDING)
            self._teardown(sandbox.id, keep_disk=True)
            self._transition(sandbox.id, SandboxState.SUSPENDED)
        return self.store.get_sandbox(sandbox.id)

    @podman_errors_are_engine_errors
    def resume(self, sandbox_id: str) -> Sandbox:
        sandbox = self.store.get_sandbox(sandbox_id)
        with self._exclusive(sandbox.id):
            sandbox = self.store.get_sandbox(sandbox.id)
            if sandbox.status == SandboxState.RUNNING:
                return sandbox
            if sandbox.status != SandboxState.SUSPENDED or sandbox.spec is None:
                raise EngineError(f"sandbox {sandbox.id} is {sandbox.status.value}; cannot resume")
            self.check_enforceable(sandbox.spec)
            self._transition(sandbox.id, SandboxState.RESUMING)
            self._bring_up(sandbox.id, sandbox.spec, resuming=True)
        row = self.store.sandbox_bookkeeping(sandbox.id)
        if row["owner_pid"] is None:
            self._spawn_watcher(sandbox.id)
        else:
            self._ensure_monitor()
        return self.store.get_sandbox(sandbox.id)

    @podman_errors_are_engine_errors
    def pause(self, sandbox_id: str) -> Sandbox:
        """Freeze every process (cgroup freezer); fast, keeps memory."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status != SandboxState.RUNNING:
            raise EngineError(f"sandbox {sandbox.id} is {sandbox.status.value}; cannot pause")
        if not sandbox.paused:
            self.client.containers.get(self._container_name(sandbox.id)).pause()
            self.store.update_sandbox(sandbox.id, paused=1)
        return self.store.get_sandbox(sandbox.id)

    @podman_errors_are_engine_errors
    def unpause(self, sandbox_id: str) -> Sandbox:
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.paused:
            self.client.containers.get(self._container_name(sandbox.id)).unpause()
            self.store.update_sandbox(sandbox.id, paused=0)
            self.store.touch_sandbox(sandbox.id)
        return self.store.get_sandbox(sandbox.id)

    @podman_errors_are_engine_errors
    def shutdown(
        self,
        sandbox_id: str,
        reason: ShutdownReason = ShutdownReason.API_SHUTDOWN,
        *,
        only_if: Callable[[Sandbox], bool] | None = None,
    ) -> Sandbox:
        """Remove the sandbox: container and disk go. ``only_if`` is asked again with the
        sandbox's lifecycle lock held (no suspend or resume can slip in between): when it
        says no, nothing changes."""
        sandbox = self.store.get_sandbox(sandbox_id)
        with self._exclusive(sandbox.id):
            sandbox = self.store.get_sandbox(sandbox.id)
            if sandbox.status.terminal:
                pass
            elif only_if is not None and not only_if(sandbox):
                return sandbox
            else:
                self._teardown(sandbox.id, keep_disk=False)
                self._transition(sandbox.id, SandboxState.SHUTDOWN, shutdown_reason=reason)
        self._owned.discard(sandbox.id)
        return self.store.get_sandbox(sandbox.id)

    def shutdown_in_background(
        self, sandbox_id: str, reason: ShutdownReason = ShutdownReason.API_SHUTDOWN
    ) -> None:
        """Remove the sandbox off the caller's path (a finished run's): stop, unmount and
        remove cost hundreds of ms the caller need not wait for. close() waits for it a
        bounded time, then shuts down what this process still owns; a crash leaves it to the
        next start's recovery. When the engine is closing already, removal happens here."""

        def remove() -> None:
            try:
                self.shutdown(sandbox_id, reason)
            except Exception as error:  # close() or the next start-up retries it
                log.warning("could not remove sandbox %s: %s", sandbox_id, error)

        try:
            self.in_background(f"teardown-{sandbox_id}", remove)
        except EngineError:
            remove()

    def _fail(self, sandbox_id: str, reason: FailureReason, detail: str) -> None:
        with self._exclusive(sandbox_id):
            if self.store.get_sandbox(sandbox_id).status.terminal:
                return
            self._teardown(sandbox_id, keep_disk=False)
            self._transition(sandbox_id, SandboxState.FAILURE, failure_reason=reason, detail=detail)
        self._owned.discard(sandbox_id)

    def _teardown(self, sandbox_id: str, *, keep_disk: bool) -> None:
        with contextlib.suppress(PodmanNotFound, APIError):
            self.client.containers.get(self._container_name(sandbox_id)).remove(force=True, v=True)
        self._release_network(sandbox_id)
        rootfs = self._rootfs(sandbox_id)
        if rootfs is not None:
            if keep_disk:
                rootfs.release()
            else:
                rootfs.destroy()

    def _rootfs(self, sandbox_id: str) -> disk.SizedRootfs | None:
        sandbox = self.store.get_sandbox(sandbox_id)
        return None if sandbox.spec is None else self._rootfs_for(sandbox_id, sandbox.spec)

    def _ids(self, sandbox_id: str) -> userns.Range | None:
        """The sandbox's user-namespace range (None: made without one), as its disk
        directory records it: that holds for a warm sandbox with no store row yet, and
        between the range's allocation and the row's update (the row keeps a copy)."""
        return userns.recorded(self._disk_dir(sandbox_id))

    def _rootfs_for(self, sandbox_id: str, spec: SandboxSpec) -> disk.SizedRootfs:
        return disk.SizedRootfs(
            self._disk_dir(sandbox_id),
            spec.image,
            spec.resources.disk_gib,
            hostname=_hostname(sandbox_id),
            ids=self._ids(sandbox_id),
            client=self.client,
        )

    # ------------------------------------------------------------------ health and policy

    def _cgroup_path(self, sandbox_id: str) -> str | None:
        """The sandbox container's cgroup, asked of Podman once per container (an exec
        through the agent then checks for OOM kills with no Podman call)."""
        container_id = self.store.get_sandbox(sandbox_id).container_id
        with self._lock:
            cached = self._cgroups.get(sandbox_id)
        if cached is not None and cached[0] == container_id:
            return cached[1]
        try:
            state = self.client.containers.get(self._container_name(sandbox_id)).attrs["State"]
        except (PodmanNotFound, APIError, KeyError):
            return None
        cgroup = state.get("CgroupPath") or ""
        if container_id and cgroup:
            with self._lock:
                self._cgroups[sandbox_id] = (container_id, cgroup)
        return cgroup

    def _oom_kills(self, sandbox_id: str) -> int:
        """OOM kills in the sandbox's memory cgroup (local hosts; 0 when unknown)."""
        if not self.connection.local:
            return 0
        cgroup = self._cgroup_path(sandbox_id)
        if cgroup is None:
            return 0
        for path, key in (
            (Path(f"/sys/fs/cgroup/memory{cgroup}/memory.oom_control"), "oom_kill"),
            (Path(f"/sys/fs/cgroup{cgroup}/memory.events"), "oom_kill"),
        ):
            with contextlib.suppress(OSError):
                for line in path.read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        return 0

    def _check_health(self, sandbox_id: str, *, alive: bool = False) -> bool:
        """An OOM kill or a dead container ends the sandbox, with the reason recorded.
        ``alive``: its agent has just answered, so the container runs (no Podman call).
        True: it was running and still is, as far as this check saw."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status != SandboxState.RUNNING:
            return False
        kills = self._oom_kills(sandbox.id)
        if kills:
            self._fail(
                sandbox.id,
                FailureReason.OUT_OF_MEMORY,
                f"the kernel killed {kills} process(es) for exceeding"
                f" {sandbox.resources.memory_gib} GiB of memory",
            )
            return False
        if alive:
            return True
        try:
            state = self.client.containers.get(self._container_name(sandbox.id)).attrs["State"]
        except (PodmanNotFound, APIError):  # mid-removal Podman answers 500, not 404
            state = {"Status": "removed"}
        if state.get("Status") not in ("running", "paused"):
            if state.get("OOMKilled"):
                self._fail(sandbox.id, FailureReason.OUT_OF_MEMORY, "the sandbox ran out of memory")
            else:
                # only if still running when locked: a suspend (another process's, while
                # this one looked) removes the container on purpose and keeps the disk
                self.shutdown(
                    sandbox.id,
                    ShutdownReason.ENTRYPOINT_EXIT,
                    only_if=lambda current: current.status == SandboxState.RUNNING,
                )
            return False
        return True

    def enforce_policy(self, sandbox_id: str) -> None:
        """Idle suspend/shutdown, keep-alive shutdown, OOM and exit detection, once."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status != SandboxState.RUNNING or sandbox.spec is None:
            return
        self._check_health(sandbox.id)
        sandbox = self.store.get_sandbox(sandbox.id)
        if sandbox.status != SandboxState.RUNNING or sandbox.paused:
            return
        spec, now = sandbox.spec, now_ms()
        assert spec is not None
        with self._lock:
            busy = self._active.get(sandbox.id, 0) > 0
        if spec.idle is not None and not busy:
            idle_ms = now - (sandbox.last_activity_ms or sandbox.create_time_ms)
            if idle_ms >= spec.idle.idle_time_seconds * 1000:
                if spec.idle.on_idle.value == "suspend":
                    self.suspend(sandbox.id)
                else:
                    self.shutdown(sandbox.id, ShutdownReason.IDLE)
                return
        keep_alive = spec.keep_alive_seconds
        kept_from = self.store.sandbox_bookkeeping(sandbox.id)["keep_alive_from_ms"]
        since = max(sandbox.create_time_ms, kept_from or 0)  # a keep_alive call restarts it
        if keep_alive is not None and now - since >= keep_alive * 1000:
            self.shutdown(sandbox.id, ShutdownReason.KEEP_ALIVE_TIMEOUT)

    def _ensure_monitor(self) -> None:
        with self._lock:
            if not self._want_monitor or (self._monitor and self._monitor.is_alive()):
                return
            self._monitor = threading.Thread(
                target=self._watch, daemon=True, name="sandbox-monitor"
            )
            self._monitor.start()

    def _watch(self) -> None:
        while not self._stop.wait(MONITOR_INTERVAL_S):
            for sandbox_id in list(self._owned):
                try:
                    self.enforce_policy(sandbox_id)
                except Exception:
                    continue

    def _spawn_watcher(self, sandbox_id: str) -> None:
        log = (self._log_dir / "watchers.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbench.engine.watcher", sandbox_id],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this process
            env={**os.environ, "SANDBENCH_HOME": os.environ.get("SANDBENCH_HOME", "")},
        )
        log.close()
        self.store.update_sandbox(sandbox_id, watcher_pid=process.pid)

    # ------------------------------------------------------------------ housekeeping

    @podman_errors_are_engine_errors
    def recover(self) -> list[str]:
        """After a crash: sandboxes whose owner died fail, and stray containers go."""
        with self._lock:  # this is the recovery: the first connection must not start another
            self._recover = False  # (it would wait on the sandbox locks held below)
        self.connection  # noqa: B018 (connect before any sandbox lock is taken)
        cleaned: list[str] = []
        live = {s.id: s for s in self.store.list_sandboxes(statuses=LIVE, limit=10_000)}
        for sandbox in live.values():
            row = self.store.sandbox_bookkeeping(sandbox.id)
            owner = row["owner_pid"]
            if owner is None or _alive(owner, row["owner_start"]):
                continue
            with self._exclusive(sandbox.id):
                if self.store.get_sandbox(sandbox.id).status.terminal:
                    continue  # another process ended it meanwhile
                self._teardown(sandbox.id, keep_disk=False)
                self._transition(
                    sandbox.id,
                    SandboxState.FAILURE,
                    failure_reason=FailureReason.ORPHANED,
                    detail=f"the sandbench process that owned it (pid {owner}) exited"
                    " without removing it",
                )
            cleaned.append(sandbox.id)
        # Only containers of this store: another SANDBENCH_HOME's sandboxes are not ours.
        # (podman-py's key-only label filter matches nothing on Podman 4.3, so filter here.)
        home = self._home_label
        # What exists is listed before what the store keeps is read: a sandbox's row comes
        # before its container and network, so one another process is making meanwhile is
        # never taken for a stray (a cluster node's sweep recovers while its cases run).
        containers = self.client.containers.list(all=True)
        networks = isolation.sandbox_networks(self.client, home) if self.connection.local else {}
        keep = self._live_ids()
        for container in containers:
            labels = container.labels or {}
            if labels.get(LABEL_HOME) != home:
                continue
            if LABEL_POOL in labels and labels.get(LABEL_SANDBOX) not in keep:
                # a warm sandbox: its owner's while that lives, reaped once it has died
                owner = labels.get(LABEL_OWNER, "")
                if owner.isdigit() and _alive(int(owner), labels.get(LABEL_OWNER_START)):
                    keep.add(labels[LABEL_SANDBOX])
                    continue
                with contextlib.suppress(PodmanNotFound, APIError):
                    container.remove(force=True)
                with contextlib.suppress(EngineError, OSError):
                    self.remove_unrecorded(labels[LABEL_SANDBOX], None)
                cleaned.append(container.name)
                continue
            stray = LABEL_SANDBOX in labels and labels[LABEL_SANDBOX] not in keep
            if stray or host_module.PROBE_LABEL in labels:
                with contextlib.suppress(PodmanNotFound, APIError):
                    container.remove(force=True)
                if stray:
                    cleaned.append(container.name)
        if self.connection.local:
            for network, owner in networks.items():
                if owner not in keep:
                    with contextlib.suppress(PodmanNotFound, APIError):
                        isolation.remove_network(self.client, home, owner)
                    cleaned.append(network)
            isolation.revoke_host(home, keep=keep | self._live_ids())
        # disks of live sandboxes stay mounted; suspended and ended ones are released
        disk.release_stale(self._sandboxes_root, keep=keep | self._live_ids())
        self._restart_watchers()
        return cleaned

    def _live_ids(self) -> set[str]:
        return {s.id for s in self.store.list_sandboxes(statuses=LIVE, limit=10_000)}

    def _restart_watchers(self) -> None:
        for sandbox in self.store.list_sandboxes(statuses=[SandboxState.RUNNING], limit=10_000):
            row = self.store.sandbox_bookkeeping(sandbox.id)
            if row["owner_pid"] is None and not _pid_alive(row["watcher_pid"]):
                self._spawn_watcher(sandbox.id)

    def prune(self) -> list[str]:
        """Remove what a crash left behind (the same as start-up recovery)."""
        return self.recover()

    # ------------------------------------------------------------------ snapshots

    @podman_errors_are_engine_errors
    def snapshot(
        self,
        sandbox_id: str,
        name: str,
        progress: Callable[[str], None],
        *,
        recorded: bool = False,
    ) -> Any:
        """Commit the sandbox's disk to an image usable as ``snapshot_id``.

        ``recorded``: the snapshot named ``name`` is already in the store (``in_progress``,
        made by an asynchronous caller) and is marked complete here."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.spec is None or sandbox.status not in (
            SandboxState.RUNNING,
            SandboxState.SUSPENDED,
        ):
            raise EngineError(f"sandbox {sandbox.id} is {sandbox.status.value}; cannot snapshot")
        tag = f"localhost/sandbench-snapshot-{name}:latest"
        with self._exclusive(sandbox.id):
            rootfs = self._rootfs(sandbox.id)
            assert rootfs is not None
            running = sandbox.status == SandboxState.RUNNING
            container = (
                self.client.containers.get(self._container_name(sandbox.id)) if running else None
            )
            merged = rootfs.prepare()
            if container is not None and not sandbox.paused:
                container.pause()  # a consistent copy
            try:
                attrs = images.inspect(self.client, sandbox.spec.image) or {}
                config_env = (attrs.get("Config") or {}).get("Env") or []
                changes = [f"ENV {item}" for item in config_env]
                changes += [
                    f"WORKDIR {sandbox.spec.working_directory}",
                    'CMD ["sleep", "infinity"]',
                ]
                args = [arg for change in changes for arg in ("--change", change)]
                with tempfile.TemporaryDirectory(prefix="sandbench-snapshot-") as tmp:
                    maps = userns.tar_maps(merged, rootfs.ids, Path(tmp)) if rootfs.ids else []
                    tar = subprocess.Popen(
                        ["tar", "-C", str(merged), *maps, "-c", "."], stdout=subprocess.PIPE
                    )
                    progress(f"importing {sandbox.id}'s disk as {tag}")
                    result = subprocess.run(
                        [
                            *images.podman_cli(self.connection.uri),
                            "import",
                            "--arch",
                            images.OCI_ARCH[sandbox.architecture],
                            *args,
                            "-",
                            tag,
                        ],
                        stdin=tar.stdout,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    tar.wait()
            finally:
                if container is not None and not sandbox.paused:
                    container.unpause()
                if not running:
                    rootfs.release()
            if result.returncode != 0:
                raise EngineError(f"snapshot failed: {result.stderr.strip()}")
        if recorded:
            return self.store.update_snapshot(name, status="complete", image=tag)
        return self.store.save_snapshot(name, tag, sandbox.id)

    @podman_errors_are_engine_errors
    def remove_image(self, image: str) -> None:
        """Remove an image of sandbench's (a snapshot's); one still in use stays."""
        with contextlib.suppress(PodmanNotFound, APIError):
            if self.connection.local:  # its pin, unless a sandbox's disk still names it
                image_id = self.client.images.get(image).id
                image_pins.release(self.client, self._sandboxes_root, image_id)
            self.client.images.remove(image)


_CHANGING = {
    SandboxState.PROVISIONING,
    SandboxState.INITIALIZING,
    SandboxState.SUSPENDING,
    SandboxState.RESUMING,
}
_ENDED = {SandboxState.FAILURE, SandboxState.SHUTDOWN}


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        pass
    return ""


def _make_dirs(root: Path, path: str, ids: userns.Range | None) -> None:
    """``mkdir -p`` of ``path`` under ``root``; what is made belongs to root inside."""
    current = root
    for part in Path(path.lstrip("/")).parts:
        current = current / part
        if not current.exists():
            current.mkdir()
            if ids is not None:
                userns.chown_into(current, ids)


def _hostname(sandbox_id: str) -> str:
    return sandbox_id.replace("_", "-")[:63]


def _quote(text: str) -> str:
    return shlex.quote(text)


__all__ = ["Engine", "ExecEvent", "ExecResult"]
