"""`sandbench serve`: a local Runloop (its HTTP API over local sandboxes)."""

from __future__ import annotations

import argparse
from typing import Any

from sandbench.errors import InvalidInput


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="answer Runloop's HTTP API on this machine (the SDKs and Harbor drive it)",
        description="Serve Runloop's HTTP API over local Podman sandboxes. Point a client at"
        " it with RUNLOOP_BASE_URL and RUNLOOP_API_KEY (both printed at start).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8377, help="port (default 8377)")
    parser.add_argument(
        "--token",
        help="API token clients must send (default: $SANDBENCH_API_TOKEN, else the one kept"
        " in the config directory, made on first start)",
    )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, got {args.port}")
    try:
        from sandbench.api.server import run  # FastAPI and Hypercorn only when serving
    except ImportError as error:
        raise InvalidInput(
            f"`sandbench serve` needs the server extra ({error.name} is missing):"
            " pip install 'sandbench[server]'"
        ) from None
    return run(args.host, args.port, args.token)
