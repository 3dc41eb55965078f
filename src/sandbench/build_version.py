"""Which sandbench a process runs: the package version and a digest of its source.

A cluster's head and nodes must run the same code: the head ships orders and reads back
events whose shapes are this code's, and a node's runner scores with it. The package
version alone does not tell two checkouts apart (a source tree run in place is always
``0.0.0+unknown``), so the digest of the package's Python files joins it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from sandbench import __version__


@cache
def source_digest() -> str:
    """The first 12 hex digits of a SHA-256 over the package's ``.py`` files (their paths
    and contents, in path order)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_version() -> str:
    """``VERSION+src.DIGEST``: equal only for the same release and the same source."""
    return f"{__version__.split('+')[0]}+src.{source_digest()}"
