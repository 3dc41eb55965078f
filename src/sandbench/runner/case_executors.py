"""Where a benchmark's cases run: here (the default), or elsewhere through an executor.

A benchmark runner hands each attempt of a case to a ``CaseExecutor``. The local one runs
it with this process's runner. A remote one (a Ray cluster, in ``sandbench.cluster``)
opens the run in this store, ships a ``CaseOrder`` to a node, and writes what the node
streams back with a ``RemoteRunWriter``: the same store calls, in the same order, as a
run executed here makes, so every reader (TUI, exports, stats) sees no difference.

The node's side of the wire is ``sandbench.runner.node_runs``. The core names no
scheduler: an adapter registers a factory for its addresses (``register_executor``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from sandbench import secrets
from sandbench.engine.pool import PoolKey, WarmPool
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.runs import RunState, ScenarioRun, ScorerState, Solution
from sandbench.model.scenario import CustomScorer
from sandbench.runner.blueprint_builds import (
    BlueprintRecipe,
    recipe_of,
)
from sandbench.runner.events import (
    Event,
    OutputChunk,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.runner.scenario_runs import Runner
from sandbench.store import ScenarioRecord, Store


@dataclass(frozen=True)
class CaseOrder:
    """One attempt of a benchmark case, as the benchmark runner asks for it."""

    scenario_id: str
    version: int
    solution: Solution
    agent_command: str | None
    use_cache: bool
    benchmark_run_id: str | None
    env: dict[str, str] | None
    secret_env: dict[str, str] | None


class CaseExecutor(Protocol):
    """Runs attempts of benchmark cases; ``places_cases`` when it, not this host's
    capacity, decides where and how many run at once."""

    places_cases: bool

    def workers(self, jobs: int, cases: int = 0) -> int:
        """How many attempts to keep in flight, for ``cases`` attempts to come."""
        ...

    def run_case(
        self, runner: Runner, order: CaseOrder, on_created: Callable[[ScenarioRun], None]
    ) -> ScenarioRun:
        """Run one attempt to its end; the stored run (completed, failed, canceled)."""
        ...

    def cancel(self, runner: Runner, run_id: str) -> None: ...

    def close(self) -> None: ...


class LocalCaseExecutor:
    """Every case in this process's sandboxes. Each scenario version's sandbox kind gets a
    warm pool target sized to the jobs on its first case, so later cases claim a started
    sandbox instead of creating one; the target goes once the benchmark stops claiming.
    The target never keeps more warm than cases are left to claim them."""

    places_cases = False

    def __init__(self) -> None:
        self._jobs = 1
        self._left: int | None = None  # attempts still to start (None: not told)
        self._warmed: set[tuple[str, int | None]] = set()
        self._targets: list[tuple[WarmPool, PoolKey]] = []
        self._lock = threading.Lock()

    def workers(self, jobs: int, cases: int = 0) -> int:
        self._jobs = jobs
        self._left = cases or None
        return jobs

    def _warm(self, runner: Runner, order: CaseOrder, left: int | None) -> None:
        """A pool target for this case's sandbox kind (once per scenario version). A spec
        that cannot be made (missing secrets) or served warm is left to the run to report."""
        with self._lock:
            seen = (order.scenario_id, order.version) in self._warmed
            self._warmed.add((order.scenario_id, order.version))
        if seen:
            return
        engine = runner.engine
        with contextlib.suppress(SandbenchError):
            scenario = runner.store.get_scenario(order.scenario_id, order.version).scenario
            spec = engine.spec_for(scenario, env=order.env, secret_env=order.secret_env)
            pool = engine.pool or engine.start_pool({})
            key = pool.add_target(spec, self._jobs, budget=left)
            if key is not None:
                with self._lock:
                    self._targets.append((pool, key))

    def run_case(
        self, runner: Runner, order: CaseOrder, on_created: Callable[[ScenarioRun], None]
    ) -> ScenarioRun:
        with self._lock:  # this attempt included; retries beyond the count start cold
            left = self._left
            if self._left is not None:
                self._left = max(0, self._left - 1)
        if not order.use_cache:  # with the cache, only once a case missed it (below)
            self._warm(runner, order, left)
        run = runner.run(
            order.scenario_id,
            version=order.version,
            solution=order.solution,
            agent_command=order.agent_command,
            use_cache=order.use_cache,
            keep_sandbox=False,
            benchmark_run_id=order.benchmark_run_id,
            env=order.env,
            secret_env=order.secret_env,
            on_created=on_created,
        )
        if not run.cache_hit:
            self._warm(runner, order, None if left is None else max(0, left - 1))
        return run

    def cancel(self, runner: Runner, run_id: str) -> None:
        runner.cancel(run_id)

    def close(self) -> None:
        """The warm sandboxes made for this benchmark go now (unclaimed, they would go
        after the target's idle time anyway)."""
        with self._lock:
            targets, self._targets = self._targets, []
            self._warmed.clear()
        for pool, key in targets:
            pool.drop_target(key)


# ---------------------------------------------------------------- registry

ExecutorFactory = Callable[[str], CaseExecutor]
_factories: list[ExecutorFactory] = []


def register_executor(factory: ExecutorFactory) -> None:
    """An adapter's way to run cases elsewhere: ``factory(address)`` makes an executor
    (or raises ``InvalidInput`` saying what is missing)."""
    _factories[:] = [factory]


def executor_for(address: str | None) -> CaseExecutor:
    """The local executor for no address, else the registered remote one."""
    if not address:
        return LocalCaseExecutor()
    if not _factories:
        raise InvalidInput(
            f"--cluster {address}: this sandbench has no cluster support loaded;"
            " install the cluster extra: pip install 'sandbench[cluster]'"
        )
    return _factories[0](address)


@runtime_checkable
class RemoteReruns(Protocol):
    """An executor that can score again, on the node that ran it, a run it executed."""

    def rerun_scorers(self, runner: Runner, run_id: str, scorer: str | None) -> ScenarioRun: ...


def rerun_remote(runner: Runner, run: ScenarioRun, scorer: str | None) -> ScenarioRun:
    """A scorer rerun of a run a cluster node executed goes back to that node, over the
    cluster its benchmark ran on (else the configured one): its sandbox lived there."""
    from sandbench import config

    address = None
    if run.benchmark_run_id:
        address = runner.store.get_benchmark_run(run.benchmark_run_id).settings.cluster
    address = address or config.load().cluster.address
    if not address:
        raise InvalidInput(
            f"run {run.id} ran on cluster node {run.node}, and no cluster address is known"
            " (set cluster.address); or rerun the whole run here:"
            f" `sandbench runs rerun {run.id} --whole`"
        )
    executor = executor_for(address)
    try:
        if not isinstance(executor, RemoteReruns):
            raise InvalidInput(f"the executor for {address} cannot rerun scorers on a node")
        return executor.rerun_scorers(runner, run.id, scorer)
    finally:
        executor.close()


# ---------------------------------------------------------------- the wire


@dataclass(frozen=True)
class NodeAssigned:
    """The first event of a remote attempt: where it runs."""

    node: str
    host: str


@dataclass(frozen=True)
class RemoteRunEnded:
    """The last event of a remote attempt: how the node's run ended, and what of it the
    head keeps (sandbox ids stay the node's: its sandboxes are not the head's)."""

    state: RunState
    failure_reason: str | None
    solution_detail: str | None
    usage: str | None
    cache_key: str | None


@dataclass(frozen=True)
class RemoteRefused:
    """A node's only event (after ``NodeAssigned``) when it will not do what was asked
    (a scorer rerun whose sandbox is gone): the head's run stays as it was."""

    reason: str


@dataclass(frozen=True)
class NodeOrder:
    """What a node needs to run one attempt without the head's store: the scenario at its
    pinned version, the custom scorers it uses, and the secret values, which travel in
    memory only and are forgotten when the attempt ends."""

    head_run_id: str
    scenario_id: str
    version: int
    document: dict
    solution: Solution
    agent_command: str | None
    env: dict[str, str] | None
    secret_env: dict[str, str] | None
    secret_values: dict[str, str] = field(repr=False)
    custom_scorers: dict[str, str]
    rerun: bool = False  # score the head's finished run again (``scorer``: one, else all)
    scorer: str | None = None
    blueprint: BlueprintRecipe | None = None  # the scenario's, built on the node once


def node_order(store: Store, record: ScenarioRecord, order: CaseOrder, run_id: str) -> NodeOrder:
    scenario = record.scenario
    wanted = [*(order.secret_env or {}).values(), *(scenario.required_secret_names or [])]
    environment = scenario.environment_parameters
    blueprint = (
        recipe_of(store, environment.blueprint_id, scenario.architecture)
        if environment is not None and environment.blueprint_id
        else None
    )
    return NodeOrder(
        head_run_id=run_id,
        scenario_id=record.id,
        version=record.version,
        document=scenario.to_dict(),
        solution=order.solution,
        agent_command=order.agent_command,
        env=order.env,
        secret_env=order.secret_env,
        secret_values=secrets.get_values(wanted),
        custom_scorers={
            f.scorer.custom_scorer_type: store.get_custom_scorer(
                f.scorer.custom_scorer_type
            ).bash_script
            for f in scenario.scorers
            if isinstance(f.scorer, CustomScorer)
        },
        blueprint=blueprint,
    )


RemoteEvent = (
    NodeAssigned
    | RunStateChanged
    | StepOutput
    | ScorerStarted
    | OutputChunk
    | ScorerFinished
    | RemoteRunEnded
    | RemoteRefused
)


class RemoteRunWriter:
    """Applies a remote attempt's events to the head's run, as the runner writes a local
    one: states, each scorer's result opened, its output appended chunk by chunk, closed
    with its score; then the run finished. Re-emits them on the head's bus under the
    head's ids, so live views follow a remote run as they follow a local one.

    A batch the node sent together is written in one transaction (the same rows, in the
    same order) and announced once it is committed: a transaction per row cost the head
    most of its time per case."""

    def __init__(self, runner: Runner, run_id: str) -> None:
        self.runner = runner
        self.store = runner.store
        self.run_id = run_id
        self._results: dict[str, str] = {}  # node's result id -> head's
        self._open: set[str] = set()
        self.node: str | None = None
        self.ended: ScenarioRun | None = None
        self.refused: str | None = None

    def apply(self, events: list[RemoteEvent]) -> None:
        """Write a batch of the node's events, then announce them, then end the run if
        the batch ends it."""
        announce: list[Event] = []
        ended: RemoteRunEnded | None = None
        with self.store.write():
            for event in events:
                if isinstance(event, RemoteRefused):
                    self.refused = event.reason
                elif isinstance(event, RemoteRunEnded):
                    ended = event
                    self._store_extras(event)
                else:
                    self._write(event, announce.append)
        for event in announce:
            self.runner.bus.emit(event)
        if ended is not None:
            # the head keeps no sandbox of a remote run: its retention has nothing new
            self.ended = self.runner.finish(
                self.run_id, ended.state, ended.failure_reason, collect=False
            )

    def _write(self, event: RemoteEvent, announce: Callable[[Event], None]) -> None:
        run_id = self.run_id
        if isinstance(event, NodeAssigned):
            self.node = event.node
            self.store.update_run(run_id, node=event.node)
        elif isinstance(event, RunStateChanged):
            if event.state in (RunState.SCORING, RunState.SCORED):
                self.store.set_run_state(run_id, event.state)
                announce(replace(event, run_id=run_id))
        elif isinstance(event, StepOutput):
            announce(replace(event, run_id=run_id))
        elif isinstance(event, ScorerStarted):
            result = self.store.start_scorer(run_id, event.name, event.type, event.weight)
            self._results[event.result_id] = result.id
            self._open.add(result.id)
            announce(
                ScorerStarted(
                    run_id, result.id, result.name, result.type, result.weight, result.attempt
                )
            )
        elif isinstance(event, OutputChunk):
            result_id = self._results[event.result_id]
            self.store.append_output(result_id, event.stream, event.text)
            announce(replace(event, run_id=run_id, result_id=result_id))
        elif isinstance(event, ScorerFinished):
            result_id = self._results[event.result.id]
            self._open.discard(result_id)
            finished = self.store.finish_scorer(
                result_id,
                event.result.state,
                score=event.result.score,
                exit_code=event.result.exit_code,
                details=event.result.details,
            )
            announce(ScorerFinished(run_id, finished))

    def _store_extras(self, event: RemoteRunEnded) -> None:
        extras = {
            "solution_detail": event.solution_detail,
            "usage": event.usage,
            "cache_key": event.cache_key,
        }
        kept = {k: v for k, v in extras.items() if v is not None}
        if kept:
            self.store.update_run(self.run_id, **kept)

    def fail(self, reason: str) -> ScenarioRun:
        """The attempt was lost (its node died, the link broke): scorers still running end
        as errors with the reason, and the run fails with it, as an infrastructure
        failure does here."""
        for result_id in sorted(self._open):
            finished = self.store.finish_scorer(
                result_id, ScorerState.ERROR, details={"reason": reason}
            )
            self.runner.bus.emit(ScorerFinished(self.run_id, finished))
        self._open.clear()
        self.ended = self.runner.finish(self.run_id, RunState.FAILED, reason, collect=False)
        return self.ended

    def cancel(self) -> ScenarioRun:
        for result_id in sorted(self._open):
            finished = self.store.finish_scorer(
                result_id, ScorerState.ERROR, details={"reason": "canceled"}
            )
            self.runner.bus.emit(ScorerFinished(self.run_id, finished))
        self._open.clear()
        self.ended = self.runner.finish(self.run_id, RunState.CANCELED, "canceled", collect=False)
        return self.ended
