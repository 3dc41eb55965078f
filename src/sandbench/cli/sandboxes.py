"""``sandbench sandboxes …``: create, list, exec, shell, suspend, resume, pause, rm, gc, prune."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from sandbench.cli.output import add_env_option, emit_json, note, parse_env, table, when
from sandbench.cli.session import engine_session
from sandbench.engine.usage import human
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.sandbox import Sandbox, SandboxState
from sandbench.runner import EventBus, retention
from sandbench.runner.executions import Executions


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("sandboxes", help="sandboxes: create, exec, shell, suspend, …")
    group.set_defaults(group_parser=group)
    sub = group.add_subparsers(title="sandbox commands", metavar="ACTION")

    p = sub.add_parser("create", help="start a sandbox from a scenario's environment")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario id or name")
    add_env_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_create)

    p = sub.add_parser("list", help="sandboxes that are alive (all with --all)")
    p.add_argument("--all", action="store_true", help="include ended sandboxes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="one sandbox, with its state transitions")
    p.add_argument("sandbox", metavar="ID")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("exec", help="run a command in a sandbox: exec ID -- CMD ...")
    p.add_argument("sandbox", metavar="ID")
    p.add_argument("--timeout", type=float, help="kill the command after this many seconds")
    p.add_argument("--workdir", help="directory to run in (default: the working directory)")
    p.add_argument("command", nargs="*", metavar="CMD", help="after --, the command and its args")
    p.set_defaults(handler=cmd_exec)

    p = sub.add_parser("shell", help="an interactive shell in a sandbox")
    p.add_argument("sandbox", metavar="ID")
    p.set_defaults(handler=cmd_shell)

    for action, text in (
        ("suspend", "keep the disk, free memory and CPU"),
        ("resume", "start a suspended sandbox again"),
        ("pause", "freeze its processes (fast)"),
        ("unpause", "thaw a paused sandbox"),
    ):
        p = sub.add_parser(action, help=text)
        p.add_argument("sandboxes", nargs="+", metavar="ID")
        p.set_defaults(handler=cmd_action, action=action)

    p = sub.add_parser("rm", help="shut sandboxes down and remove their containers and disks")
    p.add_argument("sandboxes", nargs="*", metavar="ID")
    p.add_argument("--all", action="store_true", help="every live sandbox, suspended included")
    p.add_argument("--yes", "-y", action="store_true", help="with --all: do not ask")
    p.add_argument("--json", action="store_true", help="with --all: machine-readable output")
    p.set_defaults(handler=cmd_rm)

    p = sub.add_parser(
        "gc",
        help="apply the retention policy: remove old runs' sandboxes (config retention_*)",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    p.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="keep the newest N runs' sandboxes per scenario (default: config"
        " retention_keep_runs_per_scenario; 0: no limit)",
    )
    p.add_argument(
        "--ttl-hours",
        type=float,
        metavar="H",
        help="remove run sandboxes suspended longer than H hours (default: config"
        " retention_suspended_ttl_hours; 0: never)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_gc)

    p = sub.add_parser("prune", help="remove containers and disks a crash left behind")
    p.set_defaults(handler=cmd_prune)


def _row(s: Sandbox) -> list[object]:
    r = s.resources
    state = s.status.value + (" (paused)" if s.paused else "")
    reason = s.failure_reason or s.shutdown_reason or ""
    return [
        s.id,
        s.name or "",
        state,
        str(reason),
        f"{r.cpu:g}/{r.memory_gib}G/{r.disk_gib}G",
        s.architecture.value,
        when(s.create_time_ms),
    ]


def cmd_create(args: argparse.Namespace) -> int:
    with engine_session() as (store, engine):
        record = store.get_scenario(args.scenario)
        spec = engine.spec_for(record.scenario, env=parse_env(args.env))
        note(
            f"creating a {record.scenario.size.value} {spec.architecture.value} sandbox"
            f" from {spec.image}"
        )
        sandbox = engine.create(spec, detach=True)
    if args.json:
        emit_json(sandbox.model_dump(mode="json", exclude={"spec"}))
    else:
        print(sandbox.id)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with engine_session() as (store, _engine):
        live = None if args.all else [s for s in SandboxState if not s.terminal]
        sandboxes = store.list_sandboxes(statuses=live)
    if args.json:
        emit_json([s.model_dump(mode="json", exclude={"spec"}) for s in sandboxes])
        return 0
    if not sandboxes:
        note("no sandboxes" + ("" if args.all else " alive (--all shows ended ones)"))
        return 0
    print(
        table(
            ["ID", "NAME", "STATE", "REASON", "CPU/MEM/DISK", "ARCH", "CREATED"],
            [_row(s) for s in sandboxes],
        )
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (store, _engine):
        sandbox = store.get_sandbox(args.sandbox)
    if args.json:
        emit_json(sandbox.model_dump(mode="json"))
        return 0
    print(
        table(["ID", "NAME", "STATE", "REASON", "CPU/MEM/DISK", "ARCH", "CREATED"], [_row(sandbox)])
    )
    print("\nTransitions:")
    for t in sandbox.state_transitions:
        print(f"  {when(t.transition_time_ms)}  {t.status.value}")
    if sandbox.failure_detail:
        print(f"\nFailure detail:\n{sandbox.failure_detail}")
    if sandbox.launch_output:
        print(f"\nLaunch output:\n{sandbox.launch_output}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.rest if args.rest is not None else args.command
    if not command:
        raise InvalidInput("exec needs a command: sandbench sandboxes exec ID -- CMD ...")

    def show(stream: str, text: str) -> None:
        target = sys.stdout if stream == "stdout" else sys.stderr
        target.write(text)
        target.flush()

    with engine_session(recover=False) as (store, engine):
        # recorded like the API's executions: the sandbox's activity log shows it
        executions = Executions(store, engine, EventBus())
        try:
            _execution, result = executions.run(
                args.sandbox, command, timeout=args.timeout, workdir=args.workdir, on_output=show
            )
        finally:
            executions.close()
    assert result is not None
    if result.timed_out:
        note(f"sandbench: killed after {args.timeout:g}s")
    return result.exit_code


def cmd_shell(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (_store, engine):
        return engine.shell(args.sandbox)


def cmd_action(args: argparse.Namespace) -> int:
    with engine_session() as (_store, engine):
        for sandbox_id in args.sandboxes:
            sandbox = getattr(engine, args.action)(sandbox_id)
            print(f"{sandbox.id}  {sandbox.status.value}" + (" (paused)" if sandbox.paused else ""))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if args.all and args.sandboxes:
        raise InvalidInput("rm takes sandbox ids or --all, not both")
    if not args.all:
        if not args.sandboxes:
            raise InvalidInput("rm needs sandbox ids, or --all for every live sandbox")
        with engine_session() as (_store, engine):
            for sandbox_id in args.sandboxes:
                sandbox = engine.shutdown(sandbox_id)
                print(f"{sandbox.id}  {sandbox.status.value}")
        return 0
    with engine_session() as (store, engine):
        preview = retention.remove_all(store, engine, dry_run=True)
        if not preview.removals:
            if args.json:
                emit_json(preview.to_json() | {"dry_run": False})
            else:
                note("no live sandboxes")
            return 0
        if not args.yes:
            _confirm_all(preview)
        report = retention.remove_all(store, engine)
    if args.json:
        emit_json(report.to_json())
    else:
        _print_report(report, "removed")
    return 1 if report.failed else 0


def _confirm_all(preview: retention.Report) -> None:
    """Ask on a terminal; without one, refuse (a script says --yes)."""
    count = len(preview.removals)
    what = "1 sandbox" if count == 1 else f"{count} sandboxes"
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise InvalidInput(
            f"rm --all would remove {what} for good and there is no terminal to ask on;"
            " add --yes to remove them"
        )
    going = sum(1 for r in preview.removals if r.status != "suspended")
    extra = f", {going} of them running" if going and count > 1 else ""
    sys.stderr.write(
        f"Remove every live sandbox: {what}{extra}, their containers and disks"
        f" ({human(preview.freed_bytes)})? This cannot be undone. [y/N] "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise SandbenchError("nothing removed")


def cmd_gc(args: argparse.Namespace) -> int:
    for value, option in ((args.keep, "--keep"), (args.ttl_hours, "--ttl-hours")):
        if value is not None and value < 0:
            raise InvalidInput(f"{option} must be 0 or more, not {value:g}")
    with engine_session() as (store, engine):
        policy = retention.Policy.from_config(engine.config)
        if args.keep is not None:
            policy = replace(policy, keep_runs_per_scenario=args.keep)
        if args.ttl_hours is not None:
            policy = replace(policy, suspended_ttl_s=args.ttl_hours * 3600)
        report = retention.collect(store, engine, policy, dry_run=args.dry_run)
    if args.json:
        emit_json(report.to_json())
    else:
        _print_report(report, "would remove" if args.dry_run else "removed")
    return 1 if report.failed else 0


def _print_report(report: retention.Report, verb: str) -> None:
    shown = report.removals if report.dry_run else report.removed
    if shown:
        rows = [
            [r.sandbox_id, r.name or "", r.status, r.run_id or "-", human(r.disk_bytes), r.reason]
            for r in shown
        ]
        print(table(["SANDBOX", "NAME", "STATE", "RUN", "DISK", "WHY"], rows))
    for spared in report.spared:
        note(f"kept {spared.sandbox_id}: {spared.reason}")
    for failed in report.failed:
        note(f"could not remove {failed.sandbox_id}: {failed.error}")
    count = len(shown)
    what = "sandbox" if count == 1 else "sandboxes"
    freed = "would free" if report.dry_run else "freed"
    summary = (
        f"{verb} {count} {what}, {freed} {human(report.freed_bytes)}"
        if count
        else f"nothing to remove ({report.policy})"
    )
    print(f"{summary}; {report.left - (count if report.dry_run else 0)} live left")


def cmd_prune(args: argparse.Namespace) -> int:
    with engine_session(recover=False) as (_store, engine):
        cleaned = engine.prune()
    print("\n".join(cleaned) if cleaned else "nothing to prune")
    return 0
