"""``sandbench images|blueprints|snapshots …`` (and ``images alias`` for offline bases)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbench import config as config_module
from sandbench.cli.output import emit_json, note, table, when
from sandbench.cli.session import engine_session
from sandbench.engine import aliases, bootstrap, images
from sandbench.engine.arch import host_arch
from sandbench.engine.service import connect
from sandbench.errors import InvalidInput
from sandbench.model.scenario import Architecture

ARCHES = [a.value for a in Architecture]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("images", help="base images")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="image commands", metavar="ACTION")
    p = sub.add_parser("bootstrap", help="build the base image offline from Debian packages")
    p.add_argument("--arch", choices=ARCHES, default=host_arch().value)
    p.set_defaults(handler=cmd_bootstrap)
    p = sub.add_parser("ensure", help="build the base image only if it is missing")
    p.add_argument("--arch", choices=ARCHES, default=host_arch().value)
    p.set_defaults(handler=cmd_ensure)
    p = sub.add_parser("list", help="sandbench's images")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_images_list)
    p = sub.add_parser(
        "alias",
        help="a local image for a base image that cannot be pulled (no arguments: list them)",
    )
    p.add_argument("ref", nargs="?", metavar="REF", help="the reference, e.g. python:3.12-slim")
    p.add_argument("local", nargs="?", metavar="LOCAL_IMAGE", help="an image in Podman's storage")
    p.add_argument("--json", action="store_true", help="machine-readable output (listing)")
    p.set_defaults(handler=cmd_alias)
    p = sub.add_parser("unalias", help="remove the alias of REF (the image stays)")
    p.add_argument("ref", metavar="REF")
    p.set_defaults(handler=cmd_unalias)

    group = commands.add_parser("blueprints", help="images built from Dockerfiles")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="blueprint commands", metavar="ACTION")
    p = sub.add_parser("build", help="build NAME from a directory or a Dockerfile")
    p.add_argument("name", metavar="NAME")
    p.add_argument("source", type=Path, metavar="DIR|DOCKERFILE")
    p.add_argument("--arch", choices=ARCHES, default=host_arch().value)
    p.set_defaults(handler=cmd_blueprint_build)
    p = sub.add_parser("list", help="blueprints")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_blueprint_list)

    group = commands.add_parser("snapshots", help="images committed from sandboxes")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="snapshot commands", metavar="ACTION")
    p = sub.add_parser("create", help="commit a sandbox's disk as snapshot NAME")
    p.add_argument("sandbox", metavar="SANDBOX")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_snapshot_create)
    p = sub.add_parser("list", help="snapshots")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_snapshot_list)


def _progress(line: str) -> None:
    note(f"  {line}")


@contextlib.contextmanager
def podman_client() -> Iterator[Any]:
    """A Podman client for one command, closed after it (no engine, no store)."""
    connection = connect(config_module.load().podman_uri)
    try:
        yield connection.client
    finally:
        connection.close()


def cmd_bootstrap(args: argparse.Namespace) -> int:
    cfg = config_module.load()
    arch = Architecture(args.arch)
    tag = images.base_image(cfg.default_image, arch)
    image_id = bootstrap.bootstrap(tag, arch, _progress)
    print(f"built {tag} ({image_id[:12]})")
    return 0


def cmd_ensure(args: argparse.Namespace) -> int:
    cfg = config_module.load()
    arch = Architecture(args.arch)
    tag = images.base_image(cfg.default_image, arch)
    with podman_client() as client:
        present = images.inspect(client, tag) is not None
    if present:
        return 0
    note(f"building the base image {tag} (once; about a minute)")
    return cmd_bootstrap(args)


def cmd_images_list(args: argparse.Namespace) -> int:
    with podman_client() as client:
        rows = images.list_images(client)
    if args.json:
        emit_json(rows)
    elif rows:
        print(
            table(
                ["TAG", "ID", "ARCH", "SIZE MB"],
                [[r["tag"], r["id"], r["arch"], r["size_mb"]] for r in rows],
            )
        )
    else:
        note("no sandbench images yet: `sandbench images bootstrap`")
    return 0


def cmd_alias(args: argparse.Namespace) -> int:
    if args.ref is not None and args.local is None:
        raise InvalidInput("images alias needs REF and LOCAL_IMAGE (neither: list the aliases)")
    with podman_client() as client:
        if args.ref is not None:
            ref = aliases.add(client, args.ref, args.local)
            print(f"{ref} -> {args.local.strip()} (used when {ref} cannot be pulled)")
            return 0
        rows = [
            {"ref": ref, "local": local, "present": aliases.present(client, local)}
            for ref, local in config_module.load().image_aliases.items()
        ]
    if args.json:
        emit_json(rows)
    elif rows:
        print(
            table(
                ["REF", "LOCAL IMAGE", "PRESENT"],
                [[r["ref"], r["local"], "yes" if r["present"] else "MISSING"] for r in rows],
            )
        )
    else:
        note("no image aliases: `sandbench images alias REF LOCAL_IMAGE`")
    return 0


def cmd_unalias(args: argparse.Namespace) -> int:
    ref = aliases.remove(args.ref)
    print(f"removed the alias of {ref}")
    return 0


def cmd_blueprint_build(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, engine):
        blueprint = images.build_blueprint(
            engine.connection.uri,
            store,
            args.name,
            args.source,
            _progress,
            arch=Architecture(args.arch),
            client=engine.client,
            aliases=engine.config.image_aliases,
        )
    print(f"built blueprint {blueprint.name} ({blueprint.id}) as {blueprint.image}")
    return 0


def cmd_blueprint_list(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, _engine):
        found = store.list_blueprints()
    if args.json:
        emit_json([b.model_dump(mode="json") for b in found])
    elif found:
        print(
            table(
                ["ID", "NAME", "STATUS", "IMAGE", "BUILT"],
                [[b.id, b.name, b.status, b.image, when(b.create_time_ms)] for b in found],
            )
        )
    else:
        note("no blueprints yet: `sandbench blueprints build NAME DIR`")
    return 0


def cmd_snapshot_create(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (_store, engine):
        snapshot = engine.snapshot(args.sandbox, args.name, _progress)
    print(f"created snapshot {snapshot.name} ({snapshot.id}) as {snapshot.image}")
    return 0


def cmd_snapshot_list(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, _engine):
        found = store.list_snapshots()
    if args.json:
        emit_json([s.model_dump(mode="json") for s in found])
    elif found:
        print(
            table(
                ["ID", "NAME", "IMAGE", "FROM", "CREATED"],
                [
                    [s.id, s.name, s.image, s.source_sandbox_id, when(s.create_time_ms)]
                    for s in found
                ],
            )
        )
    else:
        note("no snapshots yet: `sandbench snapshots create SANDBOX NAME`")
    return 0
