"""What the screens ask of the core, in one place, shaped for display.

Every method blocks (SQLite, Podman): screens call them from thread workers only. Tests
replace this object with one that answers from fixed data, for deterministic snapshots.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sandbench import config as config_module
from sandbench.engine import Engine
from sandbench.engine.arch import host_arch
from sandbench.engine.pool import PoolReport, pool_report
from sandbench.engine.usage import ImageUsage, image_usage
from sandbench.errors import Conflict, NotFound, SandbenchError
from sandbench.importers import SANDBENCH, detect_all
from sandbench.importers import load as load_tasks
from sandbench.importers.builds import ensure_all
from sandbench.model.benchmark import (
    Benchmark,
    BenchmarkCase,
    BenchmarkRun,
    BenchmarkRunState,
    CaseState,
    ScenarioStats,
)
from sandbench.model.documents import ParsedScenario
from sandbench.model.execution import Execution, ExecutionStatus
from sandbench.model.runs import ScenarioRun, Solution
from sandbench.model.sandbox import Sandbox, SandboxState
from sandbench.model.scenario import Scenario
from sandbench.runner import Runner, retention
from sandbench.runner.benchmark_comparison import BenchmarkComparison, compare_benchmark_runs
from sandbench.runner.benchmark_options import BenchmarkOptions, resume_refusal
from sandbench.runner.benchmark_runs import BenchmarkRunner, scenario_stats
from sandbench.runner.case_executors import executor_for
from sandbench.runner.comparison import RunComparison, compare_attempts, compare_runs
from sandbench.runner.events import EventBus
from sandbench.runner.solutions import HandOver
from sandbench.runner.validation import CheckReport, check
from sandbench.store import ImportAction, Page, ScenarioRecord, Store
from sandbench.store.files import FileProblem, load_paths

SCORER_SHORT = {
    "command_scorer": "cmd",
    "bash_script_scorer": "bash",
    "python_script_scorer": "py",
    "test_based_scorer": "test",
    "ast_grep_scorer": "ast",
    "custom_scorer": "custom",
}


def short_type(scorer_type: str) -> str:
    return SCORER_SHORT.get(scorer_type, scorer_type.removesuffix("_scorer"))


@dataclass(frozen=True)
class ScenarioRow:
    """One line of the scenarios table."""

    id: str
    name: str
    version: int
    scorer_types: tuple[str, ...]
    preset: str
    arch: str
    last_run_id: str | None = None
    last_state: str | None = None
    last_score: float | None = None
    last_run_ms: int | None = None


@dataclass(frozen=True)
class RowsPage:
    rows: list[ScenarioRow]
    has_more: bool
    total: int


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    type: str
    weight: float


@dataclass(frozen=True)
class RunDetail:
    """A run, with what the run screen needs beside it."""

    run: ScenarioRun
    scenario_name: str
    scorers: tuple[ScorerSpec, ...]


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    state: str
    detail: str = ""  # failure or shutdown reason


@dataclass(frozen=True)
class SandboxRow:
    """One line of the sandboxes table."""

    id: str
    name: str
    state: str  # a SandboxState value
    paused: bool
    cpu: float
    memory_gib: int
    disk_gib: int
    arch: str
    last_activity_ms: int | None
    create_time_ms: int
    end_time_ms: int | None = None
    run_id: str | None = None
    detail: str = ""  # failure or shutdown reason
    origin: str = ""  # what made it: api (a client of `sandbench serve`), scenario, cli

    @property
    def ended(self) -> bool:
        return SandboxState(self.state).terminal

    @property
    def shown_state(self) -> str:
        return "paused" if self.paused and self.state == SandboxState.RUNNING else self.state


@dataclass(frozen=True)
class SandboxStats:
    """Live load of a sandbox's container; None where Podman could not say."""

    cpu_percent: float | None = None
    memory_bytes: int | None = None


def sandbox_row(sandbox: Sandbox) -> SandboxRow:
    reason = sandbox.failure_reason or sandbox.shutdown_reason
    return SandboxRow(
        id=sandbox.id,
        name=sandbox.name or "",
        state=sandbox.status.value,
        paused=sandbox.paused,
        cpu=sandbox.resources.cpu,
        memory_gib=sandbox.resources.memory_gib,
        disk_gib=sandbox.resources.disk_gib,
        arch=sandbox.architecture.value,
        last_activity_ms=sandbox.last_activity_ms,
        create_time_ms=sandbox.create_time_ms,
        end_time_ms=sandbox.end_time_ms,
        run_id=sandbox.scenario_run_id,
        detail=str(reason) if reason else "",
        origin=sandbox.initiator or ("scenario" if sandbox.scenario_run_id else ""),
    )


