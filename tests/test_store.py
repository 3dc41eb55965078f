"""The SQLite store: pagination, versions, archive, migrations, concurrency, streamed output."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbench import paths
from sandbench.errors import Conflict, InvalidInput, NotFound
from sandbench.model import Scenario, ScorerState, Solution, parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.store import ImportAction, Store
from sandbench.store.database import Database, _ReturnedWithThread, connect
from sandbench.store.migrations import LATEST, SchemaTooNew, current_version
from tests.conftest import scenario_dict, scorer, with_scorers


def make(name: str, statement: str = "Fix it.") -> Scenario:
    return parse_scenarios(
        scenario_dict(name=name, input_context={"problem_statement": statement})
    )[0].scenario


def fill(store: Store, count: int, prefix: str = "scenario") -> list[str]:
    parsed = [ParsedScenario(make(f"{prefix}-{i:04d}")) for i in range(count)]
    return [r.record.id for r in store.import_scenarios(parsed)]


def walk(store: Store, limit: int, **filters: object) -> list[str]:
    """Every id across all pages, checking each page's counts on the way."""
    seen: list[str] = []
    after = None
    while True:
        page = store.list_scenarios(limit=limit, starting_after=after, **filters)  # type: ignore[arg-type]
        seen.extend(r.id for r in page.items)
        assert page.remaining_count == page.total_count - len(seen)
        assert page.has_more == (page.remaining_count > 0)
        assert len(page.items) <= limit
        if not page.has_more:
            return seen
        after = page.last_id


# ------------------------------------------------------------------------ location and pragmas


def test_sandbench_home_overrides_every_location(sandbench_home: Path, store: Store) -> None:
    for location in (paths.data_dir(), paths.config_dir(), paths.log_dir(), store.path):
        assert sandbench_home in location.parents
    assert store.path.exists()


def test_wal_and_foreign_keys(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError), store.write() as conn:
        conn.execute("INSERT INTO scenario_versions VALUES ('scn_missing', 1, '{}', 'h', 0)")


# ------------------------------------------------------------------------ pagination


def test_pagination_over_1000_scenarios(store: Store) -> None:
    ids = fill(store, 1000)
    for limit in (20, 37, 1000):
        seen = walk(store, limit)
        assert len(seen) == len(set(seen)) == 1000, "duplicates or gaps across pages"
        assert set(seen) == set(ids)
    names = [r.name for r in store.list_scenarios(limit=1000).items]
    assert names == sorted(names, key=str.lower)


def test_first_page_defaults(store: Store) -> None:
    fill(store, 45)
    page = store.list_scenarios()
    assert len(page.items) == 20  # Runloop's default limit
    assert (page.total_count, page.remaining_count, page.has_more) == (45, 25, True)


def test_pages_stay_correct_while_scenarios_are_added(store: Store) -> None:
    ids = fill(store, 100, prefix="m")
    first = store.list_scenarios(limit=50)
    fill(store, 10, prefix="a")  # sorts before the cursor: must not shift later pages
    rest: list[str] = []
    after = first.last_id
    while True:
        page = store.list_scenarios(limit=30, starting_after=after)
        rest.extend(r.id for r in page.items)
        if not page.has_more:
            break
        after = page.last_id
    assert [r.id for r in first.items] + rest == ids


def test_filter_by_name_and_benchmark(store: Store) -> None:
    fill(store, 30, prefix="alpha")
    fill(store, 30, prefix="beta")
    assert len(walk(store, 7, name="ALPHA")) == 30  # case-insensitive substring
    assert walk(store, 7, name="%") == []  # LIKE wildcards are literal
    members = [f"beta-{i:04d}" for i in range(0, 30, 3)]
    bench = store.create_benchmark("every-third-beta", members)
    seen = walk(store, 3, benchmark=bench.name)
    assert sorted(store.get_scenario(i).name for i in seen) == members
    assert walk(store, 3, benchmark=bench.id, name="0003") == [bench.scenario_ids[1]]


def test_bad_page_requests(store: Store) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        store.list_scenarios(limit=0)
    with pytest.raises(NotFound, match="starting_after"):
        store.list_scenarios(starting_after="scn_nope")
    with pytest.raises(NotFound, match="benchmark"):
        store.list_scenarios(benchmark="nope")


# ------------------------------------------------------------------------ versions and archive


