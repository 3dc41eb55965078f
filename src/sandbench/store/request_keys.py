"""Idempotency keys: a retried create finds the object its first attempt made."""

from __future__ import annotations

from sandbench.store.database import Database, now_ms


class RequestKeyStore(Database):
    def recall_request(self, scope: str, key: str) -> str | None:
        row = self.conn.execute(
            "SELECT object_id FROM request_keys WHERE scope = ? AND key = ?", [scope, key]
        ).fetchone()
        return str(row["object_id"]) if row else None

    def remember_request(self, scope: str, key: str, object_id: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO request_keys (scope, key, object_id, create_time_ms)"
                " VALUES (?, ?, ?, ?)",
                [scope, key, object_id, now_ms()],
            )
