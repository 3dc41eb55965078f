"""Typed messages: how thread workers and the runner's events reach the event loop.

``post_message`` is thread-safe, so workers post these and never touch widgets.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Protocol, runtime_checkable

from textual.message import Message
from textual.message_pump import MessagePump

from sandbench.model.runs import ScenarioRun
from sandbench.runner.events import RUN_EVENTS, Event, OutputChunk, RunEvent
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


PENDING_OUTPUT_MAX = 2 * 1024 * 1024  # characters of output waiting for the screen
DROPPED = "dropped"  # the stream of a note standing for output that was not drawn


class EventBridge:
    """Hands runner events (emitted on worker threads) to the app's loop in batches.

    One ``RunEventsPending`` is posted for however many events arrive before the app gets
    to it, so a scorer printing thousands of lines a second costs one message per frame,
    not one per chunk; order is kept. Output that piles up faster than the screen draws
    it is bounded: past ``PENDING_OUTPUT_MAX`` the oldest waiting output is dropped (the
    panes keep only a tail anyway, and the store has every line), and a note says so.
    """

    def __init__(self, target: MessagePump, max_output: int = PENDING_OUTPUT_MAX) -> None:
        self._target = target
        self._pending: deque[RunEvent] = deque()
        self._output = 0  # characters of output in _pending
        self._dropped: dict[str, int] = {}  # result id -> lines dropped from _pending
        self._max_output = max_output
        self._posted = False
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RUN_EVENTS):
            return  # sandboxes and executions are polled from the store; cases end with runs
        with self._lock:
            self._pending.append(event)
            if isinstance(event, OutputChunk):
                self._output += len(event.text)
                if self._output > self._max_output:
                    self._shed()
            if self._posted:
                return
            self._posted = True
        self._target.post_message(RunEventsPending())

    def _shed(self) -> None:
        """Drop the oldest waiting output until half the bound is left; every other event
        stays in order, and one note stands where each scorer attempt's lines went."""
        out: list[RunEvent | str] = []  # a str: the result id whose note goes there
        firsts: dict[str, OutputChunk] = {}
        while self._pending and self._output > self._max_output // 2:
            event = self._pending.popleft()
            if not isinstance(event, OutputChunk):
                out.append(event)
                continue
            self._output -= len(event.text)
            if event.result_id not in firsts:
                firsts[event.result_id] = event
                out.append(event.result_id)
            if event.stream != DROPPED:  # an earlier note's lines are already counted
                lines = self._dropped.get(event.result_id, 0) + event.text.count("\n")
                self._dropped[event.result_id] = lines
        kept: list[RunEvent] = []
        for item in out:
            if not isinstance(item, str):
                kept.append(item)
                continue
            text = (
                f"[sandbench] {self._dropped[item]:,} lines not drawn: printed faster than"
                " the screen draws them (all are stored)\n"
            )
            kept.append(replace(firsts[item], stream=DROPPED, text=text))
            self._output += len(text)
        self._pending.extendleft(reversed(kept))

    def drain(self) -> list[RunEvent]:
        with self._lock:
            events, self._pending = list(self._pending), deque()
            self._output = 0
            self._dropped.clear()
            self._posted = False
        return events


@contextmanager
def reporting(target: MessagePump, action: str) -> Iterator[None]:
    """In a thread worker: any failure becomes a ``WorkFailed`` message, never a crash."""
    try:
        yield
    except Exception as error:  # SandbenchError, sqlite3.Error, OSError, or a bug
        target.post_message(WorkFailed(action, error))
