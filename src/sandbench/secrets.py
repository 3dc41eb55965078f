"""Local secret store: values in a 0600 TOML file beside the config, never in the database.

Runs and sandboxes refer to secrets by name; values are read only when a sandbox starts,
and anything printed afterwards is redacted by the caller with ``redactor()``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import tomli_w

from sandbench import paths
from sandbench.errors import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REDACTED = "***"

# values handed to this process for one piece of work (a cluster node's case): held in
# memory only, never written, and looked up before the file
_provided: dict[str, str] = {}
_provided_lock = threading.Lock()


def secrets_path() -> Path:
    return paths.config_dir() / "secrets.toml"


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{path}: invalid TOML: {error}") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


def names() -> list[str]:
    return sorted(_read(secrets_path()))


def get_values(wanted: Iterable[str]) -> dict[str, str]:
    """The values of the named secrets that exist (missing ones are simply absent)."""
    wanted = list(wanted)
    with _provided_lock:
        held = {name: _provided[name] for name in wanted if name in _provided}
    if len(held) == len(wanted):
        return held
    stored = _read(secrets_path())
    return {
        name: held.get(name, stored.get(name, ""))
        for name in wanted
        if name in held or name in stored
    }


@contextlib.contextmanager
def provided(values: Mapping[str, str]) -> Iterator[None]:
    """Secrets given in memory for the duration of the block (a cluster node gets the
    head's values this way); they shadow the file and are forgotten afterwards."""
    with _provided_lock:
        before = {name: _provided.get(name) for name in values}
        _provided.update(values)
    try:
        yield
    finally:
        with _provided_lock:
            for name, value in before.items():
                if value is None:
                    _provided.pop(name, None)
                else:
                    _provided[name] = value


def set_secret(name: str, value: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"secret name {name!r} must be letters, digits and '_', not starting with a digit"
        )
    if value == "":
        raise InvalidInput(f"secret {name} is empty; pipe the value on standard input")
    path = secrets_path()
    stored = _read(path)
    stored[name] = value
    _write(path, stored)


def delete_secret(name: str) -> bool:
    path = secrets_path()
    stored = _read(path)
    if name not in stored:
        return False
    del stored[name]
    _write(path, stored)
    return True


def _write(path: Path, data: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(tomli_w.dumps(data))
    os.replace(tmp, path)
    path.chmod(0o600)


def redactor(values: Iterable[str]) -> Callable[[str], str]:
    """A function that replaces every given secret value in a text with ``***``."""
    secrets = sorted({v for v in values if v}, key=len, reverse=True)  # longest first
    if not secrets:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in secrets))
    return lambda text: pattern.sub(REDACTED, text)
