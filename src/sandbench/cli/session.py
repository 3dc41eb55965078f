"""Open the store and the engine for one CLI command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sandbench.engine import Engine
from sandbench.store import Store, open_store


@contextlib.contextmanager
def engine_session(*, recover: bool = True) -> Iterator[tuple[Store, Engine]]:
    with open_store() as store, Engine(store, recover=recover, monitor=False) as engine:
        yield store, engine
