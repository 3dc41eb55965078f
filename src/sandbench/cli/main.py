"""The ``sandbench`` command: bare, it opens the TUI; with a subcommand it works headless."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence

from sandbench import __version__
from sandbench.cli import (
    benchmarks,
    cluster_cmd,
    config_cmd,
    doctor,
    images,
    pool_cmd,
    runs,
    sandboxes,
    scenarios,
    scorers_cmd,
    secrets_cmd,
    serve,
)
from sandbench.errors import SandbenchError

Handler = Callable[[argparse.Namespace], int]

GROUPS = (
    runs,
    scenarios,
    benchmarks,
    scorers_cmd,
    sandboxes,
    pool_cmd,
    images,
    secrets_cmd,
    doctor,
    cluster_cmd,
    config_cmd,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandbench",
        description="A terminal workbench for agent-evaluation scenarios run in Podman"
        " sandboxes. Bare `sandbench` in a terminal opens the workbench; the commands below"
        " work headless.",
    )
    parser.add_argument("--version", action="version", version=f"sandbench {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _open_workbench(args: argparse.Namespace) -> int:
    from sandbench.tui import main as workbench  # Textual only when the workbench opens

    return workbench()


def main(argv: Sequence[str] | None = None) -> int:
    cluster_cmd.enable()  # benchmark runs from here (and the workbench, serve) may use Ray
    with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
        # `kill -USR1 PID` prints every thread's stack to stderr: where a stuck run waits
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` is a command to run (sandboxes exec ID -- CMD ...),
    # kept away from argparse, which cannot mix options with a trailing command.
    rest: list[str] | None = None
    if "--" in words:
        cut = words.index("--")
        words, rest = words[:cut], words[cut + 1 :]
    args = parser.parse_args(words)
    args.rest = rest
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        group = getattr(args, "group_parser", None)
        if group is None and _interactive():
            handler = _open_workbench  # bare `sandbench` in a terminal
        else:
            # A subcommand group without its action, or bare `sandbench` with no terminal.
            (group or parser).print_help()
            return 0
    try:
        return handler(args)
    except SandbenchError as error:
        print(f"sandbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except sqlite3.Error as error:
        print(f"sandbench: error: the store failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sandbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sandbench … | head`
        sys.stderr.close()
        return 0
