"""Importers for task sets in other formats (headless core; no Textual, FastAPI or Ray).

``load(fmt, paths)`` maps every task it finds, pure (no store, no Podman): the scenarios,
what each needs built, the notes (rounded, recorded), and every refusal as a
``FileProblem`` naming the field and the reason. ``ensure_blueprints`` then builds what the
environments need, content-addressed, and points each scenario at its blueprint's id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sandbench.importers import harbor, swe_bench, terminal_bench
from sandbench.importers._common import BuildRequest, ImportedTask, Refused
from sandbench.model.problems import Problem
from sandbench.model.scenario import Architecture
from sandbench.store.files import FileProblem

FORMATS = ("harbor", "terminal-bench", "swe-bench")
_MODULES = {"harbor": harbor, "terminal-bench": terminal_bench}


@dataclass
class TaskReport:
    tasks: list[ImportedTask]
    problems: list[FileProblem]


def load(
    fmt: str,
    paths: Iterable[Path],
    *,
    architecture: Architecture = Architecture.X86_64,
    repo_dir: Path | None = None,
) -> TaskReport:
    """``repo_dir``: for swe-bench, the local clones the repositories are taken from."""
    tasks: list[ImportedTask] = []
    problems: list[FileProblem] = []
    for path in paths:
        if not path.exists():
            problems.append(FileProblem(path, Problem("", "no such file or directory")))
            continue
        if fmt == "swe-bench":
            _load_instances(path, repo_dir, architecture, tasks, problems)
            continue
        module = _MODULES[fmt]
        found = module.task_dirs(path)
        if not found:
            marker = "task.toml" if fmt == "harbor" else "task.yaml"
            problems.append(
                FileProblem(path, Problem("", f"no {fmt} task here (no {marker} in it or below)"))
            )
        for directory in found:
            try:
                tasks.append(module.load_task(directory, architecture=architecture))
            except Refused as refused:
                problems.append(FileProblem(directory, Problem(refused.field, refused.reason)))
    names: dict[str, Path] = {}
    for task in tasks:
        other = names.setdefault(task.scenario.name, task.source)
        if other != task.source:
            problems.append(
                FileProblem(task.source, Problem("name", f"{task.scenario.name!r} is also {other}"))
            )
    return TaskReport(tasks, problems)


def _load_instances(
    path: Path,
    repo_dir: Path | None,
    architecture: Architecture,
    tasks: list[ImportedTask],
    problems: list[FileProblem],
) -> None:
    files = swe_bench.instance_files(path)
    if not files:
        problems.append(FileProblem(path, Problem("", "no SWE-bench file (.json, .jsonl)")))
    for file in files:
        entries = swe_bench.instances(file)
        if not entries:
            problems.append(FileProblem(file, Problem("", "no SWE-bench instance in it")))
        for source, prefix, entry in entries:
            try:
                if isinstance(entry, Refused):
                    raise entry
                tasks.append(
                    swe_bench.load_instance(
                        entry, source, repo_dir=repo_dir, architecture=architecture
                    )
                )
            except Refused as refused:
                field = f"{prefix}{refused.field}" if refused.field else prefix.rstrip(".")
                problems.append(FileProblem(file, Problem(field, refused.reason)))


__all__ = ["FORMATS", "BuildRequest", "ImportedTask", "Refused", "TaskReport", "load"]
