"""Storage objects: metadata in the database, bytes in files beside it.

An object's bytes are written to a temporary file and moved into place, so a crash
mid-upload never leaves a half-written object readable. Expired objects (past their
``delete_after_time_ms``) are removed by ``expire_objects``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sandbench.errors import Conflict, InvalidInput, NotFound
from sandbench.model.ids import new_id
from sandbench.model.storage import ContentType, ObjectState, StorageObject
from sandbench.store.database import Database, now_ms
from sandbench.store.pagination import (
    DEFAULT_LIMIT,
    KeysetQuery,
    Page,
    check_limit,
    where_equal,
)

CHUNK = 1 << 20


class ObjectStore(Database):
    @property
    def objects_dir(self) -> Path:
        directory = self.path.parent / "objects"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def object_path(self, object_id: str) -> Path:
        return self.objects_dir / object_id

    def create_object(
        self,
        name: str,
        content_type: str,
        *,
        metadata: dict[str, str] | None = None,
        ttl_ms: int | None = None,
    ) -> StorageObject:
        if not name:
            raise InvalidInput("name: must not be empty")
        try:
            kind = ContentType(content_type)
        except ValueError:
            known = ", ".join(c.value for c in ContentType)
            raise InvalidInput(f"content_type: {content_type!r} is not one of {known}") from None
        if ttl_ms is not None and ttl_ms <= 0:
            raise InvalidInput(f"ttl_ms: must be positive, got {ttl_ms}")
        stamp = now_ms()
        object_id = new_id("storage_object")
        with self.write() as conn:
            conn.execute(
                "INSERT INTO storage_objects (id, name, content_type, state, metadata,"
                " create_time_ms, delete_after_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    object_id,
                    name,
                    kind,
                    ObjectState.UPLOADING,
                    json.dumps(metadata or {}),
                    stamp,
                    stamp + ttl_ms if ttl_ms else None,
                ],
            )
        return self.get_object(object_id)

    def upload_object(self, object_id: str, chunks: Iterable[bytes]) -> StorageObject:
        """Store the object's bytes (replacing any earlier upload) while it is UPLOADING."""
        current = self.get_object(object_id)
        if current.state != ObjectState.UPLOADING:
            raise Conflict(f"object {object_id} is {current.state.value}; it takes no upload")
        target = self.object_path(object_id)
        partial = target.with_suffix(".part")
        digest, size = hashlib.sha256(), 0
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        with self.write() as conn:
            conn.execute(
                "UPDATE storage_objects SET size_bytes = ?, sha256 = ? WHERE id = ?",
                [size, digest.hexdigest(), object_id],
            )
        return self.get_object(object_id)

    def complete_object(self, object_id: str) -> StorageObject:
        current = self.get_object(object_id)
        if current.state == ObjectState.READ_ONLY:
            return current
        if current.state != ObjectState.UPLOADING:
            raise Conflict(f"object {object_id} is {current.state.value}; it cannot complete")
        if not self.object_path(object_id).exists():  # completed with nothing uploaded
            self.upload_object(object_id, [])
        with self.write() as conn:
            conn.execute(
                "UPDATE storage_objects SET state = ? WHERE id = ?",
                [ObjectState.READ_ONLY, object_id],
            )
        return self.get_object(object_id)

    def get_object(self, object_id: str) -> StorageObject:
        row = self.conn.execute(
            "SELECT * FROM storage_objects WHERE id = ?", [object_id]
        ).fetchone()
        if row is None or row["state"] == ObjectState.DELETED:
            raise NotFound(f"no object {object_id!r}")
        if row["delete_after_time_ms"] is not None and row["delete_after_time_ms"] <= now_ms():
            self.delete_object(object_id)
            raise NotFound(f"object {object_id!r} expired")
        return _object(row)

    @contextlib.contextmanager
    def open_object(self, object_id: str) -> Iterator[BinaryIO]:
        found = self.get_object(object_id)
        if found.state != ObjectState.READ_ONLY:
            raise Conflict(f"object {object_id} is {found.state.value}, not READ_ONLY yet")
        with self.object_path(object_id).open("rb") as handle:
            yield handle

    def read_object_chunks(self, object_id: str) -> Iterator[bytes]:
        with self.open_object(object_id) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def delete_object(self, object_id: str) -> StorageObject:
        row = self.conn.execute(
            "SELECT * FROM storage_objects WHERE id = ?", [object_id]
        ).fetchone()
        if row is None or row["state"] == ObjectState.DELETED:
            raise NotFound(f"no object {object_id!r}")
        with self.write() as conn:
            conn.execute(
                "UPDATE storage_objects SET state = ? WHERE id = ?",
                [ObjectState.DELETED, object_id],
            )
        for path in (self.object_path(object_id), self.object_path(object_id).with_suffix(".part")):
            path.unlink(missing_ok=True)
        return _object({**dict(row), "state": ObjectState.DELETED})

    def expire_objects(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM storage_objects WHERE state <> ? AND delete_after_time_ms <= ?",
            [ObjectState.DELETED, now_ms()],
        ).fetchall()
        for row in rows:
            with contextlib.suppress(NotFound):
                self.delete_object(row["id"])
        return [r["id"] for r in rows]

    def list_objects(
        self,
        *,
        name: str | None = None,
        content_type: str | None = None,
        state: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[StorageObject]:
        """Objects, newest first."""
        check_limit(limit)
        self.expire_objects()
        filters, params = where_equal("o", name=name, content_type=content_type, state=state)
        filters.append("o.state <> 'DELETED'")
        query = KeysetQuery(
            columns="o.*",
            source="storage_objects o",
            sort_key=("o.seq",),
            descending=True,
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(conn, limit=limit, starting_after=starting_after, item=_object)
        return page


def _object(row: sqlite3.Row | dict[str, Any]) -> StorageObject:
    data = dict(row)
    return StorageObject(
        id=data["id"],
        name=data["name"],
        content_type=data["content_type"],
        state=data["state"],
        size_bytes=data["size_bytes"],
        sha256=data["sha256"],
        metadata=json.loads(data["metadata"] or "{}"),
        create_time_ms=data["create_time_ms"],
        delete_after_time_ms=data["delete_after_time_ms"],
    )
