"""Offline base images: `images alias REF LOCAL_IMAGE` makes an unpullable FROM build."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sandbench import paths
from sandbench.engine import aliases
from tests.engine_support import require_podman, sandbench
from tests.importers.test_import_rules import harbor_task

BASE = "localhost/sandbench-base:latest"
UNPULLABLE = "some-unpullable/image:tag"


# --------------------------------------------------------------------------- pure


def test_references_are_compared_in_dockers_canonical_form() -> None:
    assert aliases.normalize("python:3.12-slim") == "docker.io/library/python:3.12-slim"
    assert aliases.normalize("python") == "docker.io/library/python:latest"
    assert aliases.normalize("ghcr.io/a/b") == "ghcr.io/a/b:latest"
    table = {"docker.io/library/python:3.12-slim": BASE}
    assert aliases.lookup(table, "python:3.12-slim") == BASE
    assert aliases.lookup(table, "python:3.13-slim") is None


def test_only_real_base_images_are_resolved() -> None:
    dockerfile = (
        "ARG BASE=debian\n"
        "FROM --platform=linux/amd64 python:3.12-slim AS build\n"
        "FROM build\nFROM scratch\nFROM $BASE\nfrom debian:12 as final\n"
    )
    assert aliases.base_references(dockerfile) == ["python:3.12-slim", "debian:12"]


@pytest.mark.parametrize("ref", ["Bad Ref!", "a:b:c", "UPPER/case", ""])
def test_a_malformed_reference_is_refused_by_name_and_the_config_is_untouched(ref: str) -> None:
    result = sandbench("images", "alias", ref, BASE)
    assert result.returncode == 2
    assert f"REF {ref.strip()!r}: not an image reference" in result.stderr
    assert not paths.config_path().exists()


def test_half_an_alias_and_an_unknown_unalias_are_refused() -> None:
    result = sandbench("images", "alias", "python:3.12-slim")
    assert result.returncode == 2 and "needs REF and LOCAL_IMAGE" in result.stderr
    result = sandbench("images", "unalias", "python:3.12-slim")
    assert result.returncode == 2 and "REF 'python:3.12-slim': no alias" in result.stderr


# --------------------------------------------------------------------------- podman


def blueprint_dir(tmp_path: Path, base: str) -> Path:
    source = tmp_path / "bp"
    source.mkdir()
    (source / "Dockerfile").write_text(
        f"FROM {base}\nCOPY marker.txt /marker.txt\nRUN test -s /marker.txt\n"
    )
    (source / "marker.txt").write_text("offline\n")
    return source


@pytest.mark.podman
def test_an_unknown_local_image_is_refused_and_the_config_is_untouched() -> None:
    require_podman()
    result = sandbench("images", "alias", "python:3.12-slim", "localhost/no-such-image:1")
    assert result.returncode == 2
    assert "LOCAL_IMAGE 'localhost/no-such-image:1': no such image" in result.stderr
    assert not paths.config_path().exists()


@pytest.mark.podman
@pytest.mark.slow
def test_an_unpullable_from_builds_on_its_alias_and_fails_clearly_without(tmp_path: Path) -> None:
    require_podman()
    source = blueprint_dir(tmp_path, UNPULLABLE)

    without = sandbench("blueprints", "build", "offline", str(source))
    assert without.returncode == 1
    assert f"FROM {UNPULLABLE} could not be pulled" in without.stderr
    assert f"`sandbench images alias {UNPULLABLE} LOCAL_IMAGE`" in without.stderr

    added = sandbench("images", "alias", f"docker.io/{UNPULLABLE}", BASE)  # canonical form
    assert added.returncode == 0, added.stderr
    assert json.loads(sandbench("images", "alias", "--json").stdout) == [
        {"ref": f"docker.io/{UNPULLABLE}", "local": BASE, "present": True}
    ]
    assert "image_aliases" in paths.config_path().read_text()

    built = sandbench("blueprints", "build", "offline", str(source))
    assert built.returncode == 0, built.stderr
    assert f"FROM {UNPULLABLE} could not be pulled; using alias {BASE}" in built.stderr
    assert (source / "Dockerfile").read_text().startswith(f"FROM {UNPULLABLE}")  # untouched

    doctor = json.loads(sandbench("doctor", "--json").stdout)
    (shown,) = [c for c in doctor["checks"] if c["name"] == f"alias docker.io/{UNPULLABLE}"]
    assert shown["status"] == "ok" and shown["detail"] == f"-> {BASE}"

    removed = sandbench("images", "unalias", UNPULLABLE)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(sandbench("images", "alias", "--json").stdout) == []
    again = sandbench("blueprints", "build", "offline-again", str(source))
    assert again.returncode == 1 and "could not be pulled" in again.stderr
    subprocess.run(["podman", "rmi", "localhost/sandbench-blueprint-offline:latest"], check=False)


@pytest.mark.podman
@pytest.mark.slow
def test_an_imported_docker_image_task_builds_on_its_alias(tmp_path: Path) -> None:
    """The importer's blueprint builds (in the background) resolve too, said in the log."""
    require_podman()
    task = harbor_task(
        tmp_path,
        f'[environment]\ndocker_image = "{UNPULLABLE}"\nworkdir = "/workspace"\n',
        name="aliased",
    )
    refused = sandbench("scenarios", "import", "--format", "harbor", str(task))
    assert refused.returncode == 1
    assert f"FROM {UNPULLABLE} could not be pulled" in refused.stderr

    assert sandbench("images", "alias", UNPULLABLE, BASE).returncode == 0
    result = sandbench("scenarios", "import", "--format", "harbor", "--json", str(task))
    assert result.returncode == 0, result.stderr
    blueprints = json.loads(sandbench("blueprints", "list", "--json").stdout)
    built = [b for b in blueprints if b["status"] == "build_complete"]
    assert len(built) == 1
    assert f"FROM {UNPULLABLE} could not be pulled; using alias {BASE}" in built[0]["build_log"]