def test_edit_makes_a_new_immutable_version(store: Store) -> None:
    scenario_id = store.create_scenario(make("fix-bug", "v1 text"))
    version, changed = store.update_scenario("fix-bug", make("fix-bug", "v2 text"))
    assert (version, changed) == (2, True)
    assert store.get_scenario(scenario_id).scenario.input_context.problem_statement == "v2 text"
    old = store.get_scenario(scenario_id, version=1)
    assert old.version == 1 and old.scenario.input_context.problem_statement == "v1 text"
    assert store.scenario_versions(scenario_id) == [1, 2]
    # identical content is not a new version
    assert store.update_scenario(scenario_id, make("fix-bug", "v2 text")) == (2, False)
    with pytest.raises(NotFound, match="no version 7"):
        store.get_scenario(scenario_id, version=7)


def test_rename_keeps_id_and_names_stay_unique(store: Store) -> None:
    first = store.create_scenario(make("one"))
    store.create_scenario(make("two"))
    store.update_scenario("one", make("uno"))
    assert store.get_scenario("uno").id == first
    with pytest.raises(NotFound):
        store.get_scenario("one")
    with pytest.raises(Conflict, match="already named 'two'"):
        store.update_scenario("uno", make("two"))
    with pytest.raises(Conflict):
        store.create_scenario(make("two"))


def test_archive_frees_the_name_and_freezes_the_scenario(store: Store) -> None:
    old = store.create_scenario(make("shared-name"))
    archived = store.archive_scenario("shared-name")
    assert archived.archived and archived.id == old
    new = store.create_scenario(make("shared-name"))
    assert new != old
    assert store.get_scenario("shared-name").id == new  # names resolve to the active one
    assert store.get_scenario(old).archived  # archived ones by id
    with pytest.raises(Conflict, match="archived"):
        store.update_scenario(old, make("shared-name", "edit"))
    assert [r.id for r in store.list_scenarios().items] == [new]
    assert {r.id for r in store.list_scenarios(include_archived=True).items} == {old, new}


def test_import_is_idempotent_and_updates_by_name_or_id(store: Store) -> None:
    first = store.import_scenarios([ParsedScenario(make("a")), ParsedScenario(make("b"))])
    assert [r.action for r in first] == [ImportAction.CREATED] * 2
    again = store.import_scenarios([ParsedScenario(make("a")), ParsedScenario(make("b", "new"))])
    assert [r.action for r in again] == [ImportAction.UNCHANGED, ImportAction.UPDATED]
    assert again[1].record.version == 2
    # a Runloop view keeps its id, and re-importing it (even renamed) updates that scenario
    view = store.import_scenarios([ParsedScenario(make("remote"), "scn_fromrunloop")])
    assert view[0].record.id == "scn_fromrunloop"
    renamed = store.import_scenarios([ParsedScenario(make("remote-2"), "scn_fromrunloop")])
    assert renamed[0].action == ImportAction.UPDATED and renamed[0].record.name == "remote-2"


def test_failed_import_stores_nothing(store: Store) -> None:
    store.create_scenario(make("taken"))
    archived_id = store.create_scenario(make("frozen"))
    store.archive_scenario(archived_id)
    with pytest.raises(InvalidInput, match="more than one"):
        store.import_scenarios([ParsedScenario(make("x")), ParsedScenario(make("x"))])
    with pytest.raises(Conflict):  # second item targets an archived scenario by id
        store.import_scenarios(
            [ParsedScenario(make("fresh")), ParsedScenario(make("frozen-2"), archived_id)]
        )
    names = {r.name for r in store.list_scenarios(include_archived=True).items}
    assert names == {"taken", "frozen"}


# ------------------------------------------------------------------------ benchmarks


def test_benchmarks(store: Store) -> None:
    fill(store, 3)
    bench = store.create_benchmark("smoke", ["scenario-0002", "scenario-0000"])
    assert [store.get_scenario(i).name for i in bench.scenario_ids] == [
        "scenario-0002",
        "scenario-0000",
    ]
    assert store.get_benchmark("smoke").id == bench.id
    with pytest.raises(Conflict):
        store.create_benchmark("smoke", ["scenario-0001"])
    with pytest.raises(NotFound, match="nope"):
        store.create_benchmark("other", ["scenario-0001", "nope"])
    with pytest.raises(InvalidInput, match="more than once"):
        store.create_benchmark("dup", ["scenario-0001", "scenario-0001"])
    assert [b.name for b in store.list_benchmarks().items] == ["smoke"]


# ------------------------------------------------------------------------ migrations


