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
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit

_UPDATABLE = {
    "keep_alive_from_ms",
    "metadata",
    "name",
    "container_id",
    "disk_dir",
    "userns_base",
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
        self,
        spec: SandboxSpec,
        *,
        owner_pid: int | None,
        owner_start: str | None,
        metadata: dict[str, str] | None = None,
        launch_parameters: dict[str, Any] | None = None,
        initiator: str | None = None,
        sandbox_id: str | None = None,
    ) -> Sandbox:
        """``sandbox_id``: the id it already has (a warm sandbox claimed from the pool)."""
        sandbox_id = sandbox_id or new_id("sandbox")
        stamp = now_ms()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO sandboxes (id, name, status, scenario_run_id, image, architecture,"
                " resources, blueprint_id, snapshot_id, create_time_ms, owner_pid, owner_start,"
                " spec, last_activity_ms, metadata, launch_parameters, initiator)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    json.dumps(metadata or {}),
                    json.dumps(launch_parameters) if launch_parameters is not None else None,
                    initiator,
                ],
            )
            self._transition_row(conn, sandbox_id, SandboxState.PROVISIONING, stamp)
        return self.get_sandbox(sandbox_id)

    def update_sandbox(self, sandbox_id: str, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if isinstance(fields.get("metadata"), dict):
            fields["metadata"] = json.dumps(fields["metadata"])
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

    def touch_sandbox(self, sandbox_id: str, *, at_ms: int | None = None) -> None:
        """Note activity (exec, file access, shell): it resets the idle timer. ``at_ms``
        records it at another time than now."""
        with self.write() as conn:
            conn.execute(
                "UPDATE sandboxes SET last_activity_ms = ? WHERE id = ?",
                [now_ms() if at_ms is None else at_ms, sandbox_id],
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

    def recorded_sandboxes(self, sandbox_ids: Iterable[str]) -> set[str]:
        """Which of ``sandbox_ids`` have a row: of the pool's containers, those claimed."""
        wanted = list(sandbox_ids)
        if not wanted:
            return set()
        with self.read() as conn:
            rows = conn.execute(
                f"SELECT id FROM sandboxes WHERE id IN ({', '.join('?' * len(wanted))})", wanted
            ).fetchall()
        return {row[0] for row in rows}

    def page_sandboxes(
        self,
        *,
        statuses: Iterable[SandboxState] | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[Sandbox]:
        """Sandboxes newest first, a page at a time (the API's devbox list)."""
        check_limit(limit)
        wanted = list(statuses or [])
        query = KeysetQuery(
            columns="b.*",
            source="sandboxes b",
            sort_key=("b.seq",),
            descending=True,
            filters=[f"b.status IN ({', '.join('?' * len(wanted))})"] if wanted else [],
            params=wanted,
        )
        with self.read() as conn:
            page = query.page(
                conn,
                limit=limit,
                starting_after=starting_after,
                item=lambda r: self._sandbox(conn, r),
            )
        return page

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
            metadata=json.loads(row["metadata"] or "{}"),
            launch_parameters=json.loads(row["launch_parameters"])
            if row["launch_parameters"]
            else None,
            initiator=row["initiator"],
        )

    def sandbox_bookkeeping(self, sandbox_id: str) -> sqlite3.Row:
        """Columns the engine keeps for itself (disk dir, owner, watcher, id range)."""
        row = self.conn.execute(
            "SELECT disk_dir, owner_pid, owner_start, watcher_pid, keep_alive_from_ms,"
            " userns_base"
            " FROM sandboxes WHERE id = ?",
            [sandbox_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no sandbox {sandbox_id!r}")
        return row

    # ------------------------------------------------------------------ images

    def save_blueprint(self, name: str, image: str, source: str, status: str) -> Blueprint:
        """Record a blueprint built by name (the CLI's): the newest of that name is updated."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT id FROM blueprints WHERE name = ? AND state = 'created'"
                " ORDER BY seq DESC LIMIT 1",
                [name],
            ).fetchone()
            if row is None:
                blueprint_id = new_id("blueprint")
                conn.execute(
                    "INSERT INTO blueprints (id, name, image, source, status, create_time_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [blueprint_id, name, image, source, status, now_ms()],
                )
            else:
                blueprint_id = row["id"]
                conn.execute(
                    "UPDATE blueprints SET image = ?, source = ?, status = ?, create_time_ms = ?"
                    " WHERE id = ?",
                    [image, source, status, now_ms(), blueprint_id],
                )
        return self.get_blueprint(blueprint_id)

    def insert_blueprint(
        self,
        name: str,
        image: str,
        *,
        source: str,
        parameters: dict[str, Any] | None,
        content_hash: str | None,
        status: str = "queued",
    ) -> Blueprint:
        """A new blueprint (the API's): it may share its name with older ones."""
        blueprint_id = new_id("blueprint")
        with self.write() as conn:
            conn.execute(
                "INSERT INTO blueprints (id, name, image, source, status, create_time_ms,"
                " parameters, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    blueprint_id,
                    name,
                    image,
                    source,
                    status,
                    now_ms(),
                    json.dumps(parameters) if parameters is not None else None,
                    content_hash,
                ],
            )
        return self.get_blueprint(blueprint_id)

    def update_blueprint(self, blueprint_id: str, **fields: Any) -> Blueprint:
        allowed = {
            "status",
            "build_log",
            "failure_reason",
            "build_finish_time_ms",
            "state",
            "image",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        with self.write() as conn:
            conn.execute(
                f"UPDATE blueprints SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                [*fields.values(), blueprint_id],
            )
        return self.get_blueprint(blueprint_id)

    def append_blueprint_log(self, blueprint_id: str, text: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE blueprints SET build_log = build_log || ? WHERE id = ?",
                [text, blueprint_id],
            )

    def get_blueprint(self, ref: str) -> Blueprint:
        """By id; by name, the newest built one of that name (else the newest)."""
        row = (
            self.conn.execute("SELECT * FROM blueprints WHERE id = ?", [ref]).fetchone()
            or self.conn.execute(
                "SELECT * FROM blueprints WHERE name = ? AND state = 'created'"
                " ORDER BY status = 'build_complete' DESC, seq DESC LIMIT 1",
                [ref],
            ).fetchone()
        )
        if row is None:
            raise NotFound(
                f"no blueprint {ref!r}; build it with `sandbench blueprints build {ref} DIR`"
            )
        return _blueprint(row)

    def blueprint_with_content(self, content_hash: str, name: str) -> Blueprint | None:
        """A live blueprint of this name built (or building) from the same content."""
        row = self.conn.execute(
            "SELECT * FROM blueprints WHERE content_hash = ? AND name = ? AND state = 'created'"
            " AND status <> 'failed' ORDER BY seq DESC LIMIT 1",
            [content_hash, name],
        ).fetchone()
        return _blueprint(row) if row else None

    def image_with_content(self, content_hash: str) -> str | None:
        """The image of any built blueprint with this content (built once, shared)."""
        row = self.conn.execute(
            "SELECT image FROM blueprints WHERE content_hash = ? AND status = 'build_complete'"
            " ORDER BY seq DESC LIMIT 1",
            [content_hash],
        ).fetchone()
        return str(row["image"]) if row else None

    def list_blueprints(self) -> list[Blueprint]:
        rows = self.conn.execute(
            "SELECT * FROM blueprints WHERE state = 'created' ORDER BY name, seq"
        ).fetchall()
        return [_blueprint(r) for r in rows]

    def page_blueprints(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[Blueprint]:
        """Live blueprints, newest first."""
        check_limit(limit)
        filters, params = ["b.state = 'created'"], []
        if name:
            filters.append("b.name = ?")
            params.append(name)
        if status:
            filters.append("b.status = ?")
            params.append(status)
        query = KeysetQuery(
            columns="b.*",
            source="blueprints b",
            sort_key=("b.seq",),
            descending=True,
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(conn, limit=limit, starting_after=starting_after, item=_blueprint)
        return page

    def save_snapshot(
        self,
        name: str,
        image: str,
        source_sandbox_id: str | None,
        *,
        status: str = "complete",
        metadata: dict[str, str] | None = None,
        commit_message: str | None = None,
        display_name: str | None = None,
        snapshot_id: str | None = None,
    ) -> Snapshot:
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM snapshots WHERE name = ?", [name]).fetchone():
                raise Conflict(f"a snapshot is already named {name!r}")
            conn.execute(
                "INSERT INTO snapshots (id, name, image, source_sandbox_id, create_time_ms,"
                " status, metadata, commit_message, display_name)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    snapshot_id or new_id("snapshot"),
                    name,
                    image,
                    source_sandbox_id,
                    now_ms(),
                    status,
                    json.dumps(metadata or {}),
                    commit_message,
                    display_name,
                ],
            )
        return self.get_snapshot(name)

    def update_snapshot(self, ref: str, **fields: Any) -> Snapshot:
        allowed = {"status", "error", "metadata", "commit_message", "display_name", "image"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "metadata" in fields:
            fields["metadata"] = json.dumps(fields["metadata"] or {})
        snapshot = self.get_snapshot(ref)
        with self.write() as conn:
            conn.execute(
                f"UPDATE snapshots SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                [*fields.values(), snapshot.id],
            )
        return self.get_snapshot(snapshot.id)

    def delete_snapshot_record(self, ref: str) -> Snapshot:
        snapshot = self.get_snapshot(ref)
        with self.write() as conn:
            conn.execute("DELETE FROM snapshots WHERE id = ?", [snapshot.id])
        return snapshot

    def get_snapshot(self, ref: str) -> Snapshot:
        row = self.conn.execute(
            "SELECT * FROM snapshots WHERE id = ? OR name = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(f"no snapshot {ref!r}")
        return _snapshot(row)

    def list_snapshots(self) -> list[Snapshot]:
        rows = self.conn.execute("SELECT * FROM snapshots ORDER BY create_time_ms").fetchall()
        return [_snapshot(r) for r in rows]

    def page_snapshots(
        self,
        *,
        source_sandbox_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[Snapshot]:
        check_limit(limit)
        filters, params = [], []
        if source_sandbox_id:
            filters.append("s.source_sandbox_id = ?")
            params.append(source_sandbox_id)
        query = KeysetQuery(
            columns="s.*",
            source="snapshots s",
            sort_key=("s.create_time_ms", "s.id"),
            descending=True,
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(conn, limit=limit, starting_after=starting_after, item=_snapshot)
        return page


def _columns(row: sqlite3.Row) -> dict[str, Any]:
    """The row's own columns, without the sort keys (``_k0``…) a keyset page adds."""
    return {k: v for k, v in dict(row).items() if not (k.startswith("_k") and k[2:].isdigit())}


def _blueprint(row: sqlite3.Row) -> Blueprint:
    data = _columns(row)
    data.pop("seq", None)
    data["parameters"] = json.loads(data["parameters"]) if data["parameters"] else None
    return Blueprint(**data)


def _snapshot(row: sqlite3.Row) -> Snapshot:
    data = _columns(row)
    data["metadata"] = json.loads(data["metadata"] or "{}")
    return Snapshot(**data)


def _resources(resources: Resources) -> dict[str, Any]:
    return {
        "cpu": resources.cpu,
        "memory_gib": resources.memory_gib,
        "disk_gib": resources.disk_gib,
    }
