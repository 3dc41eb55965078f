"""``sandbench run`` and ``sandbench runs list|show|rerun|cancel|export``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sandbench.cli.output import add_env_option, emit_json, note, parse_env, table, when
from sandbench.cli.session import engine_session
from sandbench.errors import InvalidInput
from sandbench.model.runs import ScenarioRun, Solution, latest_attempts
from sandbench.runner import Runner
from sandbench.runner.events import (
    OutputChunk,
    RunEvent,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.runner.exports import benchmark_report_json, benchmark_run_json, eval_jsonl
from sandbench.store import DEFAULT_LIMIT, Store

SOLUTIONS = [s.value for s in Solution]
BAR_WIDTH = 20


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("run", help="run a scenario: solution, scorers, weighted total")
    p.add_argument("scenario", metavar="ID|NAME")
    add_run_options(p)
    p.add_argument("--json", action="store_true", help="print the finished run as JSON")
    p.set_defaults(handler=cmd_run)

    group = commands.add_parser("runs", help="scenario runs: list, show, rerun, cancel, export")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="run commands", metavar="ACTION")
    p = sub.add_parser("list", help="runs, newest first")
    p.add_argument("--scenario", metavar="ID|NAME", help="only runs of this scenario")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    p.add_argument("--starting-after", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("show", help="a run's weight breakdown and its scorers' output")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all-attempts", action="store_true", help="every attempt, not the latest")
    p.set_defaults(handler=cmd_show)
    p = sub.add_parser("rerun", help="score again in the run's sandbox (or --whole: a new run)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--scorer", metavar="NAME", help="only this scorer")
    p.add_argument("--whole", action="store_true", help="a new run of the same version")
    p.add_argument("--no-cache", action="store_true", help="with --whole: ignore the cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rerun)
    p = sub.add_parser("cancel", help="stop a run (in this or another process)")
    p.add_argument("run", metavar="RUN")
    p.set_defaults(handler=cmd_cancel)
    p = sub.add_parser(
        "export",
        help="eval-run JSONL records, Runloop benchmark-run JSON, or a benchmark report",
    )
    p.add_argument("run", nargs="?", metavar="RUN")
    p.add_argument("--benchmark-run", metavar="ID")
    p.add_argument(
        "--format",
        choices=("eval-run-jsonl", "benchmark-run-json", "benchmark-report-json"),
        default="eval-run-jsonl",
        help="benchmark-report-json: the run with its cases (attempts, reasons) and, per"
        " scenario, mean, std, pass@1 and pass@k",
    )
    p.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    p.set_defaults(handler=cmd_export)


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--solution",
        choices=SOLUTIONS,
        default=None,
        help="baseline, reference (default), agent (with --agent) or interactive",
    )
    p.add_argument("--agent", metavar="CMD", help="a command on the host that solves it")
    add_env_option(p)
    p.add_argument("--no-cache", action="store_true", help="ignore the result cache")


def solution_of(args: argparse.Namespace) -> Solution:
    if args.solution is None:
        return Solution.AGENT if args.agent else Solution.REFERENCE
    return Solution(args.solution)


@contextlib.contextmanager
def runner_session() -> Iterator[tuple[Store, Runner]]:
    with engine_session() as (store, engine):
        yield store, Runner(store, engine)


class LivePrinter:
    """Scorer output as it streams, each line prefixed with its scorer's name."""

    def __init__(self) -> None:
        self._partial: dict[str, str] = {}
        self._width = 12

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, StepOutput):
            sys.stderr.write(
                "".join(f"  {event.step} │ {line}\n" for line in event.text.splitlines())
            )
        elif isinstance(event, ScorerStarted):
            attempt = f", attempt {event.attempt}" if event.attempt > 1 else ""
            print(f"── {event.name} ({event.type}, weight {event.weight:g}{attempt})", flush=True)
        elif isinstance(event, OutputChunk):
            text = self._partial.pop(event.result_id, "") + event.text
            *lines, rest = text.split("\n")
            if rest:
                self._partial[event.result_id] = rest
            for line in lines:
                print(f"  {event.scorer[: self._width]:<{self._width}} │ {line}", flush=True)
        elif isinstance(event, ScorerFinished):
            rest = self._partial.pop(event.result.id, "")
            if rest:
                print(f"  {event.result.name[: self._width]:<{self._width}} │ {rest}")
            r = event.result
            score = f"{r.score:g}" if r.score is not None else "-"
            reason = r.details.get("reason", "")
            print(
                f"   → {r.state.value}, score {score}" + (f" ({reason})" if reason else ""),
                flush=True,
            )
        elif isinstance(event, RunStateChanged):
            note(
                f"run {event.run_id}: {event.state.value}"
                + (f" ({event.detail})" if event.detail else "")
            )


