"""Serve the API with Hypercorn: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one
port, so the Python SDK and Harbor (HTTP/1.1) and the TypeScript SDK (h2c) all connect.

Ctrl-C or SIGTERM stops cleanly: requests in flight get a grace period, devboxes stay
(each has its own watcher enforcing its idle policy), and the store stays consistent, so
a restarted server serves the same devboxes, runs and objects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import sys
from collections.abc import Callable

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from sandbench.api.app import create_app
from sandbench.api.auth import load_token
from sandbench.api.context import ApiContext
from sandbench.engine import Engine
from sandbench.store import open_store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8377
GRACE_S = 10.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    *,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> int:
    token, source = load_token(token)
    store = open_store()
    engine = Engine(store)
    engine.connection  # noqa: B018 (connect now: a missing Podman is reported at start)
    engine.keep_warm = True  # the config's warm pool, from the first devbox on
    ctx = ApiContext(store, engine, token)
    app = create_app(ctx)
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = GRACE_S
    config.accesslog = None
    config.errorlog = "-"
    config.keep_alive_timeout = 75
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if not is_loopback(host):
        warn(
            f"sandbench serve: warning: listening on {host}, not loopback: anyone who can reach"
            " this port and knows the token controls your sandboxes; the token is the only"
            " protection (no TLS)"
        )

    def announce() -> None:
        say(f"sandbench serve: Runloop's API on {url} (HTTP/1.1 and HTTP/2), store {store.path}")
        say(f"  token ({source}): {token}")
        say(f"  export RUNLOOP_BASE_URL={url} RUNLOOP_API_KEY={token}")
        sys.stdout.flush()

    try:
        asyncio.run(_serve(app, config, announce))
    finally:
        ctx.close()
        engine.close()  # devboxes are detached: they stay
        store.close()
    say("sandbench serve: stopped; devboxes keep running under their idle policies")
    return 0


async def _serve(app: object, config: HypercornConfig, announce: Callable[[], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    announce()  # only now: a Ctrl-C or SIGTERM from here on stops cleanly
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
