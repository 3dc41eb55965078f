"""Store speed: importing scenarios, and reading a page deep in a long list.

Baselines, measured in the same run: raw sqlite3 inserts of the same JSON documents
(what the store's versioning and validation cost on top), and an OFFSET query for the
same page (what keyset pagination saves).
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_engine import percentile, two_scorer_document, write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbench.model import parse_scenarios  # noqa: E402
from sandbench.model.documents import ParsedScenario  # noqa: E402
from sandbench.store import Store  # noqa: E402

N = int(os.environ.get("SANDBENCH_BENCH_STORE_SCENARIOS", "20000"))
REPEAT = int(os.environ.get("SANDBENCH_BENCH_REPEAT", "30"))


def document(i: int) -> dict:
    return two_scorer_document(f"scenario-{i:06d}", i)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    docs = [document(i) for i in range(N)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        parsed = [ParsedScenario(parse_scenarios(d)[0].scenario) for d in docs]
        t_store = timed(lambda: store.import_scenarios(parsed))

        raw = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, name TEXT, doc TEXT)")

        def raw_insert() -> None:
            raw.execute("BEGIN")
            raw.executemany(
                "INSERT INTO s (name, doc) VALUES (?, ?)",
                [(d["name"], json.dumps(d)) for d in docs],
            )
            raw.execute("COMMIT")

        t_raw = timed(raw_insert)

        # a page 90% of the way down the list
        offset = int(N * 0.9) + 1
        cursor = store.conn.execute(  # the id of the row just before the page
            "SELECT id FROM scenarios ORDER BY name COLLATE NOCASE, seq LIMIT 1 OFFSET ?",
            [offset - 1],
        ).fetchone()[0]
        keyset = [
            timed(lambda: store.list_scenarios(limit=20, starting_after=cursor))
            for _ in range(REPEAT)
        ]
        conn = store.conn
        row = conn.execute("SELECT name, seq FROM scenarios WHERE id = ?", [cursor]).fetchone()
        keyset_rows = [
            timed(
                lambda: conn.execute(
                    "SELECT s.*, v.document FROM scenarios s JOIN scenario_versions v"
                    " ON v.scenario_id = s.id AND v.version = s.current_version"
                    " WHERE s.archive_time_ms IS NULL AND (s.name COLLATE NOCASE, s.seq) > (?, ?)"
                    " ORDER BY s.name COLLATE NOCASE, s.seq LIMIT 20",
                    [row[0], row[1]],
                ).fetchall()
            )
            for _ in range(REPEAT)
        ]
        offset_times = [
            timed(
                lambda: conn.execute(
                    "SELECT s.*, v.document FROM scenarios s JOIN scenario_versions v"
                    " ON v.scenario_id = s.id AND v.version = s.current_version"
                    " WHERE s.archive_time_ms IS NULL"
                    " ORDER BY s.name COLLATE NOCASE, s.seq LIMIT 20 OFFSET ?",
                    [offset],
                ).fetchall()
            )
            for _ in range(REPEAT)
        ]
        store.close()
        raw.close()

    results = {
        "scenarios": N,
        "import_store_s": t_store,
        "import_raw_sqlite_s": t_raw,
        "import_ratio_store_vs_raw": t_store / t_raw,
        "import_scenarios_per_s": N / t_store,
        "deep_page_keyset_p50_ms": statistics.median(keyset) * 1000,
        "deep_page_keyset_p95_ms": percentile(keyset, 0.95) * 1000,
        "deep_page_keyset_rows_only_p50_ms": statistics.median(keyset_rows) * 1000,
        "deep_page_offset_rows_only_p50_ms": statistics.median(offset_times) * 1000,
        "deep_page_ratio_offset_vs_keyset": statistics.median(offset_times)
        / statistics.median(keyset_rows),
        "note": "list_scenarios timing includes validating 20 documents and two counts",
    }
    print(f"store benchmark, {N} scenarios, {REPEAT} repeats")
    print(f"  import via store     {t_store:8.2f} s  ({N / t_store:,.0f}/s)")
    print(f"  raw sqlite inserts   {t_raw:8.2f} s  -> store is {t_store / t_raw:.1f}x raw")
    r = results
    print(
        f"  deep page, list_scenarios  p50 {r['deep_page_keyset_p50_ms']:.2f} ms,"
        f" p95 {r['deep_page_keyset_p95_ms']:.2f} ms (validation and counts included)"
    )
    print(f"  deep page rows, keyset     p50 {r['deep_page_keyset_rows_only_p50_ms']:.3f} ms")
    print(
        f"  deep page rows, OFFSET     p50 {r['deep_page_offset_rows_only_p50_ms']:.3f} ms"
        f"  -> OFFSET takes {r['deep_page_ratio_offset_vs_keyset']:.0f}x keyset"
    )
    write_results(results, "store")


if __name__ == "__main__":
    main()
