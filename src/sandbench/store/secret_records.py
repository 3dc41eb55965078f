"""Secrets as the API lists them: id, name and times. Values stay in the secrets file."""

from __future__ import annotations

import sqlite3

from sandbench import secrets
from sandbench.errors import Conflict, NotFound
from sandbench.model.ids import new_id
from sandbench.model.network import SecretRecord
from sandbench.store.database import Database, now_ms
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit


class SecretRecordStore(Database):
    def _sync_secret_records(self) -> None:
        """Secrets set with the CLI get a record the first time the API looks."""
        stored = set(secrets.names())
        with self.write() as conn:
            known = {r[0] for r in conn.execute("SELECT name FROM secret_records")}
            stamp = now_ms()
            for name in sorted(stored - known):
                conn.execute(
                    "INSERT INTO secret_records (id, name, create_time_ms, update_time_ms)"
                    " VALUES (?, ?, ?, ?)",
                    [new_id("secret"), name, stamp, stamp],
                )
            for name in known - stored:
                conn.execute("DELETE FROM secret_records WHERE name = ?", [name])

    def create_secret(self, name: str, value: str) -> SecretRecord:
        self._sync_secret_records()
        if name in secrets.names():
            raise Conflict(f"a secret is already named {name!r}; update it instead")
        secrets.set_secret(name, value)
        self._sync_secret_records()
        return self.get_secret_record(name)

    def update_secret(self, name: str, value: str) -> SecretRecord:
        record = self.get_secret_record(name)
        secrets.set_secret(name, value)
        with self.write() as conn:
            conn.execute(
                "UPDATE secret_records SET update_time_ms = ? WHERE id = ?", [now_ms(), record.id]
            )
        return self.get_secret_record(name)

    def delete_secret_record(self, name: str) -> SecretRecord:
        record = self.get_secret_record(name)
        secrets.delete_secret(record.name)
        with self.write() as conn:
            conn.execute("DELETE FROM secret_records WHERE id = ?", [record.id])
        return record

    def get_secret_record(self, ref: str) -> SecretRecord:
        self._sync_secret_records()
        row = self.conn.execute(
            "SELECT * FROM secret_records WHERE name = ? OR id = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(f"no secret {ref!r}")
        return _record(row)

    def list_secret_records(
        self, *, limit: int = DEFAULT_LIMIT, starting_after: str | None = None
    ) -> Page[SecretRecord]:
        check_limit(limit)
        self._sync_secret_records()
        query = KeysetQuery(columns="s.*", source="secret_records s", sort_key=("s.seq",))
        with self.read() as conn:
            page = query.page(conn, limit=limit, starting_after=starting_after, item=_record)
        return page


def _record(row: sqlite3.Row) -> SecretRecord:
    return SecretRecord(**{k: row[k] for k in SecretRecord.model_fields})