def tables(db: Database) -> set[str]:
    rows = db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def insert_old_scenario(conn: sqlite3.Connection) -> None:
    """Scenario 'old' (scn_old) at v1, written straight into an older schema."""
    conn.execute(
        "INSERT INTO scenarios (id, name, current_version, create_time_ms,"
        " update_time_ms) VALUES ('scn_old', 'old', 1, 0, 0)"
    )
    conn.execute(
        "INSERT INTO scenario_versions VALUES ('scn_old', 1, ?, 'h', 0)",
        [make("old").model_dump_json(exclude_none=True)],
    )


def test_migrations_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with Store(path) as store:
        assert current_version(store.conn) == LATEST
        assert {"scenarios", "scenario_runs", "output_chunks", "sandboxes"} <= tables(store)
    with Store(path) as again:  # reopening is a no-op
        assert current_version(again.conn) == LATEST


def test_forward_migration_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with Database(path, target_version=1) as v1:
        assert "scenario_runs" not in tables(v1)
        with v1.write() as conn:
            insert_old_scenario(conn)
    with Store(path) as store:
        assert current_version(store.conn) == LATEST
        assert store.get_scenario("old").id == "scn_old"
        run = store.create_run("scn_old", 1, Solution.BASELINE)
        assert run.scenario_id == "scn_old"


