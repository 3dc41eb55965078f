"""A scenario being edited: a plain document the form writes into, validated as a whole.

The editor never builds a half-valid ``Scenario``: each field writes its converted value
(or its raw text, when it does not convert) at its path in the document, and the whole
document is validated after every change, so every problem comes back with the path of
the field it belongs to. Fields the form does not show stay in the document untouched.
No Textual here: the rules are tested without a screen.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sandbench.model.documents import DocumentError, validate_scenario
from sandbench.model.problems import Problem, format_loc
from sandbench.model.resources import PRESETS, ResourceSize
from sandbench.model.scenario import SCORER_TYPES, Scenario

Path = tuple[str | int, ...]
MISSING: Any = object()  # a field left empty: its key leaves the document

SCORERS: Path = ("scoring_contract", "scoring_function_parameters")
LAUNCH: Path = ("environment_parameters", "launch_parameters")
IDLE: Path = (*LAUNCH, "after_idle")
LIFECYCLE_IDLE: Path = (*LAUNCH, "lifecycle", "after_idle")


class Kind(StrEnum):
    TEXT = "text"  # one line; empty = unset
    REQUIRED = "required"  # one line; empty stays "" (the model says what is wrong)
    AREA = "area"  # several lines; empty = unset
    REQUIRED_AREA = "required_area"
    INT = "int"
    FLOAT = "float"
    LINES = "lines"  # a list of strings, one per line
    COMMANDS = "commands"  # a list of commands: one per line, or blocks between --- lines
    NAMES = "names"  # a list of names, separated by commas or spaces
    INTS = "ints"  # a list of integers, separated by commas or spaces
    JSON = "json"  # a JSON object
    PAIRS = "pairs"  # KEY=value lines: an object of strings
    CHOICE = "choice"  # one of ``options``; "" = unset
    BOOL = "bool"  # "", "true" or "false"


AREAS = {Kind.AREA, Kind.REQUIRED_AREA, Kind.LINES, Kind.COMMANDS, Kind.JSON, Kind.PAIRS}
SEPARATOR = "---"  # a line of its own between multi-line commands


@dataclass(frozen=True)
class Field:
    path: Path
    label: str
    kind: Kind
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (label, value) for CHOICE

    @property
    def where(self) -> str:
        return format_loc(self.path)


class Invalid(ValueError):
    """Text a field cannot convert; the message is shown beside the field."""


def _number(text: str, kind: Kind) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    if kind == Kind.INT:
        return text  # the model reports "should be a valid integer" at this path
    try:
        return float(text)
    except ValueError:
        return text


def parse(kind: Kind, text: str) -> Any:
    """The document value of a field's text (``MISSING`` when empty). Raises Invalid."""
    stripped = text.strip()
    if kind in (Kind.REQUIRED, Kind.REQUIRED_AREA):
        return text if kind == Kind.REQUIRED_AREA else stripped
    if not stripped:
        return MISSING
    if kind == Kind.TEXT:
        return stripped
    if kind == Kind.AREA:
        return text
    if kind in (Kind.INT, Kind.FLOAT):
        return _number(stripped, kind)
    if kind == Kind.LINES:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if kind == Kind.COMMANDS:
        lines = text.split("\n")
        if SEPARATOR not in lines:
            return [line.strip() for line in lines if line.strip()]
        blocks, current = [], []
        for line in [*lines, SEPARATOR]:
            if line != SEPARATOR:
                current.append(line)
                continue
            block = "\n".join(current)  # exact: a command's own newlines are kept
            if block.strip():
                blocks.append(block)
            current = []
        return blocks
    if kind == Kind.NAMES:
        return stripped.replace(",", " ").split()
    if kind == Kind.INTS:
        return [_number(part, Kind.INT) for part in stripped.replace(",", " ").split()]
    if kind == Kind.JSON:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise Invalid(
                f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            ) from None
        if not isinstance(value, dict):
            raise Invalid("must be a JSON object ({...})")
        return value
    if kind == Kind.PAIRS:
        pairs: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise Invalid(f"line {number}: expected KEY=value, got {line.strip()!r}")
            pairs[key.strip()] = value.strip()
        return pairs
    if kind == Kind.BOOL:
        return stripped == "true"
    return stripped  # CHOICE


