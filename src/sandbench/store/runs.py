"""Scenario runs, scorer attempts and their streamed output.

Output is appended chunk by chunk, each chunk its own small transaction, so whatever a
scorer printed before a crash is already on disk. Callers redact secrets before appending.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from sandbench.errors import NotFound
from sandbench.model.benchmark import BenchmarkRun
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
from sandbench.store.pagination import (
    DEFAULT_LIMIT,
    KeysetQuery,
    Page,
    check_limit,
    where_equal,
)
from sandbench.store.scenarios import ScenarioStore, _like


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
        owner_start: str | None = None,
        metadata: dict[str, str] | None = None,
        environment_variables: dict[str, str] | None = None,
        secrets_provided: dict[str, str] | None = None,
        purpose: str | None = None,
    ) -> ScenarioRun:
        run_id = new_id("scenario_run")
        with self.write() as conn:
            conn.execute(
                "INSERT INTO scenario_runs (id, scenario_id, scenario_version, benchmark_run_id,"
                " name, state, solution, start_time_ms, owner_pid, owner_start, metadata,"
                " environment_variables, secrets_provided, purpose)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    owner_start,
                    json.dumps(metadata or {}),
                    _json_or_none(environment_variables),
                    _json_or_none(secrets_provided),
                    purpose,
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
            # only a fully scored run has a total; a failed or canceled one has none
            scored = state in (RunState.SCORED, RunState.COMPLETED)
            score = (
                weighted_total(self._results(conn, run_id, with_output=False)) if scored else None
            )
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

    def update_run(self, run_id: str, **fields: Any) -> None:
        allowed = {
            "owner_pid",
            "owner_start",
            "cache_key",
            "cache_hit",
            "sandbox_id",
            "solution_detail",
            "solution_output",
            "metadata",
            "usage",
            "failure_reason",
            "node",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        with self.write() as conn:
            conn.execute(
                f"UPDATE scenario_runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                [*fields.values(), run_id],
            )

    def runs_in_state(self, state: RunState, solution: Solution | None = None) -> list[ScenarioRun]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM scenario_runs WHERE state = ? AND (? IS NULL OR solution = ?)"
                " ORDER BY seq",
                [state, solution, solution],
            ).fetchall()
            return [self._run(conn, r, results=True, output=False) for r in rows]

    def owned_unfinished_work(self) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
        """(scenario runs, benchmark runs) not finished that a process owns: id, pid, start.
        Runs a client drives through the API (``external``) are the server's to recover."""
        unfinished = [s.value for s in RunState if not s.finished]
        marks = ", ".join("?" * len(unfinished))
        runs = self.conn.execute(
            "SELECT id, owner_pid, owner_start FROM scenario_runs WHERE state IN"
            f" ({marks}) AND owner_pid IS NOT NULL AND solution <> ?",
            [*unfinished, Solution.EXTERNAL],
        ).fetchall()
        benchmark_runs = self.conn.execute(
            "SELECT id, owner_pid, owner_start FROM benchmark_runs WHERE state = 'running'"
            " AND owner_pid IS NOT NULL"
        ).fetchall()
        return runs, benchmark_runs

    def reopen_benchmark_run(self, run_id: str, *, owner_pid: int, owner_start: str | None) -> None:
        """A resume: the same run goes on, owned by this process."""
        with self.write() as conn:
            conn.execute(
                "UPDATE benchmark_runs SET state = 'running', owner_pid = ?, owner_start = ?,"
                " completed_at_ms = NULL, duration_ms = NULL WHERE id = ?",
                [owner_pid, owner_start, run_id],
            )

    def interrupt_benchmark_run(self, run_id: str, reason: str) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE benchmark_runs SET state = 'failed', owner_pid = NULL, notes = ?,"
                " completed_at_ms = ?, duration_ms = ? - start_time_ms"
                " WHERE id = ? AND state = 'running'",
                [reason, now_ms(), now_ms(), run_id],
            )
            conn.execute(
                "UPDATE benchmark_cases SET state = 'interrupted', reason = ?"
                " WHERE benchmark_run_id = ? AND state IN ('pending', 'running')",
                [reason, run_id],
            )

    def run_owner(self, run_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT owner_pid FROM scenario_runs WHERE id = ?", [run_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return int(row["owner_pid"]) if row["owner_pid"] is not None else None

    def request_cancel(self, run_id: str) -> None:
        with self.write() as conn:
            updated = conn.execute(
                "UPDATE scenario_runs SET cancel_requested = 1 WHERE id = ?", [run_id]
            )
            if updated.rowcount == 0:
                raise NotFound(f"no run {run_id!r}")

    def cancel_requested(self, run_id: str) -> bool:
        row = self.conn.execute(
            "SELECT cancel_requested FROM scenario_runs WHERE id = ?", [run_id]
        ).fetchone()
        return bool(row and row["cancel_requested"])

    def cached_run(self, cache_key: str) -> ScenarioRun | None:
        """The newest completed run with this cache key (the source of a cache hit)."""
        row = self.conn.execute(
            "SELECT id FROM scenario_runs WHERE cache_key = ? AND state = ? AND cache_hit = 0"
            " ORDER BY seq DESC LIMIT 1",
            [cache_key, RunState.COMPLETED],
        ).fetchone()
        return self.get_run(row["id"]) if row else None

    def run_tagged(self, key: str, value: str) -> str | None:
        """The newest run whose metadata has ``key`` = ``value`` (a cluster node finds its
        run of a head's run so)."""
        row = self.conn.execute(
            "SELECT id FROM scenario_runs WHERE json_extract(metadata, ?) = ?"
            " ORDER BY seq DESC LIMIT 1",
            [f'$."{key}"', value],
        ).fetchone()
        return row["id"] if row else None

    def run_extras(self, run_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT solution_detail, solution_output, cancel_requested FROM scenario_runs"
            " WHERE id = ?",
            [run_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return row

    def copy_scorer_result(self, run_id: str, source: ScorerResult) -> ScorerResult:
        """A cache hit: the source's result, recorded as this run's first attempt."""
        copy = self.start_scorer(run_id, source.name, source.type, source.weight)
        if source.output:
            self.append_output(copy.id, "stdout", source.output)
        return self.finish_scorer(
            copy.id,
            source.state,
            score=source.score,
            exit_code=source.exit_code,
            details={**source.details, "cached_from": source.id},
        )

    # ------------------------------------------------------------------ benchmark runs

    def create_benchmark_run(
        self,
        run: BenchmarkRun,
        *,
        owner_pid: int | None = None,
        owner_start: str | None = None,
    ) -> BenchmarkRun:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO benchmark_runs (id, benchmark_id, name, state, start_time_ms,"
                " metadata, purpose, triggered_by, total_cases, case_filter, notes,"
                " environment_variables, secrets_provided, settings, owner_pid, owner_start)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run.id,
                    run.benchmark_id,
                    run.name,
                    run.state,
                    run.start_time_ms,
                    json.dumps(run.metadata),
                    run.purpose,
                    run.triggered_by,
                    run.total_cases,
                    json.dumps(run.case_filter) if run.case_filter is not None else None,
                    run.notes,
                    _json_or_none(run.environment_variables),
                    _json_or_none(run.secrets_provided),
                    run.settings.model_dump_json(),
                    owner_pid,
                    owner_start,
                ],
            )
        return self.get_benchmark_run(run.id)

    def finish_benchmark_run(self, run: BenchmarkRun) -> BenchmarkRun:
        with self.write() as conn:
            conn.execute(
                "UPDATE benchmark_runs SET state = ?, duration_ms = ?, score = ?,"
                " completed_at_ms = ?, total_cases = ?, ok_cases = ?, cache_hit_cases = ?,"
                " status_breakdown = ?, total_cost_usd = ?, environment_variables = ?,"
                " secrets_provided = ?, scenario_stats = ?, notes = ?, owner_pid = NULL"
                " WHERE id = ?",
                [
                    run.state,
                    run.duration_ms,
                    run.score,
                    run.completed_at_ms,
                    run.total_cases,
                    run.ok_cases,
                    run.cache_hit_cases,
                    json.dumps(run.status_breakdown),
                    run.total_cost_usd,
                    json.dumps(run.environment_variables)
                    if run.environment_variables is not None
                    else None,
                    json.dumps(run.secrets_provided) if run.secrets_provided is not None else None,
                    json.dumps([stats.model_dump(mode="json") for stats in run.scenario_stats]),
                    run.notes,
                    run.id,
                ],
            )
        return self.get_benchmark_run(run.id)

    def get_benchmark_run(self, run_id: str) -> BenchmarkRun:
        row = self.conn.execute("SELECT * FROM benchmark_runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise NotFound(f"no benchmark run {run_id!r}")
        data = dict(row)
        for key in ("seq", "owner_pid", "owner_start"):
            data.pop(key)
        for key in ("metadata", "status_breakdown", "settings", "scenario_stats"):
            data[key] = json.loads(data[key])
        for key in ("environment_variables", "secrets_provided", "case_filter"):
            data[key] = json.loads(data[key]) if data[key] is not None else None
        return BenchmarkRun(**data)

    def list_benchmark_runs(
        self, benchmark: str | None = None, limit: int = 50
    ) -> list[BenchmarkRun]:
        if benchmark:
            bench_id = self.resolve_benchmark_id(benchmark)
            rows = self.conn.execute(
                "SELECT id FROM benchmark_runs WHERE benchmark_id = ? ORDER BY seq DESC LIMIT ?",
                [bench_id, limit],
            ).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT id FROM benchmark_runs ORDER BY seq DESC LIMIT ?", [limit]
            ).fetchall()
        return [self.get_benchmark_run(r["id"]) for r in rows]

    def page_benchmark_runs(
        self,
        *,
        benchmark_id: str | None = None,
        state: str | None = None,
        name: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        search: str | None = None,
    ) -> Page[BenchmarkRun]:
        """Benchmark runs, newest first; ``search`` matches the id or part of the name."""
        check_limit(limit)
        filters, params = where_equal("r", benchmark_id=benchmark_id, state=state, name=name)
        if search:
            filters.append("(r.id = ? OR r.name LIKE ? ESCAPE '\\')")
            params.extend([search, _like(search)])
        query = KeysetQuery(
            columns="r.id",
            source="benchmark_runs r",
            sort_key=("r.seq",),
            descending=True,
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(
                conn,
                limit=limit,
                starting_after=starting_after,
                item=lambda r: self.get_benchmark_run(r["id"]),
            )
        return page

    def runs_of_benchmark_run(
        self, benchmark_run_id: str, *, with_output: bool = True
    ) -> list[ScenarioRun]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM scenario_runs WHERE benchmark_run_id = ? ORDER BY seq",
                [benchmark_run_id],
            ).fetchall()
            return [self._run(conn, r, results=True, output=with_output) for r in rows]

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

    def _run(
        self, conn: sqlite3.Connection, row: sqlite3.Row, *, results: bool, output: bool = True
    ) -> ScenarioRun:
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
            environment_variables=_loads_or_none(row["environment_variables"]),
            secrets_provided=_loads_or_none(row["secrets_provided"]),
            purpose=row["purpose"],
            node=row["node"],
            scorer_results=self._results(conn, row["id"], with_output=output) if results else [],
        )

    def get_run(self, run_id: str, *, with_output: bool = True) -> ScenarioRun:
        """The run and its scorer results; ``with_output=False`` skips the (possibly huge)
        stored output when only states and scores are wanted."""
        with self.read() as conn:
            row = conn.execute("SELECT * FROM scenario_runs WHERE id = ?", [run_id]).fetchone()
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            return self._run(conn, row, results=True, output=with_output)

    def list_runs(
        self,
        *,
        scenario: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        benchmark_run_id: str | None = None,
        state: str | None = None,
        name: str | None = None,
        with_results: bool = False,
        search: str | None = None,
    ) -> Page[ScenarioRun]:
        """Runs, newest first (``seq`` descending: creation order reversed); ``search``
        matches the id or part of the name."""
        check_limit(limit)
        with self.read() as conn:
            filters, params = [], []
            if scenario:
                filters.append("r.scenario_id = ?")
                params.append(self.resolve_scenario_id(scenario, conn=conn))
            more, values = where_equal(
                "r", benchmark_run_id=benchmark_run_id, state=state, name=name
            )
            filters += more
            params += values
            if search:
                filters.append("(r.id = ? OR r.name LIKE ? ESCAPE '\\')")
                params.extend([search, _like(search)])
            query = KeysetQuery(
                columns="r.*",
                source="scenario_runs r",
                sort_key=("r.seq",),
                descending=True,
                filters=filters,
                params=params,
            )
            page = query.page(
                conn,
                limit=limit,
                starting_after=starting_after,
                item=lambda r: self._run(conn, r, results=with_results, output=False),
            )
        return page

    def latest_runs(self, scenario_ids: Sequence[str]) -> dict[str, ScenarioRun]:
        """The newest run of each of these scenarios that has one, by scenario id, without
        scorer results: a screenful of scenarios shows each one's last run, and one index
        lookup per scenario costs the same whether it has ten runs or ten thousand."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT r.* FROM json_each(?) AS wanted JOIN scenario_runs r ON r.seq ="
                " (SELECT max(seq) FROM scenario_runs WHERE scenario_id = wanted.value)",
                [json.dumps(list(scenario_ids))],
            ).fetchall()
            return {r["scenario_id"]: self._run(conn, r, results=False) for r in rows}

    def latest_agent_command(self) -> str:
        """The command of the newest agent run that recorded one ("" if none), for the
        solution picker to offer again: walks agent runs newest first on their index, so
        the agent run stays found however many other runs came after it."""
        row = self.conn.execute(
            "SELECT json_extract(solution_detail, '$.command') FROM scenario_runs"
            " WHERE solution = ? AND json_extract(solution_detail, '$.command') <> ''"
            " ORDER BY seq DESC LIMIT 1",
            [Solution.AGENT],
        ).fetchone()
        return str(row[0]) if row else ""


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None


def _loads_or_none(text: str | None) -> Any:
    return json.loads(text) if text is not None else None
