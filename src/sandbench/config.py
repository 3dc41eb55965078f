"""User settings in ``config.toml`` (read with tomllib, written with tomli-w)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbench import paths
from sandbench.errors import InvalidInput
from sandbench.model.problems import problems_from

DEFAULT_IMAGE = "localhost/sandbench-base:latest"
POOL_PRESETS = ("X_SMALL", "SMALL", "MEDIUM", "LARGE", "X_LARGE", "XX_LARGE")
MAX_POOL_COUNT = 16


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        default=None,
        description="Ray address benchmark runs go to by default (`auto`, HOST:PORT or"
        " ray://HOST:10001); unset: they run on this machine.",
    )


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    podman_uri: str | None = Field(
        default=None,
        description="Podman service URI (unix:///run/podman/podman.sock, ssh://user@host/...)."
        " Unset: CONTAINER_HOST, the usual sockets, or a private service sandbench starts.",
    )
    default_image: str = Field(
        default=DEFAULT_IMAGE, description="Image for scenarios with no blueprint or snapshot."
    )
    theme: str = Field(default="sandbench-dark", description="Theme name of the TUI.")
    concurrency: int = Field(
        default=2, ge=1, le=64, description="Scenario runs at once in a benchmark run."
    )
    retries: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Times a benchmark case is run again after an infrastructure failure"
        " (never after a score, an out-of-memory or an out-of-disk).",
    )
    trust_host_ca: bool = Field(
        default=True,
        description="Give sandboxes with network the host's CA bundle (needed behind a"
        " TLS-intercepting proxy).",
    )
    exec_agent: bool = Field(
        default=True,
        description="Run commands through a small agent inside each sandbox (about 1 ms an"
        " exec, no host process left behind) instead of a Podman exec each; built by"
        " `make setup`. Off, or not built: Podman execs.",
    )
    warm_pool: dict[str, int] = Field(
        default_factory=lambda: {"X_SMALL": 2, "SMALL": 2},
        description="Warm sandboxes kept ready per size preset (default image, x86_64,"
        " default network) by the workbench and `serve`: a create is then a claim."
        " `config set warm_pool.MEDIUM 1`; 0 keeps none, an empty value restores the default.",
    )
    isolation: bool = Field(
        default=True,
        description="Least privilege (no-new-privileges, a cut capability set), a network of"
        " each sandbox's own, and the host's services walled off from sandboxes (iptables)."
        " Turn off only to compare its cost or on a host without iptables; `doctor` says which.",
    )
    user_namespaces: bool = Field(
        default=True,
        description="Give each new sandbox a user namespace: its uid 0 is an unprivileged host"
        " uid of a range of its own (from the `sandbench` entry of /etc/subuid and /etc/subgid)."
        " A host that cannot (`doctor` says) refuses sandboxes until this is off.",
    )
    oci_runtime: str | None = Field(
        default=None, description="OCI runtime override (runc, crun). Unset: detect one that works."
    )
    retention_keep_runs_per_scenario: int = Field(
        default=3,
        ge=0,
        description="Sandboxes kept for reruns: those of the newest N runs of each scenario"
        " (of its runs that still have one); older ones go when a run finishes, when the"
        " workbench starts and on `sandboxes gc`. 0: no limit.",
    )
    retention_suspended_ttl_hours: float = Field(
        default=72.0,
        ge=0,
        description="A run's sandbox suspended (idle) for longer than this many hours is removed,"
        " even among the newest runs. 0: never.",
    )
    image_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Local images that stand in for base images which cannot be pulled"
        " (`sandbench images alias REF LOCAL_IMAGE`); used only when the pull fails.",
    )
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings,
        description="cluster.address: Ray address benchmark runs go to by default"
        " (`auto`, HOST:PORT, ray://HOST:10001); unset: this machine.",
    )
    keymap: dict[str, str] = Field(
        default_factory=dict,
        description="TUI keys by binding id (ids in ctrl+p and ? help):"
        " `config set keymap.scenarios.run x`; an empty value restores the default.",
    )

    @field_validator("keymap")
    @classmethod
    def _keys_named(cls, value: dict[str, str]) -> dict[str, str]:
        for binding_id, key in value.items():
            if not key.strip():
                raise ValueError(f"keymap.{binding_id}: empty key (unset it instead)")
        return value

    @field_validator("warm_pool")
    @classmethod
    def _pool_sizes(cls, value: dict[str, int]) -> dict[str, int]:
        for size, count in value.items():
            if size not in POOL_PRESETS or not 0 <= count <= MAX_POOL_COUNT:
                raise ValueError(pool_problem(size))
        return value

    @field_validator("image_aliases")
    @classmethod
    def _aliases_named(cls, value: dict[str, str]) -> dict[str, str]:
        for ref, local in value.items():
            if not ref.strip() or not local.strip() or any(c.isspace() for c in ref + local):
                raise ValueError(f"image_aliases.{ref}: a reference and a local image")
        return value


def pool_problem(size: str) -> str:
    """What a ``warm_pool`` entry must be, naming the entry (config file and ``config set``)."""
    return (
        f"warm_pool.{size}: the size must be one of {', '.join(POOL_PRESETS)}"
        f" and the count a whole number 0..{MAX_POOL_COUNT}"
    )


def describe_keys() -> dict[str, str]:
    return {name: field.description or "" for name, field in Config.model_fields.items()}


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{path}: invalid TOML: {error}") from None


def load(path: Path | None = None) -> Config:
    path = path or paths.config_path()
    try:
        return Config.model_validate(_read(path))
    except ValidationError as error:
        details = "; ".join(map(str, problems_from(error)))
        raise InvalidInput(f"{path}: {details}") from None


def save(config: Config, path: Path | None = None) -> Path:
    path = path or paths.config_path()
    data = config.model_dump(exclude_defaults=True, exclude_none=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash never leaves half a config
    return path


def _pool_sizes(config: Config, size: str, raw: str) -> dict[str, int]:
    """``warm_pool`` with ``size`` set from its command-line text: a count, 0 (none kept,
    the entry goes) or empty (that size's default). Checked here, before any write, so the
    message names the entry rather than the whole table."""
    sizes = dict(config.warm_pool)
    if size not in POOL_PRESETS:
        raise InvalidInput(
            f"config warm_pool.{size}: no such size preset (sizes: {', '.join(POOL_PRESETS)})"
        )
    if raw == "":
        default = Config.model_fields["warm_pool"].get_default(call_default_factory=True)
        count = default.get(size, 0)
    else:
        try:
            count = int(raw.strip())
        except ValueError:
            count = -1
        if not 0 <= count <= MAX_POOL_COUNT:
            raise InvalidInput(
                f"config warm_pool.{size}: the count must be a whole number 0..{MAX_POOL_COUNT},"
                f" not {raw!r}"
            )
    sizes[size] = count
    return {name: sizes[name] for name in POOL_PRESETS if sizes.get(name)}  # 0: no entry


def set_value(key: str, raw: str, path: Path | None = None) -> Config:
    """Set one key from its command-line text; empty text resets it to the default.
    ``keymap.ID`` sets (or, empty, removes) one entry of the keymap table; ``warm_pool.SIZE``
    one size of the warm pool (0: none of it; empty: its default)."""
    table, _, entry = key.partition(".")
    if table == "warm_pool" and entry:
        config = load(path)
        new = config.model_copy(update={"warm_pool": _pool_sizes(config, entry, raw)})
        save(new, path)
        return new
    if table == "cluster" and entry in ClusterSettings.model_fields:
        config = load(path)
        settings = config.cluster.model_dump(exclude_none=True)
        if raw == "":
            settings.pop(entry, None)
        else:
            settings[entry] = raw
        new = config.model_copy(update={"cluster": ClusterSettings.model_validate(settings)})
        save(new, path)
        return new
    if key not in Config.model_fields and not (table == "keymap" and entry):
        keys = ", ".join(
            [*Config.model_fields, "cluster.address", "keymap.BINDING_ID", "warm_pool.SIZE"]
        )
        raise InvalidInput(f"unknown config key {key!r} (keys: {keys})")
    config = load(path)
    data = config.model_dump(exclude_defaults=True, exclude_none=True)
    if entry:
        mapping = dict(data.get("keymap", {}))
        if raw == "":
            mapping.pop(entry, None)
        else:
            mapping[entry] = raw
        data["keymap"] = mapping
    elif raw == "":
        data.pop(key, None)
    else:
        data[key] = raw
    try:
        new = Config.model_validate(data)
    except ValidationError as error:
        details = "; ".join(map(str, problems_from(error)))
        raise InvalidInput(f"config {details}") from None
    save(new, path)
    return new
