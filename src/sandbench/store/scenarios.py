"""Scenarios with immutable versions, and benchmarks (named sets of scenarios).

An edit never rewrites a version: it adds one, so a run that pinned version 3 keeps meaning
what it meant. Scenarios are archived, never deleted; a name is unique among active ones.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbench.errors import Conflict, InvalidInput, NotFound, Stale
from sandbench.model.benchmark import BENCHMARK_EXTRAS, Benchmark
from sandbench.model.documents import ParsedScenario
from sandbench.model.ids import has_prefix, new_id
from sandbench.model.scenario import Scenario
from sandbench.store.database import Database, now_ms
from sandbench.store.pagination import DEFAULT_LIMIT, KeysetQuery, Page, check_limit


@dataclass(frozen=True)
class ScenarioRecord:
    id: str
    version: int
    scenario: Scenario
    create_time_ms: int
    update_time_ms: int
    archive_time_ms: int | None = None

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def archived(self) -> bool:
        return self.archive_time_ms is not None


class ImportAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ImportResult:
    record: ScenarioRecord
    action: ImportAction


def content_hash(scenario: Scenario, document: dict[str, Any] | None = None) -> str:
    """Hash of the export form, so key order and unset fields never change it."""
    canonical = json.dumps(
        document if document is not None else scenario.to_dict(),
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


_SCENARIO_COLUMNS = (
    "s.id, s.current_version, s.create_time_ms, s.update_time_ms, s.archive_time_ms, v.document"
)
_SCENARIO_SOURCE = (
    "scenarios s JOIN scenario_versions v ON v.scenario_id = s.id AND v.version = s.current_version"
)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ScenarioStore(Database):
    # ------------------------------------------------------------------ reading

    def _record(self, row: sqlite3.Row, version: int | None = None) -> ScenarioRecord:
        return ScenarioRecord(
            id=row["id"],
            version=version or row["current_version"],
            scenario=Scenario.model_validate_json(row["document"]),
            create_time_ms=row["create_time_ms"],
            update_time_ms=row["update_time_ms"],
            archive_time_ms=row["archive_time_ms"],
        )

    def resolve_scenario_id(self, ref: str, *, conn: sqlite3.Connection | None = None) -> str:
        """An id, or the name of an active scenario, to its id."""
        conn = conn or self.conn
        row = conn.execute("SELECT id FROM scenarios WHERE id = ?", [ref]).fetchone()
        if row is None:
            row = conn.execute(
                "SELECT id FROM scenarios WHERE name = ? AND archive_time_ms IS NULL", [ref]
            ).fetchone()
        if row is None:
            raise NotFound(f"no scenario with id or name {ref!r}")
        return str(row["id"])

    def get_scenario(self, ref: str, version: int | None = None) -> ScenarioRecord:
        with self.read() as conn:
            scenario_id = self.resolve_scenario_id(ref, conn=conn)
            row = conn.execute(
                f"SELECT {_SCENARIO_COLUMNS} FROM scenarios s JOIN scenario_versions v"
                " ON v.scenario_id = s.id AND v.version = coalesce(?, s.current_version)"
                " WHERE s.id = ?",
                [version, scenario_id],
            ).fetchone()
        if row is None:
            raise NotFound(f"scenario {ref!r} has no version {version}")
        return self._record(row, version)

    def scenario_versions(self, ref: str) -> list[int]:
        scenario_id = self.resolve_scenario_id(ref)
        rows = self.conn.execute(
            "SELECT version FROM scenario_versions WHERE scenario_id = ? ORDER BY version",
            [scenario_id],
        ).fetchall()
        return [r["version"] for r in rows]

    def list_scenarios(
        self,
        *,
        name: str | None = None,
        benchmark: str | None = None,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        include_archived: bool = False,
        search: str | None = None,
        validation_type: str | None = None,
    ) -> Page[ScenarioRecord]:
        """Scenarios ordered by name (case-insensitive); ``name`` matches a substring,
        ``search`` the id or a substring of the name."""
        check_limit(limit)
        filters: list[str] = []
        params: list[Any] = []
        if not include_archived:
            filters.append("s.archive_time_ms IS NULL")
        if name:
            filters.append("s.name LIKE ? ESCAPE '\\'")
            params.append(_like(name))
        if search:
            filters.append("(s.id = ? OR s.name LIKE ? ESCAPE '\\')")
            params.extend([search, _like(search)])
        if validation_type:
            filters.append(
                "s.id IN (SELECT scenario_id FROM scenario_versions WHERE version ="
                " s.current_version AND json_extract(document, '$.validation_type') = ?)"
            )
            params.append(validation_type)
        with self.read() as conn:
            if benchmark:
                bench_id = self.resolve_benchmark_id(benchmark, conn=conn)
                filters.append(
                    "s.id IN (SELECT scenario_id FROM benchmark_scenarios WHERE benchmark_id = ?)"
                )
                params.append(bench_id)
            query = KeysetQuery(
                columns=_SCENARIO_COLUMNS,
                source=_SCENARIO_SOURCE,
                count_source="scenarios s",  # every filter and key is on s
                sort_key=("s.name COLLATE NOCASE", "s.seq"),
                filters=filters,
                params=params,
            )
            page = query.page(conn, limit=limit, starting_after=starting_after, item=self._record)
        return page

    # ------------------------------------------------------------------ writing

    def _insert_version(
        self, conn: sqlite3.Connection, scenario_id: str, version: int, scenario: Scenario
    ) -> None:
        document = scenario.to_dict()
        conn.execute(
            "INSERT INTO scenario_versions (scenario_id, version, document, content_hash,"
            " create_time_ms) VALUES (?, ?, ?, ?, ?)",
            [
                scenario_id,
                version,
                json.dumps(document),
                content_hash(scenario, document),
                now_ms(),
            ],
        )

    def _check_name_free(
        self, conn: sqlite3.Connection, name: str, except_id: str | None = None
    ) -> None:
        row = conn.execute(
            "SELECT id FROM scenarios WHERE name = ? AND archive_time_ms IS NULL AND id IS NOT ?",
            [name, except_id],
        ).fetchone()
        if row is not None:
            raise Conflict(f"an active scenario is already named {name!r} ({row['id']})")

    def create_scenario(self, scenario: Scenario, *, scenario_id: str | None = None) -> str:
        with self.write() as conn:
            self._check_name_free(conn, scenario.name)
            scenario_id = scenario_id or new_id("scenario")
            stamp = now_ms()
            conn.execute(
                "INSERT INTO scenarios (id, name, current_version, create_time_ms,"
                " update_time_ms) VALUES (?, ?, 1, ?, ?)",
                [scenario_id, scenario.name, stamp, stamp],
            )
            self._insert_version(conn, scenario_id, 1, scenario)
        return scenario_id

    def update_scenario(
        self, ref: str, scenario: Scenario, *, expected_version: int | None = None
    ) -> tuple[int, bool]:
        """Store ``scenario`` as the next version of ``ref``; returns (version, changed).

        Identical content makes no new version. With ``expected_version``, a scenario that
        has moved on since (another editor, an import) is a ``Stale`` conflict, not
        silently overwritten.
        """
        with self.write() as conn:
            scenario_id = self.resolve_scenario_id(ref, conn=conn)
            row = conn.execute(
                "SELECT s.current_version, s.archive_time_ms, v.content_hash FROM scenarios s"
                " JOIN scenario_versions v ON v.scenario_id = s.id"
                " AND v.version = s.current_version WHERE s.id = ?",
                [scenario_id],
            ).fetchone()
            if row["archive_time_ms"] is not None:
                raise Conflict(f"scenario {ref!r} is archived; archived scenarios do not change")
            current = row["current_version"]
            if expected_version is not None and current != expected_version:
                raise Stale(
                    f"scenario {ref!r} is at v{current} now: it changed since v{expected_version}"
                    " was opened"
                )
            if row["content_hash"] == content_hash(scenario):
                return row["current_version"], False
            self._check_name_free(conn, scenario.name, except_id=scenario_id)
            version = row["current_version"] + 1
            self._insert_version(conn, scenario_id, version, scenario)
            conn.execute(
                "UPDATE scenarios SET name = ?, current_version = ?, update_time_ms = ?"
                " WHERE id = ?",
                [scenario.name, version, now_ms(), scenario_id],
            )
        return version, True

    def mirror_scenario_version(self, scenario_id: str, version: int, scenario: Scenario) -> None:
        """Hold another store's scenario version under the same id and number (a cluster
        node runs the head's pinned versions). Mirrors are archived, so their names never
        collide with this store's own scenarios; one already held is left as it is."""
        with self.write() as conn:
            stamp = now_ms()
            conn.execute(
                "INSERT INTO scenarios (id, name, current_version, create_time_ms,"
                " update_time_ms, archive_time_ms) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO NOTHING",
                [scenario_id, scenario.name, version, stamp, stamp, stamp],
            )
            held = conn.execute(
                "SELECT 1 FROM scenario_versions WHERE scenario_id = ? AND version = ?",
                [scenario_id, version],
            ).fetchone()
            if held is None:
                self._insert_version(conn, scenario_id, version, scenario)

    def archive_scenario(self, ref: str) -> ScenarioRecord:
        with self.write() as conn:
            scenario_id = self.resolve_scenario_id(ref, conn=conn)
            conn.execute(
                "UPDATE scenarios SET archive_time_ms = coalesce(archive_time_ms, ?) WHERE id = ?",
                [now_ms(), scenario_id],
            )
        return self.get_scenario(scenario_id)

    def import_scenarios(self, parsed: list[ParsedScenario]) -> list[ImportResult]:
        """Create or update each scenario, all or nothing.

        A scenario that carries an id we know (a Runloop view exported earlier) or the name
        of an active scenario updates it; re-importing an unchanged file changes nothing.
        """
        counts = Counter(p.scenario.name for p in parsed)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise InvalidInput(f"more than one scenario named {', '.join(map(repr, duplicates))}")
        outcomes: list[tuple[str, ImportAction, Scenario]] = []
        with self.write() as conn:
            for item in parsed:
                existing = None
                if item.source_id:
                    row = conn.execute(
                        "SELECT id FROM scenarios WHERE id = ?", [item.source_id]
                    ).fetchone()
                    existing = row["id"] if row else None
                if existing is None:
                    row = conn.execute(
                        "SELECT id FROM scenarios WHERE name = ? AND archive_time_ms IS NULL",
                        [item.scenario.name],
                    ).fetchone()
                    existing = row["id"] if row else None
                if existing is not None:
                    _, changed = self.update_scenario(existing, item.scenario)
                    action = ImportAction.UPDATED if changed else ImportAction.UNCHANGED
                    outcomes.append((existing, action, item.scenario))
                else:
                    keep_id = (
                        item.source_id
                        if item.source_id and has_prefix(item.source_id, "scenario")
                        else None
                    )
                    created = self.create_scenario(item.scenario, scenario_id=keep_id)
                    outcomes.append((created, ImportAction.CREATED, item.scenario))
            # read back the bookkeeping only; the scenarios are already in hand
            results = []
            for scenario_id, action, scenario in outcomes:
                row = conn.execute("SELECT * FROM scenarios WHERE id = ?", [scenario_id]).fetchone()
                record = ScenarioRecord(
                    id=scenario_id,
                    version=row["current_version"],
                    scenario=scenario,
                    create_time_ms=row["create_time_ms"],
                    update_time_ms=row["update_time_ms"],
                    archive_time_ms=row["archive_time_ms"],
                )
                results.append(ImportResult(record, action))
        return results

    # ------------------------------------------------------------------ benchmarks

    def resolve_benchmark_id(self, ref: str, *, conn: sqlite3.Connection | None = None) -> str:
        conn = conn or self.conn
        row = conn.execute(
            "SELECT id FROM benchmarks WHERE id = ? OR name = ?", [ref, ref]
        ).fetchone()
        if row is None:
            raise NotFound(f"no benchmark with id or name {ref!r}")
        return str(row["id"])

    def _scenario_ids(self, conn: sqlite3.Connection, refs: list[str]) -> list[str]:
        ids: list[str] = []
        for ref in refs:
            scenario_id = self.resolve_scenario_id(ref, conn=conn)
            if scenario_id in ids:
                raise InvalidInput(f"scenario {ref!r} is listed more than once")
            ids.append(scenario_id)
        return ids

    def _set_members(self, conn: sqlite3.Connection, bench_id: str, ids: list[str]) -> None:
        conn.execute("DELETE FROM benchmark_scenarios WHERE benchmark_id = ?", [bench_id])
        conn.executemany(
            "INSERT INTO benchmark_scenarios (benchmark_id, scenario_id, position)"
            " VALUES (?, ?, ?)",
            [(bench_id, scenario_id, pos) for pos, scenario_id in enumerate(ids)],
        )

    def create_benchmark(
        self,
        name: str,
        scenario_refs: list[str],
        metadata: dict[str, str] | None = None,
        extras: dict[str, Any] | None = None,
    ) -> Benchmark:
        """``extras``: Runloop's optional fields (description, attribution, requirements)."""
        if not name.strip():
            raise InvalidInput("benchmark name must not be empty")
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM benchmarks WHERE name = ?", [name]).fetchone():
                raise Conflict(f"a benchmark is already named {name!r}")
            ids = self._scenario_ids(conn, scenario_refs)
            bench_id = new_id("benchmark")
            conn.execute(
                "INSERT INTO benchmarks (id, name, metadata, create_time_ms, extras)"
                " VALUES (?, ?, ?, ?, ?)",
                [bench_id, name, json.dumps(metadata or {}), now_ms(), json.dumps(extras or {})],
            )
            self._set_members(conn, bench_id, ids)
        return self.get_benchmark(bench_id)

    def update_benchmark(
        self,
        ref: str,
        *,
        name: str | None = None,
        scenario_refs: list[str] | None = None,
        add: list[str] | None = None,
        remove: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        extras: dict[str, Any] | None = None,
    ) -> Benchmark:
        """Change what is given; ``None`` keeps the old value."""
        with self.write() as conn:
            current = self._benchmark(
                conn,
                conn.execute(
                    "SELECT * FROM benchmarks WHERE id = ?",
                    [self.resolve_benchmark_id(ref, conn=conn)],
                ).fetchone(),
            )
            if name is not None and name != current.name:
                if not name.strip():
                    raise InvalidInput("name: must not be empty")
                if conn.execute("SELECT 1 FROM benchmarks WHERE name = ?", [name]).fetchone():
                    raise Conflict(f"a benchmark is already named {name!r}")
            ids = (
                self._scenario_ids(conn, scenario_refs)
                if scenario_refs is not None
                else list(current.scenario_ids)
            )
            for scenario_id in self._scenario_ids(conn, add or []):
                if scenario_id not in ids:
                    ids.append(scenario_id)
            dropped = set(self._scenario_ids(conn, remove or []))
            ids = [i for i in ids if i not in dropped]
            kept = {k: getattr(current, k) for k in BENCHMARK_EXTRAS}
            kept.update({k: v for k, v in (extras or {}).items() if v is not None})
            conn.execute(
                "UPDATE benchmarks SET name = ?, metadata = ?, extras = ? WHERE id = ?",
                [
                    name or current.name,
                    json.dumps(metadata if metadata is not None else current.metadata),
                    json.dumps(kept),
                    current.id,
                ],
            )
            self._set_members(conn, current.id, ids)
        return self.get_benchmark(current.id)

    def get_benchmark(self, ref: str) -> Benchmark:
        with self.read() as conn:
            bench_id = self.resolve_benchmark_id(ref, conn=conn)
            row = conn.execute("SELECT * FROM benchmarks WHERE id = ?", [bench_id]).fetchone()
            return self._benchmark(conn, row)

    def _benchmark(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Benchmark:
        members = conn.execute(
            "SELECT scenario_id FROM benchmark_scenarios WHERE benchmark_id = ? ORDER BY position",
            [row["id"]],
        ).fetchall()
        extras = json.loads(row["extras"] or "{}")
        return Benchmark(
            id=row["id"],
            name=row["name"],
            scenario_ids=[m["scenario_id"] for m in members],
            metadata=json.loads(row["metadata"]),
            create_time_ms=row["create_time_ms"],
            archived=row["archive_time_ms"] is not None,
            **{k: extras.get(k) for k in BENCHMARK_EXTRAS},
        )

    def list_benchmarks(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        starting_after: str | None = None,
        name: str | None = None,
        search: str | None = None,
    ) -> Page[Benchmark]:
        check_limit(limit)
        filters, params = [], []
        if name:
            filters.append("b.name LIKE ? ESCAPE '\\'")
            params.append(_like(name))
        if search:
            filters.append("(b.id = ? OR b.name LIKE ? ESCAPE '\\')")
            params.extend([search, _like(search)])
        query = KeysetQuery(
            columns="b.*",
            source="benchmarks b",
            sort_key=("b.name COLLATE NOCASE", "b.seq"),
            filters=filters,
            params=params,
        )
        with self.read() as conn:
            page = query.page(
                conn,
                limit=limit,
                starting_after=starting_after,
                item=lambda r: self._benchmark(conn, r),
            )
        return page
