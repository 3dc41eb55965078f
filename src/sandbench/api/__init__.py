"""`sandbench serve`: Runloop's HTTP API over sandbench's core (adapter only).

One router module per resource under ``routers/``; every route is a thin adapter over the
store, the engine and the runner, which run in worker threads, never on the event loop.
"""

from sandbench.api.app import create_app
from sandbench.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
