"""``sandbench config show|set|path``."""

from __future__ import annotations

import argparse

from sandbench import config, paths
from sandbench.cli.output import emit_json, table
from sandbench.errors import InvalidInput


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("config", help="settings in config.toml")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="config commands", metavar="ACTION")

    p = sub.add_parser("show", help="every setting, its value and what it does")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("set", help="set KEY to VALUE (an empty VALUE restores the default)")
    p.add_argument(
        "key",
        metavar="KEY",
        help=f"one of {', '.join(config.Config.model_fields)}, keymap.BINDING_ID or warm_pool.SIZE",
    )
    p.add_argument("value", metavar="VALUE")
    p.set_defaults(handler=cmd_set)

    p = sub.add_parser("path", help="where sandbench keeps its config, data and logs")
    p.set_defaults(handler=cmd_path)


def cmd_show(args: argparse.Namespace) -> int:
    current = config.load()
    if args.json:
        emit_json(current.model_dump(mode="json"))
        return 0
    descriptions = config.describe_keys()
    rows = [
        [key, shown(value), descriptions[key]]
        for key, value in current.model_dump(mode="json").items()
    ]
    print(table(["KEY", "VALUE", "MEANING"], rows))
    return 0


def shown(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def cmd_set(args: argparse.Namespace) -> int:
    scope, _, entry = args.key.partition(".")
    if scope == "keymap" and entry:
        from sandbench.tui.keys import by_id  # the ids live with the bindings

        if entry not in by_id():
            known = ", ".join(sorted(by_id()))
            raise InvalidInput(f"no key binding has the id {entry!r} (ids: {known})")
    updated = config.set_value(args.key, args.value)
    if scope == "cluster" and entry:
        value = getattr(updated.cluster, entry)
    elif scope == "warm_pool" and entry:
        value = updated.warm_pool.get(entry, 0)
    else:
        value = updated.keymap.get(entry) if entry else getattr(updated, args.key)
    print(f"{args.key} = {shown(value)}")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    print(
        table(
            ["WHAT", "PATH"],
            [
                ["config", paths.config_path()],
                ["database", paths.database_path()],
                ["logs", paths.log_dir()],
                ["themes", paths.user_themes_dir()],
            ],
        )
    )
    return 0
