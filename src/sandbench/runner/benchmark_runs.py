"""Benchmark runs: many scenario runs at once, bounded by -j and by what the host can hold.

Each scenario run reserves its preset's memory (and CPU, oversubscribed twice) from the
host's capacity before it starts, so ``-j 8`` of LARGE scenarios on a small host queues
rather than swaps. Cancel (Ctrl-C) removes the sandboxes in flight, keeps finished
results, and scores the run from its completed scenario runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.benchmark import BenchmarkRun, BenchmarkRunState
from sandbench.model.ids import new_id
from sandbench.model.resources import Resources
from sandbench.model.runs import RunState, ScenarioRun, Solution
from sandbench.runner.scenario_runs import Runner
from sandbench.store import Store
from sandbench.store.database import now_ms

CPU_OVERSUBSCRIPTION = 2.0


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
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.store = runner.store
        self._cancel = threading.Event()
        self._in_flight: dict[str, str] = {}  # scenario id -> run id
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop starting new scenario runs and cancel the ones in flight."""
        self._cancel.set()
        with self._lock:
            in_flight = list(self._in_flight.values())
        for run_id in in_flight:
            try:
                self.runner.cancel(run_id)
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
    ) -> BenchmarkRun:
        if jobs < 1:
            raise InvalidInput(f"-j must be at least 1, got {jobs}")
        benchmark = self.store.get_benchmark(benchmark_ref)
        records = [self.store.get_scenario(i) for i in benchmark.scenario_ids]
        if case_filter:
            wanted = set(case_filter)
            unknown = wanted - {r.name for r in records} - {r.id for r in records}
            if unknown:
                raise InvalidInput(
                    f"--filter: not in benchmark {benchmark.name}: {', '.join(sorted(unknown))}"
                )
            records = [r for r in records if r.name in wanted or r.id in wanted]
        run = self.store.create_benchmark_run(
            BenchmarkRun(
                id=new_id("benchmark_run"),
                benchmark_id=benchmark.id,
                name=f"{benchmark.name} ({solution.value})",
                start_time_ms=now_ms(),
                state=BenchmarkRunState.RUNNING,
                total_cases=len(records),
                case_filter=case_filter,
                triggered_by=triggered_by,
                metadata={"solution": solution.value, "jobs": str(jobs)},
            )
        )
        pool = ResourcePool(capacity or host_capacity())
        results: list[ScenarioRun] = []
        errors: list[str] = []

        def one(record_id: str, resources: Resources) -> None:
            if not pool.acquire(resources, self._cancel):
                return
            try:
                if self._cancel.is_set():
                    return
                scenario_run = self.runner.run(
                    record_id,
                    solution=solution,
                    agent_command=agent_command,
                    use_cache=use_cache,
                    keep_sandbox=False,
                    benchmark_run_id=run.id,
                    on_created=lambda created: self._track(record_id, created.id),
                )
                with self._lock:
                    results.append(scenario_run)
            except SandbenchError as error:
                with self._lock:
                    errors.append(f"{record_id}: {error}")
            finally:
                with self._lock:
                    self._in_flight.pop(record_id, None)
                pool.release(resources)

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bench") as executor:
            futures: list[Future[None]] = [
                executor.submit(one, r.id, r.scenario.resources) for r in records
            ]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                self.cancel()
                for future in futures:
                    future.cancel()
                for future in futures:
                    if not future.cancelled():
                        future.exception()
        return self._finish(run, records, errors)

    def _track(self, scenario_id: str, run_id: str) -> None:
        with self._lock:
            self._in_flight[scenario_id] = run_id
        if self._cancel.is_set():
            self.runner.cancel(run_id)

    def _finish(self, run: BenchmarkRun, records: list, errors: list[str]) -> BenchmarkRun:
        return summarise(
            self.store, run, len(records), canceled=self._cancel.is_set(), errors=errors
        )

    def progress(self, run_id: str) -> Progress:
        runs = self.store.runs_of_benchmark_run(run_id, with_output=False)
        total = self.store.get_benchmark_run(run_id).total_cases
        done = sum(1 for r in runs if r.state.finished)
        running = len(runs) - done
        return Progress(total - len(runs), running, done, sum(1 for r in runs if r.cache_hit))


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
