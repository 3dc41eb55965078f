"""Sandboxes and their timestamped state transitions; blueprints and snapshots."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from sandbench.errors import Conflict, NotFound
from sandbench.model.ids import new_id
from sandbench.model.resources import Resources
from sandbench.model.sandbox import (
    Blueprint,
    FailureReason,
    Sandbox,
    SandboxSpec,
    SandboxState,
    ShutdownReason,
    Snapshot,
    StateTransition,
)
from sandbench.model.scenario import Architecture
from sandbench.store.database import Database, now_ms

_UPDATABLE = {
    "container_id",
    "disk_dir",
    "launch_output",
    "failure_detail",
    "paused",
    "owner_pid",
    "owner_start",
    "watcher_pid",
    "image",
}


class SandboxStore(Database):
    def insert_sandbox(
        self, spec: SandboxSpec, *, owner_pid: int | None, owner_start: str | None
    ) -> Sandbox:
        sandbox_id = new_id("sandbox")
        stamp = now_ms()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO sandboxes (id, name, status, scenario_run_id, image, architecture,"
                " resources, blueprint_id, snapshot_id, create_time_ms, owner_pid, owner_start,"
                " spec, last_activity_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sandbox_id,
                    spec.name,
                    SandboxState.PROVISIONING,
                    spec.scenario_run_id,
                    spec.image,
                    spec.architecture,
                    json.dumps(_resources(spec.resources)),
                    spec.blueprint_id,
                    spec.snapshot_id,
                    stamp,
                    owner_pid,
                    owner_start,
                    spec.model_dump_json(),
                    stamp,
                ],
            )
            self._transition_row(conn, sandbox_id, SandboxState.PROVISIONING, stamp)
        return self.get_sandbox(sandbox_id)

    def update_sandbox(self, sandbox_id: str, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.write() as conn:
            conn.execute(
                f"UPDATE sandboxes SET {assignments} WHERE id = ?", [*fields.values(), sandbox_id]
            )

    def transition(
        self,
        sandbox_id: str,
        status: SandboxState,
        *,
        failure_reason: FailureReason | None = None,
        shutdown_reason: ShutdownReason | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a state change with its time; terminal states also set the end time."""
        stamp = now_ms()
        with self.write() as conn:
            conn.execute(
                "UPDATE sandboxes SET status = ?,"
                " failure_reason = coalesce(?, failure_reason),"
                " shutdown_reason = coalesce(?, shutdown_reason),"
                " failure_detail = coalesce(?, failure_detail),"
                " end_time_ms = CASE WHEN ? THEN ? ELSE end_time_ms END,"
                " paused = 0 WHERE id = ?",
                [
                    status,
                    failure_reason,
                    shutdown_reason,
                    detail,
                    status.terminal,
                    stamp,
                    sandbox_id,
                ],
            )
            self._transition_row(conn, sandbox_id, status, stamp)

    def _transition_row(
        self, conn: sqlite3.Connection, sandbox_id: str, status: SandboxState, stamp: int
    ) -> None:
        conn.execute(
            "INSERT INTO sandbox_transitions (sandbox_id, status, transition_time_ms)"
            " VALUES (?, ?, ?)",
            [sandbox_id, status, stamp],
        )

    def touch_sandbox(self, sandbox_id: str) -> None:
        """Note activity (exec, file access, shell): it resets the idle timer."""
        with self.write() as conn:
            conn.execute(
                "UPDATE sandboxes SET last_activity_ms = ? WHERE id = ?", [now_ms(), sandbox_id]
            )

    def get_sandbox(self, sandbox_id: str) -> Sandbox:
        with self.read() as conn:
            row = conn.execute("SELECT * FROM sandboxes WHERE id = ?", [sandbox_id]).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT * FROM sandboxes WHERE name = ? ORDER BY seq DESC", [sandbox_id]
                ).fetchone()
            if row is None:
                raise NotFound(f"no sandbox with id or name {sandbox_id!r}")
            return self._sandbox(conn, row)

    def list_sandboxes(
        self, *, statuses: Iterable[SandboxState] | None = None, limit: int = 200
    ) -> list[Sandbox]:
        """Newest first."""
        wanted = list(statuses or [])
        where = f" WHERE status IN ({', '.join('?' * len(wanted))})" if wanted else ""
        with self.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM sandboxes{where} ORDER BY seq DESC LIMIT ?", [*wanted, limit]
            ).fetchall()
            return [self._sandbox(conn, row) for row in rows]

    def _sandbox(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Sandbox:
        transitions = conn.execute(
            "SELECT status, transition_time_ms FROM sandbox_transitions WHERE sandbox_id = ?"
            " ORDER BY rowid",
            [row["id"]],
        ).fetchall()
        return Sandbox(
            id=row["id"],
            name=row["name"],
            status=SandboxState(row["status"]),
            scenario_run_id=row["scenario_run_id"],
            image=row["image"],
            container_id=row["container_id"],
            architecture=Architecture(row["architecture"]),
            resources=Resources(**json.loads(row["resources"])),
            blueprint_id=row["blueprint_id"],
            snapshot_id=row["snapshot_id"],
            create_time_ms=row["create_time_ms"],
            end_time_ms=row["end_time_ms"],
            failure_reason=row["failure_reason"],
            shutdown_reason=row["shutdown_reason"],
            state_transitions=[
                StateTransition(status=t["status"], transition_time_ms=t["transition_time_ms"])
                for t in transitions
            ],
            paused=bool(row["paused"]),
            last_activity_ms=row["last_activity_ms"],
            failure_detail=row["failure_detail"],
            launch_output=row["launch_output"],
            spec=SandboxSpec.model_validate_json(row["spec"]) if row["spec"] else None,
        )

    def sandbox_bookkeeping(self, sandbox_id: str) -> sqlite3.Row:
        """Columns the engine keeps for itself (disk dir, owner, watcher)."""
        row = self.conn.execute(
            "SELECT disk_dir, owner_pid, owner_start, watcher_pid FROM sandboxes WHERE id = ?",
            [sandbox_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no sandbox {sandbox_id!r}")
        return row

    # ------------------------------------------------------------------ images

    def save_blueprint(self, name: str, image: str, source: str, status: str) -> Blueprint:
        with self.write() as conn:
            row = conn.execute("SELECT id FROM blueprints WHERE name = ?", [name]).fetchone()
            blueprint_id = row["id"] if row else new_id("blueprint")
            conn.execute(
                "INSERT INTO blueprints (id, name, image, source, status, create_time_ms)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET image ="
                " excluded.image, source = excluded.source, status = excluded.status,"
                " create_time_ms = excluded.create_time_ms",
                [blueprint_id, name, image, source, status, now_ms()],
            )
        return self.get_blueprint(name)

    def get_blueprint(self, ref: str) -> Blueprint:
        row = self.conn.execute(
            "SELECT * FROM blueprints WHERE id = ? OR name = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(
                f"no blueprint {ref!r}; build it with `sandbench blueprints build {ref} DIR`"
            )
        return Blueprint(**dict(row))

    def list_blueprints(self) -> list[Blueprint]:
        rows = self.conn.execute("SELECT * FROM blueprints ORDER BY name").fetchall()
        return [Blueprint(**dict(r)) for r in rows]

    def save_snapshot(self, name: str, image: str, source_sandbox_id: str | None) -> Snapshot:
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM snapshots WHERE name = ?", [name]).fetchone():
                raise Conflict(f"a snapshot is already named {name!r}")
            conn.execute(
                "INSERT INTO snapshots (id, name, image, source_sandbox_id, create_time_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                [new_id("snapshot"), name, image, source_sandbox_id, now_ms()],
            )
        return self.get_snapshot(name)

    def get_snapshot(self, ref: str) -> Snapshot:
        row = self.conn.execute(
            "SELECT * FROM snapshots WHERE id = ? OR name = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(f"no snapshot {ref!r}")
        return Snapshot(**dict(row))

    def list_snapshots(self) -> list[Snapshot]:
        rows = self.conn.execute("SELECT * FROM snapshots ORDER BY create_time_ms").fetchall()
        return [Snapshot(**dict(r)) for r in rows]


def _resources(resources: Resources) -> dict[str, Any]:
    return {
        "cpu": resources.cpu,
        "memory_gib": resources.memory_gib,
        "disk_gib": resources.disk_gib,
    }
