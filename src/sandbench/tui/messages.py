"""Typed messages: how thread workers and the runner's events reach the event loop.

``post_message`` is thread-safe, so workers post these and never touch widgets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Protocol, runtime_checkable

from textual.message import Message
from textual.message_pump import MessagePump

from sandbench.model.runs import ScenarioRun
from sandbench.runner.events import OutputChunk, RunEvent
from sandbench.tui.workbench import RunDetail


@runtime_checkable
class ShowsRuns(Protocol):
    """A screen that shows runs live (a run, a check's two): the app hands it their events."""

    def shows_run(self, run_id: str) -> bool: ...


def merge_chunks(events: list[RunEvent]) -> list[RunEvent]:
    """Consecutive output chunks of one scorer attempt as one chunk: one write to a log
    for a burst of output, not one per chunk; order is kept."""

    def key(event: RunEvent) -> object:
        return (event.result_id, event.stream) if isinstance(event, OutputChunk) else id(event)

    merged: list[RunEvent] = []
    for _, group in groupby(events, key=key):
        batch = list(group)
        first = batch[0]
        if isinstance(first, OutputChunk) and len(batch) > 1:
            merged.append(replace(first, text="".join(e.text for e in batch)))  # type: ignore[union-attr]
        else:
            merged.extend(batch)
    return merged


class RunEventsPending(Message):
    """The runner emitted events; the app drains them from the bridge."""


@dataclass
class RunEvents(Message):
    """A run's events, in order, for a screen that shows it."""

    run_id: str
    events: list[RunEvent]


@dataclass
class RunCreated(Message):
    """A run started from this app exists: open its screen before its events arrive."""

    detail: RunDetail


@dataclass
class RunStarted(Message):
    """A run started from this app that a screen of its own follows (a check's): tracked
    like any run (quit asks, lists update), not opened in a run screen."""

    detail: RunDetail


@dataclass
class RunUpdated(Message):
    """A run started or ended: lists showing it update their row."""

    run: ScenarioRun


@dataclass
class RunWorkEnded(Message):
    """A worker that reran (part of) a run returned, whatever the outcome."""

    run_id: str


@dataclass
class WorkFailed(Message):
    """Work in a thread failed; the app shows it as a notification."""

    action: str
    error: BaseException


class EventBridge:
    """Hands runner events (emitted on worker threads) to the app's loop in batches.

    One ``RunEventsPending`` is posted for however many events arrive before the app gets
    to it, so a scorer printing thousands of lines a second costs one message per frame,
    not one per chunk; order is kept.
    """

    def __init__(self, target: MessagePump) -> None:
        self._target = target
        self._pending: list[RunEvent] = []
        self._posted = False
        self._lock = threading.Lock()

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self._pending.append(event)
            if self._posted:
                return
            self._posted = True
        self._target.post_message(RunEventsPending())

    def drain(self) -> list[RunEvent]:
        with self._lock:
            events, self._pending = self._pending, []
            self._posted = False
        return events


@contextmanager
def reporting(target: MessagePump, action: str) -> Iterator[None]:
    """In a thread worker: any failure becomes a ``WorkFailed`` message, never a crash."""
    try:
        yield
    except Exception as error:  # SandbenchError, sqlite3.Error, OSError, or a bug
        target.post_message(WorkFailed(action, error))
