"""Benchmark runs: many scenario runs at once, bounded by -j and by what the host can hold.

Each scenario run reserves its preset's memory (and CPU, oversubscribed twice) from the
host's capacity before it starts, so ``-j 8`` of LARGE scenarios on a small host queues
rather than swaps. Cancel (Ctrl-C) removes the sandboxes in flight, keeps finished
results, and scores the run from its completed scenario runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from sandbench.engine import images
from sandbench.engine.sandboxes import process_start
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.benchmark import (
    BenchmarkCase,
    BenchmarkRun,
    BenchmarkRunState,
    BenchmarkSettings,
    CaseState,
    ScenarioStats,
)
from sandbench.model.ids import new_id
from sandbench.model.resources import Resources
from sandbench.model.runs import RunState, ScenarioRun, Solution
from sandbench.runner.case_executors import CaseExecutor, CaseOrder, LocalCaseExecutor
from sandbench.runner.events import CaseFinished
from sandbench.runner.reconcile import interrupted, reconcile
from sandbench.runner.scenario_runs import Runner
from sandbench.store import Store
from sandbench.store.database import now_ms

CPU_OVERSUBSCRIPTION = 2.0
NOT_STARTED_CANCELED = "canceled before it started"
SIGNAL_CHECK_S = 0.2  # how soon the waiting main thread sees a Ctrl-C


def host_capacity() -> Resources:
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    memory_gib = max(1, memory_kib // (1024 * 1024) - 1)  # a GiB for the host itself
    return Resources(float(os.cpu_count() or 1) * CPU_OVERSUBSCRIPTION, memory_gib, 0)


class ResourcePool:
    """Blocks until a run's preset fits beside the others; an oversized one runs alone."""

    def __init__(self, capacity: Resources) -> None:
        self.capacity = capacity
        self._cpu = 0.0
        self._memory = 0
        self._changed = threading.Condition()

    def _clamp(self, need: Resources) -> tuple[float, int]:
        return min(need.cpu, self.capacity.cpu), min(need.memory_gib, self.capacity.memory_gib)

    def acquire(self, need: Resources, cancel: threading.Event) -> bool:
        cpu, memory = self._clamp(need)
        with self._changed:
            while not cancel.is_set():
                if (
                    self._cpu + cpu <= self.capacity.cpu
                    and self._memory + memory <= self.capacity.memory_gib
                ):
                    self._cpu += cpu
                    self._memory += memory
                    return True
                self._changed.wait(0.5)
        return False

    def release(self, need: Resources) -> None:
        cpu, memory = self._clamp(need)
        with self._changed:
            self._cpu -= cpu
            self._memory -= memory
            self._changed.notify_all()


@dataclass
class Progress:
    queued: int
    running: int
    done: int
    cache_hits: int


