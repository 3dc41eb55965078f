"""``sandbench benchmarks …``: named sets of scenarios."""

from __future__ import annotations

import argparse

from sandbench.cli.output import emit_json, note, table, when
from sandbench.model.benchmark import Benchmark
from sandbench.store import DEFAULT_LIMIT, open_store


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("benchmarks", help="benchmarks: named sets of scenarios")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="benchmark commands", metavar="ACTION")

    p = sub.add_parser("create", help="create a benchmark from scenarios")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--scenario",
        "-s",
        dest="scenarios",
        action="append",
        required=True,
        metavar="ID|NAME",
        help="a scenario to include (repeat for more)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_create)

    p = sub.add_parser("list", help="list benchmarks")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="page size (default 20)")
    p.add_argument("--starting-after", metavar="ID", help="the page after this benchmark id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="show a benchmark and its scenarios")
    p.add_argument("ref", metavar="ID|NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_show)


def _dump(benchmark: Benchmark) -> dict:
    return benchmark.model_dump(mode="json")


def cmd_create(args: argparse.Namespace) -> int:
    with open_store() as store:
        benchmark = store.create_benchmark(args.name, args.scenarios)
    if args.json:
        emit_json(_dump(benchmark))
    else:
        print(
            f"created  {benchmark.id}  {benchmark.name}  ({len(benchmark.scenario_ids)} scenarios)"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        page = store.list_benchmarks(limit=args.limit, starting_after=args.starting_after)
    if args.json:
        emit_json(
            {
                "benchmarks": [_dump(b) for b in page.items],
                "has_more": page.has_more,
                "total_count": page.total_count,
                "remaining_count": page.remaining_count,
            }
        )
        return 0
    if not page.items:
        note("no benchmarks yet: `sandbench benchmarks create NAME --scenario ID|NAME …`")
        return 0
    print(
        table(
            ["ID", "NAME", "SCENARIOS", "CREATED"],
            [[b.id, b.name, len(b.scenario_ids), when(b.create_time_ms)] for b in page.items],
        )
    )
    if page.has_more:
        note(f"{page.remaining_count} more: --starting-after {page.last_id}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        benchmark = store.get_benchmark(args.ref)
        records = [store.get_scenario(i) for i in benchmark.scenario_ids]
    if args.json:
        emit_json(_dump(benchmark))
        return 0
    print(f"{benchmark.name}  ({benchmark.id}, created {when(benchmark.create_time_ms)})")
    print(table(["ID", "NAME", "VER"], [[r.id, r.name, r.version] for r in records]))
    return 0
