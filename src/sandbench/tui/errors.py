"""Errors from below, as notifications that say what happened and what to do."""

from __future__ import annotations

import sqlite3
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sandbench import paths
from sandbench.engine.errors import (
    EngineError,
    HostCannotEnforce,
    ImageMissing,
    MissingRequirements,
    PodmanUnavailable,
)
from sandbench.errors import Conflict, InvalidInput, NotFound, SandbenchError


@dataclass(frozen=True)
class Notice:
    title: str
    message: str
    severity: str = "error"


def log_path() -> Path:
    return paths.log_dir() / "tui.log"


def _log_traceback(action: str, error: BaseException) -> Path | None:
    try:
        path = log_path()
        with path.open("a", encoding="utf-8") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} {action}\n")
            log.write("".join(traceback.format_exception(error)))
        return path
    except OSError:
        return None


def describe(action: str, error: BaseException) -> Notice:
    """A notification for ``error``, raised while doing ``action`` ("Run answer", …)."""
    message = str(error) or type(error).__name__
    if isinstance(error, PodmanUnavailable):
        return Notice(
            f"{action}: Podman unavailable",
            f"{message}\nStart Podman or set `podman_uri` (`sandbench config set`);"
            " `sandbench doctor` checks this host.",
        )
    if isinstance(error, ImageMissing):
        return Notice(f"{action}: image missing", message)
    if isinstance(error, MissingRequirements):
        return Notice(f"{action}: missing requirements", message)
    if isinstance(error, HostCannotEnforce):
        return Notice(f"{action}: host cannot enforce limits", message)
    if isinstance(error, EngineError):
        return Notice(f"{action}: engine error", f"{message}\n`sandbench doctor` checks this host.")
    if isinstance(error, InvalidInput | Conflict):
        return Notice(f"{action}: not possible", message, "warning")
    if isinstance(error, NotFound):
        return Notice(f"{action}: not found", message, "warning")
    if isinstance(error, SandbenchError):
        return Notice(f"{action} failed", message)
    if isinstance(error, sqlite3.Error):
        return Notice(f"{action}: the store failed", f"{message}\nIs the disk full or read-only?")
    if isinstance(error, OSError):
        return Notice(f"{action} failed", message)
    where = _log_traceback(action, error)
    detail = f"\nDetails in {where}" if where else ""
    return Notice(f"{action}: unexpected error", f"{type(error).__name__}: {message}{detail}")
