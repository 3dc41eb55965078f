"""The sweep a cluster node runs between cases: it stops the cases whose head is gone.

Ray kills a dead head's task processes at once, so no clean-up runs in them: what they
left (runs, sandboxes, disks, a container caught half made) is reconciled and removed
here, the node's only recoverer (its workers' engines do not recover).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from sandbench.engine import Engine
from sandbench.engine.sandboxes import LIVE
from sandbench.errors import NotFound, SandbenchError
from sandbench.model.runs import RunState
from sandbench.runner.reconcile import interrupted, owner_alive, reconcile
from sandbench.store import Store

STRAY_EXIT_WAIT_S = 5.0  # a killed stray container's processes take this long, at most, to go


def sweep(store: Store) -> list[str]:
    """One pass; returns what it did, a line each, for the node's log."""
    done = []
    reconcile(store)  # a dead head's cases: failed as interrupted
    for sandbox_id, pid in reap_stray_containers(store):
        done.append(f"killed {sandbox_id}'s unstarted container ({pid})")
    with Engine(store, monitor=False) as engine:
        engine.connection  # noqa: B018  (a new engine's first connection recovers)
        for sandbox in store.list_sandboxes(statuses=LIVE, limit=100_000):
            if nothing_to_rerun(store, sandbox.scenario_run_id):
                with contextlib.suppress(SandbenchError):
                    engine.shutdown(sandbox.id)
    return done


def nothing_to_rerun(store: Store, run_id: str | None) -> bool:
    """Whether a live sandbox's case is over with nothing to rerun: a case keeps its
    sandbox for reruns, but not one cut short by its head's death, nor one canceled (a
    cancel removes it, unless its worker was killed first: the head died meanwhile).

    Asked of the run's stored state on every sweep, not only on the sweep that found the
    head dead: that sweep's removal can fail (a half-made sandbox's killed processes still
    hold its disk), and the next sweep must try again."""
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
    """Until none of ``pids`` is left (a zombie counts as gone), at most ``timeout`` s: a
    killed process lets go of its mounts only once it has exited. A pidfd becomes readable
    when its process exits, so this waits on the kernel, not on a polling loop."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)


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
