"""``sandbench pool status``: the warm sandboxes kept ready, seen from any process.

A pool belongs to the long-lived process that keeps it (the workbench, ``serve``); this
reads its containers' labels, so it answers from another terminal too."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from sandbench import config as config_module
from sandbench import paths
from sandbench.cli.output import emit_json, table
from sandbench.engine.pool import pool_report
from sandbench.engine.service import connect
from sandbench.store import open_store


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("pool", help="the warm sandbox pool")
    sub = p.add_subparsers(title="pool commands", metavar="COMMAND", required=True)
    status = sub.add_parser("status", help="configured sizes and the warm sandboxes now")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)


def pool_status() -> dict[str, Any]:
    """What the config asks for, each size's warm sandboxes, and the warm sandboxes of this
    workspace by owner (the same report the workbench shows)."""
    cfg = config_module.load()
    connection = connect(cfg.podman_uri)
    try:
        with open_store() as store:
            report = pool_report(
                connection.client, paths.home_label(), cfg.warm_pool, cfg.default_image, store
            )
    finally:
        connection.close()
    return {
        "configured": report.configured,
        "sizes": [asdict(row) for row in report.rows],
        "warm": report.warm,
    }


def summary(status: dict[str, Any]) -> str:
    """One line for `doctor`."""
    sizes = ", ".join(f"{n} x{c}" for n, c in status["configured"].items() if c) or "none"
    unclaimed = [w for w in status["warm"] if not w["claimed"]]
    owners = sorted({w["owner_pid"] for w in unclaimed if w["owner_alive"]})
    stale = sum(1 for w in unclaimed if not w["owner_alive"])
    text = f"configured {sizes} (kept by the workbench and `serve`); {len(unclaimed)} warm"
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
    if status["sizes"]:
        rows = [
            [
                row["preset"] or row["name"] or "-",
                row["image"] or "-",
                row["architecture"] or "-",
                row["size"],
                row["ready"],
                row["key"] or row["last_error"] or "-",
            ]
            for row in status["sizes"]
        ]
        print(table(["SIZE", "IMAGE", "ARCH", "WANTED", "WARM", "KEY"], rows))
    if status["warm"]:
        rows = [
            [
                w["sandbox"],
                w["key"],
                w["owner_pid"] or "",
                "yes" if w["owner_alive"] else "no",
                "yes" if w["claimed"] else "no",
            ]
            for w in status["warm"]
        ]
        print(table(["SANDBOX", "KEY", "OWNER", "ALIVE", "CLAIMED"], rows))
    return 0
