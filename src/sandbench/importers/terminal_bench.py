"""Terminal-Bench 1 tasks: ``task.yaml``, ``Dockerfile`` (or ``docker-compose.yaml`` with its
main service), ``run-tests.sh``, ``tests/``, ``solution.sh`` or ``solution.yaml``.

As TB1's harness does, ``run-tests.sh`` and ``tests/`` go into ``/tests`` (``$TEST_DIR``)
only at scoring time, ``bash /tests/run-tests.sh`` runs from the image's working directory,
and the output is parsed by TB1's pytest parser: the lines of pytest's "short test summary
info" (``PASSED``/``XFAIL``/``SKIPPED`` pass; ``FAILED``/``ERROR``/``XPASS`` fail). The task
is solved (1.0) when every test passes, else 0.0; no summary is 0.0 (TB1 marks it a parse
error and unsolved).
"""

# ruff: noqa: E501  (the shell scripts embedded below keep their own line lengths)
from __future__ import annotations

import math
import shlex
import tempfile
from pathlib import Path
from typing import Any

import yaml

from sandbench.importers._common import (
    BuildRequest,
    ImportedTask,
    Refused,
    payload,
    slug,
    tar_directory,
    task_dirs_with,
    unpack,
)
from sandbench.model.documents import DocumentError, validate_scenario
from sandbench.model.scenario import Architecture

META = "terminal_bench."
_KNOWN = {
    "instruction", "descriptions", "author_name", "author_email", "difficulty", "category",
    "tags", "parser_name", "max_agent_timeout_sec", "max_test_timeout_sec",
    "run_tests_in_same_shell", "disable_asciinema", "estimated_duration_sec",
    "expert_time_estimate_min", "junior_time_estimate_min", "test_scripts",
}  # fmt: skip
_MAIN_SERVICES = ("client", "main", "app")


def is_task_dir(path: Path) -> bool:
    return (path / "task.yaml").is_file()


def task_dirs(path: Path) -> list[Path]:
    """A task directory, or the task directories in a dataset directory (sorted)."""
    return task_dirs_with(path, "task.yaml")


PYTEST_PARSER = r"""
out=/logs/test-output.txt
summary=$(sed -n '/short test summary info/,$p' "$out")
if [ -z "$summary" ]; then
  echo "[sandbench] no pytest 'short test summary info' in the output: unsolved (TB1: parse error)" >&2
  echo 0; exit 0
fi
passed=$(printf '%s\n' "$summary" | grep -cE '^(PASSED|XFAIL|SKIPPED) ')
failed=$(printf '%s\n' "$summary" | grep -cE '^(FAILED|ERROR|XPASS) ')
echo "[sandbench] tests passed: $passed, failed: $failed" >&2
if [ "$passed" -gt 0 ] && [ "$failed" = 0 ]; then echo 1; else echo 0; fi
"""


def _verifier(task: str, tests_root: Path) -> str:
    return (
        "#!/bin/bash\n"
        f"# sandbench: the tests of Terminal-Bench task {task}. run-tests.sh and tests/ go\n"
        "# into /tests only now, at scoring time; the output is read by TB1's pytest parser.\n"
        f"{payload('TESTS', tests_root)}\n"
        + unpack("TESTS", "/tests")
        + "export TEST_DIR=/tests\nmkdir -p /logs\n"
        + "bash /tests/run-tests.sh 2>&1 | tee /logs/test-output.txt >&2\n"
        + 'echo "[sandbench] run-tests.sh exited ${PIPESTATUS[0]}" >&2\n'
        + PYTEST_PARSER
    )


def _solution(directory: Path) -> str | None:
    script = directory / "solution.sh"
    if script.is_file():
        return script.read_text(encoding="utf-8")
    steps_path = directory / "solution.yaml"
    if not steps_path.is_file():
        return None
    try:
        steps = yaml.safe_load(steps_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise Refused("solution.yaml", f"invalid YAML: {error}") from None
    if not isinstance(steps, list):
        raise Refused("solution.yaml", "must be a list of {command: ...} steps")
    lines = ["#!/bin/bash", "# sandbench: the commands of solution.yaml, in order"]
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("command"), str):
            raise Refused(f"solution.yaml[{index}].command", "must be a string")
        if step.get("block") is False and step.get("min_timeout_sec"):
            lines.append(f"# (not blocking; waited {step['min_timeout_sec']}s in TB1)")
        lines.append(step["command"])
    return "\n".join(lines) + "\n"


