"""Sandbox retention: which run sandboxes go, why, and removing them.

A scenario run keeps its sandbox for reruns (suspended after ten idle minutes, its disk
kept). The policy, from the config, bounds what that costs:

- ``retention_keep_runs_per_scenario`` (N, default 3): of each scenario's runs that still
  have a sandbox, newest first by run start, those past the N-th lose it. 0: no limit.
- ``retention_suspended_ttl_hours`` (default 72): a run's sandbox suspended and unused for
  longer than that goes, even among the newest. 0: never.

Never removed by the policy, whatever it says:

- a sandbox whose run is not finished (running, scoring, or scored and waiting for its
  client's ``complete``), or whose run this store does not know;
- a sandbox that no run owns: a devbox made through the API, one from ``sandboxes create``;
- a sandbox with a command in flight: this process's (the engine counts them), a recorded
  execution of a live process, or any use within the last ``ACTIVE_WINDOW_S`` seconds (an
  exec, file access or shell of another process touches the sandbox every second);
- a sandbox in the middle of a change (provisioning, initializing, suspending, resuming).

The checks are made again with the sandbox's lifecycle lock held, just before it is
removed (``Engine.shutdown(only_if=…)``). Removing is ``Engine.shutdown``: the container
and the disk go. It runs after every run finishes (``collect_in_background``: a daemon
thread, coalesced, its failures logged to ``retention.log``, never raised into the run),
when the workbench starts, and on ``sandbench sandboxes gc``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sandbench import config as config_module
from sandbench.config import Config
from sandbench.engine import Engine
from sandbench.engine.sandboxes import LIVE, process_start
from sandbench.engine.usage import human
from sandbench.errors import NotFound, SandbenchError
from sandbench.model.runs import ScenarioRun
from sandbench.model.sandbox import Sandbox, SandboxState, ShutdownReason
from sandbench.store import Store
from sandbench.store.database import now_ms as clock_ms

ACTIVE_WINDOW_S = 10.0  # used this recently: someone may be using it (heartbeats are 1 s)
LOG_NAME = "retention.log"


class Rule(StrEnum):
    KEEP_RUNS = "keep_runs"  # past the newest N runs of its scenario
    SUSPENDED_TTL = "suspended_ttl"  # suspended and unused for longer than the TTL
    ALL = "all"  # `sandboxes rm --all`


@dataclass(frozen=True)
class Policy:
    keep_runs_per_scenario: int = 3  # 0: no limit
    suspended_ttl_s: float = 72 * 3600  # 0: never
    active_window_s: float = ACTIVE_WINDOW_S

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(
            keep_runs_per_scenario=config.retention_keep_runs_per_scenario,
            suspended_ttl_s=config.retention_suspended_ttl_hours * 3600,
            active_window_s=ACTIVE_WINDOW_S,
        )

    def describe(self) -> str:
        keep = (
            f"keep the newest {self.keep_runs_per_scenario} runs' sandboxes per scenario"
            if self.keep_runs_per_scenario
            else "no limit on runs per scenario"
        )
        ttl = (
            f"suspended ones go after {duration(self.suspended_ttl_s)}"
            if self.suspended_ttl_s
            else "suspended ones stay"
        )
        return f"{keep}; {ttl}"


@dataclass
class Removal:
    """A sandbox the policy removes (or, in a dry run, would remove)."""

    sandbox_id: str
    name: str | None
    status: str  # before removal
    run_id: str | None
    rule: Rule
    reason: str
    disk_bytes: int  # what its disk held on the host: freed with it
    removed: bool = False
    error: str | None = None


@dataclass
class Spared:
    """A sandbox a rule names that stays, and why."""

    sandbox_id: str
    run_id: str | None
    rule: Rule
    reason: str


@dataclass
class Report:
    dry_run: bool
    policy: str
    removals: list[Removal] = field(default_factory=list)
    spared: list[Spared] = field(default_factory=list)
    left: int = 0  # live sandboxes after it

    @property
    def removed(self) -> list[Removal]:
        return [r for r in self.removals if r.removed]

    @property
    def failed(self) -> list[Removal]:
        return [r for r in self.removals if r.error is not None]

    @property
    def freed_bytes(self) -> int:
        """Freed, or in a dry run what would be."""
        chosen = self.removals if self.dry_run else self.removed
        return sum(r.disk_bytes for r in chosen)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "policy": self.policy,
            "removed": [asdict(r) for r in self.removals if self.dry_run or r.removed],
            "failed": [asdict(r) for r in self.failed],
            "spared": [asdict(s) for s in self.spared],
            "freed_bytes": self.freed_bytes,
            "left": self.left,
        }


def duration(seconds: float) -> str:
    """72h, 3d, 45m, 12s: the largest unit that keeps it readable."""
    if seconds >= 48 * 3600:
        return f"{seconds / 86400:.3g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g}h"
    if seconds >= 60:
        return f"{seconds / 60:.3g}m"
    return f"{seconds:.3g}s"


# ---------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class _Candidate:
    sandbox: Sandbox
    run: ScenarioRun | None
    rule: Rule
    reason: str


def _live(store: Store) -> list[Sandbox]:
    return store.list_sandboxes(statuses=[*LIVE, SandboxState.SUSPENDED], limit=100_000)


def _runs(store: Store, sandboxes: list[Sandbox]) -> dict[str, ScenarioRun | None]:
    runs: dict[str, ScenarioRun | None] = {}
    for sandbox in sandboxes:
        run_id = sandbox.scenario_run_id
        if run_id and run_id not in runs:
            try:
                runs[run_id] = store.get_run(run_id, with_output=False)
            except NotFound:
                runs[run_id] = None
    return runs


def _candidates(
    store: Store, sandboxes: list[Sandbox], policy: Policy, now_ms: int
) -> list[_Candidate]:
    """What the rules name, before the protections: run sandboxes past the newest N runs
    of their scenario, then suspended ones past the TTL (each sandbox once)."""
    runs = _runs(store, sandboxes)
    named: dict[str, _Candidate] = {}
    by_scenario: dict[str, list[ScenarioRun]] = {}
    for run in runs.values():
        if run is not None:
            by_scenario.setdefault(run.scenario_id, []).append(run)
    ranked: dict[str, tuple[int, str]] = {}  # run id -> (rank, scenario name)
    for scenario_runs in by_scenario.values():
        scenario_runs.sort(key=lambda r: (r.start_time_ms, r.id), reverse=True)
        for rank, run in enumerate(scenario_runs):
            ranked[run.id] = (rank, run.name or run.scenario_id)
    keep = policy.keep_runs_per_scenario
    for sandbox in sandboxes:  # newest first
        run = runs.get(sandbox.scenario_run_id or "")
        if run is None or not keep:
            continue
        rank, scenario_name = ranked[run.id]
        if rank >= keep:
            runs_word = "run" if keep == 1 else f"{keep} runs"
            named[sandbox.id] = _Candidate(
                sandbox,
                run,
                Rule.KEEP_RUNS,
                f"older than the newest {runs_word} of {scenario_name}",
            )
    ttl = policy.suspended_ttl_s
    for sandbox in sandboxes:
        if not ttl or sandbox.id in named or sandbox.scenario_run_id is None:
            continue
        if sandbox.status != SandboxState.SUSPENDED:
            continue
        unused_s = (now_ms - (sandbox.last_activity_ms or sandbox.create_time_ms)) / 1000
        if unused_s > ttl:
            named[sandbox.id] = _Candidate(
                sandbox,
                runs.get(sandbox.scenario_run_id),
                Rule.SUSPENDED_TTL,
                f"suspended, unused for {duration(unused_s)} (TTL {duration(ttl)})",
            )
    return list(named.values())


def protected(
    store: Store, engine: Engine, sandbox: Sandbox, policy: Policy, now_ms: int | None = None
) -> str | None:
    """Why the policy must leave this sandbox alone (None: it may go). Read fresh from the
    store, so it is right when asked again under the sandbox's lock."""
    if sandbox.scenario_run_id is None:
        made = "through the API" if sandbox.initiator == "api" else "without a run"
        return f"made {made}: only `sandboxes rm` removes it"
    try:
        run = store.get_run(sandbox.scenario_run_id, with_output=False)
    except NotFound:
        return f"its run {sandbox.scenario_run_id} is not in this store"
    if not run.state.finished:
        return f"its run {run.id} is {run.state.value}"
    if sandbox.status not in (SandboxState.RUNNING, SandboxState.SUSPENDED):
        return f"it is {sandbox.status.value}"
    if engine.busy(sandbox.id):
        return "a command is running in it"
    for _execution, pid, start in store.open_executions(sandbox.id):
        if pid is not None and process_start(pid) == start:
            return "a command is running in it"
    if sandbox.status == SandboxState.RUNNING and policy.active_window_s > 0:
        now_ms = clock_ms() if now_ms is None else now_ms
        since_s = (now_ms - (sandbox.last_activity_ms or sandbox.create_time_ms)) / 1000
        if since_s < policy.active_window_s:
            return f"in use {max(0.0, since_s):.0f}s ago"
    return None


