"""``test_based_scorer``: write each of ``test_files`` (``file_path`` relative to the working
directory, or absolute; missing contents write an empty file), then run ``test_command``
through the shell from the working directory. Exit 0 scores 1.0, anything else 0.0.

The test files stay where they were written (they are part of what was scored). Counts
are read from the runner's summary lines in the combined output and kept in
``details``: ``passed``, ``failed``, ``errors``, ``skipped``, ``total`` and ``runner``.
Recognised: unittest (``Ran N tests`` followed by ``OK`` / ``FAILED (failures=F,
errors=E, skipped=S, ...)``) and pytest (``3 passed, 1 failed, 2 errors in 0.12s``). A
command that runs several suites (``a && b``) gets their counts summed. Output that
matches neither leaves the counts out; the score does not depend on them.
"""

from __future__ import annotations

import re
from typing import Any

from sandbench.model.runs import ScorerState
from sandbench.model.scenario import TestBasedScorer
from sandbench.scoring._common import Clock, guarded
from sandbench.scoring.base import ScorerContext, ScorerOutcome

_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s\s*$", re.MULTILINE)
_UNITTEST_VERDICT = re.compile(r"^(OK|FAILED)(?: \(([^)]*)\))?\s*$", re.MULTILINE)
_PYTEST_SUMMARY = re.compile(
    r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [\d.]+s(?: \([^)]*\))?\s*=*\s*$", re.MULTILINE
)
_PYTEST_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "error": "errors",
    "errors": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
}


def _unittest_counts(output: str) -> dict[str, int] | None:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "total": 0}
    found = False
    for ran in _UNITTEST_RAN.finditer(output):
        verdict = _UNITTEST_VERDICT.search(output, ran.end())
        if verdict is None:
            continue
        found = True
        total = int(ran[1])
        fields: dict[str, int] = {}
        for part in (verdict[2] or "").split(","):
            name, _, value = part.partition("=")
            if value.strip().isdigit():
                fields[name.strip()] = int(value)
        failed = fields.get("failures", 0) + fields.get("unexpected successes", 0)
        errors = fields.get("errors", 0)
        skipped = fields.get("skipped", 0)
        counts["total"] += total
        counts["failed"] += failed
        counts["errors"] += errors
        counts["skipped"] += skipped
        counts["passed"] += max(total - failed - errors - skipped, 0)
    return counts if found else None


def _pytest_counts(output: str) -> dict[str, int] | None:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    found = False
    for summary in _PYTEST_SUMMARY.finditer(output):
        parts = [p.split(" ", 1) for p in summary[1].split(", ") if p]
        if not parts or any(len(p) != 2 for p in parts):
            continue
        words = {word for _, word in parts}
        # Only lines made of pytest's own outcome words ("warnings"/"deselected" may join).
        if not words & set(_PYTEST_WORDS) or words - {
            *_PYTEST_WORDS,
            "warning",
            "warnings",
            "deselected",
            "rerun",
        }:
            continue
        found = True
        for number, word in parts:
            key = _PYTEST_WORDS.get(word)
            if key is not None:
                counts[key] = counts.get(key, 0) + int(number)
    if not found:
        return None
    counts["total"] = sum(v for k, v in counts.items())
    return counts


def parse_test_counts(output: str) -> dict[str, Any] | None:
    """Pass/fail counts from unittest and/or pytest summary lines, or None."""
    found: list[tuple[str, dict[str, int]]] = []
    for runner, parser in (("pytest", _pytest_counts), ("unittest", _unittest_counts)):
        counts = parser(output)
        if counts is not None:
            found.append((runner, counts))
    if not found:
        return None
    merged: dict[str, Any] = {}
    for _, counts in found:
        for key, value in counts.items():
            merged[key] = merged.get(key, 0) + value
    merged["runner"] = "+".join(runner for runner, _ in found)
    return merged


@guarded
def score(spec: TestBasedScorer, ctx: ScorerContext) -> ScorerOutcome:
    if spec.test_command is None or not spec.test_command.strip():
        return ScorerOutcome.error("test_based_scorer has no test_command to run")
    files = spec.test_files or []
    for index, test_file in enumerate(files):
        if test_file.file_path is None or not test_file.file_path.strip():
            return ScorerOutcome.error(f"test_files[{index}] has no file_path")
    clock = Clock(ctx)
    for test_file in files:
        assert test_file.file_path is not None
        ctx.write_file(test_file.file_path, test_file.file_contents or "")
    result = clock.exec(spec.test_command)
    details: dict[str, Any] = {"test_files": [f.file_path for f in files]}
    counts = parse_test_counts(result.output)
    if counts is not None:
        details.update(counts)
    return ScorerOutcome(
        ScorerState.COMPLETE, 1.0 if result.exit_code == 0 else 0.0, result.exit_code, details
    )
