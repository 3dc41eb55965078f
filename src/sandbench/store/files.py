"""Scenario files: TOML (one scenario per file) and JSON (a scenario, a Runloop view or list).

Reading never touches the store; every problem comes back as ``(file, path, reason)`` so
``validate`` can report all of them at once.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from sandbench.errors import InvalidInput
from sandbench.model.documents import DocumentError, ParsedScenario, parse_scenarios
from sandbench.model.problems import Problem
from sandbench.model.scenario import Scenario

SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class FileProblem:
    file: Path
    problem: Problem

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


@dataclass(frozen=True)
class LoadReport:
    scenarios: list[tuple[Path, ParsedScenario]]
    problems: list[FileProblem]


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[FileProblem]]:
    """Files named directly, plus every .toml/.json under named directories (sorted)."""
    files: list[Path] = []
    problems: list[FileProblem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                problems.append(FileProblem(path, Problem("", "no .toml or .json files here")))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(FileProblem(path, Problem("", "no such file or directory")))
    return files, problems


_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def decode(path: Path) -> Any:
    """Decode a file by its suffix. Raises DocumentError naming the line on a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DocumentError([Problem("", f"cannot read: {error}")]) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise DocumentError([Problem(where, f"invalid JSON: {error.msg}")]) from None
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            match = _TOML_POSITION.match(str(error))
            if match:
                where = f"line {match['line']}, column {match['col']}"
                raise DocumentError([Problem(where, f"invalid TOML: {match['msg']}")]) from None
            raise DocumentError([Problem("", f"invalid TOML: {error}")]) from None
    raise DocumentError([Problem("", "unknown file type (expected .toml or .json)")])


def load_file(path: Path) -> list[ParsedScenario]:
    return parse_scenarios(decode(path))


def load_paths(paths: Iterable[Path]) -> LoadReport:
    files, problems = expand(paths)
    scenarios: list[tuple[Path, ParsedScenario]] = []
    for file in files:
        try:
            scenarios.extend((file, parsed) for parsed in load_file(file))
        except DocumentError as error:
            problems.extend(FileProblem(file, p) for p in error.problems)
    return LoadReport(scenarios, problems)


def to_toml(scenario: Scenario) -> str:
    try:
        return tomli_w.dumps(scenario.to_dict(), multiline_strings=True)
    except TypeError as error:  # TOML has no null: a JSON null inside a free-form object
        raise InvalidInput(
            f"scenario {scenario.name!r} cannot be written as TOML ({error}); use JSON"
        ) from None


def to_json(scenario: Scenario) -> str:
    return json.dumps(scenario.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render(scenario: Scenario, fmt: str) -> str:
    return to_toml(scenario) if fmt == "toml" else to_json(scenario)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(scenario: Scenario, fmt: str) -> str:
    stem = _UNSAFE.sub("-", scenario.name).strip("-.") or "scenario"
    return f"{stem}.{fmt}"