ACTIVITY_KEEP = 200  # executions a newly opened activity log reads: the newest
ACTIVITY_CHUNKS = 500  # output chunks per read: a flood arrives over several reads


@dataclass(frozen=True)
class ActivityEntry:
    """One command run in a sandbox, for its activity log; ``user`` and
    ``working_directory`` only where they are not the sandbox's own."""

    id: str
    command: str
    status: str  # an ExecutionStatus value
    exit_status: int | None
    failure: str | None
    create_time_ms: int
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    user: str | None = None
    working_directory: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == ExecutionStatus.COMPLETED

    @property
    def duration_ms(self) -> int | None:
        if self.start_time_ms is None or self.end_time_ms is None:
            return None
        return self.end_time_ms - self.start_time_ms


@dataclass(frozen=True)
class ActivityCursor:
    """Where the next read of a sandbox's activity log starts."""

    sandbox_id: str
    execution_seq: int | None = None  # None: nothing read yet
    chunk_seq: int = 0
    open: tuple[str, ...] = ()  # executions whose state or output may still change
    default_user: str | None = None
    default_workdir: str | None = None


@dataclass(frozen=True)
class ActivityBatch:
    """What changed in a sandbox's activity log since the cursor it was read from."""

    cursor: ActivityCursor  # where the next read starts
    entries: list[ActivityEntry]  # new and still-open executions, oldest first
    output: list[tuple[str, str, str]]  # (execution id, stream, text), in the order written
    skipped: int = 0  # older executions a first read left out
    more: bool = False  # more output is waiting past this read's bound: read again now


def activity_entry(execution: Execution, cursor: ActivityCursor) -> ActivityEntry:
    user = execution.user if execution.user != cursor.default_user else None
    workdir = execution.working_directory
    return ActivityEntry(
        id=execution.id,
        command=execution.command,
        status=execution.status.value,
        exit_status=execution.exit_status,
        failure=execution.failure,
        create_time_ms=execution.create_time_ms,
        start_time_ms=execution.start_time_ms,
        end_time_ms=execution.end_time_ms,
        user=user,
        working_directory=workdir if workdir != cursor.default_workdir else None,
    )


@dataclass(frozen=True)
class ImportedItem:
    """One scenario an import stored, with what the import said about it."""

    name: str
    action: str  # an ImportAction value
    notes: tuple[str, ...] = ()

    @property
    def rounded(self) -> tuple[str, ...]:
        return tuple(n for n in self.notes if n.startswith("rounded"))

    @property
    def other_notes(self) -> tuple[str, ...]:
        return tuple(n for n in self.notes if not n.startswith("rounded"))


@dataclass(frozen=True)
class ImportOutcome:
    counts: dict[str, int]  # action -> how many
    problems: list[FileProblem]  # refusals: nothing was stored (all or nothing)
    format: str = SANDBENCH  # detected from the paths
    items: tuple[ImportedItem, ...] = ()

    @property
    def summary(self) -> str:
        parts = [f"{n} {action}" for action, n in self.counts.items() if n]
        return ", ".join(parts) or "nothing to import"


def scorer_specs(scenario: Scenario) -> tuple[ScorerSpec, ...]:
    return tuple(ScorerSpec(f.name, f.scorer.type, f.weight) for f in scenario.scorers)


def with_detail(
    record: ScenarioRecord, on_created: Callable[[RunDetail], None] | None
) -> Callable[[ScenarioRun], None]:
    """The runner's ``on_created`` for a screen's: the new run with what a run screen shows
    beside it (the scenario's name and scorers)."""
    specs = scorer_specs(record.scenario)

    def created(run: ScenarioRun) -> None:
        if on_created is not None:
            on_created(RunDetail(run, record.scenario.name, specs))

    return created


def scenario_row(record: ScenarioRecord, last: ScenarioRun | None) -> ScenarioRow:
    scenario = record.scenario
    types = tuple(dict.fromkeys(short_type(f.scorer.type) for f in scenario.scorers))
    return ScenarioRow(
        id=record.id,
        name=scenario.name,
        version=record.version,
        scorer_types=types,
        preset=scenario.size.value,
        arch=scenario.architecture.value,
        last_run_id=last.id if last else None,
        last_state=last.state.value if last else None,
        last_score=last.score if last else None,
        last_run_ms=last.start_time_ms if last else None,
    )