def _dockerfile(directory: Path) -> Path:
    compose = next(
        (
            directory / n
            for n in ("docker-compose.yaml", "docker-compose.yml")
            if (directory / n).is_file()
        ),
        None,
    )
    if compose is None:
        if (directory / "Dockerfile").is_file():
            return directory / "Dockerfile"
        raise Refused("Dockerfile", "missing (and no docker-compose.yaml)")
    try:
        data = yaml.safe_load(compose.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise Refused(compose.name, f"invalid YAML: {error}") from None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not services:
        raise Refused(f"{compose.name}.services", "no services")
    main = next((s for s in _MAIN_SERVICES if s in services), None)
    if main is None and len(services) == 1:
        main = next(iter(services))
    if main is None:
        raise Refused(f"{compose.name}.services", "no main service (client, main or app)")
    others = [s for s in services if s != main]
    if others:
        raise Refused(
            f"{compose.name}.services.{others[0]}",
            "a sidecar service: multi-container environments are not supported",
        )
    build = services[main].get("build") if isinstance(services[main], dict) else None
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    elif isinstance(build, dict):
        context, dockerfile = (
            str(build.get("context", ".")),
            str(build.get("dockerfile", "Dockerfile")),
        )
    else:
        raise Refused(
            f"{compose.name}.services.{main}.build", "the main service must be built here"
        )
    if Path(context).resolve() != Path(".").resolve() and context not in (".", "./"):
        raise Refused(f"{compose.name}.services.{main}.build.context", "only '.' is supported")
    path = directory / dockerfile
    if not path.is_file():
        raise Refused(
            f"{compose.name}.services.{main}.build.dockerfile", f"{dockerfile} is missing"
        )
    return path


def load_task(directory: Path, *, architecture: Architecture = Architecture.X86_64) -> ImportedTask:
    try:
        config = yaml.safe_load((directory / "task.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise Refused("task.yaml", f"cannot read: {error}") from None
    except yaml.YAMLError as error:
        raise Refused("task.yaml", f"invalid YAML: {error}") from None
    if not isinstance(config, dict):
        raise Refused("task.yaml", "must be a mapping")
    for key in config:
        if key not in _KNOWN:
            raise Refused(f"task.yaml.{key}", "not a field of Terminal-Bench 1's task.yaml")
    instruction = config.get("instruction")
    if instruction is None and isinstance(config.get("descriptions"), list):
        base = [d for d in config["descriptions"] if isinstance(d, dict) and d.get("key") == "base"]
        instruction = (base or config["descriptions"])[0].get("description")
    if not isinstance(instruction, str) or not instruction.strip():
        raise Refused("task.yaml.instruction", "missing or empty (it is the problem statement)")
    parser = config.get("parser_name", "pytest")
    if parser != "pytest":
        raise Refused("task.yaml.parser_name", f"{parser!r}: only TB1's pytest parser is mapped")
    if config.get("run_tests_in_same_shell"):
        raise Refused(
            "task.yaml.run_tests_in_same_shell",
            "tests in the agent's own tmux shell have no equivalent: scorers run in a fresh exec",
        )
    if config.get("test_scripts"):
        raise Refused("task.yaml.test_scripts", "the older shared test scripts are not bundled")
    if not (directory / "run-tests.sh").is_file():
        raise Refused("run-tests.sh", "missing (it runs the tests)")
    dockerfile = _dockerfile(directory)
    notes: list[str] = []
    name = directory.name
    with tempfile.TemporaryDirectory(prefix="sandbench-tb1-") as scratch:
        root = Path(scratch)
        (root / "run-tests.sh").write_bytes((directory / "run-tests.sh").read_bytes())
        if (directory / "tests").is_dir():
            tests = tar_directory(directory / "tests")
            from sandbench.importers._common import files_of_tar

            for rel, data in files_of_tar(tests).items():
                target = root / "tests" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        # TB1 copies run-tests.sh and the contents of tests/ to /tests
        flat = Path(scratch) / "flat"
        flat.mkdir()
        (flat / "run-tests.sh").write_bytes((directory / "run-tests.sh").read_bytes())
        if (root / "tests").is_dir():
            for path in sorted((root / "tests").rglob("*")):
                if path.is_file():
                    target = flat / path.relative_to(root / "tests")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
        verifier = _verifier(name, flat)
    # The build context: the task directory without what the agent must not see.
    hidden = {"tests", "run-tests.sh", "solution.sh", "solution.yaml", "task.yaml"}
    with tempfile.TemporaryDirectory(prefix="sandbench-tb1-ctx-") as scratch:
        ctx = Path(scratch)
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if not path.is_file() or rel.parts[0] in hidden:
                continue
            target = ctx / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            target.chmod(path.stat().st_mode & 0o777)
        if dockerfile.name != "Dockerfile":
            (ctx / "Dockerfile").write_bytes(dockerfile.read_bytes())
        context = tar_directory(ctx)
    reference = _solution(directory)
    if reference is None:
        notes.append("no solution.sh or solution.yaml: no reference solution")
    metadata: dict[str, str] = {META + "format": "terminal-bench"}
    for key in (
        "author_name", "author_email", "difficulty", "category", "estimated_duration_sec",
        "expert_time_estimate_min", "junior_time_estimate_min", "disable_asciinema",
    ):  # fmt: skip
        if key in config and config[key] is not None:
            metadata[key if key in ("difficulty", "category") else META + key] = str(config[key])
    if isinstance(config.get("tags"), list):
        metadata["tags"] = ", ".join(map(str, config["tags"]))
    if config.get("max_agent_timeout_sec") is not None:
        metadata[META + "max_agent_timeout_sec"] = str(config["max_agent_timeout_sec"])
        notes.append(f"agent timeout {config['max_agent_timeout_sec']}s recorded in metadata")
    test_timeout = config.get("max_test_timeout_sec", 60)
    if (
        isinstance(test_timeout, bool)
        or not isinstance(test_timeout, int | float)
        or test_timeout <= 0
    ):
        raise Refused(
            "task.yaml.max_test_timeout_sec", f"must be a positive number, got {test_timeout!r}"
        )
    blueprint = f"tb1-{slug(name)}"
    data: dict[str, Any] = {
        "name": name,
        "input_context": {"problem_statement": instruction},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "tests",
                    "weight": 1.0,
                    "scorer": {"type": "bash_script_scorer", "bash_script": verifier},
                }
            ]
        },
        "environment_parameters": {"blueprint_id": blueprint},
        "metadata": metadata,
        "scorer_timeout_sec": math.ceil(test_timeout),
    }
    if reference is not None:
        data["reference_output"] = reference
    try:
        scenario = validate_scenario(data)
    except DocumentError as error:
        first = error.problems[0]
        raise Refused(first.path or "task", first.reason) from None
    _ = shlex  # quoting lives in _common
    return ImportedTask(directory, scenario, BuildRequest(blueprint, context, architecture), notes)
