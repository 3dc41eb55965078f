"""Command line interface of tidy."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CATEGORIES = {
    "images": {".jpg", ".jpeg", ".png", ".gif", ".webp"},
    "documents": {".pdf", ".txt", ".md", ".docx", ".odt"},
    "archives": {".zip", ".tar", ".gz", ".tgz", ".xz"},
}
OTHER = "other"


def category_for(path: Path) -> str:
    """Name of the sub-folder a file belongs in."""
    suffix = path.suffix.lower()
    for name, suffixes in CATEGORIES.items():
        if suffix in suffixes:
            return name
    return OTHER


def plan_moves(directory: Path) -> list[tuple[Path, Path]]:
    """(source, destination) for every visible regular file directly in ``directory``."""
    moves = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            moves.append((entry, directory / category_for(entry) / entry.name))
    return moves


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidy",
        description="Sort the files of DIRECTORY into sub-folders by kind "
        "(images, documents, archives, other).",
    )
    parser.add_argument("directory", type=Path, help="directory to tidy")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    directory: Path = args.directory
    if not directory.is_dir():
        print(f"tidy: not a directory: {directory}", file=sys.stderr)
        return 2
    for source, destination in plan_moves(directory):
        destination.parent.mkdir(exist_ok=True)
        shutil.move(source, destination)
        print(f"moved {source} -> {destination}")
    return 0
