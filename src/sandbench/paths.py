"""Where sandbench keeps its files.

``SANDBENCH_HOME`` overrides every location at once, so tests and users can keep separate
workspaces; otherwise the platform's conventional directories are used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP = "sandbench"


def _home() -> Path | None:
    value = os.environ.get("SANDBENCH_HOME")
    return Path(value).expanduser().resolve() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def data_dir() -> Path:
    home = _home()
    return _ensure(home / "data" if home else platformdirs.user_data_path(APP))


def config_dir() -> Path:
    home = _home()
    return _ensure(home / "config" if home else platformdirs.user_config_path(APP))


def log_dir() -> Path:
    home = _home()
    return _ensure(home / "logs" if home else platformdirs.user_log_path(APP))


def runtime_dir() -> Path:
    """Sockets and pid files of processes sandbench starts itself."""
    home = _home()
    if home:
        return _ensure(home / "run")
    if not os.environ.get("XDG_RUNTIME_DIR"):  # usual for root over SSH: no warning, our own
        return _ensure(data_dir() / "run")
    return _ensure(platformdirs.user_runtime_path(APP))


def database_path() -> Path:
    return data_dir() / "sandbench.db"


def config_path() -> Path:
    return config_dir() / "config.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def home_label() -> str:
    """A short, stable name for this workspace, put on its containers so that one
    workspace's clean-up never touches another's sandboxes."""
    return hashlib.sha256(str(data_dir()).encode()).hexdigest()[:16]
