"""CPU architectures: scenario names (x86_64, arm64), OCI names (amd64, arm64), and emulation."""

from __future__ import annotations

import platform
from pathlib import Path

from sandbench.model.scenario import Architecture

OCI_ARCH = {Architecture.X86_64: "amd64", Architecture.ARM64: "arm64"}
DEBIAN_ARCH = OCI_ARCH
UNAME = {Architecture.X86_64: "x86_64", Architecture.ARM64: "aarch64"}
WHEEL_PLATFORM = {
    Architecture.X86_64: "manylinux_2_17_x86_64",
    Architecture.ARM64: "manylinux_2_17_aarch64",
}
BINFMT = {Architecture.X86_64: "qemu-x86_64", Architecture.ARM64: "qemu-aarch64"}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


def host_arch() -> Architecture:
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return Architecture.ARM64
    return Architecture.X86_64


def from_oci(name: str) -> Architecture | None:
    for arch, oci in OCI_ARCH.items():
        if oci == name:
            return arch
    return None


def emulation_available(arch: Architecture) -> bool:
    """True when ``arch`` runs here: natively, or through a registered qemu binfmt handler."""
    if arch == host_arch():
        return True
    entry = BINFMT_DIR / BINFMT[arch]
    try:
        return entry.read_text().startswith("enabled")
    except OSError:
        return False


EMULATION_FIX = (
    "register qemu-user emulation: `apt-get install qemu-user-static` and run"
    " `make setup` as root (it mounts binfmt_misc and registers the handler)"
)
