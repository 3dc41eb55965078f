"""Executions and their output, appended as it streams: the sandbox's activity log.

Each chunk records the offset of its first character within its stream, so a reader (an
event stream, the TUI) can resume exactly where it left off.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sandbench.errors import NotFound
from sandbench.model.execution import Execution, ExecutionStatus, OutputSlice
from sandbench.model.ids import new_id
from sandbench.store.database import Database, now_ms
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit


class ExecutionStore(Database):
    def create_execution(
        self,
        sandbox_id: str,
        command: str,
        *,
        user: str | None = None,
        working_directory: str | None = None,
        shell_name: str | None = None,
        origin: str = "api",
        owner_pid: int | None = None,
        owner_start: str | None = None,
    ) -> Execution:
        execution_id = new_id("execution")
        with self.write() as conn:
            conn.execute(
                "INSERT INTO executions (id, sandbox_id, command, user, working_directory,"
                " shell_name, origin, status, create_time_ms, owner_pid, owner_start)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    execution_id,
                    sandbox_id,
                    command,
                    user,
                    working_directory,
                    shell_name,
                    origin,
                    ExecutionStatus.QUEUED,
                    now_ms(),
                    owner_pid,
                    owner_start,
                ],
            )
        return self.get_execution(execution_id, with_output=False)

    def start_execution(self, execution_id: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE executions SET status = ?, start_time_ms = ? WHERE id = ?",
                [ExecutionStatus.RUNNING, now_ms(), execution_id],
            )

    def append_execution_output(self, execution_id: str, stream: str, data: str) -> None:
        if not data:
            return
        with self.write() as conn:
            row = conn.execute(
                "SELECT start_offset + length(data) FROM execution_chunks"
                " WHERE execution_id = ? AND stream = ? ORDER BY seq DESC LIMIT 1",
                [execution_id, stream],
            ).fetchone()
            conn.execute(
                "INSERT INTO execution_chunks (execution_id, stream, start_offset, data, at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                [execution_id, stream, row[0] if row else 0, data, now_ms()],
            )

    def finish_execution(
        self, execution_id: str, exit_status: int | None, *, failure: str | None = None
    ) -> Execution:
        stamp = now_ms()
        with self.write() as conn:
            conn.execute(
                "UPDATE executions SET status = ?, exit_status = ?, failure = ?,"
                " start_time_ms = coalesce(start_time_ms, ?), end_time_ms = ?"
                " WHERE id = ? AND status <> ?",
                [
                    ExecutionStatus.COMPLETED,
                    exit_status,
                    failure,
                    stamp,
                    stamp,
                    execution_id,
                    ExecutionStatus.COMPLETED,
                ],
            )
        return self.get_execution(execution_id)

    def get_execution(
        self, execution_id: str, *, sandbox_id: str | None = None, with_output: bool = True
    ) -> Execution:
        with self.read() as conn:
            row = conn.execute("SELECT * FROM executions WHERE id = ?", [execution_id]).fetchone()
            if row is None or (sandbox_id is not None and row["sandbox_id"] != sandbox_id):
                where = f" in sandbox {sandbox_id}" if sandbox_id else ""
                raise NotFound(f"no execution {execution_id!r}{where}")
            return self._execution(conn, row, with_output)

    def execution_output(self, execution_id: str, stream: str, *, offset: int = 0) -> OutputSlice:
        """The stream's output from character ``offset`` on."""
        rows = self.conn.execute(
            "SELECT start_offset, data FROM execution_chunks WHERE execution_id = ?"
            " AND stream = ? AND start_offset + length(data) > ? ORDER BY seq",
            [execution_id, stream, offset],
        ).fetchall()
        chunks: list[tuple[int, str]] = []
        end = offset
        for start, data in rows:
            if start < offset:
                data, start = data[offset - start :], offset
            chunks.append((start, data))
            end = start + len(data)
        return OutputSlice(chunks=chunks, end_offset=end)

    def list_executions(
        self,
        sandbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        with_output: bool = False,
    ) -> Page[Execution]:
        """A sandbox's executions, oldest first (the order of an activity log)."""
        check_limit(limit)
        query = KeysetQuery(
            columns="e.*",
            source="executions e",
            sort_key=("e.seq",),
            filters=["e.sandbox_id = ?"],
            params=[sandbox_id],
        )
        with self.read() as conn:
            return query.page(
                conn,
                limit=limit,
                starting_after=starting_after,
                item=lambda r: self._execution(conn, r, with_output),
            )

    def executions_since(self, sandbox_id: str, after_seq: int = 0) -> list[tuple[int, Execution]]:
        """Executions of a sandbox with ``seq`` above ``after_seq`` (for live views)."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM executions WHERE sandbox_id = ? AND seq > ? ORDER BY seq",
                [sandbox_id, after_seq],
            ).fetchall()
            return [(r["seq"], self._execution(conn, r, False)) for r in rows]

    def recent_executions_start(self, sandbox_id: str, keep: int) -> tuple[int, int]:
        """Where a live view showing only a sandbox's last ``keep`` executions starts: the
        seq to pass to ``executions_since``, and how many earlier executions it leaves out."""
        with self.read() as conn:
            row = conn.execute(
                "SELECT seq FROM executions WHERE sandbox_id = ? ORDER BY seq DESC"
                " LIMIT 1 OFFSET ?",
                [sandbox_id, keep],
            ).fetchone()
            if row is None:
                return 0, 0
            count = conn.execute(
                "SELECT count(*) FROM executions WHERE sandbox_id = ? AND seq <= ?",
                [sandbox_id, row[0]],
            ).fetchone()[0]
            return int(row[0]), int(count)

    def execution_chunks_since(
        self, execution_ids: Sequence[str], after_seq: int = 0, *, limit: int = 1000
    ) -> list[tuple[int, str, str, str]]:
        """Output of these executions stored after chunk ``after_seq``, both streams in the
        order they were written: ``(seq, execution_id, stream, text)``, at most ``limit``
        chunks (for live views: the last seq read is where the next read starts)."""
        if not execution_ids:
            return []
        marks = ", ".join("?" * len(execution_ids))
        rows = self.conn.execute(
            "SELECT seq, execution_id, stream, data FROM execution_chunks"
            f" WHERE execution_id IN ({marks}) AND stream IN ('stdout', 'stderr') AND seq > ?"
            " ORDER BY seq LIMIT ?",
            [*execution_ids, after_seq, limit],
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def unfinished_executions(self) -> list[tuple[Execution, int | None, str | None]]:
        """Executions not completed, with their owner (pid, start) for crash recovery."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM executions WHERE status <> ?", [ExecutionStatus.COMPLETED]
            ).fetchall()
            return [
                (self._execution(conn, r, False), r["owner_pid"], r["owner_start"]) for r in rows
            ]

    def open_executions(self, sandbox_id: str) -> list[tuple[str, int | None, str | None]]:
        """The sandbox's executions not completed: (id, owner pid, owner start)."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, owner_pid, owner_start FROM executions"
                " WHERE sandbox_id = ? AND status <> ?",
                [sandbox_id, ExecutionStatus.COMPLETED],
            ).fetchall()
            return [(r["id"], r["owner_pid"], r["owner_start"]) for r in rows]

    def _execution(self, conn: sqlite3.Connection, row: sqlite3.Row, output: bool) -> Execution:
        texts = {"stdout": "", "stderr": ""}
        if output:
            for stream in texts:
                texts[stream] = "".join(
                    r[0]
                    for r in conn.execute(
                        "SELECT data FROM execution_chunks WHERE execution_id = ? AND stream = ?"
                        " ORDER BY seq",
                        [row["id"], stream],
                    )
                )
        return Execution(
            id=row["id"],
            sandbox_id=row["sandbox_id"],
            command=row["command"],
            user=row["user"],
            working_directory=row["working_directory"],
            shell_name=row["shell_name"],
            origin=row["origin"],
            status=ExecutionStatus(row["status"]),
            exit_status=row["exit_status"],
            failure=row["failure"],
            create_time_ms=row["create_time_ms"],
            start_time_ms=row["start_time_ms"],
            end_time_ms=row["end_time_ms"],
            stdout=texts["stdout"],
            stderr=texts["stderr"],
        )
