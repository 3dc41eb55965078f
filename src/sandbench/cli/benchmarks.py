"""``sandbench benchmarks …``: named sets of scenarios."""

from __future__ import annotations

import argparse

from sandbench.cli.output import emit_json, note, table, when
from sandbench.model.benchmark import Benchmark
from sandbench.model.runs import Solution
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

    p = sub.add_parser("run", help="run every scenario of a benchmark, several at once")
    p.add_argument("ref", metavar="ID|NAME")
    p.add_argument(
        "-j", "--jobs", type=int, default=None, help="runs at once (config: concurrency)"
    )
    p.add_argument("--solution", choices=[s.value for s in Solution], default=None)
    p.add_argument("--agent", metavar="CMD", help="a command on the host that solves each one")
    p.add_argument("--filter", metavar="NAMES", help="comma-separated scenario names to run")
    p.add_argument("--no-cache", action="store_true", help="ignore the result cache")
    p.add_argument("--json", action="store_true", help="print the benchmark run as JSON")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("runs", help="runs of a benchmark, newest first")
    p.add_argument("ref", nargs="?", metavar="ID|NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_runs)

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


def cmd_run(args: argparse.Namespace) -> int:
    from sandbench import config
    from sandbench.cli.runs import runner_session
    from sandbench.runner.benchmark_runs import BenchmarkRunner
    from sandbench.runner.events import RunFinished

    jobs = args.jobs or config.load().concurrency
    solution = (
        Solution(args.solution)
        if args.solution
        else (Solution.AGENT if args.agent else Solution.REFERENCE)
    )
    names = [n.strip() for n in args.filter.split(",") if n.strip()] if args.filter else None
    with runner_session() as (_store, runner):
        bench = BenchmarkRunner(runner)
        if not args.json:

            def done(event: object) -> None:
                if isinstance(event, RunFinished):
                    r = event.run
                    score = "-" if r.score is None else f"{r.score:.3f}"
                    hit = "  [cache hit]" if r.cache_hit else ""
                    note(f"  {r.state.value:<9} {score:>6}  {r.name}{hit}")

            runner.bus.subscribe(done)
        result = bench.run(
            args.ref,
            jobs=jobs,
            solution=solution,
            agent_command=args.agent,
            case_filter=names,
            use_cache=not args.no_cache,
        )
    if args.json:
        emit_json(result.model_dump(mode="json"))
    else:
        score = "-" if result.score is None else f"{result.score:.3f}"
        breakdown = ", ".join(f"{k} {v}" for k, v in sorted(result.status_breakdown.items()))
        print(
            f"{result.id}  {result.state.value}  score {score}  ok {result.ok_cases}/"
            f"{result.total_cases}  cache hits {result.cache_hit_cases}  "
            f"{(result.duration_ms or 0) / 1000:.1f}s  ({breakdown})"
        )
    return {"completed": 0, "canceled": 130}.get(result.state.value, 1)


def cmd_runs(args: argparse.Namespace) -> int:
    with open_store() as store:
        runs = store.list_benchmark_runs(args.ref)
    if args.json:
        emit_json([r.model_dump(mode="json") for r in runs])
        return 0
    if not runs:
        note("no benchmark runs yet: `sandbench benchmarks run NAME`")
        return 0
    print(
        table(
            ["RUN", "NAME", "STATE", "SCORE", "OK", "CACHE HITS", "STARTED"],
            [
                [
                    r.id,
                    r.name,
                    r.state.value,
                    "-" if r.score is None else f"{r.score:.3f}",
                    f"{r.ok_cases}/{r.total_cases}",
                    r.cache_hit_cases,
                    when(r.start_time_ms),
                ]
                for r in runs
            ],
        )
    )
    return 0
