"""The head's side: each attempt of a case becomes one Ray task on a node with a free slot.

The task is a streaming generator: the node yields its run's events in batches as they
happen, and the head applies them to its store in order while the case runs. Ray never
retries a task (``max_retries=0``): a node lost mid-case fails the attempt as an
infrastructure failure, and the benchmark runner's retry policy sends it again, to a node
that is alive.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import ray
from ray.exceptions import RayError, TaskCancelledError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from sandbench.build_version import build_version
from sandbench.cluster.nodes import (
    ARCH_RESOURCE,
    SLOT_RESOURCE,
    other_versions,
    refuse_other_versions,
    version_resource,
)
from sandbench.errors import InvalidInput
from sandbench.model.resources import Resources
from sandbench.model.runs import RunState, ScenarioRun
from sandbench.runner.benchmark_runs import image_checks_remembered
from sandbench.runner.case_executors import (
    CaseOrder,
    NodeOrder,
    RemoteEvent,
    RemoteRunEnded,
    RemoteRunWriter,
    node_order,
)
from sandbench.runner.node_runs import NodeRunner
from sandbench.runner.scenario_runs import Runner

GIB = 1024**3
log = logging.getLogger(__name__)
PIPELINE = 2  # attempts in flight per slot: one running, the next queued behind it
RESOURCES_TTL = 5.0  # seconds a read of the cluster's resources serves placement

# What runs an attempt on a node: sandbench's runner, or (benchmarks of the scheduler) a
# stand-in with the same ``run(order, emit, started)`` and ``cancel()``.
NodeFactory = Callable[[str], Any]

_node_runner: Any = None  # one per worker process, kept between attempts
_node_lock = threading.Lock()


def _runner_here(factory: NodeFactory | None) -> Any:
    global _node_runner
    with _node_lock:
        if _node_runner is None:
            node = ray.get_runtime_context().get_node_id()
            _node_runner = (factory or NodeRunner)(node)
        return _node_runner


def run_attempt(order: NodeOrder, factory: NodeFactory | None) -> Iterator[list[RemoteEvent]]:
    """On the node: run the attempt in a thread and yield its events in order, batched as
    they queue up. Canceled (or the head gone), the attempt's sandbox is removed."""
    node = _runner_here(factory)
    events: queue.Queue[Any] = queue.Queue()
    started, done = threading.Event(), threading.Event()
    end = object()

    def work() -> None:
        try:
            node.run(order, events.put, started)
        except BaseException as error:
            reason = f"infrastructure: cluster node {node.node}: {error}"
            events.put(RemoteRunEnded(RunState.FAILED, reason, None, None, None))
        finally:
            done.set()  # before the end is read: the thread may yet look alive a moment
            events.put(end)

    thread = threading.Thread(target=work, name=f"case-{order.head_run_id}", daemon=True)
    thread.start()
    try:
        while True:
            batch = [events.get()]
            while True:
                try:
                    batch.append(events.get_nowait())
                except queue.Empty:
                    break
            finished = batch[-1] is end
            if finished:
                batch.pop()
            if batch:
                yield batch
            if finished:
                return
    finally:
        if not done.is_set():  # canceled, or nobody reads any more
            started.wait(timeout=60)
            node.cancel()
            thread.join(timeout=120)


def attempt_task(factory: NodeFactory | None) -> Callable[[NodeOrder], Iterator[Any]]:
    """The task a node runs, with its factory bound in: Ray ships the function once, where
    an argument is pickled again for every case."""

    def sandbench_case(order: NodeOrder) -> Iterator[list[RemoteEvent]]:
        yield from run_attempt(order, factory)

    return sandbench_case


