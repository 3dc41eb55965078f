"""A benchmark run's cases: each scenario, at the version pinned when the run began, times
each repeat. Their states are what a resume reads: finished cases stay, the rest run again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from sandbench.errors import NotFound
from sandbench.model.benchmark import BenchmarkCase, CaseState
from sandbench.store.database import Database


class BenchmarkCaseStore(Database):
    def create_cases(self, cases: Iterable[BenchmarkCase]) -> None:
        with self.write() as conn:
            conn.executemany(
                "INSERT INTO benchmark_cases (benchmark_run_id, position, repeat_index,"
                " scenario_id, scenario_version, state, attempts) VALUES (?, ?, ?, ?, ?, ?, 0)",
                [
                    (
                        c.benchmark_run_id,
                        c.position,
                        c.repeat_index,
                        c.scenario_id,
                        c.scenario_version,
                        CaseState.PENDING,
                    )
                    for c in cases
                ],
            )

    def update_case(
        self,
        case: BenchmarkCase,
        *,
        state: CaseState,
        run_id: str | None = None,
        attempts: int | None = None,
        reason: str | None = None,
    ) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE benchmark_cases SET state = ?, run_id = coalesce(?, run_id),"
                " attempts = coalesce(?, attempts), reason = ?"
                " WHERE benchmark_run_id = ? AND position = ? AND repeat_index = ?",
                [
                    state,
                    run_id,
                    attempts,
                    reason,
                    case.benchmark_run_id,
                    case.position,
                    case.repeat_index,
                ],
            )

    def cases_of(self, benchmark_run_id: str) -> list[BenchmarkCase]:
        with self.read() as conn:
            rows = conn.execute(
                _CASES + " WHERE c.benchmark_run_id = ? ORDER BY c.position, c.repeat_index",
                [benchmark_run_id],
            ).fetchall()
        return [_case(r) for r in rows]

    def case_of(self, benchmark_run_id: str, position: int, repeat_index: int) -> BenchmarkCase:
        """One case as ``cases_of`` shows it: what a finished case announces, without
        reading (and parsing) the whole run's cases for each one."""
        with self.read() as conn:
            row = conn.execute(
                _CASES + " WHERE c.benchmark_run_id = ? AND c.position = ? AND c.repeat_index = ?",
                [benchmark_run_id, position, repeat_index],
            ).fetchone()
        if row is None:
            raise NotFound(
                f"benchmark run {benchmark_run_id} has no case {position}/{repeat_index}"
            )
        return _case(row)


_CASES = (
    "SELECT c.*, r.score, json_extract(v.document, '$.name') AS scenario_name"
    " FROM benchmark_cases c"
    " LEFT JOIN scenario_runs r ON r.id = c.run_id"
    " LEFT JOIN scenario_versions v ON v.scenario_id = c.scenario_id"
    " AND v.version = c.scenario_version"
)


def _case(row: sqlite3.Row) -> BenchmarkCase:
    return BenchmarkCase(
        benchmark_run_id=row["benchmark_run_id"],
        position=row["position"],
        repeat_index=row["repeat_index"],
        scenario_id=row["scenario_id"],
        scenario_version=row["scenario_version"],
        scenario_name=row["scenario_name"],
        state=CaseState(row["state"]),
        run_id=row["run_id"],
        attempts=row["attempts"],
        reason=row["reason"],
        score=row["score"],
    )