def show(kind: Kind, value: Any) -> str:
    """A document value as the field's text."""
    if value is None or value is MISSING:
        return ""
    if kind == Kind.LINES and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == Kind.COMMANDS and isinstance(value, list):
        if not any("\n" in str(v) for v in value):
            return "\n".join(str(v) for v in value)
        return "\n".join(part for v in value for part in (SEPARATOR, str(v)))
    if kind in (Kind.NAMES, Kind.INTS) and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if kind == Kind.JSON:
        return json.dumps(value, indent=2, ensure_ascii=False)
    if kind == Kind.PAIRS and isinstance(value, dict):
        return "\n".join(f"{k}={v}" for k, v in value.items())
    if kind == Kind.BOOL:
        return "true" if value is True else "false" if value is False else str(value)
    return str(value)


# --------------------------------------------------------------------------- the form's fields


def preset_label(size: ResourceSize) -> str:
    if size == ResourceSize.CUSTOM_SIZE:
        return "CUSTOM_SIZE  (the custom fields below)"
    resources = PRESETS[size]
    default = "  (default)" if size == ResourceSize.SMALL else ""
    return (
        f"{size.value:<9} {resources.cpu:g} cpu · {resources.memory_gib} GiB ·"
        f" {resources.disk_gib} GiB disk{default}"
    )


PRESET_OPTIONS = tuple((preset_label(size), size.value) for size in ResourceSize)
ARCH_OPTIONS = (("x86_64 (default)", "x86_64"), ("arm64 (qemu on x86_64 hosts)", "arm64"))
VALIDATION_OPTIONS = tuple((v, v) for v in ("UNSPECIFIED", "FORWARD", "REVERSE", "EVALUATION"))
IDLE_OPTIONS = (("suspend when idle", "suspend"), ("shut down when idle", "shutdown"))
BOOL_OPTIONS = (("true", "true"), ("false", "false"))
TYPE_OPTIONS = tuple((t, t) for t in SCORER_TYPES)

GENERAL = (
    Field(("name",), "Name", Kind.REQUIRED, "unique among active scenarios"),
    Field(("input_context", "problem_statement"), "Problem statement", Kind.REQUIRED_AREA),
    Field(
        ("reference_output",),
        "Reference solution",
        Kind.AREA,
        "a git diff (applied with git apply) or shell commands",
    ),
    Field(("validation_type",), "Validation type", Kind.CHOICE, options=VALIDATION_OPTIONS),
    Field(("scorer_timeout_sec",), "Scorer timeout (s)", Kind.INT, "default 1800"),
    Field(("metadata",), "Metadata", Kind.PAIRS, "KEY=value, one per line"),
    Field(
        ("input_context", "additional_context"), "Additional context", Kind.JSON, "a JSON object"
    ),
)

