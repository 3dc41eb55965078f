"""Applying a run's solution before scoring.

baseline: nothing. reference: ``reference_output`` as a git diff (``git apply``), otherwise
as shell commands. agent: a command on the host that drives the sandbox through
``sandbench sandboxes exec``; it gets the sandbox id, working directory and a file with the
problem statement in its environment, and may write its usage (tokens, cost) as JSON to
``SANDBENCH_USAGE_FILE``. interactive: a shell in the sandbox, in the user's terminal,
handed over by the caller (``HandOver``): the CLI owns its terminal, the TUI steps aside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sandbench.engine import Engine
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.runs import Solution, Usage
from sandbench.model.scenario import Scenario

Emit = Callable[[str, str], None]  # (stream, text)
# Runs an interactive program in the user's terminal: (what it is, the program) -> its exit
# code. Called on the run's thread; a full-screen caller steps aside while it runs.
HandOver = Callable[[str, Callable[[], int]], int]
PATCH_PATH = "/tmp/sandbench-reference.patch"
SCRIPT_PATH = "/tmp/sandbench-reference.sh"


class SolutionFailed(SandbenchError):
    """The solution could not be applied (a scenario problem, not a score)."""


def this_terminal(what: str, program: Callable[[], int]) -> int:
    """The hand-over of a command-line process: it already has the terminal, if any."""
    if not sys.stdin.isatty():
        raise InvalidInput("an interactive solution needs a terminal")
    return program()


@dataclass
class Applied:
    detail: dict[str, Any] = field(default_factory=dict)
    usage: Usage | None = None


def is_git_diff(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith(("diff --git ", "--- ")) or (
        "\n--- " in text and "\n+++ " in text and "\n@@ " in text
    )


def apply(
    kind: Solution,
    scenario: Scenario,
    engine: Engine,
    sandbox_id: str,
    emit: Emit,
    *,
    agent_command: str | None = None,
    hand_over: HandOver = this_terminal,
) -> Applied:
    if kind == Solution.BASELINE:
        return Applied({"solution": "baseline"})
    if kind == Solution.REFERENCE:
        return _reference(scenario, engine, sandbox_id, emit)
    if kind == Solution.AGENT:
        if not agent_command:
            raise InvalidInput("an agent solution needs --agent CMD")
        return _agent(agent_command, scenario, engine, sandbox_id, emit)
    return _interactive(engine, sandbox_id, emit, hand_over)


def _reference(scenario: Scenario, engine: Engine, sandbox_id: str, emit: Emit) -> Applied:
    text = scenario.reference_output
    if not text:
        raise SolutionFailed(f"scenario {scenario.name!r} has no reference_output")
    if is_git_diff(text):
        engine.write_file(sandbox_id, PATCH_PATH, text if text.endswith("\n") else text + "\n")
        result = engine.exec(
            sandbox_id, ["git", "apply", "--whitespace=nowarn", "-v", PATCH_PATH], on_output=emit
        )
        if result.exit_code != 0:
            raise SolutionFailed(f"the reference diff did not apply:\n{result.output}")
        return Applied({"solution": "reference", "form": "git diff"})
    engine.write_file(sandbox_id, SCRIPT_PATH, text)
    result = engine.exec(sandbox_id, ["bash", "-e", SCRIPT_PATH], on_output=emit)
    if result.exit_code != 0:
        raise SolutionFailed(
            f"the reference commands failed (exit {result.exit_code}):\n{result.output}"
        )
    return Applied({"solution": "reference", "form": "shell commands"})


def _agent(
    command: str, scenario: Scenario, engine: Engine, sandbox_id: str, emit: Emit
) -> Applied:
    sandbox = engine.store.get_sandbox(sandbox_id)
    with tempfile.TemporaryDirectory(prefix="sandbench-agent-") as tmp:
        problem = Path(tmp) / "problem.md"
        problem.write_text(scenario.input_context.problem_statement, encoding="utf-8")
        usage_file = Path(tmp) / "usage.json"
        env = {
            **os.environ,
            "SANDBENCH_SANDBOX_ID": sandbox_id,
            "SANDBENCH_WORKDIR": sandbox.spec.working_directory if sandbox.spec else "/",
            "SANDBENCH_PROBLEM_FILE": str(problem),
            "SANDBENCH_USAGE_FILE": str(usage_file),
            "SANDBENCH_SCENARIO": scenario.name,
            "SANDBENCH": f"{sys.executable} -m sandbench",
        }
        process = subprocess.Popen(
            command,
            shell=True,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

        def pump(pipe: Any, stream: str) -> None:
            for line in pipe:
                emit(stream, line)

        threads = [
            threading.Thread(target=pump, args=(process.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(process.stderr, "stderr"), daemon=True),
        ]
        for thread in threads:
            thread.start()
        code = process.wait()
        for thread in threads:
            thread.join()
        usage = None
        if usage_file.exists():
            try:
                usage = Usage.model_validate(json.loads(usage_file.read_text()))
            except (ValueError, ValidationError) as error:
                emit("stderr", f"[sandbench] ignoring unreadable usage file: {error}\n")
    return Applied({"solution": "agent", "command": command, "exit_code": code}, usage)


def _interactive(engine: Engine, sandbox_id: str, emit: Emit, hand_over: HandOver) -> Applied:
    what = f"a shell in sandbox {sandbox_id}; exit it to score"
    emit("stderr", what + "\n")
    code = hand_over(what, lambda: engine.shell(sandbox_id))
    emit("stderr", f"the shell exited ({code}): scoring\n")
    return Applied({"solution": "interactive", "shell_exit_code": code})
