"""Scenario runs, scorer attempts and their streamed output.

Output is appended chunk by chunk, each chunk its own small transaction, so whatever a
scorer printed before a crash is already on disk. Callers redact secrets before appending.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sandbench.errors import NotFound
from sandbench.model.ids import new_id
from sandbench.model.runs import (
    RunState,
    ScenarioRun,
    ScorerResult,
    ScorerState,
    Solution,
    Usage,
    weighted_total,
)
from sandbench.store.database import now_ms
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit
from sandbench.store.scenarios import ScenarioStore


class RunStore(ScenarioStore):
    def create_run(
        self,
        scenario_id: str,
        scenario_version: int,
        solution: Solution,
        *,
        benchmark_run_id: str | None = None,
        name: str | None = None,
        owner_pid: int | None = None,
    ) -> ScenarioRun:
        run_id = new_id("scenario_run")
        with self.write() as conn:
            conn.execute(
                "INSERT INTO scenario_runs (id, scenario_id, scenario_version, benchmark_run_id,"
                " name, state, solution, start_time_ms, owner_pid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    scenario_id,
                    scenario_version,
                    benchmark_run_id,
                    name,
                    RunState.RUNNING,
                    solution,
                    now_ms(),
                    owner_pid,
                ],
            )
        return self.get_run(run_id)

    def set_run_state(
        self,
        run_id: str,
        state: RunState,
        *,
        failure_reason: str | None = None,
        sandbox_id: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        with self.write() as conn:
            row = conn.execute(
                "SELECT start_time_ms FROM scenario_runs WHERE id = ?", [run_id]
            ).fetchone()
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            duration = now_ms() - row["start_time_ms"] if state.finished else None
            score = weighted_total(self._results(conn, run_id, with_output=False))
            conn.execute(
                "UPDATE scenario_runs SET state = ?, score = ?, duration_ms = ?,"
                " failure_reason = coalesce(?, failure_reason),"
                " sandbox_id = coalesce(?, sandbox_id), usage = coalesce(?, usage)"
                " WHERE id = ?",
                [
                    state,
                    score,
                    duration,
                    failure_reason,
                    sandbox_id,
                    usage.model_dump_json() if usage else None,
                    run_id,
                ],
            )

    def start_scorer(self, run_id: str, name: str, type_: str, weight: float) -> ScorerResult:
        """A new attempt of scorer ``name`` (attempt numbers count up from 1)."""
        result_id = new_id("scorer_result")
        with self.write() as conn:
            attempt = conn.execute(
                "SELECT coalesce(max(attempt), 0) + 1 FROM scorer_results"
                " WHERE run_id = ? AND name = ?",
                [run_id, name],
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO scorer_results (id, run_id, name, type, weight, attempt, state,"
                " started_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [result_id, run_id, name, type_, weight, attempt, ScorerState.RUNNING, now_ms()],
            )
        return self.get_scorer_result(result_id)

    def append_output(self, result_id: str, stream: str, data: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO output_chunks (scorer_result_id, stream, data, at_ms)"
                " VALUES (?, ?, ?, ?)",
                [result_id, stream, data, now_ms()],
            )

    def finish_scorer(
        self,
        result_id: str,
        state: ScorerState,
        *,
        score: float | None = None,
        exit_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> ScorerResult:
        with self.write() as conn:
            updated = conn.execute(
                "UPDATE scorer_results SET state = ?, score = ?, exit_code = ?, details = ?,"
                " duration_ms = ? - started_at_ms WHERE id = ?",
                [state, score, exit_code, json.dumps(details or {}), now_ms(), result_id],
            )
            if updated.rowcount == 0:
                raise NotFound(f"no scorer result {result_id!r}")
        return self.get_scorer_result(result_id)

    def scorer_output(self, result_id: str) -> str:
        rows = self.conn.execute(
            "SELECT data FROM output_chunks WHERE scorer_result_id = ? ORDER BY seq", [result_id]
        ).fetchall()
        return "".join(r["data"] for r in rows)

    def get_scorer_result(self, result_id: str) -> ScorerResult:
        row = self.conn.execute("SELECT * FROM scorer_results WHERE id = ?", [result_id]).fetchone()
        if row is None:
            raise NotFound(f"no scorer result {result_id!r}")
        return self._result(row, self.scorer_output(result_id))

    def _result(self, row: sqlite3.Row, output: str) -> ScorerResult:
        return ScorerResult(
            id=row["id"],
            run_id=row["run_id"],
            name=row["name"],
            type=row["type"],
            weight=row["weight"],
            attempt=row["attempt"],
            state=ScorerState(row["state"]),
            score=row["score"],
            output=output,
            exit_code=row["exit_code"],
            started_at_ms=row["started_at_ms"],
            duration_ms=row["duration_ms"],
            details=json.loads(row["details"]),
        )

    def _results(
        self, conn: sqlite3.Connection, run_id: str, *, with_output: bool = True
    ) -> list[ScorerResult]:
        rows = conn.execute(
            "SELECT * FROM scorer_results WHERE run_id = ? ORDER BY seq", [run_id]
        ).fetchall()
        results = []
        for row in rows:
            output = ""
            if with_output:
                chunks = conn.execute(
                    "SELECT data FROM output_chunks WHERE scorer_result_id = ? ORDER BY seq",
                    [row["id"]],
                ).fetchall()
                output = "".join(c["data"] for c in chunks)
            results.append(self._result(row, output))
        return results

    def _run(self, conn: sqlite3.Connection, row: sqlite3.Row, *, results: bool) -> ScenarioRun:
        return ScenarioRun(
            id=row["id"],
            scenario_id=row["scenario_id"],
            scenario_version=row["scenario_version"],
            name=row["name"],
            state=RunState(row["state"]),
            solution=Solution(row["solution"]),
            benchmark_run_id=row["benchmark_run_id"],
            sandbox_id=row["sandbox_id"],
            score=row["score"],
            start_time_ms=row["start_time_ms"],
            duration_ms=row["duration_ms"],
            failure_reason=row["failure_reason"],
            cache_key=row["cache_key"],
            cache_hit=bool(row["cache_hit"]),
            usage=Usage.model_validate_json(row["usage"]) if row["usage"] else None,
            metadata=json.loads(row["metadata"]),
            scorer_results=self._results(conn, row["id"]) if results else [],
        )

    def get_run(self, run_id: str) -> ScenarioRun:
        with self.read() as conn:
            row = conn.execute("SELECT * FROM scenario_runs WHERE id = ?", [run_id]).fetchone()
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            return self._run(conn, row, results=True)

    def list_runs(
        self,
        *,
        scenario: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
    ) -> Page[ScenarioRun]:
        """Runs, newest first (ids are time-ordered, so ``-seq`` is creation order reversed)."""
        check_limit(limit)
        with self.read() as conn:
            filters, params = [], []
            if scenario:
                filters.append("r.scenario_id = ?")
                params.append(self.resolve_scenario_id(scenario, conn=conn))
            query = KeysetQuery(
                columns="r.*",
                source="scenario_runs r",
                sort_key=("-r.seq",),
                filters=filters,
                params=params,
            )
            cursor = query.cursor(conn, "r.id", starting_after) if starting_after else None
            rows, total, remaining = query.run(conn, limit=limit, cursor=cursor)
            items = [self._run(conn, r, results=False) for r in rows]
        return Page(items, remaining > 0, total, remaining)
