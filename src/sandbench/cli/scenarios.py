"""``sandbench scenarios …``: import, list, show, export, validate, archive."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sandbench.cli.output import add_env_option, emit_json, note, parse_env, table, when
from sandbench.errors import InvalidInput
from sandbench.importers import FORMATS, SANDBENCH
from sandbench.model.scenario import ScenarioListView, ScenarioView
from sandbench.store import DEFAULT_LIMIT, ScenarioRecord, Store, open_store
from sandbench.store.files import file_name, load_paths, render
from sandbench.store.scenarios import ImportAction

VALIDATION_EXIT = 2
IMPORT_FORMATS = ("auto", SANDBENCH, *FORMATS)
FORMAT_HELP = (
    "auto (default): detected from what the paths hold;"
    " sandbench: TOML/JSON scenario files; harbor: Harbor task directories;"
    " terminal-bench: Terminal-Bench 1 task directories;"
    " swe-bench: SWE-bench instances in .json or .jsonl files"
)
REPO_DIR_HELP = (
    "swe-bench: local clones to take the repositories from"
    " (DIR/owner/name, DIR/owner__name or DIR/name)"
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("scenarios", help="scenarios: import, list, show, export, …")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="scenario commands", metavar="ACTION")

    p = sub.add_parser("import", help="import scenario files or directories into the store")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--format", choices=IMPORT_FORMATS, default="auto", help=FORMAT_HELP)
    p.add_argument("--repo-dir", type=Path, metavar="DIR", help=REPO_DIR_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("list", help="list stored scenarios, a page at a time")
    p.add_argument("--name", help="only scenarios whose name contains this (case-insensitive)")
    p.add_argument("--benchmark", metavar="ID|NAME", help="only scenarios in this benchmark")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="page size (default 20)")
    p.add_argument("--starting-after", metavar="ID", help="the page after this scenario id")
    p.add_argument("--archived", action="store_true", help="include archived scenarios")
    p.add_argument("--json", action="store_true", help="Runloop list-response JSON")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="show one scenario")
    p.add_argument("ref", metavar="ID|NAME")
    p.add_argument("--version", type=int, help="a past version (default: current)")
    p.add_argument("--json", action="store_true", help="Runloop scenario-view JSON")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("export", help="write a scenario (or all) as JSON or TOML")
    p.add_argument("ref", nargs="?", metavar="ID|NAME")
    p.add_argument("--all", action="store_true", help="every active scenario, one file each")
    p.add_argument(
        "--format",
        choices=("json", "toml", "harbor"),
        default="json",
        help="harbor: a Harbor task directory (needs -o DIR)",
    )
    p.add_argument("--version", type=int, help="a past version (default: current)")
    p.add_argument(
        "-o", "--output", type=Path, help="file to write (a directory with --all); default stdout"
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "validate", help="check scenario files without touching the store (exit 2 on problems)"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", choices=IMPORT_FORMATS, default="auto", help=FORMAT_HELP)
    p.add_argument("--repo-dir", type=Path, metavar="DIR", help=REPO_DIR_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser(
        "check", help="FORWARD (reference scores 1.0) and REVERSE (baseline below 1.0)"
    )
    p.add_argument("refs", nargs="*", metavar="ID|NAME", help="one scenario, or several")
    p.add_argument("--all", action="store_true", help="every active scenario")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="the tasks at PATH (a task set imported from there; format detected)",
    )
    p.add_argument("-j", "--jobs", type=int, default=1, help="scenarios checked at once")
    add_env_option(p)
    p.add_argument("--no-cache", action="store_true", help="ignore the result cache")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("archive", help="archive a scenario (its runs and versions are kept)")
    p.add_argument("ref", metavar="ID|NAME")
    p.set_defaults(handler=cmd_archive)


# --------------------------------------------------------------------------- helpers


def _summary_row(record: ScenarioRecord) -> list[Any]:
    scenario = record.scenario
    scorers = ", ".join(f.scorer.type.removesuffix("_scorer") for f in scenario.scorers)
    return [
        record.id,
        scenario.name,
        record.version,
        scenario.size.value,
        scenario.architecture.value,
        scorers,
    ]


def _view(record: ScenarioRecord) -> dict[str, Any]:
    return ScenarioView.from_scenario(record.id, record.scenario).to_dict()


# --------------------------------------------------------------------------- commands


def _load_tasks(args: argparse.Namespace) -> Any:
    from sandbench.engine.arch import host_arch
    from sandbench.importers import load

    return load(args.format, args.paths, architecture=host_arch(), repo_dir=args.repo_dir)


def _check_repo_dir(args: argparse.Namespace) -> None:
    if args.format == "auto":
        from sandbench.importers import detect_all

        args.format = detect_all(args.paths)
    if args.repo_dir is not None and args.format != "swe-bench":
        raise InvalidInput("--repo-dir is for --format swe-bench")
    if args.repo_dir is not None and not args.repo_dir.is_dir():
        raise InvalidInput(f"--repo-dir {args.repo_dir}: not a directory")


def cmd_validate(args: argparse.Namespace) -> int:
    _check_repo_dir(args)
    if args.format != SANDBENCH:
        return _validate_tasks(args)
    report = load_paths(args.paths)
    if args.json:
        files: dict[str, dict[str, Any]] = {}
        for path, parsed in report.scenarios:
            entry = files.setdefault(str(path), {"file": str(path), "problems": []})
            entry.setdefault("scenarios", []).append(parsed.scenario.name)
        for fp in report.problems:
            files.setdefault(str(fp.file), {"file": str(fp.file), "problems": []})
            files[str(fp.file)]["problems"].append(
                {"path": fp.problem.path, "reason": fp.problem.reason}
            )
        for entry in files.values():
            entry["ok"] = not entry["problems"]
        emit_json({"ok": not report.problems, "files": list(files.values())})
    else:
        for problem in report.problems:
            print(problem)
        bad = {fp.file for fp in report.problems}
        good = {path for path, _ in report.scenarios if path not in bad}
        for path in sorted(good):
            note(f"{path}: ok")
        if report.problems:
            note(f"{len(report.problems)} problem(s) in {len(bad)} file(s)")
    return VALIDATION_EXIT if report.problems else 0


def _validate_tasks(args: argparse.Namespace) -> int:
    report = _load_tasks(args)
    if args.json:
        emit_json(
            {
                "ok": not report.problems,
                "tasks": [
                    {"source": str(t.source), "name": t.scenario.name, "notes": t.notes}
                    for t in report.tasks
                ],
                "problems": [
                    {"source": str(p.file), "path": p.problem.path, "reason": p.problem.reason}
                    for p in report.problems
                ],
            }
        )
    else:
        for problem in report.problems:
            print(problem)
        for task in report.tasks:
            note(
                f"{task.source}: ok ({task.scenario.name})" + "".join(f"; {n}" for n in task.notes)
            )
        if report.problems:
            note(f"{len(report.problems)} task(s) refused")
    return VALIDATION_EXIT if report.problems else 0


def _import_tasks(args: argparse.Namespace) -> int:
    from sandbench.cli.session import engine_session
    from sandbench.importers.builds import ensure_all
    from sandbench.model.documents import ParsedScenario

    report = _load_tasks(args)
    if report.problems:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        note(f"nothing imported: {len(report.problems)} task(s) refused")
        return VALIDATION_EXIT
    with engine_session() as (store, engine):
        tasks = ensure_all(store, engine, report.tasks, lambda line: note(f"  {line}"))
        results = store.import_scenarios([ParsedScenario(t.scenario) for t in tasks])
    if args.json:
        emit_json(
            [
                {
                    "id": r.record.id,
                    "name": r.record.name,
                    "version": r.record.version,
                    "action": r.action.value,
                    "source": str(t.source),
                    "blueprint_id": (t.scenario.environment_parameters or None)
                    and t.scenario.environment_parameters.blueprint_id,  # type: ignore[union-attr]
                    "notes": t.notes,
                }
                for r, t in zip(results, tasks, strict=True)
            ]
        )
        return 0
    for result, task in zip(results, tasks, strict=True):
        print(
            f"{result.action.value:<9}  {result.record.id}  {result.record.name}"
            f"  (v{result.record.version})"
        )
        for line in task.notes:
            note(f"  {line}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    _check_repo_dir(args)
    if args.format != SANDBENCH:
        return _import_tasks(args)
    report = load_paths(args.paths)
    if report.problems:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        note(f"nothing imported: {len(report.problems)} problem(s)")
        return VALIDATION_EXIT
    with open_store() as store:
        results = store.import_scenarios([parsed for _, parsed in report.scenarios])
    if args.json:
        emit_json(
            [
                {
                    "id": r.record.id,
                    "name": r.record.name,
                    "version": r.record.version,
                    "action": r.action.value,
                }
                for r in results
            ]
        )
        return 0
    for result in results:
        print(
            f"{result.action.value:<9}  {result.record.id}  {result.record.name}"
            f"  (v{result.record.version})"
        )
    counts = {a: sum(r.action == a for r in results) for a in ImportAction}
    note(", ".join(f"{n} {a.value}" for a, n in counts.items()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        page = store.list_scenarios(
            name=args.name,
            benchmark=args.benchmark,
            limit=args.limit,
            starting_after=args.starting_after,
            include_archived=args.archived,
        )
    if args.json:
        listing = ScenarioListView(
            scenarios=[ScenarioView.from_scenario(r.id, r.scenario) for r in page.items],
            has_more=page.has_more,
            total_count=page.total_count,
            remaining_count=page.remaining_count,
        )
        emit_json(listing.model_dump(mode="json", exclude_none=True))
        return 0
    if not page.items:
        note(
            "no scenarios"
            + (
                " match"
                if args.name or args.benchmark
                else " yet: `sandbench scenarios import sample_scenarios`"
            )
        )
        return 0
    print(
        table(
            ["ID", "NAME", "VER", "PRESET", "ARCH", "SCORERS"],
            [_summary_row(r) for r in page.items],
        )
    )
    shown = f"{len(page.items)} of {page.total_count}"
    if page.has_more:
        note(f"{shown}; {page.remaining_count} more: --starting-after {page.last_id}")
    else:
        note(shown)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_store() as store:
        record = store.get_scenario(args.ref, args.version)
        versions = store.scenario_versions(record.id)
    if args.json:
        emit_json(_view(record))
        return 0
    s = record.scenario
    env = s.environment_parameters
    lines = [
        f"{s.name}  ({record.id}, version {record.version} of {versions[-1]})"
        + ("  [archived]" if record.archived else ""),
        f"  created {when(record.create_time_ms)}, updated {when(record.update_time_ms)}",
        f"  image     {_image(env)}",
        f"  workdir   {(env and env.working_directory) or '-'}",
        f"  preset    {s.size.value}: {s.resources.describe()}",
        f"  arch      {s.architecture.value}",
    ]
    idle = s.launch.idle_policy()
    if idle:
        lines.append(f"  idle      {idle.on_idle.value} after {idle.idle_time_seconds}s")
    if s.required_environment_variables:
        lines.append(f"  env vars  {', '.join(s.required_environment_variables)}")
    if s.required_secret_names:
        lines.append(f"  secrets   {', '.join(s.required_secret_names)}")
    lines.append(f"  timeout   {s.timeout_sec}s per scorer")
    print("\n".join(lines))
    print(
        "\nProblem statement:\n  " + s.input_context.problem_statement.strip().replace("\n", "\n  ")
    )
    print("\nScorers:")
    print(
        table(
            ["NAME", "TYPE", "WEIGHT"],
            [[f.name, f.scorer.type, f"{f.weight:g}"] for f in s.scorers],
        )
    )
    print(f"\nReference output: {'yes' if s.reference_output else 'none'}")
    return 0


def _image(env: Any) -> str:
    if env and env.blueprint_id:
        return f"blueprint {env.blueprint_id}"
    if env and env.snapshot_id:
        return f"snapshot {env.snapshot_id}"
    return "default base image"


def cmd_export(args: argparse.Namespace) -> int:
    if args.all == bool(args.ref):
        raise InvalidInput("export needs a scenario ID|NAME, or --all")
    if args.format == "harbor":
        return _export_harbor(args)
    with open_store() as store:
        if not args.all:
            record = store.get_scenario(args.ref, args.version)
            text = render(record.scenario, args.format)
            if args.output:
                _write(args.output, text)
                note(f"wrote {args.output}")
            else:
                sys.stdout.write(text)
            return 0
        if args.output is None:
            raise InvalidInput("export --all needs --output DIR (one file per scenario)")
        if args.version is not None:
            raise InvalidInput("--version applies to one scenario, not --all")
        records = _all_active(store)
    args.output.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for record in records:
        name = file_name(record.scenario, args.format)
        if name in used:  # two names that differ only in characters unsafe in file names
            name = f"{record.id}.{args.format}"
        used.add(name)
        _write(args.output / name, render(record.scenario, args.format))
    note(f"wrote {len(records)} scenario(s) to {args.output}")
    return 0


def _export_harbor(args: argparse.Namespace) -> int:
    from sandbench.importers.export import export_harbor

    if args.output is None:
        raise InvalidInput("export --format harbor needs -o DIR (a task directory per scenario)")
    with open_store() as store:
        records = _all_active(store) if args.all else [store.get_scenario(args.ref, args.version)]
        written = export_harbor(store, [r.scenario for r in records], args.output, one=not args.all)
    for path in written:
        note(f"wrote {path}")
    return 0


def _all_active(store: Store) -> list[ScenarioRecord]:
    records: list[ScenarioRecord] = []
    after = None
    while True:
        page = store.list_scenarios(limit=500, starting_after=after)
        records.extend(page.items)
        if not page.has_more:
            return records
        after = page.last_id


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cmd_archive(args: argparse.Namespace) -> int:
    with open_store() as store:
        record = store.archive_scenario(args.ref)
    print(f"archived  {record.id}  {record.name}")
    return 0


def _check_targets(store: Store, args: argparse.Namespace) -> list[str]:
    """The scenario names ``check`` was asked for, in order, each once."""
    from sandbench.importers import detect_all, load

    names = [store.get_scenario(ref).scenario.name for ref in args.refs]
    if args.sources:
        fmt = detect_all(args.sources)
        if fmt == SANDBENCH:
            report = load_paths(args.sources)
            found = [parsed.scenario.name for _, parsed in report.scenarios]
        else:
            found = [task.scenario.name for task in load(fmt, args.sources).tasks]
        if not found:
            raise InvalidInput(f"--from: no task found in {', '.join(map(str, args.sources))}")
        names += [store.get_scenario(name).scenario.name for name in found]
    if args.all:
        names += [record.scenario.name for record in _all_active(store)]
    if not names:
        raise InvalidInput("check needs a scenario ID|NAME, several, --from PATH or --all")
    if args.jobs < 1:
        raise InvalidInput(f"--jobs {args.jobs}: must be at least 1")
    return list(dict.fromkeys(names))


def cmd_check(args: argparse.Namespace) -> int:
    from sandbench.cli.runs import runner_session

    with runner_session() as (store, runner):
        names = _check_targets(store, args)
        if len(args.refs) == 1 and len(names) == 1 and not (args.all or args.sources):
            return _check_one(runner, names[0], args)
        return _check_set(runner, names, args)


def _check_set(runner: Any, names: list[str], args: argparse.Namespace) -> int:
    """One line per task as it finishes (PASS/FAIL and why), then the totals."""
    from sandbench.runner.validation import TaskCheck, check_many

    width = max(len(name) for name in names)
    if not args.json:
        note(f"checking {len(names)} scenario(s), {args.jobs} at a time")

    def done(task: TaskCheck) -> None:
        if not args.json:
            verdict = "PASS" if task.ok else "FAIL"
            print(f"{verdict}  {task.scenario:<{width}}  {task.reason}", flush=True)

    found = check_many(
        runner,
        names,
        jobs=args.jobs,
        use_cache=not args.no_cache,
        env=parse_env(args.env),
        on_done=done,
    )
    failed = [task for task in found if not task.ok]
    if args.json:
        emit_json(
            {
                "ok": not failed,
                "passed": len(found) - len(failed),
                "failed": len(failed),
                "tasks": [
                    {"scenario": task.scenario, "ok": task.ok, "reason": task.reason}
                    | (_report_json(task.report) if task.report else {"error": task.error})
                    for task in found
                ],
            }
        )
    else:
        print(f"{len(found)} checked: {len(found) - len(failed)} pass, {len(failed)} fail")
        if failed:
            note("failing: " + ", ".join(task.scenario for task in failed))
    return 1 if failed else 0


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "scenario": report.scenario,
        "ok": report.ok,
        "forward": {
            "ok": report.forward_ok,
            "run": report.forward.id,
            "score": report.forward.score,
            "state": report.forward.state.value,
        },
        "reverse": {
            "ok": report.reverse_ok,
            "run": report.reverse.id,
            "score": report.reverse.score,
            "state": report.reverse.state.value,
        },
        "scorers": [
            {
                "name": v.name,
                "reference": v.reference,
                "baseline": v.baseline,
                "problem": v.problem,
            }
            for v in report.scorers
        ],
    }


def _check_one(runner: Any, name: str, args: argparse.Namespace) -> int:
    """One scenario, followed live, with the per-scorer table."""
    from sandbench.cli.runs import LivePrinter
    from sandbench.runner.validation import check

    if not args.json:
        runner.bus.subscribe(LivePrinter())
    report = check(runner, name, use_cache=not args.no_cache, env=parse_env(args.env))
    if args.json:
        emit_json(_report_json(report))
        return 0 if report.ok else 1

    def total(run: Any) -> str:
        return "-" if run.score is None else f"{run.score:.3f}"

    print()
    print(
        table(
            ["SCORER", "REFERENCE", "BASELINE", "PROBLEM"],
            [
                [
                    v.name,
                    "-" if v.reference is None else f"{v.reference:g}",
                    "-" if v.baseline is None else f"{v.baseline:g}",
                    v.problem or "ok",
                ]
                for v in report.scorers
            ],
        )
    )
    verdict = "ok" if report.forward_ok else f"FAIL ({report.forward.state.value}"
    verdict += (
        ""
        if report.forward_ok
        else (f": {report.forward.failure_reason})" if report.forward.failure_reason else ")")
    )
    print(f"FORWARD  reference total {total(report.forward)} (must be 1.0): {verdict}")
    verdict = "ok" if report.reverse_ok else f"FAIL ({report.reverse.state.value})"
    print(f"REVERSE  baseline total {total(report.reverse)} (must be below 1.0): {verdict}")
    return 0 if report.ok else 1