class BenchmarkRunner:
    """Runs a benchmark's cases (each scenario at its pinned version, times the repeats),
    several at once; retries a case only for an infrastructure failure; can resume a run
    that was interrupted or canceled, under the same id, running only what did not finish.

    ``executor`` decides where each attempt runs: here by default, or on a cluster's nodes
    (placement is then the cluster's, not this host's capacity)."""

    def __init__(self, runner: Runner, executor: CaseExecutor | None = None) -> None:
        self.runner = runner
        self.store = runner.store
        self.executor = executor or LocalCaseExecutor()
        self._cancel = threading.Event()
        self._in_flight: dict[tuple[int, int], str] = {}  # (position, repeat) -> run id
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop starting new scenario runs and cancel the ones in flight."""
        self._cancel.set()
        with self._lock:
            in_flight = list(self._in_flight.values())
        for run_id in in_flight:
            try:
                self.executor.cancel(self.runner, run_id)
            except SandbenchError:
                continue

    def run(
        self,
        benchmark_ref: str,
        *,
        jobs: int = 2,
        solution: Solution = Solution.REFERENCE,
        agent_command: str | None = None,
        case_filter: list[str] | None = None,
        use_cache: bool = True,
        triggered_by: str = "cli",
        capacity: Resources | None = None,
        repeats: int = 1,
        retries: int = 1,
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        cluster: str | None = None,
        on_created: Callable[[BenchmarkRun], None] | None = None,
    ) -> BenchmarkRun:
        """``cluster`` records the address the executor sends cases to, so that a resume
        goes there again. ``on_created``: told the run once it and its cases are stored
        (a server answers with it while the cases run)."""
        if jobs < 1:
            raise InvalidInput(f"-j must be at least 1, got {jobs}")
        if repeats < 1:
            raise InvalidInput(f"--repeats must be at least 1, got {repeats}")
        if retries < 0:
            raise InvalidInput(f"--retries must be 0 or more, got {retries}")
        if solution == Solution.AGENT and not agent_command:
            raise InvalidInput("an agent solution needs --agent CMD")
        benchmark = self.store.get_benchmark(benchmark_ref)
        records = [self.store.get_scenario(i) for i in benchmark.scenario_ids]
        positions = list(enumerate(records))
        if case_filter:
            wanted = set(case_filter)
            unknown = wanted - {r.name for r in records} - {r.id for r in records}
            if unknown:
                raise InvalidInput(
                    f"--filter: not in benchmark {benchmark.name}: {', '.join(sorted(unknown))}"
                )
            positions = [(i, r) for i, r in positions if r.name in wanted or r.id in wanted]
        settings = BenchmarkSettings(
            solution=solution.value,
            agent_command=agent_command,
            jobs=jobs,
            repeats=repeats,
            retries=retries,
            use_cache=use_cache,
            cluster=cluster,
        )
        run = self.store.create_benchmark_run(
            BenchmarkRun(
                id=new_id("benchmark_run"),
                benchmark_id=benchmark.id,
                name=f"{benchmark.name} ({solution.value})",
                start_time_ms=now_ms(),
                state=BenchmarkRunState.RUNNING,
                total_cases=len(positions) * repeats,
                case_filter=case_filter,
                triggered_by=triggered_by,
                metadata={"solution": solution.value, "jobs": str(jobs)},
                environment_variables=dict(env) if env else None,
                secrets_provided=dict(secret_env) if secret_env else None,
                settings=settings,
            ),
            owner_pid=os.getpid(),
            owner_start=process_start(os.getpid()),
        )
        self.store.create_cases(
            BenchmarkCase(
                benchmark_run_id=run.id,
                position=position,
                repeat_index=repeat,
                scenario_id=record.id,
                scenario_version=record.version,
            )
            for position, record in positions
            for repeat in range(repeats)
        )
        if on_created is not None:
            on_created(run)
        return self._execute(run, capacity)

    def resume(
        self, benchmark_run_id: str, *, jobs: int | None = None, capacity: Resources | None = None
    ) -> BenchmarkRun:
        """Go on with an interrupted or canceled run, under the same id and settings, with
        the same pinned scenario versions: finished cases are kept, the others run again."""
        reconcile(self.store)
        run = self.store.get_benchmark_run(benchmark_run_id)
        if run.state == BenchmarkRunState.RUNNING:
            raise InvalidInput(f"benchmark run {run.id} is still running")
        cases = self.store.cases_of(run.id)
        if not cases:
            raise InvalidInput(
                f"benchmark run {run.id} has no cases to resume (a client drove it through"
                " the API, or it was made before resume existed)"
            )
        if all(c.state.finished for c in cases):
            raise InvalidInput(f"benchmark run {run.id} has nothing left to run")
        if jobs is not None and jobs < 1:
            raise InvalidInput(f"-j must be at least 1, got {jobs}")
        self.store.reopen_benchmark_run(
            run.id, owner_pid=os.getpid(), owner_start=process_start(os.getpid())
        )
        return self._execute(self.store.get_benchmark_run(run.id), capacity, jobs=jobs)

    def _execute(
        self, run: BenchmarkRun, capacity: Resources | None, *, jobs: int | None = None
    ) -> BenchmarkRun:
        settings = run.settings
        todo = [c for c in self.store.cases_of(run.id) if not c.state.finished]
        ready = self._preflight(run, todo)
        unbounded = Resources(float("inf"), 2**62, 0)  # the executor places the cases
        pool = ResourcePool(
            unbounded if self.executor.places_cases else capacity or host_capacity()
        )
        errors: list[str] = []

        def one(case: BenchmarkCase, resources: Resources) -> None:
            if not pool.acquire(resources, self._cancel):
                self._set(run, case, CaseState.NOT_STARTED, reason=NOT_STARTED_CANCELED)
                return
            try:
                self._run_case(run, case)
            except SandbenchError as error:
                with self._lock:
                    errors.append(f"{case.scenario_name or case.scenario_id}: {error}")
                self._set(run, case, CaseState.FAILED, reason=str(error))
            finally:
                with self._lock:
                    self._in_flight.pop((case.position, case.repeat_index), None)
                pool.release(resources)

        workers = self.executor.workers(jobs or settings.jobs, cases=len(ready))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench") as executor:
            futures: list[Future[None]] = [
                executor.submit(one, case, resources) for case, resources in ready
            ]
            try:
                # Waits that wake: a Ctrl-C the kernel hands to a worker thread is only
                # seen when the main thread runs, and one blocked on a case's result would
                # see it when the case ends, after the next cases had started.
                pending: set[Future[None]] = set(futures)
                while pending:
                    done, pending = wait(pending, SIGNAL_CHECK_S, return_when=FIRST_EXCEPTION)
                    for future in done:
                        future.result()
            except KeyboardInterrupt:
                self.cancel()
                for future in futures:
                    future.cancel()
                for future in futures:
                    if not future.cancelled():
                        future.exception()
        if self._cancel.is_set():
            for case in self.store.cases_of(run.id):
                if case.state == CaseState.PENDING:
                    self._set(run, case, CaseState.NOT_STARTED, reason=NOT_STARTED_CANCELED)
                elif case.state == CaseState.RUNNING:
                    self._set(run, case, CaseState.CANCELED, reason="canceled")
        return summarise(
            self.store,
            self.store.get_benchmark_run(run.id),
            run.total_cases,
            canceled=self._cancel.is_set(),
            errors=errors,
        )

    def _preflight(
        self, run: BenchmarkRun, cases: list[BenchmarkCase]
    ) -> list[tuple[BenchmarkCase, Resources]]:
        """Check every case before the first sandbox starts; a case that cannot start is
        ``not_started`` with the reason, the others are returned to run."""
        verdicts: dict[tuple[str, int], str | None] = {}
        needs: dict[tuple[str, int], Resources] = {}
        ready: list[tuple[BenchmarkCase, Resources]] = []
        with image_checks_remembered(self.runner):
            for case in cases:
                self._check(run, case, verdicts, needs, ready)
        return ready

    def _check(
        self,
        run: BenchmarkRun,
        case: BenchmarkCase,
        verdicts: dict[tuple[str, int], str | None],
        needs: dict[tuple[str, int], Resources],
        ready: list[tuple[BenchmarkCase, Resources]],
    ) -> None:
        """One case's check (one per scenario version, remembered in ``verdicts``, with
        what it needs in ``needs``)."""
        settings = run.settings
        key = (case.scenario_id, case.scenario_version)
        if key not in verdicts:
            try:
                self.runner.preflight(
                    case.scenario_id,
                    version=case.scenario_version,
                    solution=Solution(settings.solution),
                    agent_command=settings.agent_command,
                    env=run.environment_variables,
                    secret_env=run.secrets_provided,
                )
                verdicts[key] = None
            except SandbenchError as error:
                verdicts[key] = str(error)
        reason = verdicts[key]
        if reason is not None:
            self._set(run, case, CaseState.NOT_STARTED, reason=reason)
            return
        if key not in needs:  # once per scenario version, as its verdict
            needs[key] = self.store.get_scenario(*key).scenario.resources
        ready.append((case, needs[key]))

    def _run_case(self, run: BenchmarkRun, case: BenchmarkCase) -> None:
        settings = run.settings
        attempts = case.attempts
        while True:
            if self._cancel.is_set():
                started = attempts > case.attempts
                state = CaseState.CANCELED if started else CaseState.NOT_STARTED
                self._set(run, case, state, reason="canceled" if started else NOT_STARTED_CANCELED)
                return
            attempts += 1
            self._set(run, case, CaseState.RUNNING, attempts=attempts)
            order = CaseOrder(
                scenario_id=case.scenario_id,
                version=case.scenario_version,
                solution=Solution(settings.solution),
                agent_command=settings.agent_command,
                # repeats measure variance: each one runs, none comes from the cache
                use_cache=settings.use_cache and settings.repeats == 1,
                benchmark_run_id=run.id,
                env=run.environment_variables,
                secret_env=run.secrets_provided,
            )
            scenario_run = self.executor.run_case(
                self.runner, order, lambda created: self._track(case, created.id)
            )
            if scenario_run.state == RunState.COMPLETED:
                self._set(run, case, CaseState.DONE, run_id=scenario_run.id)
                return
            self._set(run, case, CaseState.RUNNING, run_id=scenario_run.id, attempts=attempts)
            if scenario_run.state == RunState.CANCELED or self._cancel.is_set():
                self._set(run, case, CaseState.CANCELED, reason="canceled")
                return
            reason = scenario_run.failure_reason or scenario_run.state.value
            if is_infrastructure_failure(self.store, scenario_run) and attempts <= settings.retries:
                continue  # every attempt stays stored; the case points at the newest
            self._set(run, case, CaseState.FAILED, reason=reason)
            return

    def _set(
        self,
        run: BenchmarkRun,
        case: BenchmarkCase,
        state: CaseState,
        *,
        run_id: str | None = None,
        attempts: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.store.update_case(case, state=state, run_id=run_id, attempts=attempts, reason=reason)
        if state not in (CaseState.PENDING, CaseState.RUNNING):
            current = self.store.case_of(run.id, case.position, case.repeat_index)
            self.runner.bus.emit(CaseFinished(run.id, current))

    def _track(self, case: BenchmarkCase, run_id: str) -> None:
        with self._lock:
            self._in_flight[(case.position, case.repeat_index)] = run_id
        if self._cancel.is_set():
            self.executor.cancel(self.runner, run_id)

    def progress(self, run_id: str) -> Progress:
        cases = self.store.cases_of(run_id)
        if cases:
            running = sum(1 for c in cases if c.state == CaseState.RUNNING)
            queued = sum(1 for c in cases if c.state == CaseState.PENDING)
            hits = sum(
                1
                for r in self.store.runs_of_benchmark_run(run_id, with_output=False)
                if r.cache_hit
            )
            return Progress(queued, running, len(cases) - running - queued, hits)
        runs = self.store.runs_of_benchmark_run(run_id, with_output=False)
        total = self.store.get_benchmark_run(run_id).total_cases
        done = sum(1 for r in runs if r.state.finished)
        running = len(runs) - done
        return Progress(total - len(runs), running, done, sum(1 for r in runs if r.cache_hit))


def image_checks_remembered(runner: Runner) -> contextlib.AbstractContextManager[None]:
    """Podman asked once per image while inside (``images.inspections_remembered``), for
    checks that ask about the same images case after case."""
    client = getattr(runner.engine, "client", None)
    if client is None:
        return contextlib.nullcontext()
    return images.inspections_remembered(client)


# Which failures are the infrastructure's (retried) and which the task's (kept as its result):
# a run is retried when it failed as "infrastructure: …" or was interrupted, unless its
# sandbox ended out of memory or out of disk, or its launch commands failed: those come
# from the task itself and would fail again. A solution that fails and a score of 0 are
# results, never retried.
TASK_FAILURES = frozenset({"out_of_memory", "out_of_disk", "launch_failed"})


def is_infrastructure_failure(store: Store, run: ScenarioRun) -> bool:
    if run.state != RunState.FAILED:
        return False
    reason = run.failure_reason or ""
    if not (reason.startswith("infrastructure:") or interrupted(reason)):
        return False
    if run.sandbox_id:
        with contextlib.suppress(SandbenchError):
            sandbox = store.get_sandbox(run.sandbox_id)
            if sandbox.failure_reason is not None and sandbox.failure_reason.value in TASK_FAILURES:
                return False
    return not any(kind in reason for kind in TASK_FAILURES)


def scenario_stats(cases: list[BenchmarkCase], k: int) -> list[ScenarioStats]:
    """Per scenario over its scored repeats: mean, sample standard deviation, pass@1 and the
    unbiased pass@k (Chen et al. 2021: 1 - C(n-c, k) / C(n, k)), a pass being a total of
    1.0. A scenario whose repeats disagree is flaky."""
    by_scenario: dict[int, list[BenchmarkCase]] = {}
    for case in cases:
        by_scenario.setdefault(case.position, []).append(case)
    stats = []
    for group in by_scenario.values():
        scores = [c.score for c in group if c.state == CaseState.DONE and c.score is not None]
        n, passes = len(scores), sum(1 for s in scores if s >= 1.0 - 1e-9)
        mean = sum(scores) / n if n else None
        std = (
            math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
            if n > 1 and mean is not None
            else (0.0 if n == 1 else None)
        )
        stats.append(
            ScenarioStats(
                scenario_id=group[0].scenario_id,
                name=group[0].scenario_name,
                runs=n,
                passes=passes,
                mean_score=mean,
                score_std=std,
                pass_at_1=passes / n if n else None,
                pass_at_k=pass_at_k(n, passes, k) if n >= k else None,
                k=k,
                flaky=n > 1 and max(scores) - min(scores) > 1e-9,
            )
        )
    return stats


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n samples of which c passed (n >= k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def summarise(
    store: Store,
    run: BenchmarkRun,
    expected_cases: int,
    *,
    canceled: bool = False,
    errors: list[str] | None = None,
    state: BenchmarkRunState | None = None,
) -> BenchmarkRun:
    """Close a benchmark run: its state, score (mean over completed scenario runs), status
    breakdown and cost, from the scenario runs stored under it."""
    runs = store.runs_of_benchmark_run(run.id, with_output=False)
    cases = store.cases_of(run.id)
    if cases:
        return _summarise_cases(store, run, runs, cases, canceled=canceled, state=state)
    breakdown = Counter(r.state.value for r in runs)
    not_started = expected_cases - len({r.scenario_id for r in runs})
    if not_started > 0:
        breakdown["not_started"] = not_started
    completed = [r for r in runs if r.state == RunState.COMPLETED and r.score is not None]
    if state is None:
        if canceled:
            state = BenchmarkRunState.CANCELED
        elif runs and not completed:
            state = BenchmarkRunState.FAILED
        else:
            state = BenchmarkRunState.COMPLETED
    finished_at = now_ms()
    cost = sum((r.usage.cost_usd or 0.0) for r in runs if r.usage is not None)
    scores = [r.score for r in completed if r.score is not None]
    updated = run.model_copy(
        update={
            "state": state,
            "score": sum(scores) / len(scores) if scores else None,
            "duration_ms": finished_at - run.start_time_ms,
            "completed_at_ms": finished_at,
            "ok_cases": len(completed),
            "cache_hit_cases": sum(1 for r in runs if r.cache_hit),
            "status_breakdown": dict(breakdown),
            "total_cost_usd": cost,
            "notes": "; ".join(errors or []) or run.notes,
        }
    )
    return store.finish_benchmark_run(updated)


def _summarise_cases(
    store: Store,
    run: BenchmarkRun,
    runs: list[ScenarioRun],
    cases: list[BenchmarkCase],
    *,
    canceled: bool,
    state: BenchmarkRunState | None,
) -> BenchmarkRun:
    """The score is the mean of the per-scenario means; the breakdown counts cases by
    state, and those retried; the notes name why each case that did not finish did not."""
    breakdown = Counter(c.state.value for c in cases)
    retried = sum(1 for c in cases if c.attempts > 1)
    if retried:
        breakdown["retried"] = retried
    stats = scenario_stats(cases, run.settings.repeats)
    means = [s.mean_score for s in stats if s.mean_score is not None]
    done = [c for c in cases if c.state == CaseState.DONE]
    if state is None:
        if canceled:
            state = BenchmarkRunState.CANCELED
        elif not done:
            state = BenchmarkRunState.FAILED
        else:
            state = BenchmarkRunState.COMPLETED
    finals = {c.run_id for c in cases if c.run_id}
    reasons = [
        f"{c.scenario_name or c.scenario_id}"
        + (f" #{c.repeat_index + 1}" if run.settings.repeats > 1 else "")
        + f": {c.state.value}: {c.reason}"
        for c in cases
        if c.reason and c.state != CaseState.DONE
    ]
    finished_at = now_ms()
    updated = run.model_copy(
        update={
            "state": state,
            "score": sum(means) / len(means) if means else None,
            "duration_ms": finished_at - run.start_time_ms,
            "completed_at_ms": finished_at,
            "total_cases": len(cases),
            "ok_cases": len(done),
            "cache_hit_cases": sum(1 for r in runs if r.cache_hit and r.id in finals),
            "status_breakdown": dict(breakdown),
            "total_cost_usd": sum((r.usage.cost_usd or 0.0) for r in runs if r.usage is not None),
            "notes": "; ".join(reasons) or None,
            "scenario_stats": stats,
        }
    )
    return store.finish_benchmark_run(updated)


def start_external(
    store: Store,
    benchmark_ref: str,
    *,
    run_name: str | None = None,
    metadata: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    secret_env: dict[str, str] | None = None,
    purpose: str | None = None,
) -> BenchmarkRun:
    """Runloop's flow: a benchmark run that a client fills with scenario runs it starts
    (``benchmark_run_id``) and then completes or cancels."""
    benchmark = store.get_benchmark(benchmark_ref)
    return store.create_benchmark_run(
        BenchmarkRun(
            id=new_id("benchmark_run"),
            benchmark_id=benchmark.id,
            name=run_name or benchmark.name,
            start_time_ms=now_ms(),
            state=BenchmarkRunState.RUNNING,
            total_cases=len(benchmark.scenario_ids),
            triggered_by="api",
            metadata=dict(metadata or {}),
            environment_variables=dict(env) if env else None,
            secrets_provided=dict(secret_env) if secret_env else None,
            purpose=purpose,
        )
    )


def complete_external(store: Store, benchmark_run_id: str) -> BenchmarkRun:
    run = store.get_benchmark_run(benchmark_run_id)
    if run.state != BenchmarkRunState.RUNNING:
        return run
    return summarise(store, run, run.total_cases, state=BenchmarkRunState.COMPLETED)


def cancel_external(runner: Runner, benchmark_run_id: str) -> BenchmarkRun:
    """Cancel the scenario runs still going (their sandboxes shut down), then the run."""
    store = runner.store
    run = store.get_benchmark_run(benchmark_run_id)
    if run.state != BenchmarkRunState.RUNNING:
        return run
    for scenario_run in store.runs_of_benchmark_run(run.id, with_output=False):
        if not scenario_run.state.finished:
            with contextlib.suppress(SandbenchError):
                runner.cancel_external(scenario_run.id)
    return summarise(store, run, run.total_cases, canceled=True)
