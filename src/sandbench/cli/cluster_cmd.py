"""``sandbench cluster join|status``, and ``--cluster`` for benchmark runs.

Ray is loaded only here, lazily: without the ``cluster`` extra every other command works,
and these say which extra to install.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from sandbench.cli.output import emit_json, note, table
from sandbench.errors import InvalidInput, NotFound, SandbenchError
from sandbench.runner.case_executors import CaseExecutor, register_executor

if TYPE_CHECKING:
    from sandbench.store import Store

EXTRA = "pip install 'sandbench[cluster]'"
SWEEP_SECONDS = 10.0
STRAY_EXIT_WAIT_S = 5.0  # a killed stray container's processes take this long, at most, to go


def cluster_module() -> ModuleType:
    try:
        import sandbench.cluster as cluster
    except ImportError as error:
        raise InvalidInput(
            f"running on a cluster needs the cluster extra ({error.name} is missing): {EXTRA}"
        ) from None
    return cluster


def _executor(address: str) -> CaseExecutor:
    return cluster_module().ClusterExecutor(address)  # type: ignore[no-any-return]


def enable() -> None:
    """Benchmark runs anywhere in this process (CLI, workbench, server) may go to a
    cluster; Ray itself loads only when one does."""
    register_executor(_executor)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("cluster", help="run benchmarks over a Ray cluster")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="cluster commands", metavar="ACTION")

    p = sub.add_parser(
        "join",
        help="make this machine a node that runs sandboxes for a cluster (until stopped)",
    )
    p.add_argument("address", metavar="ADDRESS", help="the head's Ray address, e.g. HOST:6379")
    p.add_argument("--slots", type=int, default=None, help="cases at once (default: CPU count)")
    p.add_argument(
        "--workspace",
        metavar="DIR",
        help="the node's own store and sandbox disks (default: cluster-node in the data dir)",
    )
    p.set_defaults(handler=cmd_join)

    p = sub.add_parser("status", help="the nodes: slots, running cases, architecture, memory")
    p.add_argument("--address", default=None, help="Ray address (default: config, else auto)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_status)


def cmd_join(args: argparse.Namespace) -> int:
    from sandbench import config, paths
    from sandbench.build_version import build_version
    from sandbench.cli import doctor
    from sandbench.engine.arch import host_arch
    from sandbench.runner.benchmark_runs import host_capacity

    cluster = cluster_module()
    slots = args.slots if args.slots is not None else os.cpu_count() or 1
    if slots < 1:
        raise InvalidInput(f"--slots must be at least 1, got {slots}")
    own_config = paths.config_path()
    workspace = Path(args.workspace or paths.data_dir() / "cluster-node").resolve()
    os.environ["SANDBENCH_HOME"] = str(workspace)  # this process, the node and its workers
    if own_config.exists() and not paths.config_path().exists():
        shutil.copy(own_config, paths.config_path())  # the same Podman and images settings
    config.load()
    checks = doctor.run_checks()
    failed = [f"{c.name}: {c.detail}" for c in checks if c.status == doctor.FAIL]
    if failed:
        raise InvalidInput("this host cannot run sandboxes: " + "; ".join(failed))
    warned = [f"{c.name}: {c.detail}" for c in checks if c.status == doctor.WARN]
    cluster.nodes.write_node_file("warn" if warned else "ok", warned, slots)
    version = build_version()
    # a node of another sandbench than the cluster's would never be sent a case
    cluster.nodes.refuse_other_versions(args.address, version, who="this node")
    cluster.nodes.disconnect()
    capacity = host_capacity()
    command = cluster.join_command(
        args.address,
        slots=slots,
        cpus=capacity.cpu,
        memory_bytes=capacity.memory_gib * 1024**3,
        architecture=host_arch().value,
        version=version,
    )
    note(f"sandbench: joining {args.address} with {slots} slot(s); workspace {workspace}")
    process = subprocess.Popen(command)
    stop = threading.Event()

    def leave(signum: int, frame: object) -> None:
        stop.set()
        process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    try:
        while process.poll() is None:
            sweep()
            stop.wait(SWEEP_SECONDS)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait()
        sweep()
    return 0 if stop.is_set() else process.returncode or 1


def sweep() -> None:
    """Stop the cases whose head is gone. Ray kills a dead head's task processes at once
    (no clean-up runs in them), so what they left (runs, sandboxes, disks) is reconciled
    and removed here, the node's only recoverer (its workers' engines do not recover)."""
    from sandbench.engine import Engine
    from sandbench.engine.sandboxes import LIVE
    from sandbench.runner.reconcile import reconcile
    from sandbench.store import open_store

    try:
        with open_store() as store:
            reconcile(store)  # a dead head's cases: failed as interrupted
            for sandbox_id, pid in reap_stray_containers(store):
                note(f"sandbench: node sweep: killed {sandbox_id}'s unstarted container ({pid})")
            with Engine(store, monitor=False) as engine:
                engine.connection  # noqa: B018  (a new engine's first connection recovers)
                for sandbox in store.list_sandboxes(statuses=LIVE, limit=100_000):
                    if _nothing_to_rerun(store, sandbox.scenario_run_id):
                        with contextlib.suppress(SandbenchError):
                            engine.shutdown(sandbox.id)
    except Exception as error:  # a failed sweep must never take the node down with it
        note(f"sandbench: node sweep: {type(error).__name__}: {error}")


def _nothing_to_rerun(store: Store, run_id: str | None) -> bool:
    """Whether a live sandbox's case is over with nothing to rerun: a case keeps its
    sandbox for reruns, but not one cut short by its head's death, nor one canceled (a
    cancel removes it, unless its worker was killed first: the head died meanwhile).

    Asked of the run's stored state on every sweep, not only on the sweep that found the
    head dead: that sweep's removal can fail (a half-made sandbox's killed processes still
    hold its disk), and the next sweep must try again."""
    from sandbench.model.runs import RunState
    from sandbench.runner.reconcile import interrupted

    if run_id is None:
        return False
    try:
        run = store.get_run(run_id, with_output=False)
    except NotFound:
        return False
    if run.state == RunState.CANCELED:
        return True
    return run.state == RunState.FAILED and interrupted(run.failure_reason)


def reap_stray_containers(store: Store) -> list[tuple[str, int]]:
    """Kill the container processes Podman no longer knows of this workspace's sandboxes
    whose owner is dead. A task killed while its sandbox's container was being created
    leaves ``conmon`` and a ``runc init`` that never starts; Podman forgets the container
    on removal, but that process keeps the sandbox's disk mounted, so its clean-up fails
    with "disk.img is still in use" on every sweep."""
    from sandbench.runner.reconcile import owner_alive

    # conmons first: each one seen then is listed by the `podman ps` after it, unless
    # Podman has forgotten it (one made between the two would look forgotten)
    conmons = _conmons()
    known = set(
        subprocess.run(
            ["podman", "ps", "--all", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    killed = []
    for pid, name, children in conmons:
        sandbox_id = name.removeprefix("sandbench-")
        if name in known or not sandbox_id.startswith("dbx_"):
            continue
        try:
            row = store.sandbox_bookkeeping(sandbox_id)
        except NotFound:
            continue  # another workspace's sandbox
        if owner_alive(row["owner_pid"], row["owner_start"]):
            continue
        for victim in [*children, pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        killed.append((sandbox_id, pid))
        _wait_gone([*children, pid], STRAY_EXIT_WAIT_S)  # then the disk they held is free
    return killed


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Until none of ``pids`` is left (reaped by their parent, or a zombie), at most
    ``timeout`` s: a killed process lets go of its mounts only once it has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in "ZX"
    except (OSError, IndexError):
        return True


def _conmons() -> list[tuple[int, str, list[int]]]:
    """Every conmon here: its pid, the container name it runs, its children's pids."""
    found = []
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry.name))
        if argv and argv[0].endswith(b"conmon") and b"-n" in argv:
            found.append((int(entry.name), argv[argv.index(b"-n") + 1].decode()))
    return [(pid, name, parents.get(pid, [])) for pid, name in found]


def cmd_status(args: argparse.Namespace) -> int:
    from sandbench import config

    address = args.address or config.load().cluster.address or "auto"
    statuses = cluster_module().node_statuses(address)
    if args.json:
        emit_json([vars(s) for s in statuses])
        return 0
    if not statuses:
        note(f"no node of {address} offers sandbench slots (`sandbench cluster join`)")
        return 0
    print(
        table(
            [
                "NODE",
                "ADDRESS",
                "SLOTS",
                "RUNNING",
                "ARCH",
                "FITNESS",
                "MEM FREE",
                "VERSION",
                "WORKSPACE",
            ],
            [
                [
                    s.node_id[:12],
                    s.address,
                    s.slots,
                    s.running,
                    s.architecture,
                    s.fitness,
                    f"{s.memory_free_bytes / 1024**3:.1f}G",
                    s.version,
                    s.workspace,
                ]
                for s in statuses
            ],
        )
    )
    return 0