# ---------------------------------------------------------------------- applying


def collect(
    store: Store,
    engine: Engine,
    policy: Policy | None = None,
    *,
    dry_run: bool = False,
    now_ms: int | None = None,
) -> Report:
    """Apply the policy once: remove (or with ``dry_run`` only name) the sandboxes it
    names and nothing protects. A removal that fails is reported, the others go on."""
    policy = policy or Policy.from_config(engine.config)
    now_ms = clock_ms() if now_ms is None else now_ms
    sandboxes = _live(store)
    disks = engine.sandbox_disks()
    report = Report(dry_run=dry_run, policy=policy.describe())
    for candidate in _candidates(store, sandboxes, policy, now_ms):
        sandbox = candidate.sandbox
        why_not = protected(store, engine, sandbox, policy, now_ms)
        if why_not is not None:
            report.spared.append(
                Spared(sandbox.id, sandbox.scenario_run_id, candidate.rule, why_not)
            )
            continue
        disk = disks.get(sandbox.id)
        removal = Removal(
            sandbox.id,
            sandbox.name,
            sandbox.status.value,
            sandbox.scenario_run_id,
            candidate.rule,
            candidate.reason,
            disk.allocated_bytes if disk else 0,
        )
        report.removals.append(removal)
        if dry_run:
            continue
        if engine.closing:  # the process is ending: the next pass does the rest
            report.removals.pop()
            break
        _remove(store, engine, removal, policy)
        if removal.error is not None:
            continue
        if not removal.removed:  # it changed under us: spared after all
            report.removals.pop()
            recheck = protected(store, engine, store.get_sandbox(sandbox.id), policy)
            report.spared.append(
                Spared(sandbox.id, sandbox.scenario_run_id, candidate.rule, recheck or "changed")
            )
    removed = {r.sandbox_id for r in report.removed}
    report.left = sum(1 for s in sandboxes if s.id not in removed)
    return report


