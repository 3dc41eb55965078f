"""``sandbench scorers register|list``: the local registry of custom scorers.

A custom scorer is a bash script registered under a ``custom_scorer_type`` name; a
scenario's ``custom_scorer`` runs it, with its ``scorer_params`` as JSON in
``RL_SCORER_CONTEXT``, and reads the score from its last stdout line.
"""

from __future__ import annotations

import argparse
import sys

from sandbench.cli.output import emit_json, note, table, when
from sandbench.errors import InvalidInput, NotFound
from sandbench.model.custom_scorer import CUSTOM_SCORER_TYPE_RE
from sandbench.store import open_store


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("scorers", help="custom scorers (bash scripts by type name)")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="scorer commands", metavar="ACTION")
    p = sub.add_parser(
        "register",
        help="register (or replace) the bash script for a custom_scorer_type",
        description="Register the bash script a scenario's custom_scorer runs for TYPE."
        " It gets scorer_params as JSON in $RL_SCORER_CONTEXT and prints score=X (0..1)"
        " as its last stdout line. Registering an existing TYPE replaces its script.",
    )
    p.add_argument("type", metavar="TYPE", help="letters, digits, '.', '_', '-'")
    p.add_argument(
        "--script", metavar="FILE", required=True, help="the bash script ('-' reads stdin)"
    )
    p.set_defaults(handler=cmd_register)
    p = sub.add_parser("list", help="registered custom scorers")
    p.add_argument("--json", action="store_true", help="machine-readable output (with scripts)")
    p.set_defaults(handler=cmd_list)


def _read_script(source: str) -> str:
    if source == "-":
        text = sys.stdin.read()
        where = "standard input"
    else:
        where = source
        try:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise InvalidInput(f"--script {source}: no such file") from None
        except IsADirectoryError:
            raise InvalidInput(f"--script {source}: is a directory, not a script") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"--script {source}: not UTF-8 text") from None
        except OSError as error:
            raise InvalidInput(f"--script {source}: {error.strerror or error}") from None
    if not text.strip():
        raise InvalidInput(f"--script {where} is empty; a custom scorer needs a bash script")
    return text


def cmd_register(args: argparse.Namespace) -> int:
    if not CUSTOM_SCORER_TYPE_RE.match(args.type):
        raise InvalidInput(
            f"custom scorer type {args.type!r} may only contain letters, digits, '.', '_', '-'"
        )
    script = _read_script(args.script)
    with open_store() as store:
        try:
            store.get_custom_scorer(args.type)
            existed = True
        except NotFound:
            existed = False
        definition = store.register_custom_scorer(args.type, script)
    verb = "replaced" if existed else "registered"
    print(f"{verb} custom scorer {definition.type} ({definition.id})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        scorers = store.list_custom_scorers()
    if args.json:
        emit_json([s.model_dump() for s in scorers])
    elif scorers:
        print(
            table(
                ["TYPE", "ID", "UPDATED"],
                [[s.type, s.id, when(s.update_time_ms)] for s in scorers],
            )
        )
    else:
        note("no custom scorers yet: `sandbench scorers register TYPE --script FILE`")
    return 0
