"""``sandbench benchmarks …``: named sets of scenarios."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbench.cli.output import emit_json, note, parse_env, table, when
from sandbench.cli.session import acting_store
from sandbench.model.benchmark import Benchmark, BenchmarkRun, BenchmarkRunState, CaseState
from sandbench.model.runs import Solution
from sandbench.store import DEFAULT_LIMIT, open_store

if TYPE_CHECKING:  # the runner (and Podman's client) load only for commands that run
    from sandbench.runner.benchmark_runs import BenchmarkRunner


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
    p.add_argument(
        "--repeats", type=int, default=1, metavar="K", help="run every case K times (pass@k)"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="N",
        help="rerun a case after an infrastructure failure, N times at most (config: retries)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for every case (repeat for more)",
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="ENV_NAME=SECRET_NAME",
        help="give every case the stored secret SECRET_NAME as $ENV_NAME (repeat for more)",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="run the cases on a Ray cluster's nodes (auto, HOST:PORT or ray://HOST:10001;"
        " config: cluster.address; 'local' runs here)",
    )
    p.add_argument("--json", action="store_true", help="print the benchmark run as JSON")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "resume", help="finish an interrupted or canceled benchmark run, under the same id"
    )
    p.add_argument("run_id", metavar="BENCHMARK_RUN_ID")
    p.add_argument("-j", "--jobs", type=int, default=None, help="runs at once (default: as before)")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="the Ray cluster to finish on (default: the one it ran on; 'local' runs here)",
    )
    p.add_argument("--json", action="store_true", help="print the benchmark run as JSON")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("compare", help="compare two benchmark runs per scenario, regressions first")
    p.add_argument("run_a", metavar="RUN_A", help="the baseline benchmark run")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with it (delta = B - A)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_compare)

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

    settings = config.load()
    jobs = args.jobs or settings.concurrency
    solution = (
        Solution(args.solution)
        if args.solution
        else (Solution.AGENT if args.agent else Solution.REFERENCE)
    )
    names = [n.strip() for n in args.filter.split(",") if n.strip()] if args.filter else None
    env = parse_env(args.env)
    secret_env = parse_env(args.secret, "--secret", "ENV_NAME=SECRET_NAME")
    retries = settings.retries if args.retries is None else args.retries
    cluster = _cluster_address(args.cluster, settings.cluster.address)
    return _drive(
        args.json,
        cluster,
        lambda bench: bench.run(
            args.ref,
            jobs=jobs,
            solution=solution,
            agent_command=args.agent,
            case_filter=names,
            use_cache=not args.no_cache,
            repeats=args.repeats,
            retries=retries,
            env=env,
            secret_env=secret_env,
            cluster=cluster,
        ),
    )


def _cluster_address(given: str | None, configured: str | None) -> str | None:
    """--cluster ADDRESS, else the config's cluster.address; ``local``: this machine."""
    address = given or configured
    return None if address in (None, "", "local") else address


def cmd_resume(args: argparse.Namespace) -> int:
    from sandbench.cli.session import acting_store

    if args.cluster is None:
        with acting_store() as store:
            cluster = store.get_benchmark_run(args.run_id).settings.cluster
    else:
        cluster = _cluster_address(args.cluster, None)
    return _drive(args.json, cluster, lambda bench: bench.resume(args.run_id, jobs=args.jobs))


def _drive(
    as_json: bool, cluster: str | None, start: Callable[[BenchmarkRunner], BenchmarkRun]
) -> int:
    """Run (or resume) a benchmark run, a line per case as each ends, then the result;
    on a cluster's nodes when ``cluster`` is an address."""
    from sandbench.cli.runs import runner_session
    from sandbench.runner.benchmark_runs import BenchmarkRunner
    from sandbench.runner.case_executors import executor_for
    from sandbench.runner.exports import benchmark_run_document

    # a cluster's libraries print notices (a node lost, ...) on stdout: keep --json clean
    quiet = contextlib.redirect_stdout(sys.stderr) if cluster else contextlib.nullcontext()
    with runner_session() as (store, runner), quiet:
        executor = executor_for(cluster)
        try:
            bench = BenchmarkRunner(runner, executor)
            if not as_json:
                runner.bus.subscribe(_print_case)
            result = start(bench)
            cases = store.cases_of(result.id)
            runs = store.runs_of_benchmark_run(result.id, with_output=False)
        finally:
            executor.close()
    if as_json:
        emit_json(benchmark_run_document(result, cases, runs))
    else:
        _print_result(result)
    return {"completed": 0, "canceled": 130}.get(result.state.value, 1)


def _print_case(event: object) -> None:
    from sandbench.runner.events import CaseFinished

    if not isinstance(event, CaseFinished):
        return
    case = event.case
    score = "-" if case.score is None or case.state != CaseState.DONE else f"{case.score:.3f}"
    name = case.scenario_name or case.scenario_id
    repeat = f" #{case.repeat_index + 1}" if case.repeat_index else ""
    tries = f"  [attempt {case.attempts}]" if case.attempts > 1 else ""
    why = f": {case.reason}" if case.reason and case.state != CaseState.DONE else ""
    note(f"  {case.state.value:<11} {score:>6}  {name}{repeat}{tries}{why}")