def _remove(store: Store, engine: Engine, removal: Removal, policy: Policy) -> None:
    reason = (
        ShutdownReason.TTL_EXPIRED
        if removal.rule == Rule.SUSPENDED_TTL
        else ShutdownReason.API_SHUTDOWN
    )
    why_not: list[str] = []

    def still_allowed(current: Sandbox) -> bool:
        found = protected(store, engine, current, policy)
        if found is not None:
            why_not.append(found)
        return found is None

    try:
        after = engine.shutdown(removal.sandbox_id, reason, only_if=still_allowed)
    except SandbenchError as error:
        removal.error = str(error)
        return
    removal.removed = after.status.terminal and not why_not


def remove_all(store: Store, engine: Engine, *, dry_run: bool = False) -> Report:
    """Every live sandbox goes (``sandboxes rm --all``), whoever made it."""
    sandboxes = _live(store)
    disks = engine.sandbox_disks()
    report = Report(dry_run=dry_run, policy="remove every live sandbox")
    for sandbox in sandboxes:
        disk = disks.get(sandbox.id)
        removal = Removal(
            sandbox.id,
            sandbox.name,
            sandbox.status.value,
            sandbox.scenario_run_id,
            Rule.ALL,
            "rm --all",
            disk.allocated_bytes if disk else 0,
        )
        report.removals.append(removal)
        if dry_run:
            continue
        try:
            removal.removed = engine.shutdown(sandbox.id).status.terminal
        except SandbenchError as error:
            removal.error = str(error)
    removed = {r.sandbox_id for r in report.removed}
    report.left = sum(1 for s in _live(store) if s.id not in removed)
    return report