ENVIRONMENT = (
    Field(("environment_parameters", "blueprint_id"), "Blueprint", Kind.TEXT, "id or name"),
    Field(("environment_parameters", "snapshot_id"), "Snapshot", Kind.TEXT, "id or name"),
    Field(
        ("environment_parameters", "working_directory"),
        "Working directory",
        Kind.TEXT,
        "absolute path",
    ),
    Field((*LAUNCH, "resource_size_request"), "Preset", Kind.CHOICE, options=PRESET_OPTIONS),
    Field((*LAUNCH, "custom_cpu_cores"), "Custom CPU cores", Kind.FLOAT, "0.5, 1 or even"),
    Field((*LAUNCH, "custom_gb_memory"), "Custom memory GiB", Kind.INT, "1:2 to 1:8 of cpu"),
    Field((*LAUNCH, "custom_disk_size"), "Custom disk GiB", Kind.INT, "even, 2 to 64"),
    Field((*LAUNCH, "architecture"), "Architecture", Kind.CHOICE, options=ARCH_OPTIONS),
    Field(
        (*LAUNCH, "launch_commands"),
        "Launch commands",
        Kind.COMMANDS,
        "one per line, or each after a --- line",
    ),
    Field((*LAUNCH, "keep_alive_time_seconds"), "Keep alive (s)", Kind.INT, "at most 172800"),
    Field((*LAUNCH, "after_idle", "on_idle"), "When idle", Kind.CHOICE, options=IDLE_OPTIONS),
    Field((*LAUNCH, "after_idle", "idle_time_seconds"), "Idle after (s)", Kind.INT),
    Field(("required_environment_variables",), "Env variables", Kind.NAMES, "names, comma"),
    Field(("required_secret_names",), "Secret names", Kind.NAMES, "names; values never stored"),
    Field((*LAUNCH, "user_parameters", "username"), "User", Kind.TEXT),
    Field((*LAUNCH, "user_parameters", "uid"), "User id", Kind.INT),
    Field((*LAUNCH, "required_services"), "Required services", Kind.LINES, "one per line"),
    Field((*LAUNCH, "network_policy_id"), "Network policy", Kind.TEXT),
    Field((*LAUNCH, "available_ports"), "Ports (deprecated)", Kind.INTS),
    Field(
        (*LAUNCH, "lifecycle", "resume_triggers", "http"),
        "Resume on HTTP",
        Kind.BOOL,
        options=BOOL_OPTIONS,
    ),
    Field(
        (*LAUNCH, "lifecycle", "resume_triggers", "axon_event"),
        "Resume on event",
        Kind.BOOL,
        options=BOOL_OPTIONS,
    ),
)

CUSTOM_SIZE_FIELDS = {"custom_cpu_cores", "custom_gb_memory", "custom_disk_size"}


def scorer_fields(index: int, scorer_type: str) -> tuple[Field, ...]:
    base: Path = (*SCORERS, index)
    spec: Path = (*base, "scorer")
    common = (
        Field((*base, "name"), "Name", Kind.REQUIRED, "letters, digits, _ and -"),
        Field((*base, "weight"), "Weight", Kind.FLOAT, "> 0; all sum to 1"),
        Field((*spec, "type"), "Type", Kind.CHOICE, options=TYPE_OPTIONS),
    )
    by_type: dict[str, tuple[Field, ...]] = {
        "command_scorer": (Field((*spec, "command"), "Command", Kind.TEXT, "exit 0 scores 1"),),
        "bash_script_scorer": (
            Field((*spec, "bash_script"), "Bash script", Kind.AREA, "last line: score=X"),
        ),
        "python_script_scorer": (
            Field((*spec, "python_script"), "Python script", Kind.REQUIRED_AREA),
            Field((*spec, "requirements_contents"), "Requirements", Kind.AREA),
            Field((*spec, "python_version_constraint"), "Python version", Kind.TEXT, ">=3.11"),
        ),
        "test_based_scorer": (
            Field((*spec, "test_command"), "Test command", Kind.TEXT, "exit 0 scores 1"),
        ),
        "ast_grep_scorer": (
            Field((*spec, "search_directory"), "Search directory", Kind.REQUIRED),
            Field((*spec, "pattern"), "Pattern", Kind.REQUIRED, "any match scores 1"),
            Field((*spec, "lang"), "Language", Kind.TEXT, "python, rust, …"),
        ),
        "custom_scorer": (
            Field((*spec, "custom_scorer_type"), "Custom type", Kind.REQUIRED, "registered"),
            Field((*spec, "scorer_params"), "Parameters", Kind.JSON, "a JSON object"),
        ),
    }
    return common + by_type.get(scorer_type, ())


def file_fields(index: int, file_index: int) -> tuple[Field, ...]:
    base: Path = (*SCORERS, index, "scorer", "test_files", file_index)
    return (
        Field((*base, "file_path"), "File path", Kind.TEXT, "relative to the working dir"),
        Field((*base, "file_contents"), "Contents", Kind.AREA),
    )


# --------------------------------------------------------------------------- templates

BLANK: dict[str, Any] = {
    "name": "new-scenario",
    "input_context": {"problem_statement": "Describe the task the agent must solve."},
    "environment_parameters": {
        "working_directory": "/workspace",
        "launch_parameters": {"resource_size_request": "SMALL"},
    },
    "reference_output": "echo done > /workspace/DONE\n",
    "scoring_contract": {
        "scoring_function_parameters": [
            {
                "name": "done",
                "weight": 1.0,
                "scorer": {"type": "command_scorer", "command": "test -f /workspace/DONE"},
            }
        ]
    },
}

