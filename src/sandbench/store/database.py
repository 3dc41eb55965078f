"""SQLite connections: one per thread, WAL, foreign keys on, explicit transactions.

Connections run in autocommit mode and every write goes through ``write()`` (BEGIN
IMMEDIATE … COMMIT), so a crash leaves either all of a change or none of it. Reads that
need a consistent view across several queries use ``read()``, a snapshot in WAL mode.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbench.store.migrations import LATEST, migrate

BUSY_TIMEOUT_MS = 10_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting for a racing opener: SQLite answers "database is locked" to
    this pragma at once, without its busy handler, while another connection switches."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class _ReturnedWithThread:
    """Hands a thread's connection back to its database when the thread ends (its
    thread-local goes with it), for the next new thread to take: a process starting many
    short threads that read the store (a retention pass after a finished run, a teardown)
    kept one open connection each, and its page cache, so a cluster head's memory grew
    with its cases. Connections are never closed here: closing one as its thread ended,
    while other threads used theirs, crashed the interpreter inside SQLite (a segfault in
    the test suite, about one run in two under load). They close with the database."""

    def __init__(
        self, conn: sqlite3.Connection, free: list[sqlite3.Connection], lock: threading.RLock
    ) -> None:
        self.conn, self.free, self.lock = conn, free, lock
        self.pid = os.getpid()

    def __del__(self) -> None:
        if os.getpid() != self.pid:
            # A forked child (a Popen's preexec_fn runs Python, and the collector with it)
            # must not touch the parent's connections, nor wait on a lock that a thread of
            # the parent held at the fork: that thread is not in the child, and the child
            # hung before its exec, and the parent's Popen with it.
            return
        with self.lock:
            self.free.append(self.conn)


class Database:
    """Owns the per-thread connections to one database file."""

    def __init__(self, path: Path | str, *, target_version: int = LATEST):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._free: list[sqlite3.Connection] = []  # of ended threads, for new ones
        self._owners: dict[int, threading.Thread] = {}  # connection id -> the thread using it
        self._all_lock = threading.RLock()  # a thread's end hands its connection back
        # This process's writers queue here rather than in SQLite's busy handler, which
        # sleeps 1 ms and more per retry: 32 threads of a cluster's head spent more time
        # asleep there than writing. Other processes still meet the busy handler.
        self._writer = threading.Lock()
        migrate(self.conn, target_version)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._reuse()
            if conn is None:
                conn = connect(self.path)
                with self._all_lock:
                    self._all.append(conn)
            self._local.conn = conn
            self._local.returner = _ReturnedWithThread(conn, self._free, self._all_lock)
            with self._all_lock:
                self._owners[id(conn)] = threading.current_thread()
        return conn

    def _reuse(self) -> sqlite3.Connection | None:
        """An ended thread's connection, if one is left open (the connections stay few)."""
        while True:
            with self._all_lock:
                if not self._free:
                    return None
                conn = self._free.pop()
            try:
                if conn.in_transaction:  # its thread ended inside one: not ours to finish
                    conn.execute("ROLLBACK")
            except sqlite3.ProgrammingError:  # closed with the database meanwhile
                continue
            return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        # past the busy timeout, on to SQLite's lock, which then says "locked" as before
        queued = self._writer.acquire(timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if queued:
                self._writer.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connections no other live thread is using: closing one under a thread
        still inside SQLite with it (a sandbox's removal past its engine's bounded close)
        crashes the interpreter; such a connection is left to that thread and the process."""
        me = threading.current_thread()
        with self._all_lock:
            for conn in self._all:
                owner = self._owners.get(id(conn))
                if owner is None or owner is me or not owner.is_alive():
                    conn.close()
            self._all.clear()
            self._free.clear()
            self._owners.clear()
        self._local = threading.local()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