# ---------------------------------------------------------------------- in the background

_passes_lock = threading.Lock()
_passes: dict[int, bool] = {}  # id(engine) -> one more pass wanted after the one going


def collect_in_background(
    store: Store,
    engine: Engine,
    *,
    why: str = "a run finished",
    on_report: Callable[[Report], None] | None = None,
) -> bool:
    """Apply the policy in a daemon thread (one per engine at a time: a call while one goes
    asks it for one more pass). Never raises, never waits: failures go to the log.
    ``engine.close()`` waits for the pass going, which stops after its current removal.
    Returns whether a thread was started."""
    try:
        log_path = engine.log_dir / LOG_NAME
    except Exception:  # not a real engine (a test's stand-in): nothing to collect
        return False
    if engine.closing:  # the process is ending: the next start's pass does it
        return False
    key = id(engine)
    with _passes_lock:
        if key in _passes:
            _passes[key] = True
            return False
        _passes[key] = False

    def passes() -> None:
        try:
            while True:
                try:
                    report = collect(store, engine, current_policy(engine))
                    _log(log_path, why, report)
                    if on_report is not None:
                        on_report(report)
                except Exception as error:  # never into the run; said in the log
                    _log_line(log_path, f"{why}: retention failed: {error!r}")
                with _passes_lock:
                    if not _passes.get(key) or engine.closing:
                        _passes.pop(key, None)
                        return
                    _passes[key] = False
        except BaseException:
            with _passes_lock:
                _passes.pop(key, None)
            raise

    try:
        engine.in_background("sandbox-retention", passes)
    except Exception as error:  # a thread that cannot start: said, never raised
        with _passes_lock:
            _passes.pop(key, None)
        _log_line(log_path, f"{why}: retention not started: {error!r}")
        return False
    return True


def current_policy(engine: Engine) -> Policy:
    """The config as it is now (a `config set` since the engine started counts); the
    engine's own if the file cannot be read."""
    try:
        return Policy.from_config(config_module.load())
    except SandbenchError:
        return Policy.from_config(engine.config)


def _log(path: Path, why: str, report: Report) -> None:
    for removal in report.removals:
        if removal.removed:
            _log_line(
                path,
                f"{why}: removed {removal.sandbox_id} (run {removal.run_id}, {removal.status}):"
                f" {removal.reason}; freed {human(removal.disk_bytes)}",
            )
        elif removal.error is not None:
            _log_line(path, f"{why}: could not remove {removal.sandbox_id}: {removal.error}")


def _log_line(path: Path, text: str) -> None:
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {text}\n")
    except OSError:
        pass


__all__ = [
    "ACTIVE_WINDOW_S",
    "Policy",
    "Removal",
    "Report",
    "Rule",
    "Spared",
    "collect",
    "collect_in_background",
    "protected",
    "remove_all",
]
