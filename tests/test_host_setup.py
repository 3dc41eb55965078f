"""What the project's set-up promises to install. In CI a missing tool fails; elsewhere it skips."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, what: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} (scripts/setup.sh should have installed it)")
    pytest.skip(f"{what}; run `make setup` (as root) to install it")


@pytest.mark.parametrize(
    "tool", ["podman", "runc", "qemu-aarch64-static", "debootstrap", "tmux", "git", "go"]
)
def test_tool_installed(tool: str) -> None:
    require(shutil.which(tool) is not None, f"{tool} is not on PATH")


def test_podman_answers() -> None:
    require(shutil.which("podman") is not None, "podman is not on PATH")
    result = subprocess.run(
        ["podman", "version", "--format", "{{.Client.Version}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()[0].isdigit()


def test_arm64_emulation_registered() -> None:
    require(
        Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(),
        "the qemu aarch64 binfmt handler is not registered",
    )
    assert "enabled" in Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").read_text()


def test_setup_is_idempotent_and_quiet_when_done() -> None:
    """A second set-up does nothing: no apt, no pip, just 'ready'."""
    result = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SANDBENCH_SKIP_SYSTEM": "0" if IN_CI else "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "setup: ready"
    for busy in ("apt-get", "installing", "creating", "building"):
        assert busy not in result.stderr
