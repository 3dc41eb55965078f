"""Find a Podman service to talk to, or start a private one.

Order: the config's ``podman_uri``, then ``CONTAINER_HOST``, then the usual rootful and
rootless sockets; with none answering, ``podman system service`` is started as a child
on a private socket and stopped when this process exits (it also dies with us on
SIGKILL, through the parent-death signal).

The private service gets its own containers.conf (``CONTAINERS_CONF``): the host's files,
merged as Podman merges them, with ``[engine] exit_command_delay`` cut from Podman's 300 s
to a few seconds. Every ``podman exec`` otherwise leaves two ``conmon`` processes behind
for five minutes (about 1.6 MB each), and an agent harness runs hundreds of execs.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from podman import PodmanClient

from sandbench import paths
from sandbench.engine.errors import PodmanUnavailable

START_TIMEOUT_S = 20.0
API_TIMEOUT_S = 120
# How long an exec's monitor stays after the exec ends, so its exit code can be read
# (``execs.run_exec`` reads it at once; the margin covers a loaded machine).
EXEC_EXIT_DELAY_S = 5
PODMAN_EXIT_DELAY_DEFAULT_S = 300  # Podman's own default


@dataclass
class Connection:
    uri: str
    source: str  # where the URI came from, for `doctor` and error messages
    client: PodmanClient
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        """True when the service's host is this machine (mounts and /proc are ours)."""
        return self.uri.startswith("unix://")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.process is not None:
            _stop(self.process)
            self.process = None


def _client(uri: str) -> PodmanClient:
    return PodmanClient(base_url=uri, timeout=API_TIMEOUT_S)


def _answers(uri: str) -> PodmanClient | None:
    client = _client(uri)
    try:
        if client.ping():
            return client
    except Exception:
        pass
    client.close()
    return None


def candidates(configured: str | None) -> list[tuple[str, str, bool]]:
    """(uri, source, explicit) in the order they are tried."""
    found: list[tuple[str, str, bool]] = []
    if configured:
        found.append((configured, "config podman_uri", True))
    if os.environ.get("CONTAINER_HOST"):
        found.append((os.environ["CONTAINER_HOST"], "CONTAINER_HOST", True))
    sockets = []
    if os.geteuid() == 0:
        sockets.append(Path("/run/podman/podman.sock"))
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    sockets.append(Path(runtime) / "podman" / "podman.sock")
    found.extend((f"unix://{s}", f"socket {s}", False) for s in sockets if s.exists())
    return found


def connect(configured: str | None = None, *, allow_start: bool = True) -> Connection:
    for uri, source, explicit in candidates(configured):
        client = _answers(uri)
        if client is not None:
            return Connection(uri, source, client)
        if explicit:
            raise PodmanUnavailable(
                f"no Podman service answers at {uri} (from {source}); start it"
                " (`podman system service --time=0 URI`) or change/unset it"
            )
    if not allow_start:
        raise PodmanUnavailable("no Podman service is running")
    return start_private()


def _set_parent_death_signal() -> None:  # runs in the child before exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# The parent-death signal fires when the parent *thread* ends, not the process. A service
# started from a short-lived worker thread would die with it, so every service is started
# by one keeper thread that lives as long as the process.
_requests: queue.Queue[tuple[dict[str, Any], queue.Queue[Any]]] = queue.Queue()
_keeper: threading.Thread | None = None
_keeper_lock = threading.Lock()


def _keep() -> None:
    while True:
        kwargs, reply = _requests.get()
        try:
            reply.put(subprocess.Popen(**kwargs))
        except BaseException as error:  # handed back to the caller
            reply.put(error)


