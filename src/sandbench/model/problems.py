"""Turn pydantic validation errors into ``field.path: reason`` problems a person can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from sandbench.model.scenario import SCORER_TYPES


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "scoring_contract.scoring_function_parameters[1].weight"; "" = whole document
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


def format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        # a discriminated union puts the tag in the path (…scorer.command_scorer.command)
        if part in SCORER_TYPES and index > 0 and loc[index - 1] == "scorer":
            continue
        out += f".{part}" if out else part
    return out


_REASONS = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "union_tag_not_found": "missing 'type' (one of: " + ", ".join(SCORER_TYPES) + ")",
}


def _reason(error: dict) -> str:
    kind = error["type"]
    if kind in _REASONS:
        return _REASONS[kind]
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return f"unknown scorer type {tag!r} (one of: {', '.join(SCORER_TYPES)})"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not one of {expected}"
    message: str = error["msg"]
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    if kind.endswith("_type") and "input" in error:
        message += f" (got {type(error['input']).__name__} {error['input']!r})"
    return message


def problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    problems = []
    for item in error.errors():
        path = format_loc(item["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else prefix + path
        problems.append(Problem(path, _reason(item)))
    return problems
