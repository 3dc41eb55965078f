"""``sandbench secrets set|list|rm``: values are read from stdin and never printed."""

from __future__ import annotations

import argparse
import sys

from sandbench import secrets
from sandbench.cli.output import emit_json, note


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("secrets", help="secret values for scenarios (kept 0600)")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="secret commands", metavar="ACTION")
    p = sub.add_parser("set", help="store NAME, its value read from standard input")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_set)
    p = sub.add_parser("list", help="secret names (never values)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("rm", help="forget a secret")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_rm)


def cmd_set(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        note(f"value for {args.name} (end with Ctrl-D):")
    value = sys.stdin.read().rstrip("\n")
    secrets.set_secret(args.name, value)
    print(f"stored secret {args.name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    names = secrets.names()
    if args.json:
        emit_json(names)
    elif names:
        print("\n".join(names))
    else:
        note("no secrets yet: `printf %s VALUE | sandbench secrets set NAME`")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if not secrets.delete_secret(args.name):
        note(f"no secret named {args.name}")
        return 1
    print(f"removed secret {args.name}")
    return 0
