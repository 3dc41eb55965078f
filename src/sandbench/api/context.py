"""What every route needs: the core objects, the token, and the waiting machinery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from sandbench.engine import Engine
from sandbench.runner import EventBus, Runner
from sandbench.runner.blueprint_builds import BlueprintBuilds
from sandbench.runner.devboxes import Devboxes
from sandbench.runner.executions import Executions
from sandbench.runner.reconcile import reconcile
from sandbench.runner.snapshots import Snapshots
from sandbench.store import Store

T = TypeVar("T")


class Changes:
    """Wakes long-polls and event streams when the core reports a change in this process;
    they re-read the store at least every ``POLL_S`` for changes made by other processes."""

    POLL_S = 0.25

    def __init__(self, bus: EventBus) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._unsubscribe = bus.subscribe(lambda _event: self._poke())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until something changes, or ``min(timeout, POLL_S)`` has passed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, min(timeout, self.POLL_S))
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    def close(self) -> None:
        self._unsubscribe()


@dataclass
class ApiContext:
    store: Store
    engine: Engine
    token: str
    bus: EventBus = field(default_factory=EventBus)
    runner: Runner = field(init=False)
    executions: Executions = field(init=False)
    builds: BlueprintBuilds = field(init=False)
    devboxes: Devboxes = field(init=False)
    snapshots: Snapshots = field(init=False)
    changes: Changes = field(init=False)
    _key_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runner = Runner(self.store, self.engine, self.bus)
        self.executions = Executions(self.store, self.engine, self.bus)
        self.builds = BlueprintBuilds(self.store, self.engine)
        self.devboxes = Devboxes(self.store, self.engine)
        self.snapshots = Snapshots(self.store, self.engine)
        self.changes = Changes(self.bus)
        reconcile(self.store)  # what a dead process left unfinished is ended, not shown running
        self.runner.recover_external()  # scoring a stopped server was doing starts again

    def key_lock(self, scope: str, key: str) -> asyncio.Lock:
        return self._key_locks.setdefault((scope, key), asyncio.Lock())

    async def hold(self, check: Callable[[], T | None], timeout: float) -> T | None:
        """Re-check (in a worker thread) until it answers, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            found = await run_in_threadpool(check)
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self.changes.wait(remaining)

    def close(self) -> None:
        """Before the engine goes: what it cuts short is left to the next start."""
        self.runner.stopping.set()
        self.changes.close()
        self.executions.close()


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking core call (SQLite, Podman) on the worker pool."""
    return await run_in_threadpool(function, *args, **kwargs)