@dataclass(frozen=True)
class EditTarget:
    """A stored scenario opened in the editor."""

    id: str
    version: int
    document: dict[str, Any]


@dataclass(frozen=True)
class SavedScenario:
    id: str
    version: int
    changed: bool  # False: identical content, no new version


@dataclass(frozen=True)
class Template:
    """A starting point for a new scenario."""

    title: str
    description: str
    document: dict[str, Any]


@dataclass(frozen=True)
class BenchmarkRow:
    """One line of the benchmarks table."""

    id: str
    name: str
    scenarios: int
    last_run_id: str | None = None
    last_state: str | None = None
    last_score: float | None = None
    last_run_ms: int | None = None


@dataclass(frozen=True)
class BenchmarkRunCases:
    """A benchmark run with its scenario runs so far (no output) and the not started.

    ``states``: its cases (each scenario at its pinned version times each repeat) with
    their state, attempts and reason; empty for a run a client drove through the API, whose
    scenario runs are all there is. ``stats``: per scenario over the repeats, live while it
    goes. ``resume_refusal``: why ``benchmarks resume`` would refuse it (None: it can)."""

    run: BenchmarkRun
    cases: list[ScenarioRun]
    queued: int
    states: list[BenchmarkCase] = field(default_factory=list)
    stats: list[ScenarioStats] = field(default_factory=list)
    resume_refusal: str | None = "it has no cases to resume"

    @property
    def resumable(self) -> bool:
        return self.resume_refusal is None


