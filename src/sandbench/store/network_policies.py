"""Network policies by id and name (the API's), and what each means for a sandbox."""

from __future__ import annotations

import sqlite3

from sandbench.errors import Conflict, NotFound
from sandbench.model.ids import new_id
from sandbench.model.network import Egress, NetworkPolicyRecord
from sandbench.store.database import Database, now_ms
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit


class NetworkPolicyStore(Database):
    def create_network_policy(
        self, name: str, egress: Egress, description: str | None = None
    ) -> NetworkPolicyRecord:
        stamp = now_ms()
        with self.write() as conn:
            row = conn.execute("SELECT id FROM network_policies WHERE name = ?", [name]).fetchone()
            if row is not None:
                raise Conflict(f"a network policy is already named {name!r} ({row['id']})")
            policy_id = new_id("network_policy")
            conn.execute(
                "INSERT INTO network_policies (id, name, description, egress, create_time_ms,"
                " update_time_ms) VALUES (?, ?, ?, ?, ?, ?)",
                [policy_id, name, description, egress.model_dump_json(), stamp, stamp],
            )
        return self.get_network_policy(policy_id)

    def update_network_policy(
        self,
        ref: str,
        *,
        name: str | None = None,
        egress: Egress | None = None,
        description: str | None = None,
    ) -> NetworkPolicyRecord:
        current = self.get_network_policy(ref)
        with self.write() as conn:
            conn.execute(
                "UPDATE network_policies SET name = ?, description = ?, egress = ?,"
                " update_time_ms = ? WHERE id = ?",
                [
                    name or current.name,
                    description if description is not None else current.description,
                    (egress or current.egress).model_dump_json(),
                    now_ms(),
                    current.id,
                ],
            )
        return self.get_network_policy(current.id)

    def get_network_policy(self, ref: str) -> NetworkPolicyRecord:
        row = self.conn.execute(
            "SELECT * FROM network_policies WHERE id = ? OR name = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(f"no network policy {ref!r}")
        return _policy(row)

    def delete_network_policy(self, ref: str) -> NetworkPolicyRecord:
        policy = self.get_network_policy(ref)
        with self.write() as conn:
            conn.execute("DELETE FROM network_policies WHERE id = ?", [policy.id])
        return policy

    def list_network_policies(
        self,
        *,
        name: str | None = None,
        policy_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[NetworkPolicyRecord]:
        check_limit(limit)
        filters, params = [], []
        if name:
            filters.append("p.name = ?")
            params.append(name)
        if policy_id:
            filters.append("p.id = ?")
            params.append(policy_id)
        query = KeysetQuery(
            columns="p.*",
            source="network_policies p",
            sort_key=("p.seq",),
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(conn, limit=limit, starting_after=starting_after, item=_policy)
        return page


def _policy(row: sqlite3.Row) -> NetworkPolicyRecord:
    return NetworkPolicyRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        egress=Egress.model_validate_json(row["egress"]),
        create_time_ms=row["create_time_ms"],
        update_time_ms=row["update_time_ms"],
    )
