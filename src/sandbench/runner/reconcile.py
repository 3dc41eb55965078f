"""After a crash: work owned by a process that is gone is ended, never shown running.

Scenario runs and benchmark runs record the process that owns them (pid and start time,
as sandboxes do). Whenever a process that can act opens the store (the TUI, `serve`, any
command that runs or lists runs), unfinished work whose owner is dead becomes ``failed``
with the reason ``interrupted``, its running scorer attempts ``error`` (interrupted), and a
benchmark run's unfinished cases ``interrupted``: ``benchmarks resume`` runs them again.
Runs a client drives through the API are the server's to recover (it scores them again).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from sandbench.engine.sandboxes import process_start
from sandbench.errors import NotFound
from sandbench.model.runs import RunState, ScorerState
from sandbench.store import Store


@dataclass
class Reconciled:
    scenario_runs: list[str] = field(default_factory=list)
    benchmark_runs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.scenario_runs or self.benchmark_runs)


def owner_alive(pid: int | None, start: str | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    if start is None:  # recorded before start times were: the pid alone decides
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return process_start(pid) == start


def interrupted(failure_reason: str | None) -> bool:
    """Whether a run failed because the process running it died (see reconcile)."""
    return (failure_reason or "").startswith("interrupted")


def reconcile(store: Store) -> Reconciled:
    done = Reconciled()
    runs, benchmark_runs = store.owned_unfinished_work()
    for row in runs:
        if owner_alive(row["owner_pid"], row["owner_start"]):
            continue
        reason = f"interrupted: the sandbench process running it (pid {row['owner_pid']}) exited"
        with contextlib.suppress(NotFound):
            for result in store.get_run(row["id"], with_output=False).scorer_results:
                if result.state == ScorerState.RUNNING:
                    store.finish_scorer(result.id, ScorerState.ERROR, details={"reason": reason})
            store.set_run_state(row["id"], RunState.FAILED, failure_reason=reason)
            done.scenario_runs.append(row["id"])
    for row in benchmark_runs:
        if owner_alive(row["owner_pid"], row["owner_start"]):
            continue
        store.interrupt_benchmark_run(
            row["id"],
            f"interrupted: the sandbench process running it (pid {row['owner_pid']}) exited;"
            f" `sandbench benchmarks resume {row['id']}` finishes it",
        )
        done.benchmark_runs.append(row["id"])
    return done