class Workbench:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self.runner = Runner(store, engine)
        self._cpu_samples: dict[str, tuple[int, int]] = {}  # sandbox -> (cpu ns, clock ns)
        self._stats_lock = threading.Lock()
        self._benchmark_runner: BenchmarkRunner | None = None
        self._benchmark_lock = threading.Lock()

    @property
    def bus(self) -> EventBus:
        return self.runner.bus

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def check_engine(self) -> str:
        """Connect to Podman (starting a private service if needed); its URI."""
        return self.engine.connection.uri

    # ------------------------------------------------------------------ reading

    def scenario_page(self, name: str | None, starting_after: str | None, limit: int) -> RowsPage:
        page = self.store.list_scenarios(
            name=name or None, limit=limit, starting_after=starting_after
        )
        last = self.store.latest_runs([record.id for record in page.items])
        rows = [scenario_row(record, last.get(record.id)) for record in page.items]
        return RowsPage(rows, page.has_more, page.total_count)

    def runs_page(
        self, scenario_id: str | None, starting_after: str | None, limit: int
    ) -> Page[ScenarioRun]:
        return self.store.list_runs(
            scenario=scenario_id, limit=limit, starting_after=starting_after
        )

    def run_detail(self, run_id: str) -> RunDetail:
        run = self.store.get_run(run_id)
        record = self.store.get_scenario(run.scenario_id, run.scenario_version)
        return RunDetail(run, record.scenario.name, scorer_specs(record.scenario))

    def run_sandbox_id(self, run_id: str) -> str | None:
        return self.store.get_run(run_id).sandbox_id

    def previous_run(self, run_id: str, look_back: int = 50) -> ScenarioRun | None:
        """The newest earlier run of the same scenario that got as far as scores (with its
        output); runs still going or that failed before scoring say nothing to compare."""
        run = self.store.get_run(run_id, with_output=False)
        older = self.store.list_runs(
            scenario=run.scenario_id, starting_after=run_id, limit=look_back
        )
        for candidate in older.items:
            if not candidate.state.finished:
                continue
            found = self.store.get_run(candidate.id)
            if found.scorer_results:
                return found
        return None

    def compare_run(self, run_id: str) -> RunComparison | None:
        """The run against the previous attempt of each rerun scorer, or else against the
        previous run of its scenario; None when there is neither."""
        detail = self.run_detail(run_id)
        order = [spec.name for spec in detail.scorers]
        comparison = compare_attempts(detail.run, order)
        if comparison is not None:
            return comparison
        previous = self.previous_run(run_id)
        return None if previous is None else compare_runs(detail.run, previous, order)

    def last_agent_command(self) -> str:
        """The command of the newest agent run (what the solution picker offers first)."""
        return self.store.latest_agent_command()

    def sandbox(self, sandbox_id: str) -> SandboxInfo:
        sandbox = self.store.get_sandbox(sandbox_id)
        reason = sandbox.failure_reason or sandbox.shutdown_reason
        return SandboxInfo(sandbox.id, sandbox.status.value, str(reason) if reason else "")

    def sandbox_rows(self, include_ended: bool = False) -> list[SandboxRow]:
        """Newest first: the live ones (suspended included), or every one."""
        statuses = None if include_ended else [s for s in SandboxState if not s.terminal]
        return [sandbox_row(s) for s in self.store.list_sandboxes(statuses=statuses)]

    def sandbox_activity(self, cursor: ActivityCursor) -> ActivityBatch:
        """What is new in the sandbox's activity log (every command a client ran in it,
        recorded by whichever process ran it) since ``cursor``: new executions, the state
        of those still going, and output past what was read. One snapshot of the store, so
        an execution and its output are never half seen."""
        store = self.store
        with store.read():
            skipped = 0
            if cursor.execution_seq is None:
                spec = store.get_sandbox(cursor.sandbox_id).spec
                after, skipped = store.recent_executions_start(cursor.sandbox_id, ACTIVITY_KEEP)
                cursor = replace(
                    cursor,
                    execution_seq=after,
                    default_user=str(spec.user.username) if spec and spec.user else None,
                    default_workdir=spec.working_directory if spec else None,
                )
            seq = cursor.execution_seq or 0
            executions: list[Execution] = []
            for execution_id in cursor.open:
                with contextlib.suppress(NotFound):
                    executions.append(store.get_execution(execution_id, with_output=False))
            new = store.executions_since(cursor.sandbox_id, seq)
            executions.extend(execution for _, execution in new)
            chunks = store.execution_chunks_since(
                [e.id for e in executions], cursor.chunk_seq, limit=ACTIVITY_CHUNKS
            )
        more = len(chunks) >= ACTIVITY_CHUNKS
        still_open = tuple(
            e.id for e in executions if more or e.status != ExecutionStatus.COMPLETED
        )
        cursor = replace(
            cursor,
            execution_seq=new[-1][0] if new else seq,
            chunk_seq=chunks[-1][0] if chunks else cursor.chunk_seq,
            open=still_open,
        )
        return ActivityBatch(
            cursor,
            [activity_entry(e, cursor) for e in executions],
            [(execution_id, stream, text) for _, execution_id, stream, text in chunks],
            skipped,
            more,
        )

    def sandbox_stats(self, sandbox_ids: list[str]) -> dict[str, SandboxStats]:
        """CPU % (since the previous call for the same sandbox) and memory in use, from
        Podman's container stats; a sandbox whose stats cannot be read is left out."""
        found: dict[str, SandboxStats] = {}
        for sandbox_id in sandbox_ids:
            with contextlib.suppress(Exception):
                found[sandbox_id] = self._stats(sandbox_id)
        with self._stats_lock:
            for gone in set(self._cpu_samples) - set(found):
                del self._cpu_samples[gone]
        return found

    def _stats(self, sandbox_id: str) -> SandboxStats:
        container = self.engine.client.containers.get(f"sandbench-{sandbox_id}")
        answer = container.stats(stream=False, decode=True)
        stats = (answer.get("Stats") or [None])[0] if isinstance(answer, dict) else None
        if not stats:
            return SandboxStats()
        memory = stats.get("MemUsage")
        cpu_ns, clock_ns = stats.get("CPUNano"), stats.get("SystemNano")
        percent = stats.get("CPU")
        if isinstance(cpu_ns, int) and isinstance(clock_ns, int):
            with self._stats_lock:
                before = self._cpu_samples.get(sandbox_id)
                self._cpu_samples[sandbox_id] = (cpu_ns, clock_ns)
            if before is not None and clock_ns > before[1]:
                percent = 100.0 * max(0, cpu_ns - before[0]) / (clock_ns - before[1])
        return SandboxStats(
            float(percent) if isinstance(percent, int | float) else None,
            int(memory) if isinstance(memory, int | float) else None,
        )

    def benchmark_rows(self) -> list[BenchmarkRow]:
        """Every benchmark by name, with its newest run."""
        rows: list[BenchmarkRow] = []
        starting_after: str | None = None
        while True:
            page = self.store.list_benchmarks(limit=100, starting_after=starting_after)
            for benchmark in page.items:
                last = self.store.list_benchmark_runs(benchmark.id, limit=1)
                run = last[0] if last else None
                rows.append(
                    BenchmarkRow(
                        benchmark.id,
                        benchmark.name,
                        len(benchmark.scenario_ids),
                        run.id if run else None,
                        run.state.value if run else None,
                        run.score if run else None,
                        run.start_time_ms if run else None,
                    )
                )
            if not page.has_more or not page.items:
                return rows
            starting_after = page.items[-1].id

    def benchmark_runs(self, benchmark_id: str, limit: int = 50) -> list[BenchmarkRun]:
        """Newest first."""
        return self.store.list_benchmark_runs(benchmark_id, limit=limit)

    def benchmark_run_cases(self, benchmark_run_id: str) -> BenchmarkRunCases:
        with self.store.read():  # one snapshot: the run, its cases and their runs agree
            run = self.store.get_benchmark_run(benchmark_run_id)
            cases = self.store.runs_of_benchmark_run(benchmark_run_id, with_output=False)
            states = self.store.cases_of(benchmark_run_id)
        if not states:
            started = len({c.scenario_id for c in cases})
            return BenchmarkRunCases(run, cases, max(0, run.total_cases - started))
        stats = run.scenario_stats
        if run.state == BenchmarkRunState.RUNNING or not stats:
            stats = scenario_stats(states, run.settings.repeats)
        queued = sum(1 for case in states if case.state == CaseState.PENDING)
        return BenchmarkRunCases(run, cases, queued, states, stats, resume_refusal(run, states))

    def compare_benchmark_runs(self, run_a: str, run_b: str) -> BenchmarkComparison:
        """A against B, per scenario, with the score history of their benchmarks."""
        return compare_benchmark_runs(self.store, run_a, run_b)

    def create_benchmark(self, name: str, scenario_ids: list[str]) -> Benchmark:
        """A benchmark of these scenarios, in this order (``Conflict``: the name is taken)."""
        return self.store.create_benchmark(name.strip(), scenario_ids)

    def secret_names(self) -> list[str]:
        """The stored secrets' names (never values): what the start dialog checks against."""
        from sandbench import secrets

        return secrets.names()

    def benchmark_retries(self) -> int:
        """--retries of a benchmark run: the config's ``retries`` (its default if unreadable)."""
        try:
            return config_module.load().retries
        except SandbenchError:
            return config_module.Config().retries

    def benchmark_jobs(self) -> int:
        """-j of a benchmark run: the config's ``concurrency`` (its default if unreadable)."""
        try:
            return config_module.load().concurrency
        except SandbenchError:
            return config_module.Config().concurrency

    def benchmark_cluster(self) -> str | None:
        """Where benchmark runs go by default: the config's ``cluster.address``."""
        try:
            return config_module.load().cluster.address
        except SandbenchError:
            return None

    @property
    def benchmark_running(self) -> bool:
        """A benchmark run started through this workbench is going."""
        return self._benchmark_runner is not None

    def run_benchmark(
        self, benchmark_id: str, options: BenchmarkOptions | None = None
    ) -> BenchmarkRun:
        """Run every case of the benchmark (blocks until done); one benchmark run at a time.
        No ``options``: the reference, -j and retries from the config, with the cache."""
        if options is None:
            options = BenchmarkOptions(jobs=self.benchmark_jobs(), retries=self.benchmark_retries())
        with self._benchmark(benchmark_id, options.cluster) as runner:
            return runner.run(
                benchmark_id,
                jobs=options.jobs,
                solution=options.solution,
                agent_command=options.agent_command,
                use_cache=options.use_cache,
                triggered_by="tui",
                repeats=options.repeats,
                retries=options.retries,
                env=options.env or None,
                secret_env=options.secret_env or None,
                cluster=options.cluster,
            )

    def resume_benchmark(self, benchmark_run_id: str) -> BenchmarkRun:
        """Go on with an interrupted or canceled benchmark run, under the same id, as it was
        asked for (blocks until done)."""
        cluster = self.store.get_benchmark_run(benchmark_run_id).settings.cluster
        with self._benchmark(benchmark_run_id, cluster) as runner:
            return runner.resume(benchmark_run_id)

    @contextlib.contextmanager
    def _benchmark(self, what: str, cluster: str | None = None) -> Iterator[BenchmarkRunner]:
        """One benchmark run at a time; ``cluster``: its cases go to that Ray cluster."""
        with self._benchmark_lock:
            if self._benchmark_runner is not None:
                raise Conflict("a benchmark run is already going; cancel it first")
            executor = executor_for(cluster)
            self._benchmark_runner = BenchmarkRunner(self.runner, executor)
            runner = self._benchmark_runner
        try:
            yield runner
        finally:
            executor.close()
            with self._benchmark_lock:
                self._benchmark_runner = None

    def cancel_benchmark(self) -> bool:
        """Cancel the benchmark run going here; False if there was none."""
        with self._benchmark_lock:
            runner = self._benchmark_runner
        if runner is None:
            return False
        runner.cancel()
        return True

    # ------------------------------------------------------------------ changing

    def suspend_sandbox(self, sandbox_id: str) -> SandboxRow:
        return sandbox_row(self.engine.suspend(sandbox_id))

    def resume_sandbox(self, sandbox_id: str) -> SandboxRow:
        return sandbox_row(self.engine.resume(sandbox_id))

    def pause_sandbox(self, sandbox_id: str) -> SandboxRow:
        return sandbox_row(self.engine.pause(sandbox_id))

    def unpause_sandbox(self, sandbox_id: str) -> SandboxRow:
        return sandbox_row(self.engine.unpause(sandbox_id))

    def remove_sandbox(self, sandbox_id: str) -> SandboxRow:
        """Shut it down for good: container and disk go."""
        return sandbox_row(self.engine.shutdown(sandbox_id))

    def prune_sandboxes(self) -> list[str]:
        """Clean up what a crashed process left behind; what was removed."""
        return self.engine.prune()

    def sandbox_disks(self) -> dict[str, int]:
        """Bytes each sandbox's disk really holds on the host (file stats, no Podman)."""
        return {i: d.allocated_bytes for i, d in self.engine.sandbox_disks().items()}

    def pool_report(self) -> PoolReport:
        """The warm pool as `sandbench pool status` reports it, with this process's own
        targets (and refills in flight) once it keeps one (a Podman call)."""
        from sandbench import paths

        cfg = self.engine.config
        return pool_report(
            self.engine.client,
            paths.home_label(),
            cfg.warm_pool,
            cfg.default_image,
            self.store,
            self.engine.pool,
        )

    def image_usage(self) -> ImageUsage:
        """What sandbench's images hold on the host (a Podman call)."""
        return image_usage(self.engine.client, local=self.engine.connection.local)

    def start_retention(self, on_report: Callable[[retention.Report], None]) -> bool:
        """Apply the retention policy in the background (the workbench starting)."""
        return retention.collect_in_background(
            self.store, self.engine, why="the workbench started", on_report=on_report
        )

    def collect_sandboxes(self) -> retention.Report:
        """Apply the retention policy now (the config as it is): old runs' sandboxes go."""
        return retention.collect(self.store, self.engine, retention.current_policy(self.engine))

    def sandbox_shell(self, sandbox_id: str) -> int:
        """Interactive, in this terminal: only with the app suspended."""
        return self.engine.shell(sandbox_id)

    def import_paths(
        self, paths: list[Path], progress: Callable[[str], None] | None = None
    ) -> ImportOutcome:
        """Scenario files or task sets, the format detected as `scenarios import` does; task
        environments are built first (``progress`` hears the builds). All or nothing."""
        fmt = detect_all(paths)
        if fmt == SANDBENCH:
            report = load_paths(paths)
            if report.problems:  # all or nothing, like `sandbench scenarios import`
                return ImportOutcome({}, report.problems, fmt)
            parsed = [parsed for _, parsed in report.scenarios]
            notes: list[tuple[str, ...]] = [()] * len(parsed)
        else:
            tasks_report = load_tasks(fmt, paths, architecture=host_arch())
            if tasks_report.problems:
                return ImportOutcome({}, tasks_report.problems, fmt)
            tasks = ensure_all(
                self.store, self.engine, tasks_report.tasks, progress or (lambda _line: None)
            )
            parsed = [ParsedScenario(task.scenario) for task in tasks]
            notes = [tuple(task.notes) for task in tasks]
        results = self.store.import_scenarios(parsed)
        counts = {action.value: 0 for action in ImportAction}
        for result in results:
            counts[result.action.value] += 1
        items = tuple(
            ImportedItem(result.record.name, result.action.value, said)
            for result, said in zip(results, notes, strict=True)
        )
        return ImportOutcome(counts, [], fmt, items)

    def archive(self, scenario_id: str) -> ScenarioRecord:
        return self.store.archive_scenario(scenario_id)

    # ------------------------------------------------------------------ editing scenarios

    def scenario_document(self, scenario_id: str) -> EditTarget:
        """The current version of a scenario, as the document the editor starts from."""
        record = self.store.get_scenario(scenario_id)
        return EditTarget(record.id, record.version, record.scenario.to_dict())

    def free_name(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``… : the first no active scenario has."""
        taken = {
            record.scenario.name
            for record in self.store.list_scenarios(name=base, limit=1000).items
        }
        if base not in taken:
            return base
        number = 2
        while f"{base}-{number}" in taken:
            number += 1
        return f"{base}-{number}"

    def save_scenario(
        self, scenario_id: str | None, scenario: Scenario, *, over: int | None = None
    ) -> SavedScenario:
        """A new scenario, or the next version of ``scenario_id`` (none if unchanged).
        ``over``: the version the edit started from; if the scenario moved on, ``Stale``."""
        if scenario_id is None:
            new_id = self.store.create_scenario(scenario)
            return SavedScenario(new_id, 1, True)
        version, changed = self.store.update_scenario(scenario_id, scenario, expected_version=over)
        return SavedScenario(scenario_id, version, changed)

    def templates(self, samples: Path) -> list[Template]:
        """What a new scenario can start from: a blank one, then every sample file that
        reads cleanly (a broken file is left out, not fatal)."""
        from sandbench.tui.draft import BLANK

        found = [Template("blank", "1 command scorer · SMALL", BLANK)]
        report = load_paths([samples]) if samples.is_dir() else None
        for _, parsed in report.scenarios if report else []:
            scenario = parsed.scenario
            types = ", ".join(dict.fromkeys(short_type(f.scorer.type) for f in scenario.scorers))
            found.append(
                Template(
                    scenario.name,
                    f"{types} · {scenario.size.value.removesuffix('_SIZE')}",
                    scenario.to_dict(),
                )
            )
        return found

    def start_run(
        self,
        scenario_id: str,
        solution: Solution,
        *,
        use_cache: bool = True,
        agent_command: str | None = None,
        on_created: Callable[[RunDetail], None] | None = None,
        hand_over: HandOver | None = None,
    ) -> ScenarioRun:
        """Run to the end; ``hand_over`` lends an interactive solution the terminal."""
        record = self.store.get_scenario(scenario_id)
        created = with_detail(record, on_created)
        return self.runner.run(
            record.id,
            version=record.version,
            solution=solution,
            agent_command=agent_command,
            use_cache=use_cache,
            on_created=created,
            hand_over=hand_over,
        )

    def rerun_scorers(self, run_id: str, scorer: str | None = None) -> ScenarioRun:
        return self.runner.rerun_scorers(run_id, scorer)

    def rerun_run(
        self,
        run_id: str,
        *,
        on_created: Callable[[RunDetail], None] | None = None,
        hand_over: HandOver | None = None,
    ) -> ScenarioRun:
        """A whole new run of the same version and solution, never from the cache (that is
        what asking to run it again means)."""
        run = self.store.get_run(run_id)
        record = self.store.get_scenario(run.scenario_id, run.scenario_version)
        created = with_detail(record, on_created)
        return self.runner.rerun(run_id, use_cache=False, on_created=created, hand_over=hand_over)

    def cancel(self, run_id: str) -> None:
        self.runner.cancel(run_id)

    # ------------------------------------------------------------------ scenario check

    def check_scenario(
        self,
        scenario_id: str,
        *,
        use_cache: bool = True,
        on_created: Callable[[RunDetail], None] | None = None,
        canceled: threading.Event | None = None,
    ) -> CheckReport:
        """FORWARD then REVERSE through the real runner, as `sandbench scenarios check`
        does (blocks for both runs). ``on_created`` hears each run before its events; a run
        made once ``canceled`` is set is canceled at once, so a cancel during the first run
        also stops the second before it starts a sandbox."""
        record = self.store.get_scenario(scenario_id)
        tell = with_detail(record, on_created)

        def created(run: ScenarioRun) -> None:
            if canceled is not None and canceled.is_set():
                self.runner.cancel(run.id)  # first: whatever the display does next
            tell(run)

        return check(self.runner, record.id, use_cache=use_cache, on_created=created)
