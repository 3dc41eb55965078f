"""Scenario runs: sandbox, solution, scorers, weighted total — and reruns.

States: running → scoring → scored → completed, or canceled / failed. An infrastructure
failure (sandbox gone, image missing, engine error) fails the run; it is never a score.
Scorer output is redacted of secret values and stored chunk by chunk as it streams.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable

from sandbench import secrets
from sandbench.engine import Engine
from sandbench.engine.sandboxes import process_start
from sandbench.errors import InvalidInput, NotFound, SandbenchError
from sandbench.model.runs import RunState, ScenarioRun, ScorerState, Solution, latest_attempts
from sandbench.model.sandbox import SandboxSpec, SandboxState
from sandbench.model.scenario import (
    IdleAction,
    IdleConfiguration,
    LaunchParameters,
    Scenario,
    ScoringFunction,
)
from sandbench.runner import retention, solutions
from sandbench.runner.cache import cache_key
from sandbench.runner.events import (
    EventBus,
    OutputChunk,
    RunFinished,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.runner.redaction import RedactingStream
from sandbench.scoring import ScorerContext, run_scorer
from sandbench.store import ScenarioRecord, Store

# A run's sandbox waits for reruns: suspended when idle, not shut down by a keep-alive.
RUN_SANDBOX_IDLE = IdleConfiguration(idle_time_seconds=600, on_idle=IdleAction.SUSPEND)


class RunCanceled(SandbenchError):
    exit_code = 130


class Runner:
    def __init__(self, store: Store, engine: Engine, bus: EventBus | None = None) -> None:
        self.store = store
        self.engine = engine
        self.bus = bus or EventBus()
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        # set when this process stops (the server's Ctrl-C): work cut short by it is left
        # for the next process to pick up, never recorded as a failure
        self.stopping = threading.Event()
        self._pid, self._start = os.getpid(), process_start(os.getpid())

    # ------------------------------------------------------------------ public

    def run(
        self,
        scenario_ref: str,
        *,
        solution: Solution = Solution.REFERENCE,
        agent_command: str | None = None,
        env: dict[str, str] | None = None,
        version: int | None = None,
        use_cache: bool = True,
        keep_sandbox: bool = True,
        benchmark_run_id: str | None = None,
        on_created: Callable[[ScenarioRun], None] | None = None,
        hand_over: solutions.HandOver | None = None,
        secret_env: dict[str, str] | None = None,
    ) -> ScenarioRun:
        """Run a scenario version to the end; returns the stored run (completed or not).

        ``hand_over`` gives an interactive solution the user's terminal (by default this
        process's own, which must be a terminal). ``secret_env`` maps more env vars to
        secret names (Runloop's mapping)."""
        record, spec, run = self.open_run(
            scenario_ref,
            solution=solution,
            agent_command=agent_command,
            env=env,
            version=version,
            benchmark_run_id=benchmark_run_id,
            on_created=on_created,
            secret_env=secret_env,
        )
        scenario = record.scenario
        key = run.cache_key
        cached = self.store.cached_run(key) if key and use_cache else None
        if cached is not None and not self.store.cancel_requested(run.id):
            return self._from_cache(run.id, cached)
        cancel = self._cancel_event(run.id)
        sandbox_id = None
        try:
            self._check_cancel(run.id, cancel)  # canceled in on_created: no sandbox at all
            spec = spec.model_copy(update={"scenario_run_id": run.id, "name": scenario.name})
            if keep_sandbox and spec.idle is None:
                spec = spec.model_copy(
                    update={"idle": RUN_SANDBOX_IDLE, "keep_alive_seconds": None}
                )
            self._step(
                run.id, "sandbox", f"starting a {scenario.size.value} sandbox from {spec.image}\n"
            )
            sandbox = self.engine.create(spec, detach=keep_sandbox)
            sandbox_id = sandbox.id
            self.store.update_run(run.id, sandbox_id=sandbox_id)
            self._check_cancel(run.id, cancel)
            applied = solutions.apply(
                solution,
                scenario,
                self.engine,
                sandbox_id,
                lambda stream, text: self._step(run.id, "solution", text, stream),
                agent_command=agent_command,
                hand_over=hand_over or solutions.this_terminal,
            )
            self.store.update_run(run.id, solution_detail=json.dumps(applied.detail))
            if applied.usage is not None:
                self.store.update_run(run.id, usage=applied.usage.model_dump_json())
            self._check_cancel(run.id, cancel)
            self._score(run.id, scenario, sandbox_id, scenario.scorers, cancel)
            return self._finish(run.id, RunState.COMPLETED)
        except RunCanceled:
            return self._finish(run.id, RunState.CANCELED, "canceled")
        except solutions.SolutionFailed as error:
            return self._finish(run.id, RunState.FAILED, str(error))
        except SandbenchError as error:
            if cancel.is_set() or self.store.cancel_requested(run.id):
                return self._finish(run.id, RunState.CANCELED, "canceled")
            return self._finish(run.id, RunState.FAILED, f"infrastructure: {error}")
        finally:
            with self._lock:
                self._cancel.pop(run.id, None)
            if sandbox_id is not None and not keep_sandbox:
                # the run is done once its result is stored: removal is not on its path
                self.engine.shutdown_in_background(sandbox_id)

    def open_run(
        self,
        scenario_ref: str,
        *,
        solution: Solution = Solution.REFERENCE,
        agent_command: str | None = None,
        env: dict[str, str] | None = None,
        version: int | None = None,
        benchmark_run_id: str | None = None,
        on_created: Callable[[ScenarioRun], None] | None = None,
        secret_env: dict[str, str] | None = None,
        cache_key_here: bool = True,
    ) -> tuple[ScenarioRecord, SandboxSpec, ScenarioRun]:
        """Check, then record a new run (``running``, owned by this process) and announce
        it. A run executed elsewhere (a cluster node) starts here too; its cache key is the
        node's to compute (``cache_key_here=False``), from the image the node has."""
        record, spec = self.preflight(
            scenario_ref,
            solution=solution,
            agent_command=agent_command,
            env=env,
            secret_env=secret_env,
            version=version,
        )
        scenario = record.scenario
        key = (
            cache_key(self.store, self.engine, scenario, spec, solution, agent_command)
            if cache_key_here
            else None
        )
        run = self.store.create_run(
            record.id,
            record.version,
            solution,
            benchmark_run_id=benchmark_run_id,
            name=scenario.name,
            owner_pid=self._pid,
            owner_start=self._start,
            environment_variables=dict(env) if env else None,
            secrets_provided=dict(secret_env) if secret_env else None,
        )
        if key:
            self.store.update_run(run.id, cache_key=key)
        run = run.model_copy(update={"cache_key": key})
        if on_created is not None:
            try:
                on_created(run)
            except BaseException as error:  # the caller's hook: the run must not stay "running"
                self._finish(run.id, RunState.FAILED, f"not started: on_created failed: {error}")
                raise
        self._emit_state(run.id, RunState.RUNNING)
        return record, spec, run

    def finish(
        self, run_id: str, state: RunState, reason: str | None = None, *, collect: bool = True
    ) -> ScenarioRun:
        """End a run as a run ends here: its final state and reason stored and announced
        (a cluster's head ends the runs its nodes executed this way, with ``collect``
        off: no sandbox of this host's changed, so no retention pass is due)."""
        return self._finish(run_id, state, reason, collect=collect)

    def preflight(
        self,
        scenario_ref: str,
        *,
        solution: Solution = Solution.REFERENCE,
        agent_command: str | None = None,
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        version: int | None = None,
    ) -> tuple[ScenarioRecord, SandboxSpec]:
        """Everything that can be checked before a sandbox exists, checked: the solution
        (an agent command, a reference to apply), the environment variables and secrets,
        the image or blueprint. Raises with the reason; a benchmark records it per case."""
        record = self.store.get_scenario(scenario_ref, version)
        scenario = record.scenario
        if solution == Solution.AGENT and not agent_command:
            raise InvalidInput("an agent solution needs --agent CMD")
        if solution == Solution.REFERENCE and not (scenario.reference_output or "").strip():
            raise InvalidInput(
                f"scenario {scenario.name!r} has no reference_output to apply; run it with"
                " --solution baseline (or agent), or give it a reference solution"
            )
        spec = self.engine.spec_for(scenario, env=env, secret_env=secret_env)
        return record, spec

    # ------------------------------------------------------------------ external runs

    def start_external(
        self,
        scenario_ref: str,
        *,
        run_name: str | None = None,
        metadata: dict[str, str] | None = None,
        benchmark_run_id: str | None = None,
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        launch: LaunchParameters | None = None,
        purpose: str | None = None,
    ) -> ScenarioRun:
        """Runloop's flow: a run whose sandbox a client works in, then asks to score.

        Returns at once with the run (``running``) and its sandbox (``provisioning``); the
        sandbox comes up in the background. A sandbox that cannot start fails the run."""
        record = self.store.get_scenario(scenario_ref)
        scenario = record.scenario
        if benchmark_run_id is not None:
            self.store.get_benchmark_run(benchmark_run_id)  # NotFound before anything is made
        spec = self.engine.spec_for(scenario, env=env, secret_env=secret_env, launch=launch)
        run = self.store.create_run(
            record.id,
            record.version,
            Solution.EXTERNAL,
            benchmark_run_id=benchmark_run_id,
            name=run_name or scenario.name,
            metadata=metadata,
            environment_variables=dict(env) if env else None,
            secrets_provided=dict(spec.secret_env) or None,
            purpose=purpose,
        )
        if spec.idle is None:
            spec = spec.model_copy(update={"idle": RUN_SANDBOX_IDLE, "keep_alive_seconds": None})
        spec = spec.model_copy(update={"scenario_run_id": run.id})
        try:
            sandbox = self.engine.provision(
                spec,
                detach=True,
                initiator="scenario",
                # what the devbox shows: the run profile's launch parameters, else the scenario's
                launch_parameters=(launch or scenario.launch).model_dump(
                    mode="json", exclude_none=True
                ),
            )
        except SandbenchError as error:
            self._finish(run.id, RunState.FAILED, f"infrastructure: {error}")
            raise
        self.store.update_run(run.id, sandbox_id=sandbox.id)
        self._emit_state(run.id, RunState.RUNNING)
        self._background(f"start-{run.id}", self._bring_up_external, run.id, sandbox.id)
        return self.store.get_run(run.id)

    def _bring_up_external(self, run_id: str, sandbox_id: str) -> None:
        try:
            self.engine.start(sandbox_id)
        except SandbenchError as error:
            if self.store.get_run(run_id, with_output=False).state.finished:
                return
            if self.store.cancel_requested(run_id):  # its sandbox went with the cancel
                self._finish(run_id, RunState.CANCELED, "canceled")
            else:
                self._finish(run_id, RunState.FAILED, f"infrastructure: {error}")

    def score_external(self, run_id: str) -> ScenarioRun:
        """Mark the run ``scoring`` now and score it in its sandbox in the background
        (``scored``, or ``failed`` on an infrastructure failure). Scoring a run that is
        scoring or scored already changes nothing."""
        run = self.store.get_run(run_id, with_output=False)
        if run.state in (RunState.SCORING, RunState.SCORED):
            return self.store.get_run(run.id)
        if run.state != RunState.RUNNING:
            raise InvalidInput(f"run {run.id} is {run.state.value}; only a running run scores")
        if run.sandbox_id is None:
            raise InvalidInput(f"run {run.id} has no sandbox to score in")
        scenario = self.store.get_scenario(run.scenario_id, run.scenario_version).scenario
        self.store.set_run_state(run.id, RunState.SCORING)
        self.store.update_run(run.id, owner_pid=os.getpid())  # who scores it, for recovery
        self._emit_state(run.id, RunState.SCORING)
        self._background(f"score-{run.id}", self._score_external, run.id, scenario, run.sandbox_id)
        return self.store.get_run(run.id)

    def _score_external(self, run_id: str, scenario: Scenario, sandbox_id: str) -> None:
        cancel = self._cancel_event(run_id)
        try:
            self.engine.wait_for(
                sandbox_id, {SandboxState.RUNNING, SandboxState.SUSPENDED}, timeout=600
            )
            self._score(run_id, scenario, sandbox_id, scenario.scorers, cancel)
        except RunCanceled:
            self._finish(run_id, RunState.CANCELED, "canceled")
        except SandbenchError as error:
            if self.stopping.is_set():  # left `scoring`: the next server scores it again
                return
            # a cancel shuts the sandbox down under the scorer: that is no failure
            if cancel.is_set() or self.store.cancel_requested(run_id):
                self._finish(run_id, RunState.CANCELED, "canceled")
            else:
                self._finish(run_id, RunState.FAILED, f"infrastructure: {error}")
        finally:
            with self._lock:
                self._cancel.pop(run_id, None)

    def recover_external(self) -> list[str]:
        """Client-driven runs whose scoring died with its process (a server stopped or
        killed mid-score) score again: their interrupted attempts end as errors, and the
        client, still polling for ``scored``, gets it. Returns the runs rescored."""
        rescored = []
        for run in self.store.runs_in_state(RunState.SCORING, Solution.EXTERNAL):
            owner = self.store.run_owner(run.id)
            if owner is not None and _pid_alive(owner):
                continue
            for result in run.scorer_results:
                if result.state == ScorerState.RUNNING:
                    self.store.finish_scorer(
                        result.id,
                        ScorerState.ERROR,
                        details={"reason": "interrupted: the process scoring it exited"},
                    )
            assert run.sandbox_id is not None
            scenario = self.store.get_scenario(run.scenario_id, run.scenario_version).scenario
            self.store.update_run(run.id, owner_pid=os.getpid())
            self._background(
                f"rescore-{run.id}", self._score_external, run.id, scenario, run.sandbox_id
            )
            rescored.append(run.id)
        return rescored

    def complete_external(self, run_id: str) -> ScenarioRun:
        """A scored run becomes ``completed`` (its total kept) and its sandbox goes."""
        run = self.store.get_run(run_id, with_output=False)
        if run.state == RunState.COMPLETED:
            return self.store.get_run(run.id)
        if run.state != RunState.SCORED:
            raise InvalidInput(
                f"run {run.id} is {run.state.value}; score it (and wait for 'scored') first"
            )
        finished = self._finish(run.id, RunState.COMPLETED)
        self._shutdown_quietly(run.sandbox_id)
        return finished

    def cancel_external(self, run_id: str) -> ScenarioRun:
        """Cancel a run a client drives: ``canceled`` now, its sandbox shut down."""
        run = self.store.get_run(run_id, with_output=False)
        if run.state.finished:
            return self.store.get_run(run.id)
        self.cancel(run.id)
        current = self.store.get_run(run.id, with_output=False)
        if not current.state.finished:
            return self._finish(run.id, RunState.CANCELED, "canceled")
        return self.store.get_run(run.id)

    def _shutdown_quietly(self, sandbox_id: str | None) -> None:
        if sandbox_id is not None:
            with contextlib.suppress(SandbenchError):
                self.engine.shutdown(sandbox_id)

    def _background(self, name: str, target: Callable[..., None], *args: object) -> None:
        threading.Thread(target=target, args=args, name=name, daemon=True).start()

    def rerun_scorers(self, run_id: str, scorer: str | None = None) -> ScenarioRun:
        """Score again in the run's sandbox (resumed if suspended, recreated if gone); each
        rerun is a new attempt beside the earlier ones."""
        run = self.store.get_run(run_id, with_output=False)
        if not run.state.finished and run.state != RunState.SCORED:
            raise InvalidInput(f"run {run_id} is still {run.state.value}")
        # a client's run waiting for `complete` stays scored after a rerun
        final = RunState.SCORED if run.state == RunState.SCORED else RunState.COMPLETED
        if run.cache_hit:
            raise InvalidInput(
                f"run {run_id} was a cache hit and has no sandbox; rerun the whole run"
                " (`sandbench runs rerun RUN --whole --no-cache`)"
            )
        scenario = self.store.get_scenario(run.scenario_id, run.scenario_version).scenario
        names = [f.name for f in scenario.scorers]
        if scorer is not None and scorer not in names:
            raise InvalidInput(
                f"scenario {scenario.name!r} has no scorer {scorer!r} ({', '.join(names)})"
            )
        if run.node is not None and not self._sandbox_here(run):
            from sandbench.runner.case_executors import rerun_remote

            return rerun_remote(self, run, scorer)  # its sandbox lived on that node
        functions = [f for f in scenario.scorers if scorer is None or f.name == scorer]
        if final == RunState.COMPLETED:
            # this process owns the run while it scores: the process that ran it may be
            # gone, and a recovery elsewhere would take the rerun for its leftover
            self.store.update_run(run.id, owner_pid=self._pid, owner_start=self._start)
        cancel = self._cancel_event(run.id)
        try:
            sandbox_id = self._sandbox_for_rerun(run, scenario)
            self._score(run.id, scenario, sandbox_id, functions, cancel)
            return self._finish(run.id, final)
        except RunCanceled:
            return self._finish(run.id, RunState.CANCELED, "canceled")
        except SandbenchError as error:
            return self._finish(run.id, RunState.FAILED, f"infrastructure: {error}")
        finally:
            with self._lock:
                self._cancel.pop(run.id, None)

    def rerun(
        self,
        run_id: str,
        *,
        use_cache: bool = True,
        agent_command: str | None = None,
        on_created: Callable[[ScenarioRun], None] | None = None,
        hand_over: solutions.HandOver | None = None,
    ) -> ScenarioRun:
        """A whole new run of the same scenario version with the same solution."""
        run = self.store.get_run(run_id)
        detail = json.loads(self.store.run_extras(run_id)["solution_detail"] or "{}")
        return self.run(
            run.scenario_id,
            version=run.scenario_version,
            solution=run.solution,
            agent_command=agent_command or detail.get("command"),
            use_cache=use_cache,
            on_created=on_created,
            hand_over=hand_over,
        )

    def cancel(self, run_id: str) -> None:
        """Ask a run to stop, in this process or another; its sandbox goes at once."""
        self.store.request_cancel(run_id)
        with self._lock:
            event = self._cancel.get(run_id)
        if event is not None:
            event.set()
        run = self.store.get_run(run_id, with_output=False)
        if run.sandbox_id and not run.state.finished:
            with contextlib.suppress(SandbenchError):
                self.engine.shutdown(run.sandbox_id)

    # ------------------------------------------------------------------ steps

    def _cancel_event(self, run_id: str) -> threading.Event:
        with self._lock:
            return self._cancel.setdefault(run_id, threading.Event())

    def _check_cancel(self, run_id: str, cancel: threading.Event) -> None:
        if cancel.is_set() or self.store.cancel_requested(run_id):
            raise RunCanceled(f"run {run_id} canceled")

    def _emit_state(self, run_id: str, state: RunState, detail: str = "") -> None:
        self.bus.emit(RunStateChanged(run_id, state, detail))

    def _step(self, run_id: str, step: str, text: str, stream: str = "stdout") -> None:
        self.bus.emit(StepOutput(run_id, step, stream, text))

    def _sandbox_here(self, run: ScenarioRun) -> str | None:
        """The run's sandbox, when it is in this store and alive (running or suspended)."""
        if not run.sandbox_id:
            return None
        try:
            sandbox = self.store.get_sandbox(run.sandbox_id)
        except NotFound:
            return None
        if sandbox.status in (SandboxState.RUNNING, SandboxState.SUSPENDED):
            return sandbox.id  # exec resumes a suspended one transparently
        return None

    def _sandbox_for_rerun(self, run: ScenarioRun, scenario: Scenario) -> str:
        here = self._sandbox_here(run)
        if here is not None:
            return here
        if run.solution not in (Solution.BASELINE, Solution.REFERENCE):
            raise InvalidInput(
                f"the sandbox of run {run.id} is gone and an {run.solution.value} solution"
                " cannot be replayed; rerun the whole run instead"
            )
        self._step(run.id, "sandbox", "the run's sandbox is gone: recreating it\n")
        spec = self.engine.spec_for(scenario).model_copy(
            update={"scenario_run_id": run.id, "idle": RUN_SANDBOX_IDLE, "keep_alive_seconds": None}
        )
        sandbox = self.engine.create(spec, detach=True)
        solutions.apply(
            run.solution,
            scenario,
            self.engine,
            sandbox.id,
            lambda stream, text: self._step(run.id, "solution", text, stream),
        )
        self.store.update_run(run.id, sandbox_id=sandbox.id)
        return sandbox.id

    def _score(
        self,
        run_id: str,
        scenario: Scenario,
        sandbox_id: str,
        functions: list[ScoringFunction],
        cancel: threading.Event,
    ) -> None:
        self.store.set_run_state(run_id, RunState.SCORING)
        self._emit_state(run_id, RunState.SCORING)
        # the scenario's own secrets and those the run mapped in (--secret ENV=NAME)
        spec = self.store.get_sandbox(sandbox_id).spec
        names = [
            *(scenario.required_secret_names or []),
            *(spec.secret_env if spec else {}).values(),
        ]
        secret_values = list(secrets.get_values(names).values())
        for function in functions:
            self._check_cancel(run_id, cancel)
            self._score_one(run_id, scenario, sandbox_id, function, secret_values)
        self.store.set_run_state(run_id, RunState.SCORED)
        self._emit_state(run_id, RunState.SCORED)

    def _score_one(
        self,
        run_id: str,
        scenario: Scenario,
        sandbox_id: str,
        function: ScoringFunction,
        secret_values: list[str],
    ) -> None:
        result = self.store.start_scorer(
            run_id, function.name, function.scorer.type, function.weight
        )
        self.bus.emit(
            ScorerStarted(
                run_id, result.id, result.name, result.type, result.weight, result.attempt
            )
        )
        streams = {name: RedactingStream(secret_values) for name in ("stdout", "stderr")}

        def write(stream: str, text: str) -> None:
            if text:
                self.store.append_output(result.id, stream, text)
                self.bus.emit(OutputChunk(run_id, result.id, function.name, stream, text))

        def on_output(stream: str, text: str) -> None:
            write(stream, streams[stream].feed(text))

        sandbox = self.store.get_sandbox(sandbox_id)
        workdir = sandbox.spec.working_directory if sandbox.spec else "/"
        context = ScorerContext(
            exec=lambda command, *, env=None, timeout=None, on_output=None: self.engine.exec(
                sandbox_id, command, env=env, timeout=timeout, on_output=on_output
            ),
            write_file=lambda path, text: self.engine.write_file(sandbox_id, path, text),
            workdir=workdir,
            timeout=float(scenario.timeout_sec),
            on_output=on_output,
            custom_script=lambda kind: self.store.get_custom_scorer(kind).bash_script,
        )
        try:
            outcome = run_scorer(function.scorer, context)
        except SandbenchError as error:  # infrastructure: the run fails, no score
            for name, stream in streams.items():
                write(name, stream.flush())
            finished = self.store.finish_scorer(
                result.id,
                ScorerState.ERROR,
                details={
                    "reason": "interrupted: this sandbench process stopped"
                    if self.stopping.is_set()
                    else f"infrastructure: {error}"
                },
            )
            self.bus.emit(ScorerFinished(run_id, finished))
            raise
        for name, stream in streams.items():
            write(name, stream.flush())
        finished = self.store.finish_scorer(
            result.id,
            outcome.state,
            score=outcome.score,
            exit_code=outcome.exit_code,
            details=outcome.details,
        )
        self.bus.emit(ScorerFinished(run_id, finished))

    def _from_cache(self, run_id: str, cached: ScenarioRun) -> ScenarioRun:
        self.store.update_run(run_id, cache_hit=1)
        self._step(run_id, "cache", f"unchanged since run {cached.id}: reusing its results\n")
        for result in latest_attempts(cached.scorer_results):
            copy = self.store.copy_scorer_result(run_id, result)
            self.bus.emit(ScorerFinished(run_id, copy))
        if cached.usage is not None:
            self.store.update_run(run_id, usage=cached.usage.model_dump_json())
        return self._finish(run_id, RunState.COMPLETED)

    def _finish(
        self, run_id: str, state: RunState, reason: str | None = None, *, collect: bool = True
    ) -> ScenarioRun:
        # one write: a completed run's total is computed as a scored one's (a separate
        # ``scored`` write first changed nothing a reader could see in between)
        self.store.set_run_state(run_id, state, failure_reason=reason)
        self._emit_state(run_id, state, reason or "")
        run = self.store.get_run(run_id)
        self.bus.emit(RunFinished(run_id, run))
        if collect:
            retention.collect_in_background(self.store, self.engine)  # never waits or raises
        return run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["RunCanceled", "Runner"]