def test_run_indexes_migrate_onto_a_v4_store(tmp_path: Path) -> None:
    """A store last opened by the version before the run-lookup indexes keeps its runs and
    answers the new lookups from them."""
    path = tmp_path / "v4.db"
    with Database(path, target_version=4) as v4, v4.write() as conn:
        insert_old_scenario(conn)
        conn.executemany(
            "INSERT INTO scenario_runs (id, scenario_id, scenario_version, state, solution,"
            " start_time_ms, solution_detail) VALUES (?, 'scn_old', 1, 'completed', ?, 0, ?)",
            [
                ("run_1", "agent", json.dumps({"command": "./agent.sh"})),
                ("run_2", "reference", None),
            ],
        )
    with Store(path) as store:
        assert current_version(store.conn) == LATEST
        indexes = store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'scenario_runs'"
        ).fetchall()
        assert "scenario_runs_by_solution" in {r[0] for r in indexes}
        assert store.latest_agent_command() == "./agent.sh"
        assert store.latest_runs(["scn_old"])["scn_old"].id == "run_2"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade sandbench"):
        Store(path)


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    """Six processes' worth of first opens at once, many times over: the switch to WAL
    once lost this race about one time in twenty ("database is locked")."""
    errors: list[BaseException] = []

    def opener(path: Path, start: threading.Barrier) -> None:
        try:
            start.wait()
            with Store(path) as store:
                assert current_version(store.conn) == LATEST
        except BaseException as error:
            errors.append(error)

    for attempt in range(40):
        start = threading.Barrier(6)
        path = tmp_path / f"race-{attempt}.db"
        threads = [threading.Thread(target=opener, args=(path, start)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


# ------------------------------------------------------------------------ concurrency


def test_reader_sees_consistent_pages_while_a_writer_writes(store: Store) -> None:
    done = threading.Event()
    failures: list[BaseException] = []
    observed: list[int] = []

    def writer() -> None:
        try:
            for i in range(300):
                store.create_scenario(make(f"w-{i:04d}"))  # one transaction each
        except BaseException as error:
            failures.append(error)
        finally:
            done.set()

    def reader() -> None:
        with Store(store.path) as own:  # a separate connection, as another process would
            try:
                while not done.is_set() or len(observed) < 2:
                    page = own.list_scenarios(limit=25)
                    # one snapshot: the page and its counts agree
                    assert page.remaining_count == max(page.total_count - len(page.items), 0)
                    observed.append(page.total_count)
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert observed == sorted(observed), "a reader saw the count go backwards"
    assert store.list_scenarios().total_count == 300


# ------------------------------------------------------------------------ runs and output


def test_scorer_output_is_stored_as_it_streams(store: Store) -> None:
    data = with_scorers(scorer("tests", 0.75), scorer("lint", 0.25))
    scenario_id = store.create_scenario(parse_scenarios(data)[0].scenario)
    run = store.create_run(scenario_id, 1, Solution.REFERENCE)
    tests = store.start_scorer(run.id, "tests", "command_scorer", 0.75)
    store.append_output(tests.id, "stdout", "collecting...\n")
    # visible to another connection before the scorer finishes
    with Store(store.path) as other:
        assert other.get_scorer_result(tests.id).output == "collecting...\n"
        assert other.get_scorer_result(tests.id).state == ScorerState.RUNNING
    store.append_output(tests.id, "stderr", "1 passed\n")
    store.finish_scorer(tests.id, ScorerState.COMPLETE, score=1.0, exit_code=0)
    lint = store.start_scorer(run.id, "lint", "command_scorer", 0.25)
    store.finish_scorer(lint.id, ScorerState.ERROR, exit_code=2, details={"reason": "x"})
    # a rerun is a new attempt beside the old one, and the total uses the latest
    rerun = store.start_scorer(run.id, "lint", "command_scorer", 0.25)
    assert rerun.attempt == 2
    store.finish_scorer(rerun.id, ScorerState.COMPLETE, score=0.6, exit_code=0)
    from sandbench.model import RunState

    store.set_run_state(run.id, RunState.COMPLETED)
    stored = store.get_run(run.id)
    assert stored.state == RunState.COMPLETED and stored.duration_ms is not None
    assert stored.score == pytest.approx(0.75 * 1.0 + 0.25 * 0.6)
    assert [(r.name, r.attempt) for r in stored.scorer_results] == [
        ("tests", 1),
        ("lint", 1),
        ("lint", 2),
    ]
    assert stored.scorer_results[0].output == "collecting...\n1 passed\n"
    assert store.list_runs(scenario=scenario_id).items[0].id == run.id


def test_runs_list_newest_first(store: Store) -> None:
    scenario_id = store.create_scenario(make("r"))
    made = [store.create_run(scenario_id, 1, Solution.BASELINE).id for _ in range(5)]
    page = store.list_runs(limit=2)
    assert [r.id for r in page.items] == made[::-1][:2]
    assert (page.total_count, page.remaining_count) == (5, 3)
    nxt = store.list_runs(limit=2, starting_after=page.last_id)
    assert [r.id for r in nxt.items] == made[::-1][2:4]


def test_run_without_output_keeps_scores_but_skips_the_text(store: Store) -> None:
    scenario_id = store.create_scenario(make("light"))
    run = store.create_run(scenario_id, 1, Solution.BASELINE)
    result = store.start_scorer(run.id, "tests", "command_scorer", 1.0)
    store.append_output(result.id, "stdout", "x" * 100_000)
    store.finish_scorer(result.id, ScorerState.COMPLETE, score=1.0, exit_code=0)
    light = store.get_run(run.id, with_output=False)
    full = store.get_run(run.id)
    assert light.scorer_results[0].output == "" and len(full.scorer_results[0].output) == 100_000
    assert light.scorer_results[0].score == full.scorer_results[0].score == 1.0


def walk_runs(store: Store, limit: int, scenario: str | None = None) -> list[str]:
    """Every run id across all pages, checking each page's counts on the way."""
    seen: list[str] = []
    after = None
    while True:
        page = store.list_runs(scenario=scenario, limit=limit, starting_after=after)
        seen.extend(r.id for r in page.items)
        assert page.remaining_count == page.total_count - len(seen)
        assert page.has_more == (page.remaining_count > 0)
        if not page.has_more:
            return seen
        after = page.last_id


def test_run_pages_by_scenario_are_newest_first_and_counted(store: Store) -> None:
    a, b = (store.create_scenario(make(n)) for n in ("a", "b"))
    made: dict[str, list[str]] = {a: [], b: []}
    for i in range(23):
        scenario_id = a if i % 3 else b
        made[scenario_id].append(store.create_run(scenario_id, 1, Solution.BASELINE).id)
    for limit in (1, 4, 20):
        assert walk_runs(store, limit, scenario=a) == made[a][::-1]
        assert walk_runs(store, limit, scenario=b) == made[b][::-1]
        assert sorted(walk_runs(store, limit)) == sorted(made[a] + made[b])
    assert walk_runs(store, 5, scenario=store.create_scenario(make("c"))) == []


def query_plans(store: Store, action: Callable[[], object]) -> list[str]:
    """The query plan of every SELECT that ``action`` runs on the store's connection."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        store.conn.set_trace_callback(None)
    return [
        row["detail"]
        for sql in statements
        if sql.lstrip().upper().startswith("SELECT")
        for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")
    ]


def test_run_lookups_are_served_by_indexes(store: Store) -> None:
    """No sort of all runs, nor a scan of the runs table, behind a page or a lookup: these
    run for every screenful, on stores of 100,000 runs."""
    scenario_id = store.create_scenario(make("indexed"))
    runs = [store.create_run(scenario_id, 1, Solution.AGENT).id for _ in range(3)]
    lookups: list[Callable[[], object]] = [
        lambda: store.list_runs(limit=2),
        lambda: store.list_runs(limit=2, starting_after=runs[-1]),
        lambda: store.list_runs(scenario=scenario_id, limit=2),
        lambda: store.list_runs(scenario=scenario_id, limit=2, starting_after=runs[-1]),
        lambda: store.latest_runs([scenario_id, "scn_other"]),
        store.latest_agent_command,
    ]
    for lookup in lookups:
        plans = query_plans(store, lookup)
        assert plans
        assert not [p for p in plans if "TEMP B-TREE" in p], plans
    for lookup in lookups[-2:]:
        plans = query_plans(store, lookup)
        assert not [p for p in plans if p.startswith("SCAN") and "VIRTUAL" not in p], plans


def test_latest_runs_of_several_scenarios(store: Store) -> None:
    a, b, idle, gone = (store.create_scenario(make(n)) for n in ("a", "b", "idle", "gone"))
    newest: dict[str, str] = {}
    for scenario_id in (a, b, gone, a, gone, b, b):
        newest[scenario_id] = store.create_run(scenario_id, 1, Solution.BASELINE).id
    tests = store.start_scorer(newest[a], "tests", "command_scorer", 1.0)
    store.append_output(tests.id, "stdout", "printed\n")
    store.archive_scenario(gone)  # an archived scenario's runs are still its runs
    latest = store.latest_runs([a, b, idle, gone, "scn_unknown"])
    assert {k: r.id for k, r in latest.items()} == {a: newest[a], b: newest[b], gone: newest[gone]}
    for scenario_id, run in latest.items():
        assert run == store.list_runs(scenario=scenario_id, limit=1).items[0]
        assert run.scenario_id == scenario_id and run.scorer_results == []
    assert store.latest_runs([]) == {}
    assert store.latest_runs([idle]) == {}


def test_latest_agent_command(store: Store) -> None:
    scenario_id = store.create_scenario(make("agents"))

    def run(solution: Solution, detail: dict[str, object] | None = None) -> None:
        made = store.create_run(scenario_id, 1, solution)
        if detail is not None:
            store.update_run(made.id, solution_detail=json.dumps(detail))

    assert store.latest_agent_command() == ""
    run(Solution.AGENT, {"solution": "agent", "command": "./old.sh", "exit_code": 0})
    run(Solution.AGENT, {"solution": "agent", "command": "./agent.sh -v", "exit_code": 1})
    run(Solution.AGENT)  # failed before its command ran: nothing recorded
    run(Solution.AGENT, {"solution": "agent", "command": ""})
    run(Solution.REFERENCE, {"solution": "reference", "form": "shell commands"})
    for _ in range(250):  # further back than any fixed look-back
        run(Solution.BASELINE)
    assert store.latest_agent_command() == "./agent.sh -v"


def test_a_forked_child_never_waits_on_the_parents_store_lock(tmp_path: Path) -> None:
    """A Popen's preexec_fn runs Python in the forked child, and the collector with it: a
    thread's connection returner must not wait there on a lock a parent thread held at the
    fork (the child hung before its exec, and the parent's Popen with it)."""
    db = Database(tmp_path / "fork.db")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db._all_lock:
            held.set()
            release.wait(60)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert held.wait(10)
    closer = _ReturnedWithThread(connect(tmp_path / "fork.db"), db._free, db._all_lock)
    child = os.fork()
    if child == 0:  # the child: the lock's holder is not here
        del closer  # runs __del__ now
        os._exit(0)
    reaped: list[int] = []
    waiter = threading.Thread(target=lambda: reaped.append(os.waitpid(child, 0)[1]))
    waiter.start()
    waiter.join(timeout=20)
    try:
        assert not waiter.is_alive(), "the forked child hung on the parent's lock"
        assert reaped == [0]
    finally:
        if waiter.is_alive():
            os.kill(child, signal.SIGKILL)
        release.set()
        thread.join(10)


def test_short_lived_threads_share_connections_and_never_close_one_under_another(
    tmp_path: Path,
) -> None:
    """A thread's connection goes back to the database when the thread ends, for the next
    thread: 200 short threads, one after another, use at most two connections (a head's
    memory grew with a connection per thread), and none is closed while threads run
    (closing them at thread end crashed the interpreter inside SQLite)."""
    db = Database(tmp_path / "threads.db")
    with db.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    seen: list[int] = []

    def short() -> None:
        with db.read() as conn:
            seen.append(conn.execute("SELECT count(*) FROM t").fetchone()[0])

    for _ in range(200):
        thread = threading.Thread(target=short)
        thread.start()
        thread.join()
    assert seen == [0] * 200
    assert len(db._all) <= 2, len(db._all)
    with db.read() as conn:  # the first thread's connection still works
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()