def _print_result(result: BenchmarkRun) -> None:
    score = "-" if result.score is None else f"{result.score:.3f}"
    breakdown = ", ".join(f"{k} {v}" for k, v in sorted(result.status_breakdown.items()))
    print(
        f"{result.id}  {result.state.value}  score {score}  ok {result.ok_cases}/"
        f"{result.total_cases}  cache hits {result.cache_hit_cases}  "
        f"{(result.duration_ms or 0) / 1000:.1f}s  ({breakdown})"
    )
    if result.settings.repeats > 1:
        print(
            table(
                ["SCENARIO", "RUNS", "MEAN", "STD", "PASS@1", f"PASS@{result.settings.repeats}"],
                [
                    [
                        (s.name or s.scenario_id) + ("  (flaky)" if s.flaky else ""),
                        s.runs,
                        _number(s.mean_score),
                        _number(s.score_std),
                        _number(s.pass_at_1),
                        _number(s.pass_at_k),
                    ]
                    for s in result.scenario_stats
                ],
            )
        )
    if result.flaky:
        note(f"flaky (repeats disagree): {', '.join(result.flaky)}")
    if result.state == BenchmarkRunState.CANCELED or any(
        k in result.status_breakdown for k in ("not_started", "canceled", "interrupted")
    ):
        note(f"finish it with: sandbench benchmarks resume {result.id}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def cmd_runs(args: argparse.Namespace) -> int:
    with acting_store() as store:
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


def cmd_compare(args: argparse.Namespace) -> int:
    """Per scenario A, B and B - A, regressions first, flips marked; then the totals and
    the score history of the benchmark (of B's, and of A's when it is another)."""
    from sandbench.runner.benchmark_comparison import (
        FLIP_TEXT,
        Change,
        ScenarioDelta,
        compare_benchmark_runs,
        comparison_document,
    )

    with acting_store() as store:
        comparison = compare_benchmark_runs(store, args.run_a, args.run_b)
    if args.json:
        emit_json(comparison_document(comparison))
        return 0

    def delta_text(delta: float | None) -> str:
        return "-" if delta is None else f"{delta:+.3f}"

    def change_text(row: ScenarioDelta) -> str:
        if row.flip is not None:
            return f"{FLIP_TEXT[row.flip]} !"
        if row.change == Change.UNSCORED:
            letter, side = ("A", row.a) if row.a is None or row.a.score is None else ("B", row.b)
            why = f": {side.reason}" if side is not None and side.reason else ""
            return f"{letter} {side.state if side else '-'}{why}"
        return {
            Change.REGRESSED: "worse",
            Change.IMPROVED: "better",
            Change.UNCHANGED: "same",
            Change.ONLY_A: "only in A",
            Change.ONLY_B: "only in B",
        }[row.change]

    for letter, side in (("A", comparison.a), ("B", comparison.b)):
        repeats = f"  repeats {side.repeats}" if side.repeats > 1 else ""
        print(
            f"{letter}  {side.id}  {side.benchmark_name or side.benchmark_id or '-'}"
            f"  {side.solution}  {side.state}  score {_number(side.score)}{repeats}"
            f"  {when(side.start_time_ms)}"
        )
    if comparison.rows:
        print(
            table(
                ["SCENARIO", "A", "B", "DELTA", "CHANGE"],
                [
                    [
                        row.name,
                        _number(row.score_a) if row.a else "-",
                        _number(row.score_b) if row.b else "-",
                        delta_text(row.delta),
                        change_text(row),
                    ]
                    for row in comparison.rows
                ],
            )
        )
    else:
        note("the two runs share no scenario and have none of their own")
    counts = comparison.counts
    summary = [
        f"{counts[change.value]} {word}"
        for change, word in (
            (Change.REGRESSED, "worse"),
            (Change.IMPROVED, "better"),
            (Change.UNCHANGED, "same"),
            (Change.UNSCORED, "unscored"),
            (Change.ONLY_A, "only in A"),
            (Change.ONLY_B, "only in B"),
        )
        if counts[change.value]
    ]
    flips = [f"{counts[f.value]} {text}" for f, text in FLIP_TEXT.items() if counts[f.value]]
    print(
        f"score {_number(comparison.a.score)} -> {_number(comparison.b.score)}"
        f"  delta {delta_text(comparison.delta)}  ({', '.join(summary) or 'no scenario'})"
        + (f"  flips: {', '.join(flips)}" if flips else "")
    )
    for history in comparison.histories:
        marks = {comparison.a.id: "A", comparison.b.id: "B"}
        points = [
            _number(p.score) + (f"({marks[p.run_id]})" if p.run_id in marks else "")
            for p in history.points
        ]
        print(f"history of {history.benchmark_name}, oldest first: {' '.join(points) or '-'}")
    return 0
