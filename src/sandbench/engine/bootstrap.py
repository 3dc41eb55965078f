"""Build the default base image offline: debootstrap a Debian rootfs and import it.

No container registry is needed, only Debian's package mirror and PyPI (for the ast-grep
and uv binaries, which ship as manylinux wheels). A foreign architecture (arm64 on an
x86_64 host) is bootstrapped in two stages, the second under qemu-user emulation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from sandbench.engine.arch import (
    DEBIAN_ARCH,
    EMULATION_FIX,
    OCI_ARCH,
    WHEEL_PLATFORM,
    emulation_available,
    host_arch,
)
from sandbench.engine.errors import EngineError
from sandbench.model.scenario import Architecture

Progress = Callable[[str], None]

SUITE = "bookworm"
MIRROR = os.environ.get("SANDBENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = [
    "python3",
    "python3-venv",
    "python3-pip",
    "git",
    "ca-certificates",
    "curl",
    "procps",
    "patch",
    "less",
]
# (wheel, binaries inside it) placed in /usr/local/bin
TOOLS = {"ast-grep-cli": ("ast-grep", "sg"), "uv": ("uv", "uvx")}
IMAGE_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
    "WORKDIR /workspace",
    'CMD ["sleep", "infinity"]',
    "LABEL io.sandbench.base=1",
]


def _run(cmd: list[str], progress: Progress, *, what: str, **kwargs: object) -> None:
    """Run ``cmd`` streaming its output to ``progress``; raise naming ``what`` on failure."""
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        **kwargs,  # type: ignore[call-overload]
    )
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        tail = [*tail[-19:], line]
        progress(line)
    if process.wait() != 0:
        raise EngineError(f"{what} failed (exit {process.returncode}):\n" + "\n".join(tail))


def check_prerequisites(arch: Architecture) -> None:
    if os.geteuid() != 0:
        raise EngineError(
            "building the base image offline needs root (debootstrap); run"
            " `sudo sandbench images bootstrap`, or pull an image and set it with"
            " `sandbench config set default_image IMAGE`"
        )
    for tool in ("debootstrap", "podman", "tar"):
        if shutil.which(tool) is None:
            raise EngineError(f"{tool} is not installed; run `make setup` (as root)")
    if not emulation_available(arch):
        raise EngineError(f"cannot build an {arch.value} image on this host: {EMULATION_FIX}")


def _install_tools(rootfs: Path, arch: Architecture, workdir: Path, progress: Progress) -> None:
    wheels = workdir / "wheels"
    wheels.mkdir()
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            WHEEL_PLATFORM[arch],
            "--python-version",
            "3.11",
            "-d",
            str(wheels),
            *TOOLS,
        ],
        progress,
        what="downloading ast-grep and uv",
    )
    target = rootfs / "usr" / "local" / "bin"
    target.mkdir(parents=True, exist_ok=True)
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                name = member.rsplit("/", 1)[-1]
                if ".data/scripts/" in member and any(name in b for b in TOOLS.values()):
                    (target / name).write_bytes(archive.read(member))
                    (target / name).chmod(0o755)
                    progress(f"installed /usr/local/bin/{name} from {wheel.name}")


def bootstrap(tag: str, arch: Architecture, progress: Progress) -> str:
    """Build ``tag`` for ``arch``; returns the image id."""
    check_prerequisites(arch)
    foreign = arch != host_arch()
    with tempfile.TemporaryDirectory(prefix="sandbench-bootstrap-") as tmp:
        workdir = Path(tmp)
        rootfs = workdir / "rootfs"
        progress(f"debootstrap {SUITE} ({arch.value}) from {MIRROR}; about a minute natively")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={DEBIAN_ARCH[arch]}",
                f"--include={','.join(PACKAGES)}",
                *(["--foreign"] if foreign else []),
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            progress,
            what="debootstrap",
        )
        if foreign:
            progress("second stage under emulation (several minutes)")
            _run(
                ["chroot", str(rootfs), "/debootstrap/debootstrap", "--second-stage"],
                progress,
                what="debootstrap second stage",
            )
        _install_tools(rootfs, arch, workdir, progress)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        (rootfs / "workspace").mkdir(exist_ok=True)
        progress(f"importing the root filesystem as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
        _run(
            ["podman", "import", "--arch", OCI_ARCH[arch], *changes, "-", tag],
            progress,
            what="podman import",
            stdin=tar.stdout,
        )
        if tar.wait() != 0:
            raise EngineError("tar of the root filesystem failed")
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()
