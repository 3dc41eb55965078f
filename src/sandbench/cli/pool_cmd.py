"""``sandbench pool status``: the warm sandboxes kept ready, seen from any process.

A pool belongs to the long-lived process that keeps it (the workbench, ``serve``); this
reads its containers' labels, so it answers from another terminal too."""

from __future__ import annotations

import argparse
from typing import Any

from sandbench import config as config_module
from sandbench import paths
from sandbench.cli.output import emit_json, table
from sandbench.engine.pool import LABEL_OWNER_START, LABEL_POOL, warm_containers
from sandbench.engine.sandboxes import LABEL_OWNER, LABEL_SANDBOX, _alive
from sandbench.engine.service import connect


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("pool", help="the warm sandbox pool")
    sub = p.add_subparsers(title="pool commands", metavar="COMMAND", required=True)
    status = sub.add_parser("status", help="configured sizes and the warm sandboxes now")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)


def pool_status() -> dict[str, Any]:
    """What the config asks for, and the warm sandboxes of this workspace by owner."""
    cfg = config_module.load()
    connection = connect(cfg.podman_uri)
    try:
        found = warm_containers(connection.client, paths.home_label())
    finally:
        connection.close()
    warm = []
    for labels in found:
        owner = labels.get(LABEL_OWNER, "")
        alive = owner.isdigit() and _alive(int(owner), labels.get(LABEL_OWNER_START))
        warm.append(
            {
                "sandbox": labels.get(LABEL_SANDBOX, ""),
                "key": labels.get(LABEL_POOL, ""),
                "owner_pid": int(owner) if owner.isdigit() else None,
                "owner_alive": alive,
                "state": labels.get("state", ""),
            }
        )
    return {"configured": dict(cfg.warm_pool), "warm": warm}


def summary(status: dict[str, Any]) -> str:
    """One line for `doctor`."""
    sizes = ", ".join(f"{n} x{c}" for n, c in status["configured"].items() if c) or "none"
    owners = sorted({w["owner_pid"] for w in status["warm"] if w["owner_alive"]})
    stale = sum(1 for w in status["warm"] if not w["owner_alive"])
    text = f"configured {sizes} (kept by the workbench and `serve`); {len(status['warm'])} warm"
    if owners:
        text += f" (owned by pid {', '.join(map(str, owners))})"
    if stale:
        text += f", {stale} of a dead process (the next start-up reaps them)"
    return text


def cmd_status(args: argparse.Namespace) -> int:
    status = pool_status()
    if args.json:
        emit_json(status)
        return 0
    print(summary(status))
    if status["warm"]:
        rows = [
            [w["sandbox"], w["key"], w["owner_pid"] or "", "yes" if w["owner_alive"] else "no"]
            for w in status["warm"]
        ]
        print(table(["SANDBOX", "KEY", "OWNER", "ALIVE"], rows))
    return 0