NEW_SCORER: dict[str, dict[str, Any]] = {
    "command_scorer": {"type": "command_scorer", "command": "true"},
    "bash_script_scorer": {"type": "bash_script_scorer", "bash_script": "echo score=1\n"},
    "python_script_scorer": {"type": "python_script_scorer", "python_script": "print(1.0)\n"},
    "test_based_scorer": {
        "type": "test_based_scorer",
        "test_command": "python3 -m unittest discover -s tests",
        "test_files": [],
    },
    "ast_grep_scorer": {"type": "ast_grep_scorer", "search_directory": ".", "pattern": ""},
    "custom_scorer": {"type": "custom_scorer", "custom_scorer_type": ""},
}


# --------------------------------------------------------------------------- the draft


def _prune(value: Any) -> Any:
    """Empty objects leave the document (an emptied section is an unset one)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            pruned = _prune(item)
            if isinstance(pruned, dict) and not pruned and key != "scorer_params":
                continue
            out[key] = pruned
        return out
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


class Draft:
    def __init__(self, document: dict[str, Any]) -> None:
        self.doc: dict[str, Any] = copy.deepcopy(document)
        self.local: dict[str, str] = {}  # field path -> why its text does not convert

    # ------------------------------------------------------------------ paths

    def get(self, path: Sequence[str | int]) -> Any:
        node: Any = self.doc
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return MISSING
        return node

    def set(self, path: Sequence[str | int], value: Any) -> None:
        """Write ``value`` at ``path`` (``MISSING`` removes it), making objects on the way."""
        node: Any = self.doc
        for part in path[:-1]:
            if isinstance(node, list):
                node = node[part]  # type: ignore[index]
                continue
            child = node.get(part)
            if not isinstance(child, dict | list):
                if value is MISSING:
                    return
                child = node[part] = {}
            node = child
        last = path[-1]
        if value is MISSING:
            if isinstance(node, dict):
                node.pop(last, None)
        else:
            node[last] = value

    def write(self, field: Field, text: str) -> None:
        """A field's text into the document; text that does not convert is kept aside."""
        try:
            value = parse(field.kind, text)
        except Invalid as error:
            self.local[field.where] = str(error)
            return
        self.local.pop(field.where, None)
        self.set(field.path, value)
        if field.path[-2:-1] == ("after_idle",):
            self._mirror_idle()

    def idle_base(self) -> Path:
        """Where the form edits the idle policy: ``after_idle``, or the scenario's
        ``lifecycle.after_idle`` when that is the only one it has."""
        if self.get(IDLE) is MISSING and self.get(LIFECYCLE_IDLE) is not MISSING:
            return LIFECYCLE_IDLE
        return IDLE

    def environment_fields(self) -> tuple[Field, ...]:
        base = self.idle_base()
        return tuple(
            replace(f, path=(*base, *f.path[len(IDLE) :])) if f.path[: len(IDLE)] == IDLE else f
            for f in ENVIRONMENT
        )

    def _mirror_idle(self) -> None:
        """``after_idle`` and ``lifecycle.after_idle`` must be equal: the form edits one
        and keeps the other in step when the scenario has both; an emptied policy goes."""
        base = self.idle_base()
        other = LIFECYCLE_IDLE if base == IDLE else IDLE
        idle = self.get(base)
        if idle is not MISSING and not idle.get("on_idle") and not idle.get("idle_time_seconds"):
            self.set(base, MISSING)
            idle = MISSING
        if self.get(other) is not MISSING:
            self.set(other, MISSING if idle is MISSING else copy.deepcopy(idle))

    def document(self) -> dict[str, Any]:
        return _prune(self.doc)

    def replace(self, document: dict[str, Any]) -> None:
        self.doc = copy.deepcopy(document)
        self.local.clear()

    # ------------------------------------------------------------------ validation

    def problems(self) -> list[Problem]:
        local = [Problem(where, reason) for where, reason in self.local.items()]
        try:
            validate_scenario(self.document())
        except DocumentError as error:
            shadowed = set(self.local)
            return local + [p for p in error.problems if p.path not in shadowed]
        return local

    def scenario(self) -> Scenario:
        """The valid scenario; raises DocumentError listing every problem."""
        problems = self.problems()
        if problems:
            raise DocumentError(problems)
        return validate_scenario(self.document())

    # ------------------------------------------------------------------ scorers

    @property
    def scorers(self) -> list[dict[str, Any]]:
        found = self.get(SCORERS)
        if not isinstance(found, list):
            found = []
            self.set(SCORERS, found)
        return found

    def _clear_local(self, prefix: str) -> None:
        for where in [w for w in self.local if w.startswith(prefix)]:
            del self.local[where]

    def add_scorer(self, after: int | None, scorer_type: str = "command_scorer") -> int:
        scorers = self.scorers
        taken = {s.get("name") for s in scorers if isinstance(s, dict)}
        number = len(scorers) + 1
        while f"scorer-{number}" in taken:
            number += 1
        index = len(scorers) if after is None else after + 1
        scorers.insert(
            index,
            {
                "name": f"scorer-{number}",
                "weight": round(1.0 / (len(scorers) + 1), 4),  # then normalise
                "scorer": copy.deepcopy(NEW_SCORER[scorer_type]),
            },
        )
        self.local.clear()  # indexes moved: conversion notes no longer match their fields
        return index

    def remove_scorer(self, index: int) -> None:
        del self.scorers[index]
        self.local.clear()

    def move_scorer(self, index: int, step: int) -> int:
        scorers = self.scorers
        target = index + step
        if not 0 <= target < len(scorers):
            return index
        scorers[index], scorers[target] = scorers[target], scorers[index]
        self.local.clear()
        return target

    def set_scorer_type(self, index: int, scorer_type: str) -> None:
        """A new type keeps the name and weight; its own fields start from the template."""
        entry = self.scorers[index]
        if entry.get("scorer", {}).get("type") == scorer_type:
            return
        entry["scorer"] = copy.deepcopy(NEW_SCORER[scorer_type])
        self._clear_local(format_loc((*SCORERS, index, "scorer")))

    def add_test_file(self, index: int) -> int:
        spec = self.scorers[index]["scorer"]
        files = spec.setdefault("test_files", [])
        files.append({"file_path": f"tests/test_new_{len(files) + 1}.py", "file_contents": ""})
        return len(files) - 1

    def remove_test_file(self, index: int, file_index: int) -> None:
        del self.scorers[index]["scorer"]["test_files"][file_index]
        self._clear_local(format_loc((*SCORERS, index, "scorer", "test_files")))

    def normalise_weights(self) -> None:
        """Scale the weights to sum to exactly 1 (4 decimals; the last takes the rest)."""
        weights = [s.get("weight") for s in self.scorers]
        if not weights:
            raise Invalid("no scorers to weigh")
        bad = [
            s.get("name") or f"#{i + 1}"
            for i, (s, w) in enumerate(zip(self.scorers, weights, strict=True))
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0
        ]
        if bad:
            raise Invalid(f"fix the weight of {', '.join(map(str, bad))} first (a number ≥ 0)")
        total = sum(weights)
        even = [1.0 / len(weights)] * len(weights)
        shares = even if total <= 0 else [w / total for w in weights]
        rounded = [round(share, 4) for share in shares]
        rounded[-1] = round(1.0 - sum(rounded[:-1]), 4)
        for scorer, weight in zip(self.scorers, rounded, strict=True):
            scorer["weight"] = weight
        self._clear_local(format_loc(SCORERS))


def owner(problem_path: str, field_paths: Sequence[str]) -> str | None:
    """The field a problem belongs to: the longest field path that is the problem's path
    or one of its parents (``a.b`` owns ``a.b``, ``a.b.c`` and ``a.b[0]``)."""
    best: str | None = None
    for path in field_paths:
        owns = problem_path == path or problem_path.startswith((path + ".", path + "["))
        if owns and (best is None or len(path) > len(best)):
            best = path
    return best
