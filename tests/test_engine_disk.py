"""Enforced disk limits, against real Podman and real loop/overlay mounts (root only)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbench.engine import image_pins
from sandbench.engine.disk import (
    GIB,
    SizedRootfs,
    disk_limit_support,
    mount_table,
    release_stale,
)
from sandbench.engine.errors import EngineError

pytestmark = pytest.mark.podman

TEST_IMAGE = "localhost/sandbench-test-busybox:latest"
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def unavailable(reason: str) -> None:
    """A missing prerequisite fails the run in CI (it must be set up there) and skips elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stderr}")
    return done


def build_busybox_image(tag: str, workdir: Path, *changes: str) -> None:
    """A 2 MB image from Debian's busybox-static package: no registry needed."""
    fetched = subprocess.run(
        ["apt-get", "download", "busybox-static"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    debs = list(workdir.glob("busybox-static_*.deb"))
    if not debs:
        unavailable(f"cannot fetch busybox-static to build a test image: {fetched.stderr}")
    root = workdir / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    for d in ("sbin", "usr/bin", "usr/sbin", "root", "etc", "proc", "sys", "dev", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    applets = subprocess.run(
        [str(root / "bin/busybox"), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = root / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    args = [a for change in changes for a in ("--change", change)]
    done = subprocess.run(
        ["podman", "import", *args, "-", tag], stdin=tar.stdout, capture_output=True, check=False
    )
    tar.wait()
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    ok, reason = disk_limit_support()
    if not ok:
        unavailable(f"disk limits cannot be enforced here: {reason}")
    if podman("image", "exists", TEST_IMAGE, check=False).returncode != 0:
        build_busybox_image(TEST_IMAGE, tmp_path_factory.mktemp("busybox"))
    return TEST_IMAGE


@pytest.fixture(scope="session")
def runtime() -> list[str]:
    # crun fails on hybrid cgroup hosts; runc works everywhere it is installed.
    return ["--runtime", "runc"] if shutil.which("runc") else []


@pytest.fixture
def sandbox_root(tmp_path: Path, image: str) -> Iterator[Path]:
    """Where the tests' sandbox directories live; everything under it is unmounted at the end.
    (Depends on ``image`` so that a host without support skips before any podman call.)"""
    root = tmp_path / "sandboxes"
    root.mkdir()
    yield root
    for name in podman("ps", "-aq", "--filter", f"label=sbdisk-test={root}").stdout.split():
        podman("rm", "--force", "--time", "0", name, check=False)
    for directory in list(root.iterdir()):
        if directory.is_dir():
            with contextlib.suppress(EngineError):
                SizedRootfs(directory, "unused", 1).destroy()
    release_stale(root)
    assert not mounts_under(root)


@pytest.fixture
def run(sandbox_root: Path, runtime: list[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a shell script in a container on ``disk``'s rootfs."""

    def run(
        disk: SizedRootfs, script: str, *, detach: bool = False
    ) -> subprocess.CompletedProcess[str]:
        binds = [
            f"--mount=type=bind,src={m['source']},dst={m['target']}" for m in disk.bind_mounts()
        ]
        return podman(
            "run", "--rm" if not detach else "--detach", *runtime, *ULIMITS,
            "--name", f"sbdisk-{uuid.uuid4().hex[:10]}", "--label", f"sbdisk-test={sandbox_root}",
            "--network", "none", *binds, "--rootfs", str(disk.rootfs), "sh", "-c", script,
            check=False,
        )  # fmt: skip

    return run


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def mounts_under(root: Path) -> list[Path]:
    return [m.target for m in mount_table() if m.target.is_relative_to(root)]


def loop_devices(file: Path) -> str:
    return subprocess.run(
        ["losetup", "--associated", str(file)], capture_output=True, text=True, check=True
    ).stdout.strip()


def image_mounted(image: str) -> bool:
    image_id = podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    listed = json.loads(podman("image", "mount", "--format", "json").stdout or "[]")
    return any(entry["id"] == image_id for entry in listed)


def image_id(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


def pins_of(root: Path) -> list[str]:
    """The image ids pinned for the sandboxes under ``root``."""
    listed = podman(
        "ps", "-a", "--filter", f"label={image_pins.PIN_LABEL}={root.absolute()}",
        "--format", f'{{{{index .Labels "{image_pins.IMAGE_LABEL}"}}}}',
    )  # fmt: skip
    return sorted(listed.stdout.split())


def test_prepare_release_destroy_leave_nothing_behind(image: str, sandbox_root: Path) -> None:
    disk = SizedRootfs(sandbox_root / "sb", image, 4)
    rootfs = disk.prepare()
    assert disk.mounted
    assert (rootfs / "bin" / "busybox").exists()
    assert disk.disk_img.stat().st_size == 4 * GIB
    assert disk.disk_img.stat().st_blocks * 512 < 64 * 1024 * 1024, "disk.img must be sparse"
    assert disk.capacity_bytes() > 3.8 * GIB
    before = mounts_under(sandbox_root)
    assert disk.prepare() == rootfs
    assert mounts_under(sandbox_root) == before, "prepare() is idempotent"
    assert image_mounted(image)

    disk.release()
    assert not disk.mounted
    assert not mounts_under(sandbox_root)
    assert not loop_devices(disk.disk_img)
    assert not image_mounted(image)
    assert disk.disk_img.exists()
    disk.release()  # releasing twice is harmless

    disk.prepare()
    disk.destroy()
    assert not mounts_under(sandbox_root)
    assert not disk.directory.exists()
    assert not image_mounted(image)
    # the image's pin is the workspace's, kept for the next sandbox until nothing names it
    assert pins_of(sandbox_root) == [image_id(image)]
    release_stale(sandbox_root)
    assert pins_of(sandbox_root) == []


def test_writing_past_the_limit_is_enospc_and_costs_the_host_at_most_the_limit(
    image: str, sandbox_root: Path, run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    disk = SizedRootfs(sandbox_root / "sb", image, 2)
    disk.prepare()
    script = textwrap.dedent("""\
        dd if=/dev/zero of=/tmp/big bs=1M count=3072; echo "tmp rc=$?"
        dd if=/dev/zero of=/root/big bs=1M count=16; echo "root rc=$?"
        sync; echo alive
    """)
    started = time.monotonic()
    done = run(disk, script)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "tmp rc=1" in done.stdout and "root rc=1" in done.stdout, done.stdout
    assert done.stderr.count("No space left on device") == 2, done.stderr
    assert done.stdout.rstrip().endswith("alive"), "the sandbox survives a full disk"
    assert elapsed < 40
    assert disk.used_bytes() > 1.8 * GIB
    assert disk.disk_img.stat().st_blocks * 512 <= 2 * GIB, "the host lost at most the limit"

    done = run(disk, "rm /tmp/big /root/big && sync")
    assert done.returncode == 0, done.stderr
    assert disk.used_bytes() < 64 * 1024 * 1024
    # Mounted with discard: freed blocks are punched out of disk.img, back to the host, once
    # ext4 commits the deletion (asynchronously, within its 5 s commit interval).
    assert wait_for(lambda: disk.disk_img.stat().st_blocks * 512 < 256 * 1024 * 1024)


def test_podman_files_land_on_the_sized_disk(
    image: str, sandbox_root: Path, run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """Podman's own /etc/hosts etc. would be writable host files; ours count against the limit."""
    disk = SizedRootfs(sandbox_root / "sb", image, 1, hostname="box")
    disk.prepare()
    used = disk.used_bytes()
    script = "cat /etc/hostname; for f in /etc/hosts /run/.containerenv; do"
    script += " dd if=/dev/zero bs=1M count=8 >>$f; done"
    done = run(disk, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "box"
    assert disk.used_bytes() - used >= 16 * 1024 * 1024


def test_files_survive_release_and_prepare(
    image: str, sandbox_root: Path, run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    directory = sandbox_root / "sb"
    disk = SizedRootfs(directory, image, 1)
    disk.prepare()
    assert run(disk, "echo kept > /root/note && mkdir -p /work && echo w > /work/f").returncode == 0
    disk.release()

    resumed = SizedRootfs(directory, image, 1)
    resumed.prepare()
    done = run(resumed, "cat /root/note /work/f")
    assert done.stdout.split() == ["kept", "w"], done.stderr


def test_prepare_refuses_a_disk_a_running_container_still_holds(
    image: str, sandbox_root: Path, run: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    disk = SizedRootfs(sandbox_root / "sb", image, 1)
    disk.prepare()
    started = run(disk, "sleep 600", detach=True)
    assert started.returncode == 0, started.stderr
    disk.release()  # the container keeps its own copy of the mounts, and the loop device
    assert loop_devices(disk.disk_img)
    with pytest.raises(EngineError, match="still attached to a loop device"):
        disk.prepare()
    podman("rm", "--force", "--time", "0", started.stdout.strip())
    assert not loop_devices(disk.disk_img)
    assert disk.prepare() == disk.rootfs


def test_the_image_cannot_be_removed_under_a_sandbox(
    sandbox_root: Path, image: str, tmp_path: Path
) -> None:
    tag = f"localhost/sandbench-test-pin:{uuid.uuid4().hex[:8]}"
    build_busybox_image(tag, tmp_path, f"LABEL unique={tag}")
    try:
        disk = SizedRootfs(sandbox_root / "sb", tag, 1)
        other = SizedRootfs(sandbox_root / "other", tag, 1)
        disk.prepare()
        other.prepare()
        assert pins_of(sandbox_root) == [image_id(tag)], "one pin per image, not per sandbox"
        disk.release()
        refused = podman("rmi", tag, check=False)
        assert refused.returncode != 0 and "in use by a container" in refused.stderr
        disk.prepare()
        assert (disk.rootfs / "bin" / "busybox").exists()
        disk.destroy()
        release_stale(sandbox_root)  # "other" still names the image: its pin stays
        refused = podman("rmi", tag, check=False)
        assert refused.returncode != 0 and "in use by a container" in refused.stderr
        other.destroy()
        release_stale(sandbox_root)
        assert podman("rmi", tag, check=False).returncode == 0
    finally:
        podman("rmi", "--force", tag, check=False)


def test_release_stale_cleans_up_after_a_killed_process(image: str, sandbox_root: Path) -> None:
    directory = sandbox_root / "sb"
    child = textwrap.dedent(f"""\
        import os
        from pathlib import Path
        from sandbench.engine.disk import SizedRootfs
        SizedRootfs(Path({str(directory)!r}), {image!r}, 1).prepare()
        os.kill(os.getpid(), 9)
    """)
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False
    )
    assert done.returncode == -9, done.stderr
    assert len(mounts_under(sandbox_root)) == 2
    assert image_mounted(image)

    assert release_stale(sandbox_root) == [directory]
    assert not mounts_under(sandbox_root)
    assert not loop_devices(directory / "disk.img")
    assert not image_mounted(image)
    assert release_stale(sandbox_root) == []


def test_release_stale_leaves_a_live_owner_alone(image: str, sandbox_root: Path) -> None:
    disk = SizedRootfs(sandbox_root / "sb", image, 1)
    disk.prepare()
    assert release_stale(sandbox_root) == []
    assert disk.mounted


def test_disks_are_copies_of_one_formatted_template(image: str, sandbox_root: Path) -> None:
    """mkfs runs once per size; each sandbox's disk is its own sparse copy of the result."""
    first = SizedRootfs(sandbox_root / "one", image, 2)
    second = SizedRootfs(sandbox_root / "two", image, 2)
    first.prepare()
    template = sandbox_root.parent / "disk-templates" / f"empty-{2 * GIB}.img"
    assert template.stat().st_size == 2 * GIB
    blocks = template.stat().st_blocks
    second.prepare()
    assert first.disk_img.stat().st_ino != second.disk_img.stat().st_ino
    assert second.disk_img.stat().st_blocks * 512 < 64 * 1024 * 1024, "the copy must be sparse"
    (first.rootfs / "only-in-one").write_text("1")
    assert not (second.rootfs / "only-in-one").exists()
    assert second.capacity_bytes() > 1.8 * GIB
    assert template.stat().st_blocks == blocks, "a sandbox wrote into the template"