def _spawn_from_keeper(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    global _keeper
    with _keeper_lock:
        if _keeper is None or not _keeper.is_alive():
            _keeper = threading.Thread(target=_keep, name="podman-service-keeper", daemon=True)
            _keeper.start()
    reply: queue.Queue[Any] = queue.Queue()
    _requests.put(({"args": args, **kwargs}, reply))
    outcome = reply.get()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome  # type: ignore[no-any-return]


def containers_conf_files() -> list[Path]:
    """The containers.conf files Podman (containers/common 0.50, Podman 4.3) reads, in
    the order it merges them: a later file's keys override an earlier one's.

    ``CONTAINERS_CONF`` replaces them all; ``CONTAINERS_CONF_OVERRIDE`` (Podman >= 4.5,
    ignored by 4.3) comes last."""
    if os.environ.get("CONTAINERS_CONF"):
        found = [Path(os.environ["CONTAINERS_CONF"])]
    else:
        found = [Path("/usr/share/containers/containers.conf")]
        found.append(Path("/etc/containers/containers.conf"))
        found.extend(sorted(Path("/etc/containers/containers.conf.d").glob("*.conf")))
        if os.geteuid() != 0:
            config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
            found.append(config_home / "containers" / "containers.conf")
            found.extend(sorted((config_home / "containers/containers.conf.d").glob("*.conf")))
    if os.environ.get("CONTAINERS_CONF_OVERRIDE"):
        found.append(Path(os.environ["CONTAINERS_CONF_OVERRIDE"]))
    return [path for path in found if path.is_file()]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value of ``extra`` replaces ``base``'s."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def host_containers_conf() -> dict[str, Any]:
    """The host's containers.conf settings, merged; an unreadable file is skipped (Podman
    would refuse to start on it, and say why)."""
    merged: dict[str, Any] = {}
    for path in containers_conf_files():
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            merged = _merge(merged, tomllib.loads(path.read_text()))
    return merged


def exit_command_delay() -> int:
    """The seconds each exec's monitor lingers under a Podman service using this host's
    containers.conf (a service the user runs, say)."""
    value = host_containers_conf().get("engine", {}).get("exit_command_delay")
    return int(value) if isinstance(value, int) else PODMAN_EXIT_DELAY_DEFAULT_S


def write_private_containers_conf(directory: Path) -> Path:
    """The host's containers.conf with a short ``exit_command_delay``, for our service."""
    settings = host_containers_conf()
    engine = dict(settings.get("engine") or {})
    engine["exit_command_delay"] = min(
        EXEC_EXIT_DELAY_S, int(engine.get("exit_command_delay", EXEC_EXIT_DELAY_S))
    )
    settings["engine"] = engine
    path = directory / f"containers-{os.getpid()}.conf"
    path.write_text(
        "# Written by sandbench for the Podman service it starts: this host's\n"
        "# containers.conf files, merged, with a short exit_command_delay.\n"
        + tomli_w.dumps(settings)
    )
    return path


_started: list[subprocess.Popen[bytes]] = []
_confs: dict[int, Path] = {}  # service pid -> its containers.conf, removed when it stops
_started_lock = threading.RLock()  # _stop_all holds it around _stop


def start_private() -> Connection:
    podman = shutil.which("podman")
    if podman is None:
        raise PodmanUnavailable(
            "Podman is not installed: run `make setup` as root (Debian/Ubuntu), install"
            " podman from your distribution, or set `sandbench config set podman_uri URI`"
        )
    socket = paths.runtime_dir() / f"podman-{os.getpid()}.sock"
    socket.unlink(missing_ok=True)
    uri = f"unix://{socket}"
    conf = write_private_containers_conf(paths.runtime_dir())
    log = (paths.log_dir() / "podman-service.log").open("ab")
    process = _spawn_from_keeper(
        [podman, "system", "service", "--time=0", uri],
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        preexec_fn=_set_parent_death_signal,
        # its own session: Ctrl-C in the terminal must not kill it before we clean up
        start_new_session=True,
    )
    log.close()
    with _started_lock:
        _started.append(process)
        _confs[process.pid] = conf
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PodmanUnavailable(
                f"`podman system service` exited with {process.returncode};"
                f" see {paths.log_dir() / 'podman-service.log'}"
            )
        if socket.exists():
            client = _answers(uri)
            if client is not None:
                return Connection(uri, "private service", client, process)
        time.sleep(0.05)  # readiness poll: the service offers nothing to wait on
    _stop(process)
    raise PodmanUnavailable(f"`podman system service` did not answer within {START_TIMEOUT_S}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with _started_lock:
        conf = _confs.pop(process.pid, None)
    if conf is not None:  # its exec clean-up processes read it while it runs
        conf.unlink(missing_ok=True)


@atexit.register
def _stop_all() -> None:
    with _started_lock:
        for process in _started:
            _stop(process)
        _started.clear()
