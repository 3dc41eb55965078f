"""Enforced disk limits: a container root filesystem whose writes land in a fixed-size ext4 file.

``--storage-opt size=`` needs XFS project quota, which most hosts lack. Instead the sandbox's
root is an overlay: the image (``podman image mount``) below, and above it a writable layer on
a sparse ext4 file of exactly the preset's size, loop-mounted. Writing past the preset anywhere
in the container ends in ENOSPC inside that file; the host never loses more than the preset.
The container is created with the merged directory as its rootfs (``podman create --rootfs``).

Layout of a sandbox's directory (kept 0700, owned by the range's root with a user namespace:
the upper layer may hold setuid files)::

    disk.img      the writable layer's ext4 file; survives release() (suspend), not destroy()
    disk/         its mount point: upper/ and work/ of the overlay, meta/ (see bind_mounts())
    rootfs/       the overlay's merged directory, the container's rootfs
    image.id      the image id pinned at first prepare(): the upper layer only fits that lower
    lower.held    present while this directory holds one `podman image mount` reference
    layers/       with a user namespace: idmapped mounts of the image's layers, the lower
    userns        with a user namespace: the base of the sandbox's id range (``userns``)
    owner         pid and start time of the process that prepared it (release_stale() skips
                  directories whose owner is alive)
    .lock         flock serialising prepare/release across processes

Each directory also owns a never-started "pin" container of its image (label PIN_LABEL), so
that `podman rmi` / `podman image prune` cannot delete the lower layer under it.

With a user namespace (``userns.Range``) the lower is not `podman image mount` (itself an
overlay, which cannot be idmapped) but the image's layer directories, each idmapped into the
range; the upper layer and what the host writes on the disk belong to the range too.

Root only: loop mounts and ``podman image mount`` need it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podman.errors import APIError
from podman.errors import NotFound as PodmanNotFound

from sandbench.engine import image_pins, userns
from sandbench.engine.errors import EngineError

GIB = 1024**3
DISK_IMG = "disk.img"
_DISK_MNT = "disk"
_ROOTFS = "rootfs"
_IMAGE_ID = image_pins.IMAGE_ID_FILE
_LOWER_HELD = "lower.held"
_LAYERS = "layers"
# With a user namespace the runtime resolves the rootfs and meta paths as the range's root,
# which cannot pass the private (0700) data directory: each sandbox directory is also bound
# under here, behind directories anyone may pass through but not list.
DOORS = Path("/run/sandbench/doors")
_LOCK = ".lock"
_OWNER = "owner"
_LABEL = "sandbench"
PIN_LABEL = "io.sandbench.disk-pin"  # per-sandbox pins of earlier versions (image_pins now)
_META = "meta"  # in the disk, beside upper/ and work/
_META_FILES = {
    "hosts": "/etc/hosts",
    "hostname": "/etc/hostname",
    "resolv.conf": "/etc/resolv.conf",
    "containerenv": "/run/.containerenv",
}
# -m 0: no blocks reserved for root (the container runs as root; the preset is what it gets).
# Lazy init: on a fresh sparse file the holes already read as zeros, so zeroing the inode
# tables and the journal is wasted I/O (64 MiB per 4 GiB); the journal itself is kept.
_MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-L", _LABEL,
         "-E", "lazy_itable_init=1,lazy_journal_init=1")  # fmt: skip
# discard: files deleted in the sandbox give their blocks back to the host (punched holes).
_EXT4_OPTS = "loop,discard,nosuid,nodev,noatime"
_TIMEOUT = 120
# How long an unmounted disk's loop device may take to be detached before a remount or a
# removal gives up. The kernel detaches it once the last copy of its mount is gone, and a
# copy outlives our unmount wherever another mount namespace took one (the likely holder:
# a container being created copies the host's mounts until it pivots into its root).
# Under load (a CI run's other sandboxes starting) that took more than the 5 s this used
# to be, and a resume right after a suspend failed with "still attached to a loop device".
_SETTLE_S = 20.0
# An image id's layer directories never change while it exists (a pin keeps it): asked once.
_layers: dict[str, list[str]] = {}
_layers_lock = threading.Lock()
# A formatted empty disk per size, copied (sparse) instead of running mkfs for each sandbox.
_template_lock = threading.Lock()


def _run(*cmd: str, timeout: float = _TIMEOUT, cwd: Path | None = None) -> str:
    """Run a host command; its failure is an EngineError carrying the command's stderr."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
        )
    except FileNotFoundError as exc:
        raise EngineError(f"`{cmd[0]}` is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"`{' '.join(cmd)}` did not finish within {timeout:g} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise EngineError(f"`{' '.join(cmd)}` failed: {detail}")
    return done.stdout.strip()


@dataclass(frozen=True)
class Mount:
    target: Path
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode()


def mount_table(under: Path | None = None) -> list[Mount]:
    """The mount table of this process's namespace, in mount order; ``under``: only the
    mounts at or below that path. (A host running many sandboxes has thousands of mounts,
    and a sandbox's teardown reads the table a dozen times: lines are filtered as text.)"""
    prefix = str(under) if under is not None else ""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = _unescape(line.split(" ", 5)[4])
        if prefix and not (target == prefix or target.startswith(prefix + "/")):
            continue
        tail = line.partition(" - ")[2].split()
        found.append(Mount(Path(target), tail[0], _unescape(tail[1])))
    return found


def _is_mounted(path: Path) -> bool:
    wanted = str(path)
    text = Path("/proc/self/mountinfo").read_text()
    if wanted not in text and "\\" not in text:  # not even as text: not mounted
        return False
    return any(_unescape(line.split(" ", 5)[4]) == wanted for line in text.splitlines())


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def _umount2(path: Path, *, lazy: bool = False) -> None:
    """umount(2) itself: a sandbox's teardown unmounts half a dozen things, and a process
    for each was a measurable part of its cost."""
    if _libc.umount2(os.fsencode(path), _MNT_DETACH if lazy else 0) != 0:
        code = ctypes.get_errno()
        raise EngineError(f"cannot unmount {path}: {os.strerror(code)}")


def _umount(path: Path) -> None:
    """Unmount ``path``, every stacked mount on it; lazily when busy (a process still uses it)."""
    while _is_mounted(path):
        try:
            _umount2(path)
        except EngineError:
            _umount2(path, lazy=True)


_LOOP_CLR_FD = 0x4C01


def _umount_disk(path: Path) -> None:
    """Unmount the sized disk and detach its loop device now, as `umount -d` does: the
    kernel would detach it in the background, and a destroy or resume right after would
    find it still attached. (A device some process still holds is only marked to detach
    when that process lets go: the kernel's rule for a device in use.)"""
    devices = [m.source for m in mount_table(path) if m.target == path]
    _umount(path)
    for device in devices:
        if not device.startswith("/dev/loop"):
            continue
        try:
            fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.ioctl(fd, _LOOP_CLR_FD)
        except OSError:  # detached already (ENXIO)
            pass
        finally:
            os.close(fd)


def _loop_devices(image: Path, *, settle: float = 0.0) -> list[str]:
    """Loop devices still backed by ``image`` (an ext4 that a process keeps alive after a lazy
    unmount keeps its loop device until that process lets go), read from sysfs as
    `losetup --associated` does, without its process. ``settle``: wait that long for them
    to go: the kernel detaches an unmounted loop device in the background."""
    deadline = time.monotonic() + settle
    while (found := _backing(image)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def _backing(image: Path) -> list[str]:
    try:
        wanted = os.stat(image)
    except FileNotFoundError:
        return []
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            path = backing.read_text().strip().removesuffix(" (deleted)")
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (wanted.st_dev, wanted.st_ino):
            found.append(f"/dev/{backing.parent.parent.name}")
    return found


def _host_resolv_conf() -> str:
    """The host's resolver config, skipping a loopback-only stub (systemd-resolved) as Podman
    does: a container cannot reach the host's 127.0.0.53."""
    for candidate in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        try:
            text = Path(candidate).read_text()
        except OSError:
            continue
        words = [line.split() for line in text.splitlines()]
        servers = [w[1] for w in words if len(w) > 1 and w[0] == "nameserver"]
        if any(not (s.startswith("127.") or s == "::1") for s in servers):
            return text
    return ""


def _check_option_path(path: Path) -> None:
    if any(c in str(path) for c in ",:\\\n\t "):
        raise EngineError(
            f"cannot mount an overlay under {path}: the path holds a comma, colon, backslash or"
            " whitespace, which overlay mount options cannot carry; use a plainer data directory"
        )


class SizedRootfs:
    """A container root filesystem whose writes land in a fixed-size ext4 file.

    prepare() on create and resume, release() on suspend (the disk survives, the processes
    don't), destroy() on remove. Stop the container before release(): a running one keeps the
    old mounts alive, and prepare() refuses to mount the same disk twice.
    """

    def __init__(
        self,
        directory: Path,
        image: str,
        size_gib: int,
        *,
        hostname: str = "sandbox",
        ids: userns.Range | None = None,
        client: Any = None,
    ) -> None:
        if size_gib < 1:
            raise EngineError(f"a disk limit must be at least 1 GiB, not {size_gib}")
        self.directory = Path(directory).absolute()
        self.image = image
        self.size_bytes = size_gib * GIB
        self.disk_img = self.directory / DISK_IMG
        self.rootfs = self.directory / _ROOTFS
        self.hostname = hostname
        self._disk = self.directory / _DISK_MNT
        self.pin_name = _pin_name(self.directory)
        self.ids = ids
        self._client = client  # the engine's Podman client; None: the podman CLI
        self.image_attrs: dict[str, Any] = {}  # the image's inspection, when prepare() made one
        self._pinning: _Step | None = None

    @property
    def mounted(self) -> bool:
        """True when the merged rootfs is mounted and ready for a container."""
        return _is_mounted(self.rootfs)

    def prepare(self, *, defer_pin: bool = False) -> Path:
        """Mount everything (idempotent) and return the merged directory, the container's rootfs.

        A new disk.img is created sparse and formatted; an existing one is reused as is, so a
        resumed sandbox finds its files again. ``defer_pin``: the image pin (see
        ``image_pins``; made once per image) is checked in a thread until ``join_pin()``,
        which the caller must call, so that it overlaps the container's own create and start.
        """
        _check_option_path(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if self.ids:  # the runtime, as root of the range, mounts the rootfs and meta files
            userns.chown_into(self.directory, self.ids)
        with _locked(self.directory):
            _claim(self.directory)
            try:
                self._check_ids()
                image_id = self._pinned_image()
                # the pin (made once per image: checked here) overlaps the disk and overlay
                self._pinning = _Step(lambda: self._pin(image_id))
                self._mount_disk()
                lower = None if self.ids else self._hold_lower(image_id)
                if not self.mounted:
                    lower = lower or self._map_layers(image_id)
                    upper, work = self._disk / "upper", self._disk / "work"
                    if not upper.exists():
                        upper.mkdir()
                        if self.ids:  # the overlay's root takes its owner from the upper's
                            userns.chown_into(upper, self.ids)
                    work.mkdir(exist_ok=True)
                    self.rootfs.mkdir(exist_ok=True)
                    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
                    _run(
                        "mount",
                        "-t",
                        "overlay",
                        "overlay",
                        "-o",
                        opts,
                        str(self.rootfs),
                        cwd=self.directory,
                    )
                self._seed_meta()
                if self.ids and not _is_mounted(self.door):
                    for path in (DOORS.parent, DOORS, self.door):
                        path.mkdir(mode=0o711, exist_ok=True)
                    _run("mount", "--rbind", str(self.directory), str(self.door))
            except BaseException:
                with contextlib.suppress(Exception):
                    self.join_pin()
                with contextlib.suppress(EngineError):
                    _release(self.directory)
                raise
        if not defer_pin:
            self.join_pin()
        return self.rootfs

    def join_pin(self) -> None:
        """Wait for the image pin prepare() started; raise what it raised."""
        pinning, self._pinning = self._pinning, None
        if pinning is not None:
            pinning.join()

    @property
    def door(self) -> Path:
        return DOORS / self.pin_name

    @property
    def container_rootfs(self) -> Path:
        """The path to give the runtime as the rootfs (after prepare())."""
        return self.door / _ROOTFS if self.ids else self.rootfs

    def release(self) -> None:
        """Unmount the overlay, the image and the disk; keep disk.img (the sandbox's files)."""
        if not self.directory.is_dir():
            return
        with _locked(self.directory):
            _claim(self.directory)
            _release(self.directory)

    def bind_mounts(self) -> list[dict[str, str]]:
        """Mounts (podman-py ``mounts=`` format) to pass with the rootfs, after prepare().

        Podman bind-mounts its own /etc/hosts, /etc/hostname, /etc/resolv.conf and
        /run/.containerenv from files under its run root, and they are writable: a container
        could fill the host through them. These replace them with files on the sized disk.
        """
        meta = (self.door / _DISK_MNT if self.ids else self._disk) / _META
        return [
            {"type": "bind", "source": str(meta / name), "target": target}
            for name, target in _META_FILES.items()
        ]

    def destroy(self) -> None:
        """release(), then delete the directory with its disk.img: the sandbox's files are gone."""
        self.release()  # the image's pin stays for the next sandbox (see image_pins)
        userns.release(self.directory)
        if self.disk_img.exists() and _loop_devices(self.disk_img, settle=_SETTLE_S):
            raise EngineError(
                f"{self.disk_img} is still in use by a process (a container still running?);"
                " stop it, then remove the sandbox again"
            )
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.directory.exists():
            raise EngineError(f"could not delete {self.directory}")

    def used_bytes(self) -> int:
        """Bytes used in the writable layer, as the ext4 counts them (the limit that binds)."""
        st = self._statvfs()
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def capacity_bytes(self) -> int:
        """What the writable layer can hold: the preset minus ext4's metadata (about 2 %)."""
        st = self._statvfs()
        return st.f_blocks * st.f_frsize

    # -- steps -------------------------------------------------------------------------------

    def _statvfs(self) -> os.statvfs_result:
        if not _is_mounted(self._disk):
            raise EngineError(f"the disk of {self.directory} is not mounted (call prepare())")
        return os.statvfs(self._disk)

    def _check_ids(self) -> None:
        """A disk holds the ids of the range it was made with: never mount it with another
        (or with none: its files would belong to no one inside)."""
        made = userns.recorded(self.directory)
        if made != self.ids and (made is not None or self.disk_img.exists()):
            had = f"user-namespace range {made.base}" if made else "no user namespace"
            want = f"range {self.ids.base}" if self.ids else "none"
            raise EngineError(
                f"the disk in {self.directory} was made with {had}, not {want}: its files"
                " would be owned by the wrong ids"
            )

    def _map_layers(self, image_id: str) -> str:
        """Idmap each of the image's layer directories into the range; return the overlay's
        lowerdir (relative to the sandbox directory: short, whatever the layer count)."""
        with _layers_lock:
            layers = _layers.get(image_id)
        if layers is None:
            try:
                _inspect_layers(image_id, self._client)
            except EngineError as exc:
                raise EngineError(f"cannot find the layers of image {self.image}: {exc}") from exc
            with _layers_lock:
                layers = _layers.get(image_id)
            if layers is None:
                raise EngineError(f"cannot find the layers of image {self.image} (not overlay?)")
        _unmap_layers(self.directory)
        root = self.directory / _LAYERS
        root.mkdir(exist_ok=True)
        assert self.ids is not None
        with userns.namespace_fd(self.ids) as fd:
            for index, layer in enumerate(layers):
                target = root / str(index)
                target.mkdir(exist_ok=True)
                try:
                    userns.idmapped_bind(Path(layer), target, fd)
                except OSError as exc:
                    raise EngineError(f"cannot idmap the image layer {layer}: {exc}") from exc
        return ":".join(f"{_LAYERS}/{index}" for index in range(len(layers)))

    def _pinned_image(self) -> str:
        """The image id this disk was first built on: a retagged image must not slide under it."""
        pin = self.directory / _IMAGE_ID
        if pin.exists():
            return pin.read_text().strip()
        try:
            image_id = _inspect_layers(self.image, self._client, self.image_attrs)
        except EngineError as exc:
            raise EngineError(f"image {self.image} is not available: {exc}") from exc
        pin.write_text(image_id + "\n")
        return image_id

    def _pin(self, image_id: str) -> None:
        """The image's pin (see ``image_pins``), through the engine's client when given."""
        root = self.directory.parent
        if self._client is not None:
            image_pins.ensure(self._client, root, image_id, self.image)
            return
        labels = {image_pins.PIN_LABEL: str(root), image_pins.IMAGE_LABEL: image_id}
        try:
            _run(
                "podman", "create", "--name", image_pins.pin_name(root, image_id),
                *(f"--label={key}={value}" for key, value in labels.items()),
                "--network", "none", image_id, "true",
            )  # fmt: skip
        except EngineError as exc:
            if "image not known" in str(exc):
                raise EngineError(
                    f"image {self.image} ({image_id[:12]}), which this sandbox's disk was built"
                    " on, no longer exists: the sandbox cannot be resumed"
                ) from exc
            if "already in use" not in str(exc):
                raise EngineError(f"cannot pin image {self.image}: {exc}") from exc

    def _mount_disk(self) -> None:
        if _is_mounted(self._disk):
            return
        if not self.disk_img.exists():
            self._create_disk()
        elif _loop_devices(self.disk_img, settle=_SETTLE_S):
            raise EngineError(
                f"{self.disk_img} is still attached to a loop device: a process (a container"
                " not stopped before suspend?) still uses the previous mount; stop it and retry"
            )
        self._check_host_space()
        self._disk.mkdir(exist_ok=True)
        _run("mount", "-t", "ext4", "-o", _EXT4_OPTS, str(self.disk_img), str(self._disk))

    def _seed_meta(self) -> None:
        """The files bind_mounts() names: kept across suspend, except resolv.conf (the host's
        resolver may have changed)."""
        meta = self._disk / _META
        meta.mkdir(exist_ok=True)
        seeds = {
            "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{self.hostname}\n",
            "hostname": f"{self.hostname}\n",
            "containerenv": "",
        }
        for name, text in seeds.items():
            if not (meta / name).exists():
                (meta / name).write_text(text)
        (meta / "resolv.conf").write_text(_host_resolv_conf())
        if self.ids is not None:  # root inside may edit them, as without a namespace
            for path in (meta, *(meta / name for name in _META_FILES)):
                userns.chown_into(path, self.ids)

    def _create_disk(self) -> None:
        """A sparse copy of the formatted empty disk of this size (made once), renamed into
        place only once complete. Copying the few MiB mkfs writes beats running mkfs."""
        partial = self.disk_img.with_suffix(".partial")
        # beside the sandboxes' directory, not in it: nothing there mistakes it for a sandbox
        template = _template(self.directory.parent.parent / "disk-templates", self.size_bytes)
        try:
            _run("cp", "--sparse=always", "--reflink=auto", str(template), str(partial))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(self.disk_img)

    def _check_host_space(self) -> None:
        """The file is sparse: refuse when the host could not hold it filled to its size."""
        allocated = self.disk_img.stat().st_blocks * 512
        missing = self.disk_img.stat().st_size - allocated
        free = shutil.disk_usage(self.directory).free
        if free < missing:
            raise EngineError(
                f"not enough free space for a {self.size_bytes // GIB} GiB sandbox disk:"
                f" {self.directory} has {free / GIB:.1f} GiB free and the disk may still grow by"
                f" {missing / GIB:.1f} GiB; free some space or choose a smaller disk preset"
            )

    def _hold_lower(self, image_id: str) -> str:
        """Mount the image (one reference, recorded so a crash can give it back) and return it."""
        held = self.directory / _LOWER_HELD
        if held.exists():
            path = held.read_text().strip()
            if _is_mounted(Path(path)):
                return path
            held.unlink()
        try:
            path = _run("podman", "image", "mount", image_id)
        except EngineError as exc:
            raise EngineError(
                f"cannot mount image {self.image} ({image_id[:12]}) as the sandbox's lower layer"
                f" (was it removed?): {exc}"
            ) from exc
        held.write_text(path + "\n")
        return path


# -- module-level steps, shared by SizedRootfs and release_stale() ------------------------------


class _Step:
    """A step run in a thread beside others; join() re-raises what it raised."""

    def __init__(self, target: Callable[[], None]) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as error:  # handed to join()
                self._error = error

        self._thread = threading.Thread(target=run, name="disk-step", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _inspect_layers(image: str, client: Any = None, into: dict[str, Any] | None = None) -> str:
    """The image's id, with its layer directories remembered (one call for both; through the
    engine's client, a few ms, rather than a CLI process that loads Podman's storage).
    ``into``: filled with the client's whole answer (the engine reads the image's env)."""
    if client is not None:
        try:
            attrs = client.images.get(image).attrs
            if into is not None:
                into.update(attrs)
        except PodmanNotFound as exc:
            raise EngineError(f"no image {image}") from exc
        except APIError as exc:
            raise EngineError(str(exc)) from exc
        image_id, data = attrs["Id"], (attrs.get("GraphDriver") or {}).get("Data")
    else:
        out = _run(
            "podman", "image", "inspect", "--format", "{{.Id}} {{json .GraphDriver.Data}}", image
        )
        image_id, _, data_text = out.strip().partition(" ")
        try:
            data = json.loads(data_text)
        except ValueError:
            return image_id
    try:
        layers = [data["UpperDir"], *(p for p in (data.get("LowerDir") or "").split(":") if p)]
    except (ValueError, KeyError, TypeError):
        return image_id  # not overlay storage: _map_layers says so if it is asked
    with _layers_lock:
        _layers[image_id] = layers
    return image_id


def _template(directory: Path, size_bytes: int) -> Path:
    """The formatted empty disk of ``size_bytes`` under ``directory``, made on first use."""
    path = directory / f"empty-{size_bytes}.img"
    with _template_lock:
        if path.exists():
            return path
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as f:
            f.truncate(size_bytes)
        try:
            _run(*_MKFS, str(partial))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)  # atomic: another process sees it whole or not at all
    return path


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise prepare/release/release_stale on one directory across processes."""
    fd = os.open(directory / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot): with the pid, it names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _owner_alive(directory: Path) -> int | None:
    """The pid of the live process that prepared ``directory``, if any (this one included)."""
    try:
        pid_text, start = (directory / _OWNER).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == start else None


def _claim(directory: Path) -> None:
    """Record this process as the one that last mounted it (release_stale() spares it).

    Any process may take a disk over: a sandbox created by the TUI can be suspended from
    the CLI. The engine serialises lifecycle changes per sandbox with its own lock.
    """
    (directory / _OWNER).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")


def _release(directory: Path) -> None:
    """Unmount overlay, image, then disk; try every step, report every failure."""
    errors: list[str] = []
    for step in (
        lambda: _close_door(directory),
        lambda: _umount(directory / _ROOTFS),
        lambda: _release_lower(directory),
        lambda: _unmap_layers(directory),
        lambda: _umount_disk(directory / _DISK_MNT),
    ):
        try:
            step()
        except EngineError as exc:
            errors.append(str(exc))
    (directory / _OWNER).unlink(missing_ok=True)
    if errors:
        raise EngineError(f"releasing the sandbox disk in {directory}: " + "; ".join(errors))


def _close_door(directory: Path) -> None:
    """Unmount the bind of ``directory`` under DOORS, with what it carries."""
    door = DOORS / _pin_name(directory)
    for mount in reversed(mount_table(door)):  # what it carries first, then itself
        if _is_mounted(mount.target):
            try:
                _umount2(mount.target)
            except EngineError:
                _umount2(mount.target, lazy=True)
    with contextlib.suppress(OSError):
        door.rmdir()


def _unmap_layers(directory: Path) -> None:
    """Unmount the idmapped image layers of ``directory`` (after its overlay)."""
    root = directory / _LAYERS
    for mount in reversed(mount_table(root)):
        if mount.target.parent == root:
            _umount(mount.target)


def _pin_name(directory: Path) -> str:
    return "sandbench-disk-pin-" + hashlib.sha256(str(directory).encode()).hexdigest()[:16]


def _remove_pins(names: list[str]) -> None:
    """Remove pin containers, in one Podman call; one already gone is fine."""
    if not names:
        return
    try:
        _run("podman", "rm", "--force", "--ignore", "--time", "0", *names)
    except EngineError as exc:
        if "no such container" not in str(exc):
            raise


def _release_lower(directory: Path) -> None:
    """Give back the `podman image mount` reference recorded in ``directory``, if any."""
    held = directory / _LOWER_HELD
    if not held.exists():
        return
    image_id = (directory / _IMAGE_ID).read_text().strip()
    try:
        _run("podman", "image", "unmount", image_id)
    except EngineError as exc:
        if "image not known" not in str(exc):
            raise
    held.unlink()


def release_stale(root: Path, keep: Iterable[str] = ()) -> list[Path]:
    """After a crash: unmount every overlay and ext4 mount under ``root`` and give back the
    image mounts they held. Returns the sandbox directories cleaned.

    Directories named in ``keep`` (sandboxes the store says are alive, such as a detached
    one whose creator has exited) and directories prepared by a live process (this one, or
    another sandbench) are left alone.
    Call it at start-up after stopping containers left over from the crash: a mount still used
    by a running container is detached lazily and its loop device lives until the container
    exits (prepare() refuses that disk until then).
    """
    root = Path(root).absolute()
    ours = {_ROOTFS: "overlay", _DISK_MNT: "ext4"}
    owners = {m.target.parent for m in mount_table(root) if ours.get(m.target.name) == m.fstype}
    with contextlib.suppress(FileNotFoundError):  # a sandbox removed while we walk
        owners.update(held.parent for held in root.rglob(_LOWER_HELD))
    owners.update(
        m.target.parent.parent for m in mount_table(root) if m.target.parent.name == _LAYERS
    )
    cleaned = []
    spared = set(keep)
    for directory in sorted(owners):
        if directory.name in spared:
            continue
        try:
            with _locked(directory):
                if _owner_alive(directory) is not None:
                    continue
                _release(directory)
        except FileNotFoundError:  # its own process removed it meanwhile: nothing left
            continue
        cleaned.append(directory)
    # Image pins no sandbox directory names any more, and the per-sandbox pins of earlier
    # versions whose directory is gone (a crash in the middle of destroy()).
    labels = (image_pins.PIN_LABEL, image_pins.IMAGE_LABEL, PIN_LABEL)
    fields = "\t".join(f'{{{{index .Labels "{label}"}}}}' for label in labels)
    with image_pins.releasing(root) as stale:
        listed = _run("podman", "ps", "--all", "--format", f"{{{{.Names}}}}\t{fields}")
        pins: list[image_pins.Pin] = []
        doomed: list[str] = []
        for line in listed.splitlines():
            name, *values = [*line.split("\t"), "", "", ""][:4]
            found = {k: v for k, v in zip(labels, values, strict=True) if v and v != "<no value>"}
            legacy = found.get(PIN_LABEL)
            workspace = found.get(image_pins.PIN_LABEL)
            if legacy and Path(legacy).is_relative_to(root) and not Path(legacy).exists():
                doomed.append(name)
                cleaned.append(Path(legacy))
            elif workspace and not Path(workspace).exists():
                doomed.append(name)  # a deleted workspace's (a test's, a benchmark's)
            elif workspace:
                pins.append((name, found))
        _remove_pins(doomed + stale(pins))
    return cleaned


def disk_limit_support() -> tuple[bool, str]:
    """Whether this host can enforce disk limits, and if not why and how to fix it.

    Probes for real (a 16 MiB ext4 loop mount with an overlay on it) rather than trusting
    /dev listings: containers and hardened hosts often show loop devices they cannot use.
    """
    if not hasattr(os, "geteuid") or not Path("/proc/self/mountinfo").exists():
        return False, "disk limits need Linux"
    if os.geteuid() != 0:
        return False, (
            "disk limits need root (loop mounts and `podman image mount`); run sandbench as"
            " root or choose no disk limit"
        )
    tools = {
        "mount": "util-linux",
        "umount": "util-linux",
        "losetup": "util-linux",
        "mkfs.ext4": "e2fsprogs",
        "podman": "podman",
    }
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        return False, f"install {' '.join(missing)} (`apt-get install {' '.join(missing)}`)"
    if not Path("/dev/loop-control").exists() and not any(Path("/dev").glob("loop[0-9]*")):
        return False, "no loop devices: `modprobe loop` (in a container: run it --privileged)"
    with tempfile.TemporaryDirectory(prefix="sandbench-diskprobe-") as tmp:
        base = Path(tmp)
        img, mnt, merged = base / "probe.img", base / "mnt", base / "merged"
        for d in (mnt, merged):
            d.mkdir()
        with img.open("wb") as f:
            f.truncate(16 * 1024 * 1024)
        try:
            _run("mkfs.ext4", "-q", "-F", str(img))
            try:
                _run("mount", "-t", "ext4", "-o", "loop", str(img), str(mnt))
            except EngineError as exc:
                return False, f"cannot loop-mount an ext4 file ({exc}); try `modprobe loop`"
            try:
                for d in ("lower", "upper", "work"):
                    (mnt / d).mkdir()
                opts = f"lowerdir={mnt / 'lower'},upperdir={mnt / 'upper'},workdir={mnt / 'work'}"
                _run("mount", "-t", "overlay", "overlay", "-o", opts, str(merged))
                _umount(merged)
            except EngineError as exc:
                return False, f"cannot mount an overlay on ext4 ({exc}); try `modprobe overlay`"
            finally:
                _umount(mnt)
        except EngineError as exc:
            return False, str(exc)
    return True, "disk limits enforced with loop-mounted ext4 files"
