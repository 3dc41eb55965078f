"""User namespaces: each sandbox's uid 0 is an unprivileged host uid of a range of its own.

A sandbox gets a slot of ``SLOT`` uids and gids out of the ``sandbench`` entry of
/etc/subuid and /etc/subgid (scripts/setup.sh adds it): uid N inside is ``base + N`` on the
host. A process that escapes the container is then nobody on the host, and two sandboxes'
files and processes are as foreign to each other as two users'.

The image's layers are not copied per range: each layer directory is bind-mounted with an
*idmapped* mount (``open_tree`` / ``mount_setattr(MOUNT_ATTR_IDMAP)`` / ``move_mount``) that
shows its files shifted into the range, and the overlay uses those as its lower layers. An
overlay itself cannot be idmapped, nor can its upper layer sit on an idmapped mount, so the
upper layer (the sized disk) stores the shifted ids as they are: a disk belongs to its range
for good, and a suspended sandbox resumes with the same one.

Slots are claimed host-wide (several workspaces may share one host) with a file per slot
under ``CLAIMS`` naming the sandbox directory that holds it, under a lock; a claim whose
directory is gone is free again.

Root only, like the sized disks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbench.engine.errors import EngineError

SLOT = 65536
SUBID_NAME = "sandbench"
# What scripts/setup.sh writes: 4096 slots from 2^30, clear of the usual per-user ranges
# (from 100000) and of the range Podman suggests for `containers` (from 2^31).
DEFAULT_ENTRY = f"{SUBID_NAME}:1073741824:268435456"
CLAIMS = Path("/var/lib/sandbench/userns")
MARKER = "userns"  # in a sandbox directory: the base its disk was made with

# Generic syscall numbers: the same on x86_64 and aarch64.
_OPEN_TREE, _MOVE_MOUNT, _OPENAT2, _MOUNT_SETATTR = 428, 429, 437, 442
_RESOLVE_NO_MAGICLINKS, _RESOLVE_IN_ROOT = 0x02, 0x10
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_IDMAP = 0x100000


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(name: str, number: int, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name}: {os.strerror(code)}")
    return int(result)


@dataclass(frozen=True)
class Range:
    """A sandbox's ids: container id N is host id ``base + N``, for N below ``size``."""

    base: int
    size: int = SLOT

    def host(self, inside: int) -> int:
        return self.base + inside

    def inside(self, host_id: int) -> int:
        """What a host id is inside; ids outside the range show as nobody, as they do there."""
        return host_id - self.base if self.base <= host_id < self.base + self.size else 65534

    def podman(self) -> dict[str, object]:
        """The libpod create body's ``idmappings`` (podman-py passes it through as is)."""
        mapping = [{"container_id": 0, "host_id": self.base, "size": self.size}]
        return {
            "HostUIDMapping": False,
            "HostGIDMapping": False,
            "UIDMap": mapping,
            "GIDMap": mapping,
        }


# ---------------------------------------------------------------------- subordinate ids


def _subid_entry(path: Path) -> tuple[int, int] | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, rest = line.strip().partition(":")
        start, _, count = rest.partition(":")
        if name == SUBID_NAME and start.isdigit() and count.isdigit():
            return int(start), int(count)
    return None


def subordinate_range(
    subuid: Path = Path("/etc/subuid"), subgid: Path = Path("/etc/subgid")
) -> tuple[int, int]:
    """(start, count) of the ``sandbench`` entry, the same in both files, at least one slot."""
    uids, gids = _subid_entry(subuid), _subid_entry(subgid)
    if uids is None or gids is None:
        missing = " and ".join(str(p) for p, e in ((subuid, uids), (subgid, gids)) if e is None)
        raise EngineError(
            f"no `{SUBID_NAME}` entry in {missing}: run scripts/setup.sh (or add"
            f" `{DEFAULT_ENTRY}` to /etc/subuid and /etc/subgid)"
        )
    if uids != gids:
        raise EngineError(
            f"the `{SUBID_NAME}` entries of {subuid} ({uids[0]}:{uids[1]}) and {subgid}"
            f" ({gids[0]}:{gids[1]}) differ: make them the same range"
        )
    if uids[1] < SLOT or uids[0] < 1:
        raise EngineError(f"the `{SUBID_NAME}` range {uids[0]}:{uids[1]} holds no {SLOT} ids")
    return uids


