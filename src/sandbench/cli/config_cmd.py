"""``sandbench config show|set|path``."""

from __future__ import annotations

import argparse

from sandbench import config, paths
from sandbench.cli.output import emit_json, table


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("config", help="settings in config.toml")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="config commands", metavar="ACTION")

    p = sub.add_parser("show", help="every setting, its value and what it does")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("set", help="set KEY to VALUE (an empty VALUE restores the default)")
    p.add_argument("key", metavar="KEY", choices=list(config.Config.model_fields))
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
        [key, "-" if value is None else value, descriptions[key]]
        for key, value in current.model_dump(mode="json").items()
    ]
    print(table(["KEY", "VALUE", "MEANING"], rows))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    updated = config.set_value(args.key, args.value)
    value = getattr(updated, args.key)
    print(f"{args.key} = {'-' if value is None else value}")
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