class ClusterExecutor:
    """Sends every attempt to a Ray cluster (``address``: ``auto``, ``HOST:PORT`` or
    ``ray://HOST:10001``)."""

    places_cases = True

    def __init__(self, address: str, *, stand_in: NodeFactory | None = None) -> None:
        self.address = address
        self._stand_in = stand_in
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            try:
                ray.init(
                    address=address,
                    namespace="sandbench",
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise InvalidInput(
                    f"--cluster {address}: cannot reach the cluster: {error}"
                ) from None
        self.version = build_version()
        self._version_need = version_resource(self.version)  # nodes of this sandbench only
        if self.slots() < 1:  # before any run is recorded: say which nodes run what
            try:
                refuse_other_versions(address, self.version, who="this head")
            except InvalidInput:
                self.close()
                raise
        self._task = ray.remote(attempt_task(stand_in))
        self._rerun_task = ray.remote(attempt_task(None))
        self._lock = threading.Lock()
        self._refs: dict[str, Any] = {}
        self._tasks: dict[str, Any] = {}  # placement -> the case task with its options
        self._resources: dict[str, float] = {}
        self._resources_at = float("-inf")

    def close(self) -> None:
        if self._connected_here:  # not a connection another executor of this process uses
            ray.shutdown()

    def slots(self) -> int:
        """The slots of the live nodes that run this head's sandbench."""
        return int(
            sum(
                n["Resources"].get(SLOT_RESOURCE, 0)
                for n in ray.nodes()
                if n["Alive"] and n["Resources"].get(self._version_need)
            )
        )

    def workers(self, jobs: int, cases: int = 0) -> int:
        """Attempts in flight: ``PIPELINE`` per slot of the cluster (not ``-j``), so each
        slot has its next case queued at its node when one ends, instead of idling while
        the head writes the result and sends another. A case shown running may so wait
        up to one case's time in its node's queue."""
        slots = self.slots()
        if slots < 1:
            refuse_other_versions(self.address, self.version, who="this head")
            raise InvalidInput(
                f"the cluster at {self.address} has no node with sandbench slots;"
                " start one with `sandbench cluster join ADDRESS`"
            )
        for other in other_versions(self.address, self.version):
            log.warning(
                "cluster node %s (%s) runs sandbench %s, this head %s: it gets no cases",
                other.node_id[:12],
                other.address,
                other.version,
                self.version,
            )
        return slots * PIPELINE

    def _cluster_resources(self) -> dict[str, float]:
        """The cluster's resources, read again at most every few seconds: asking the GCS
        for every case cost more than the rest of dispatching it."""
        with self._lock:
            if time.monotonic() - self._resources_at > RESOURCES_TTL:
                self._resources = ray.cluster_resources()
                self._resources_at = time.monotonic()
            return self._resources

    def placement(self, resources: Resources, architecture: str) -> dict[str, Any]:
        """A slot, the preset's CPU and memory, and the architecture where some node runs it
        natively (else any node, which emulates it)."""
        need = {SLOT_RESOURCE: 1.0, self._version_need: 0.001}
        native = ARCH_RESOURCE + architecture
        if self._cluster_resources().get(native):
            need[native] = 0.001
        return {
            "num_cpus": resources.cpu,
            "memory": int(resources.memory_gib * GIB),
            "resources": need,
            "max_retries": 0,
            "num_returns": "streaming",
            "name": "sandbench-case",
        }

    def run_case(
        self, runner: Runner, order: CaseOrder, on_created: Callable[[ScenarioRun], None]
    ) -> ScenarioRun:
        # The head's checks of the image, remembered while cases are in flight: the node
        # checks for real before it starts the sandbox.
        with image_checks_remembered(runner):
            return self._run_case(runner, order, on_created)

    def _run_case(
        self, runner: Runner, order: CaseOrder, on_created: Callable[[ScenarioRun], None]
    ) -> ScenarioRun:
        record, spec, run = runner.open_run(
            order.scenario_id,
            version=order.version,
            solution=order.solution,
            agent_command=order.agent_command,
            env=order.env,
            benchmark_run_id=order.benchmark_run_id,
            secret_env=order.secret_env,
            on_created=on_created,
            cache_key_here=False,
        )
        if runner.store.cancel_requested(run.id):
            return RemoteRunWriter(runner, run.id).cancel()
        options = self.placement(record.scenario.resources, spec.architecture.value)
        stream = self._placed(options).remote(node_order(runner.store, record, order, run.id))
        return self._follow(runner, run.id, stream)

    def _placed(self, options: dict[str, Any]) -> Any:
        """The case task with these options, made once per placement: Ray's ``options()``
        cost a third of a millisecond a case."""
        key = json.dumps(options, sort_keys=True)
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._tasks[key] = self._task.options(**options)
            return task

    def _follow(
        self, runner: Runner, run_id: str, stream: Any, *, rerun_on: str | None = None
    ) -> ScenarioRun:
        """Apply a node's stream of events to the head's run until it ends. A rerun
        (``rerun_on`` its node) that the node refuses, or that never reaches it, raises
        with the reason and leaves the run as it was."""
        writer = RemoteRunWriter(runner, run_id)
        with self._lock:
            self._refs[run_id] = stream
        try:
            for ref in stream:
                writer.apply(ray.get(ref))
                if writer.refused is not None:
                    raise InvalidInput(
                        f"cannot rerun the scorers of run {run_id}: {writer.refused}"
                    )
        except TaskCancelledError:
            return writer.cancel()
        except RayError as error:
            if runner.store.cancel_requested(run_id):
                return writer.cancel()
            if rerun_on is not None and writer.node is None:
                raise InvalidInput(
                    f"cannot rerun the scorers of run {run_id}: cluster node {rerun_on}, which"
                    f" holds its sandbox, did not take it ({type(error).__name__}); rerun the"
                    f" whole run instead (`sandbench runs rerun {run_id} --whole`)"
                ) from None
            where = f"cluster node {writer.node}" if writer.node else "the cluster"
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return writer.fail(
                f"infrastructure: {where} was lost mid-case ({type(error).__name__}: {first})"
            )
        finally:
            with self._lock:
                self._refs.pop(run_id, None)
        if writer.ended is None:
            return writer.fail("infrastructure: the node ended the case without a result")
        return writer.ended

    def rerun_scorers(self, runner: Runner, run_id: str, scorer: str | None) -> ScenarioRun:
        """Score a run again on the node that ran it, in the sandbox its case left there
        (suspended), streamed back as its attempts were; refused, naming the node, when
        that node has left or its sandbox is gone."""
        store = runner.store
        run = store.get_run(run_id, with_output=False)
        alive = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
        if run.node not in alive:
            raise InvalidInput(
                f"run {run_id} ran on cluster node {run.node}, which is no longer in the"
                f" cluster at {self.address}: the run's sandbox is on that node; rerun the"
                f" whole run instead (`sandbench runs rerun {run_id} --whole`)"
            )
        if not alive[run.node].get(self._version_need):
            refuse_other_versions(self.address, self.version, who="this head")
        record = store.get_scenario(run.scenario_id, run.scenario_version)
        detail = json.loads(store.run_extras(run_id)["solution_detail"] or "{}")
        case = CaseOrder(
            scenario_id=run.scenario_id,
            version=run.scenario_version,
            solution=run.solution,
            agent_command=detail.get("command"),
            use_cache=False,
            benchmark_run_id=run.benchmark_run_id,
            env=run.environment_variables,
            secret_env=run.secrets_provided,
        )
        order = replace(node_order(store, record, case, run_id), rerun=True, scorer=scorer)
        options = self.placement(record.scenario.resources, "")
        options["resources"] = {SLOT_RESOURCE: 1.0, self._version_need: 0.001}
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(run.node, soft=False)
        stream = self._rerun_task.options(**options).remote(order)
        return self._follow(runner, run_id, stream, rerun_on=run.node)

    def cancel(self, runner: Runner, run_id: str) -> None:
        runner.store.request_cancel(run_id)
        with self._lock:
            stream = self._refs.get(run_id)
        if stream is not None:
            ray.cancel(stream)