# ---------------------------------------------------------------------- claims


@contextlib.contextmanager
def _claims_locked(claims: Path) -> Iterator[None]:
    claims.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(claims / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _claim_holder(claim: Path) -> Path | None:
    """The directory holding a claim, if it still exists and still says this base."""
    try:
        directory = Path(claim.read_text().strip())
        held = (directory / MARKER).read_text().strip()
    except OSError:
        return None
    return directory if held == claim.name else None


def allocate(directory: Path, *, claims: Path = CLAIMS) -> Range:
    """The smallest free slot, claimed for ``directory`` (made here, with its marker, so the
    claim is valid from the start). A directory that has a range already keeps it."""
    directory = Path(directory).absolute()
    found = recorded(directory)
    if found is not None:
        return found
    start, count = subordinate_range()
    with _claims_locked(claims):
        for base in range(start, start + count - SLOT + 1, SLOT):
            claim = claims / str(base)
            holder = _claim_holder(claim)
            if holder is not None and holder != directory:
                continue
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
            (directory / MARKER).write_text(f"{base}\n")
            claim.write_text(f"{directory}\n")
            return Range(base)
    raise EngineError(
        f"all {count // SLOT} user-namespace ranges of the `{SUBID_NAME}` entry are in use"
        " (by live or suspended sandboxes): remove some, or widen the entry in /etc/subuid"
        " and /etc/subgid"
    )


def recorded(directory: Path) -> Range | None:
    """The range a sandbox directory's disk was made with (None: made without one)."""
    try:
        return Range(int((Path(directory) / MARKER).read_text().strip()))
    except (OSError, ValueError):
        return None


def release(directory: Path, *, claims: Path = CLAIMS) -> None:
    """Give a destroyed sandbox's slot back (a claim whose directory is gone is free anyway)."""
    found = recorded(directory)
    if found is None:
        return
    with _claims_locked(claims):
        claim = claims / str(found.base)
        if _claim_holder(claim) in (None, Path(directory).absolute()):
            claim.unlink(missing_ok=True)


# ---------------------------------------------------------------------- idmapped mounts


@contextlib.contextmanager
def namespace_fd(ids: Range) -> Iterator[int]:
    """An fd of a user namespace mapping 0..size to ``ids`` (what mount_setattr wants): a
    child unshares, we write its maps, open its namespace and let it go."""
    child = subprocess.Popen(
        ["unshare", "--user", "sh", "-c", "echo ready; exec sleep 600"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline() != b"ready\n":
            raise EngineError("`unshare --user` failed: cannot make a user namespace")
        line = f"0 {ids.base} {ids.size}\n"
        Path(f"/proc/{child.pid}/uid_map").write_text(line)
        Path(f"/proc/{child.pid}/gid_map").write_text(line)
        fd = os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    try:
        yield fd
    finally:
        os.close(fd)


def idmapped_bind(source: Path, target: Path, userns_fd: int, *, read_only: bool = True) -> None:
    """Bind ``source`` on ``target`` with its owners shifted through ``userns_fd``."""
    tree = _syscall(
        "open_tree",
        _OPEN_TREE,
        ctypes.c_long(_AT_FDCWD),
        os.fsencode(source),
        ctypes.c_ulong(_OPEN_TREE_CLONE | os.O_CLOEXEC),
    )
    try:
        flags = _MOUNT_ATTR_IDMAP | (_MOUNT_ATTR_RDONLY if read_only else 0)
        attr = _MountAttr(flags, 0, 0, userns_fd)
        _syscall(
            "mount_setattr",
            _MOUNT_SETATTR,
            ctypes.c_long(tree),
            b"",
            ctypes.c_ulong(_AT_EMPTY_PATH),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )
        _syscall(
            "move_mount",
            _MOVE_MOUNT,
            ctypes.c_long(tree),
            b"",
            ctypes.c_long(_AT_FDCWD),
            os.fsencode(target),
            ctypes.c_ulong(_MOVE_MOUNT_F_EMPTY_PATH),
        )
    finally:
        os.close(tree)


def tar_maps(root: Path, ids: Range, directory: Path) -> list[str]:
    """GNU tar options that write a sandbox's files (read through its overlay: host ids of
    the range) with the ids they have inside, so an image made of them (a snapshot) is owned
    as the sandbox saw it and fits any range, or none. The map files go in ``directory``."""
    listed = subprocess.run(
        ["find", str(root), "-printf", "%U %G\\n"], capture_output=True, text=True, check=False
    ).stdout.split()
    found = {int(word) for word in listed if word.isdigit()}
    lines = "".join(f"+{host} +{ids.inside(host)}\n" for host in sorted(found))
    (directory / "ids.map").write_text(lines)
    mapped = str(directory / "ids.map")
    return ["--numeric-owner", f"--owner-map={mapped}", f"--group-map={mapped}"]


def _open_in_root(root_fd: int, path: str, flags: int) -> int:
    """openat2 with RESOLVE_IN_ROOT: symlinks the sandbox made resolve inside it, never to
    the host's files."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    return _syscall(
        "openat2",
        _OPENAT2,
        ctypes.c_long(root_fd),
        os.fsencode(path),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )


def write_file(root: Path, path: str, data: bytes, mode: int, owner: tuple[int, int],
               ids: Range) -> None:  # fmt: skip
    """Write ``data`` to ``path`` inside a sandbox's root (``root``, its merged directory),
    owned by ``owner`` (uid, gid inside).

    Podman 4.3's archive upload chowns to host uid 0 in a container with an id mapping: a
    file no one inside may touch. Raises FileNotFoundError when the directory is missing."""
    directory, _, name = path.rpartition("/")
    if name in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, f"{path} names a directory")
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dir_fd = _open_in_root(root_fd, directory or "/", os.O_PATH | os.O_DIRECTORY)
    finally:
        os.close(root_fd)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        os.fchown(fd, ids.host(owner[0]), ids.host(owner[1]))
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def chown_into(path: Path, ids: Range, uid: int = 0, gid: int = 0) -> None:
    """A file the host writes into a sandbox's disk belongs to ``uid`` inside."""
    os.chown(path, ids.host(uid), ids.host(gid), follow_symlinks=False)


def support(
    subuid: Path = Path("/etc/subuid"), subgid: Path = Path("/etc/subgid")
) -> tuple[bool, str]:
    """Whether this host can give sandboxes user namespaces, and if not why (for ``doctor``
    and before a create): the subordinate range, then a real idmapped mount of an overlay
    lower layer, as the sandboxes use it."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "user namespaces for sandboxes need root (idmapped mounts)"
    if shutil.which("unshare") is None:
        return False, "`unshare` is missing (`apt-get install util-linux`)"
    try:
        start, count = subordinate_range(subuid, subgid)
    except EngineError as exc:
        return False, str(exc)
    ids = Range(start)
    with tempfile.TemporaryDirectory(prefix="sandbench-usernsprobe-") as tmp:
        base = Path(tmp)
        for name in ("layer", "lower", "upper", "work", "merged"):
            (base / name).mkdir()
        (base / "layer" / "file").write_text("probe")
        try:
            with namespace_fd(ids) as fd:
                idmapped_bind(base / "layer", base / "lower", fd)
            try:
                owner = (base / "lower" / "file").stat().st_uid
                if owner != ids.base:
                    return False, f"an idmapped mount shows uid {owner}, not {ids.base}"
                dirs = {"lowerdir": "lower", "upperdir": "upper", "workdir": "work"}
                opts = ",".join(f"{key}={base / name}" for key, name in dirs.items())
                done = subprocess.run(
                    ["mount", "-t", "overlay", "overlay", "-o", opts, str(base / "merged")],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    return False, (
                        "the kernel cannot use an idmapped mount as an overlay lower layer"
                        f" (Linux 5.19 or later): {done.stderr.strip()}"
                    )
                subprocess.run(["umount", str(base / "merged")], check=False)
            finally:
                subprocess.run(["umount", str(base / "lower")], check=False)
        except (OSError, EngineError) as exc:
            return False, f"the kernel cannot make idmapped mounts (Linux 5.12 or later): {exc}"
    return True, (
        f"each sandbox's uid 0 is a host uid of its own: {count // SLOT} ranges of {SLOT}"
        f" from {start} (`{SUBID_NAME}` in /etc/subuid, /etc/subgid); idmapped image layers"
    )
