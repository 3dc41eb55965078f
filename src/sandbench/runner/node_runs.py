"""A cluster node's side of a remote attempt: sandbench's own runner and engine over the
node's workspace, its events turned into the stream the head applies
(``sandbench.runner.case_executors`` holds that wire).

A case keeps its sandbox on the node, as a run made here keeps its own: suspended as soon
as the case ends (the node's slot goes to the next case; the disk stays), under the
node's retention policy. A scorer rerun of the head's run comes back to this node and
scores again in that sandbox; when the policy has removed it, the rerun is refused,
saying so, and the head's run is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable

from sandbench import secrets
from sandbench.errors import NotFound, SandbenchError
from sandbench.model.runs import RunState, ScenarioRun
from sandbench.model.sandbox import SandboxState
from sandbench.model.scenario import Scenario
from sandbench.runner.blueprint_builds import BlueprintFailed, built_here
from sandbench.runner.case_executors import (
    NodeAssigned,
    NodeOrder,
    RemoteEvent,
    RemoteRefused,
    RemoteRunEnded,
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

RUN_EVENTS_ON_WIRE = (RunStateChanged, StepOutput, ScorerStarted, OutputChunk, ScorerFinished)
HEAD_RUN_TAG = "head_run_id"  # in the node's run's metadata: the head's run it executed
KEPT = (SandboxState.RUNNING, SandboxState.SUSPENDED)


class NodeRunner:
    """Runs attempts on a cluster node with sandbench's own runner and engine, in the
    node's workspace (``SANDBENCH_HOME``: its own store and sandbox disks). One per
    worker process; the store and engine are opened on first use and kept."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.host = socket.gethostname()
        self._runner: Runner | None = None
        self._lock = threading.Lock()
        self.current: str | None = None  # the node's run of the attempt in flight

    @property
    def runner(self) -> Runner:
        with self._lock:
            if self._runner is None:
                from sandbench.engine import Engine
                from sandbench.store import open_store

                store = open_store()
                # No start-up recovery here: what a dead head's cases left is the node's
                # sweep's (``cluster join``); recovering here too raced it over the same disks.
                self._runner = Runner(store, Engine(store, monitor=False, recover=False))
            return self._runner

    def run(
        self, order: NodeOrder, emit: Callable[[RemoteEvent], None], started: threading.Event
    ) -> None:
        """Run the order to its end, calling ``emit`` with every event in order; ``started``
        is set once the node's run exists (``cancel`` then reaches it)."""
        emit(NodeAssigned(self.node, self.host))
        if order.rerun:
            self._rerun(order, emit, started)
            return
        try:
            runner = self._prepared(order)
        except BlueprintFailed as error:  # the recipe's own failure: building again fails too
            emit(RemoteRunEnded(RunState.FAILED, str(error), None, None, None))
            return
        store = runner.store
        mine: set[str] = set()

        def forward(event: Event) -> None:
            if isinstance(event, RUN_EVENTS_ON_WIRE) and event.run_id in mine:
                emit(event)

        def created(run: ScenarioRun) -> None:
            mine.add(run.id)
            self.current = run.id
            store.update_run(run.id, metadata=json.dumps({HEAD_RUN_TAG: order.head_run_id}))
            started.set()

        unsubscribe = runner.bus.subscribe(forward)
        try:
            with secrets.provided(order.secret_values):
                run = runner.run(
                    order.scenario_id,
                    version=order.version,
                    solution=order.solution,
                    agent_command=order.agent_command,
                    use_cache=False,  # the node's store is not the head's cache
                    keep_sandbox=True,  # for the head's scorer reruns (the policy bounds it)
                    env=order.env,
                    secret_env=order.secret_env,
                    on_created=created,
                )
        except SandbenchError as error:  # nothing ran (the node cannot start it)
            emit(RemoteRunEnded(RunState.FAILED, f"infrastructure: {error}", None, None, None))
            return
        finally:
            unsubscribe()
            started.set()
        extras = store.run_extras(run.id)
        emit(
            RemoteRunEnded(
                state=run.state,
                failure_reason=run.failure_reason,
                solution_detail=extras["solution_detail"],
                usage=run.usage.model_dump_json() if run.usage else None,
                cache_key=run.cache_key,
            )
        )
        self._suspend(run.sandbox_id)  # the slot is free once its memory is

    def _prepared(self, order: NodeOrder) -> Runner:
        """The node's runner, with the order's scenario version and custom scorers, and its
        blueprint built here (once per content on this node) and named in the version."""
        runner = self.runner
        scenario = Scenario.model_validate(order.document)
        if order.blueprint is not None and scenario.environment_parameters is not None:
            built = built_here(runner.store, runner.engine, order.blueprint)
            environment = scenario.environment_parameters.model_copy(
                update={"blueprint_id": built.id}
            )
            scenario = scenario.model_copy(update={"environment_parameters": environment})
        runner.store.mirror_scenario_version(order.scenario_id, order.version, scenario)
        for kind, script in order.custom_scorers.items():
            runner.store.register_custom_scorer(kind, script)
        return runner

    def _kept_sandbox(self, head_run_id: str) -> tuple[str, str] | str:
        """This node's run of the head's run and its sandbox, or why there is none."""
        store = self.runner.store
        run_id = store.run_tagged(HEAD_RUN_TAG, head_run_id)
        where = f"cluster node {self.node} ({self.host})"
        if run_id is None:
            return f"{where} has no run of {head_run_id} (its workspace was reset?)"
        sandbox_id = store.get_run(run_id, with_output=False).sandbox_id
        if sandbox_id is None:
            return f"{where} never made a sandbox for run {head_run_id}"
        try:
            sandbox = store.get_sandbox(sandbox_id)
        except NotFound:
            return f"{where} no longer knows the sandbox of run {head_run_id}"
        if sandbox.status not in KEPT:
            why = sandbox.shutdown_reason.value if sandbox.shutdown_reason else "removed"
            return (
                f"the sandbox of run {head_run_id} on {where} is {sandbox.status.value}"
                f" ({why}: the node's retention policy, or it was removed there)"
            )
        return run_id, sandbox_id

    def _rerun(
        self, order: NodeOrder, emit: Callable[[RemoteEvent], None], started: threading.Event
    ) -> None:
        """Score the head's run again in the sandbox its case left here (resumed for it,
        suspended again after); refused, saying why, when that sandbox is gone."""
        try:
            kept = self._kept_sandbox(order.head_run_id)
        finally:
            started.set()
        if isinstance(kept, str):
            emit(
                RemoteRefused(
                    f"{kept}; rerun the whole run instead"
                    f" (`sandbench runs rerun {order.head_run_id} --whole`)"
                )
            )
            return
        run_id, sandbox_id = kept
        runner = self._prepared(order)

        def forward(event: Event) -> None:
            if isinstance(event, RUN_EVENTS_ON_WIRE) and event.run_id == run_id:
                emit(event)

        self.current = run_id
        unsubscribe = runner.bus.subscribe(forward)
        try:
            with secrets.provided(order.secret_values):
                run = runner.rerun_scorers(run_id, order.scorer)
        except SandbenchError as error:
            emit(RemoteRunEnded(RunState.FAILED, f"infrastructure: {error}", None, None, None))
            return
        finally:
            unsubscribe()
        emit(RemoteRunEnded(run.state, run.failure_reason, None, None, None))
        self._suspend(sandbox_id)

    def _suspend(self, sandbox_id: str | None) -> None:
        """Suspend a case's sandbox now rather than after the idle time a run here waits:
        a node's slots take case after case, and each would hold its memory meanwhile."""
        if sandbox_id is None:
            return
        engine = self.runner.engine
        with contextlib.suppress(SandbenchError):
            if self.runner.store.get_sandbox(sandbox_id).status == SandboxState.RUNNING:
                engine.suspend(sandbox_id)

    def cancel(self) -> None:
        """Stop the attempt in flight: its sandbox goes, its run ends canceled."""
        if self.current is not None:
            with contextlib.suppress(SandbenchError):
                self.runner.cancel(self.current)
