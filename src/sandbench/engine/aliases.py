"""Offline base images: a ``FROM`` reference that cannot be pulled resolves to a local image.

Behind a firewall a task set's ``FROM python:3.12-slim`` cannot be pulled, yet the user may
have an equivalent image locally. ``image_aliases`` in the config maps such references to
local images; before a blueprint build each ``FROM`` is made present (already local, else
pulled), and only when the pull fails is the alias used, by rewriting that ``FROM`` line.
The image in Podman's storage is never retagged, so a real pull later is never shadowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from podman import PodmanClient

from sandbench import config as config_module
from sandbench.engine.arch import OCI_ARCH
from sandbench.engine.errors import EngineError
from sandbench.errors import InvalidInput
from sandbench.model.scenario import Architecture

Log = Callable[[str], None]

# Docker's reference grammar (distribution/reference), enough to refuse a typo early.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+"
_DOMAIN = rf"(?:(?:{_HOST})/)"
REFERENCE = re.compile(
    rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
)
_FROM = re.compile(r"^(\s*FROM\s+)((?:--\S+\s+)*)(\S+)(.*)$", re.IGNORECASE)


def check_reference(ref: str, argument: str = "REF") -> str:
    """``ref`` stripped, or InvalidInput naming the argument."""
    ref = ref.strip()
    if not REFERENCE.match(ref):
        raise InvalidInput(
            f"{argument} {ref!r}: not an image reference (e.g. python:3.12-slim,"
            " docker.io/library/debian:bookworm)"
        )
    return ref


def normalize(ref: str) -> str:
    """Docker's canonical form, so ``python:3.12-slim`` and
    ``docker.io/library/python:3.12-slim`` name the same alias."""
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}"
        first, _, rest = name.partition("/")
    if first == "docker.io" and "/" not in rest:
        name = f"docker.io/library/{rest}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not at:
        name += ":latest"
    return name + (f"@{digest}" if at else "")


def lookup(aliases: Mapping[str, str], ref: str) -> str | None:
    wanted = normalize(ref)
    for key, local in aliases.items():
        if normalize(key) == wanted:
            return local
    return None


def base_references(dockerfile: str) -> list[str]:
    """The images a Dockerfile's ``FROM`` lines name: not ``scratch``, not an earlier
    stage, not one built from an ``ARG`` (left to the build)."""
    stages: set[str] = set()
    refs: list[str] = []
    for line in dockerfile.splitlines():
        found = _FROM.match(line)
        if found is None:
            continue
        ref, rest = found.group(3), found.group(4).split()
        if len(rest) == 2 and rest[0].lower() == "as":
            stages.add(rest[1].lower())
        if ref.lower() == "scratch" or ref.lower() in stages or "$" in ref:
            continue
        refs.append(ref)
    return refs


def present(client: PodmanClient, image: str) -> bool:
    try:
        return bool(client.images.exists(image))
    except Exception:  # a malformed name is simply not there
        return False


def pull_error(client: PodmanClient, ref: str, arch: Architecture) -> str | None:
    """Make ``ref`` present (kept if already local, else pulled); None, or why not."""
    params = {"reference": ref, "policy": "missing", "quiet": True, "OS": "linux"}
    params["Arch"] = OCI_ARCH[arch]
    try:
        response = client.api.post("/images/pull", params=params)
    except Exception as error:  # the service refused it (a bad reference, no connection)
        return str(error)
    if not response.ok:
        return response.text.strip() or f"HTTP {response.status_code}"
    for line in response.text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            return str(message["error"])
    return None


def resolve_dockerfile(
    client: PodmanClient,
    dockerfile: str,
    aliases: Mapping[str, str],
    log: Log,
    *,
    arch: Architecture,
) -> str:
    """The Dockerfile with every unpullable ``FROM`` pointed at its alias (logged).
    EngineError, with the fix, when one can be neither pulled nor aliased."""
    replacements: dict[str, str] = {}
    for ref in dict.fromkeys(base_references(dockerfile)):
        why = pull_error(client, ref, arch)
        if why is None:
            continue
        local = lookup(aliases, ref)
        if local is None:
            raise EngineError(
                f"FROM {ref} could not be pulled ({why}); if you have it under another name:"
                f" `sandbench images alias {ref} LOCAL_IMAGE`"
            )
        if not present(client, local):
            raise EngineError(
                f"FROM {ref} could not be pulled, and its alias {local} is not in Podman's"
                f" storage (`sandbench images alias` lists the aliases)"
            )
        log(f"FROM {ref} could not be pulled; using alias {local}")
        replacements[ref] = local
    if not replacements:
        return dockerfile
    lines = []
    for line in dockerfile.splitlines(keepends=True):
        found = _FROM.match(line.rstrip("\r\n"))
        if found is not None and found.group(3) in replacements:
            ending = line[len(line.rstrip("\r\n")) :]
            head, flags, ref, rest = found.groups()
            line = f"{head}{flags}{replacements[ref]}{rest}{ending}"
        lines.append(line)
    return "".join(lines)


def resolved_recipe(
    client: PodmanClient,
    recipe: Path,
    scratch: Path,
    aliases: Mapping[str, str],
    log: Log,
    *,
    arch: Architecture,
) -> Path:
    """The Dockerfile to build: ``recipe`` itself, or a rewritten copy in ``scratch``."""
    text = recipe.read_text(encoding="utf-8", errors="replace")
    resolved = resolve_dockerfile(client, text, aliases, log, arch=arch)
    if resolved == text:
        return recipe
    out = scratch / "Dockerfile.aliased"
    out.write_text(resolved, encoding="utf-8")
    return out


# ------------------------------------------------------------------ the config's aliases


def add(client: PodmanClient, ref: str, local: str, path: Path | None = None) -> str:
    """Alias ``ref`` to the local image ``local``; checked before the config is written."""
    ref = check_reference(ref, "REF")
    local = local.strip()
    if not local or not present(client, local):
        raise InvalidInput(
            f"LOCAL_IMAGE {local!r}: no such image in Podman's storage (`podman images` lists"
            " them; `sandbench images list` lists sandbench's)"
        )
    config = config_module.load(path)
    kept = {k: v for k, v in config.image_aliases.items() if normalize(k) != normalize(ref)}
    config_module.save(config.model_copy(update={"image_aliases": {**kept, ref: local}}), path)
    return ref


def remove(ref: str, path: Path | None = None) -> str:
    """Remove the alias of ``ref``; the image it pointed at stays."""
    ref = check_reference(ref, "REF")
    config = config_module.load(path)
    kept = {k: v for k, v in config.image_aliases.items() if normalize(k) != normalize(ref)}
    if len(kept) == len(config.image_aliases):
        raise InvalidInput(f"REF {ref!r}: no alias for it (`sandbench images alias` lists them)")
    config_module.save(config.model_copy(update={"image_aliases": kept}), path)
    return ref
