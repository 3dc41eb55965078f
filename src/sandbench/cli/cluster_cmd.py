"""``sandbench cluster join|status``, and ``--cluster`` for benchmark runs.

Ray is loaded only here, lazily: without the ``cluster`` extra every other command works,
and these say which extra to install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from types import ModuleType

from sandbench.cli.output import emit_json, note, table
from sandbench.errors import InvalidInput
from sandbench.runner.case_executors import CaseExecutor, register_executor

EXTRA = "pip install 'sandbench[cluster]'"
SWEEP_SECONDS = 10.0


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
    """One pass of the node's sweep (``runner.node_sweep``), what it did printed; a
    failed pass must never take the node down with it."""
    from sandbench.runner.node_sweep import sweep as sweep_node
    from sandbench.store import open_store

    try:
        with open_store() as store:
            for line in sweep_node(store):
                note(f"sandbench: node sweep: {line}")
    except Exception as error:
        note(f"sandbench: node sweep: {type(error).__name__}: {error}")


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
