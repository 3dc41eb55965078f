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

from sandbench.errors import InvalidInput
from sandbench.importers import harbor, swe_bench, terminal_bench
from sandbench.importers._common import BuildRequest, ImportedTask, Refused
from sandbench.model.problems import Problem
from sandbench.model.scenario import Architecture
from sandbench.store.files import FileProblem

FORMATS = ("harbor", "terminal-bench", "swe-bench")
SANDBENCH = "sandbench"  # the project's own TOML/JSON scenario files
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
    for path in task_paths(list(paths)):
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


def detect(path: Path) -> str:
    """The format ``path`` holds, so a user (or the workbench's import prompt) need not say:
    Harbor task directories (``task.toml``), Terminal-Bench 1 (``task.yaml``), SWE-bench
    instances (``.json``/``.jsonl`` with ``instance_id``), else sandbench's own files."""
    if path.is_dir():
        if harbor.task_dirs(path):
            return "harbor"
        if terminal_bench.task_dirs(path):
            return "terminal-bench"
    if path.is_file() and path.name == "task.toml":
        return "harbor"
    if path.is_file() and path.name == "task.yaml":
        return "terminal-bench"
    files = swe_bench.instance_files(path) if path.exists() else []
    if any(_has_instances(file) for file in files if file.suffix in (".json", ".jsonl")):
        return "swe-bench"
    return SANDBENCH


def detect_all(paths: Iterable[Path]) -> str:
    """The one format all ``paths`` hold (missing paths are left to the loader to report);
    InvalidInput naming them when they differ."""
    found = {path: detect(path) for path in paths if path.exists()}
    formats = set(found.values())
    if len(formats) > 1:
        shown = ", ".join(f"{path}: {fmt}" for path, fmt in found.items())
        raise InvalidInput(f"PATH: these hold different formats ({shown}); import them apart")
    return formats.pop() if formats else SANDBENCH


def _has_instances(file: Path) -> bool:
    return any(
        isinstance(entry, dict) and "instance_id" in entry
        for _source, _prefix, entry in swe_bench.instances(file)
    )


def task_paths(paths: list[Path]) -> list[Path]:
    """A task file given by name stands for its task directory."""
    return [p.parent if p.is_file() and p.name in ("task.toml", "task.yaml") else p for p in paths]


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


__all__ = [
    "FORMATS",
    "SANDBENCH",
    "BuildRequest",
    "ImportedTask",
    "Refused",
    "TaskReport",
    "detect",
    "detect_all",
    "load",
]
