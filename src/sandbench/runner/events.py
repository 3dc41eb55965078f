"""Typed events a run emits. The store writer, the CLI and the TUI subscribe to them.

Events are emitted from the runner's worker thread; a UI subscriber hands them to its
own loop (Textual: ``App.call_from_thread`` / ``post_message``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sandbench.model.benchmark import BenchmarkCase
from sandbench.model.runs import RunState, ScenarioRun, ScorerResult


@dataclass(frozen=True)
class RunStateChanged:
    run_id: str
    state: RunState
    detail: str = ""


@dataclass(frozen=True)
class StepOutput:
    """Output of a step that is not a scorer: preparing the sandbox, applying the solution."""

    run_id: str
    step: str
    stream: str
    text: str


@dataclass(frozen=True)
class ScorerStarted:
    run_id: str
    result_id: str
    name: str
    type: str
    weight: float
    attempt: int


@dataclass(frozen=True)
class OutputChunk:
    run_id: str
    result_id: str
    scorer: str
    stream: str
    text: str


@dataclass(frozen=True)
class ScorerFinished:
    run_id: str
    result: ScorerResult


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    run: ScenarioRun


@dataclass(frozen=True)
class SandboxChanged:
    """A sandbox moved to another state (in this process)."""

    sandbox_id: str
    status: str


@dataclass(frozen=True)
class ExecutionChanged:
    """An execution started, printed something or ended (in this process)."""

    execution_id: str
    sandbox_id: str


@dataclass(frozen=True)
class CaseFinished:
    """A benchmark case ended (done, failed, not started, canceled), with its reason."""

    benchmark_run_id: str
    case: BenchmarkCase


RunEvent = RunStateChanged | StepOutput | ScorerStarted | OutputChunk | ScorerFinished | RunFinished
RUN_EVENTS = (RunStateChanged, StepOutput, ScorerStarted, OutputChunk, ScorerFinished, RunFinished)
# events about other work than one run: sandboxes, executions, benchmark cases
Event = RunEvent | SandboxChanged | ExecutionChanged | CaseFinished
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)