def breakdown(run: ScenarioRun, *, all_attempts: bool = False) -> str:
    results = run.scorer_results if all_attempts else latest_attempts(run.scorer_results)
    rows = []
    for r in results:
        filled = round(BAR_WIDTH * r.contribution)
        bar = "█" * filled + "·" * (round(BAR_WIDTH * r.weight) - filled)
        rows.append(
            [
                r.name,
                r.type.removesuffix("_scorer"),
                f"{r.weight:g}",
                "-" if r.score is None else f"{r.score:.3g}",
                f"{r.contribution:.3f}",
                bar,
                r.state.value,
                f"{(r.duration_ms or 0) / 1000:.1f}s",
                r.attempt,
            ]
        )
    lines = [
        table(
            ["SCORER", "TYPE", "WEIGHT", "SCORE", "CONTRIB", "", "STATE", "TIME", "ATTEMPT"], rows
        )
    ]
    total = "-" if run.score is None else f"{run.score:.3f}"
    lines.append(
        f"TOTAL {total}   run {run.id}: {run.state.value}"
        + (f" ({run.failure_reason})" if run.failure_reason else "")
        + ("   [cache hit]" if run.cache_hit else "")
    )
    return "\n".join(lines)


def _in_worker(work: Callable[[], ScenarioRun], on_interrupt: Callable[[], None]) -> ScenarioRun:
    """Run ``work`` in a thread so Ctrl-C reaches us and can cancel it cleanly."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["run"] = work()
        except BaseException as error:  # re-raised in the caller's thread
            box["error"] = error

    thread = threading.Thread(target=target, name="run", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        note("canceling…")
        on_interrupt()
        thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["run"]  # type: ignore[return-value]


def _exit_code(run: ScenarioRun) -> int:
    return {"completed": 0, "canceled": 130}.get(run.state.value, 1)


def cmd_run(args: argparse.Namespace) -> int:
    solution = solution_of(args)
    with runner_session() as (_store, runner):
        if not args.json:
            runner.bus.subscribe(LivePrinter())
        created: list[str] = []
        run = _in_worker(
            lambda: runner.run(
                args.scenario,
                solution=solution,
                agent_command=args.agent,
                env=parse_env(args.env),
                use_cache=not args.no_cache,
                on_created=lambda r: created.append(r.id),
            ),
            lambda: [runner.cancel(i) for i in created],
        )
    if args.json:
        emit_json(run.model_dump(mode="json"))
    else:
        print()
        print(breakdown(run))
    return _exit_code(run)


def cmd_list(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, _engine):
        page = store.list_runs(
            scenario=args.scenario, limit=args.limit, starting_after=args.starting_after
        )
    if args.json:
        emit_json(
            {
                "runs": [r.model_dump(mode="json") for r in page.items],
                "has_more": page.has_more,
                "total_count": page.total_count,
                "remaining_count": page.remaining_count,
            }
        )
        return 0
    if not page.items:
        note("no runs yet: `sandbench run SCENARIO`")
        return 0
    print(
        table(
            ["RUN", "SCENARIO", "VER", "SOLUTION", "STATE", "SCORE", "STARTED"],
            [
                [
                    r.id,
                    r.name,
                    r.scenario_version,
                    r.solution.value,
                    r.state.value,
                    "-" if r.score is None else f"{r.score:.3f}",
                    when(r.start_time_ms),
                ]
                for r in page.items
            ],
        )
    )
    if page.has_more:
        note(f"{page.remaining_count} more: --starting-after {page.last_id}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, _engine):
        run = store.get_run(args.run)
    if args.json:
        emit_json(run.model_dump(mode="json"))
        return 0
    print(breakdown(run, all_attempts=args.all_attempts))
    for result in run.scorer_results if args.all_attempts else latest_attempts(run.scorer_results):
        print(f"\n── {result.name} (attempt {result.attempt}, {result.state.value})")
        print(result.output.rstrip() or "(no output)")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    with runner_session() as (_store, runner):
        if not args.json:
            runner.bus.subscribe(LivePrinter())
        if args.whole:
            run = _in_worker(
                lambda: runner.rerun(args.run, use_cache=not args.no_cache), lambda: None
            )
        else:
            run = _in_worker(
                lambda: runner.rerun_scorers(args.run, args.scorer), lambda: runner.cancel(args.run)
            )
    if args.json:
        emit_json(run.model_dump(mode="json"))
    else:
        print()
        print(breakdown(run))
    return _exit_code(run)


def cmd_cancel(args: argparse.Namespace) -> int:
    with runner_session() as (_store, runner):
        runner.cancel(args.run)
    print(f"cancel requested for {args.run}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if bool(args.run) == bool(args.benchmark_run):
        raise InvalidInput("export needs a RUN or --benchmark-run ID")
    with engine_session(recover=False) as (store, _engine):
        if args.format in ("benchmark-run-json", "benchmark-report-json"):
            if not args.benchmark_run:
                raise InvalidInput(f"--format {args.format} needs --benchmark-run ID")
            text = (
                benchmark_run_json(store, args.benchmark_run)
                if args.format == "benchmark-run-json"
                else benchmark_report_json(store, args.benchmark_run)
            )
        elif args.benchmark_run:
            text = eval_jsonl(store, store.runs_of_benchmark_run(args.benchmark_run))
        else:
            text = eval_jsonl(store, [store.get_run(args.run)])
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        note(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
