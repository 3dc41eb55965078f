"""Schema versions. Each migration moves the database forward by one version, never back.

Append new migrations at the end; never edit a released one. ``PRAGMA user_version`` holds
the version; a migration and its version bump commit together.
"""

from __future__ import annotations

import sqlite3

from sandbench.errors import SandbenchError

V1_SCENARIOS = """
CREATE TABLE scenarios (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    current_version  INTEGER NOT NULL,
    create_time_ms   INTEGER NOT NULL,
    update_time_ms   INTEGER NOT NULL,
    archive_time_ms  INTEGER
);
-- a name is unique among active scenarios; archived ones may share it
CREATE UNIQUE INDEX scenarios_active_name ON scenarios(name) WHERE archive_time_ms IS NULL;
CREATE INDEX scenarios_name_order ON scenarios(name COLLATE NOCASE, seq);

CREATE TABLE scenario_versions (
    scenario_id     TEXT NOT NULL REFERENCES scenarios(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    document        TEXT NOT NULL,          -- the scenario's JSON export form
    content_hash    TEXT NOT NULL,
    create_time_ms  INTEGER NOT NULL,
    PRIMARY KEY (scenario_id, version)
) WITHOUT ROWID;

CREATE TABLE benchmarks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    metadata        TEXT NOT NULL DEFAULT '{}',
    create_time_ms  INTEGER NOT NULL
);
CREATE TABLE benchmark_scenarios (
    benchmark_id  TEXT NOT NULL REFERENCES benchmarks(id) ON DELETE CASCADE,
    scenario_id   TEXT NOT NULL REFERENCES scenarios(id),
    position      INTEGER NOT NULL,
    PRIMARY KEY (benchmark_id, scenario_id)
) WITHOUT ROWID;
CREATE INDEX benchmark_scenarios_by_scenario ON benchmark_scenarios(scenario_id);
"""

V2_RUNS = """
CREATE TABLE benchmark_runs (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,
    id                     TEXT NOT NULL UNIQUE,
    benchmark_id           TEXT REFERENCES benchmarks(id),
    name                   TEXT,
    state                  TEXT NOT NULL,
    start_time_ms          INTEGER NOT NULL,
    duration_ms            INTEGER,
    score                  REAL,
    metadata               TEXT NOT NULL DEFAULT '{}',
    purpose                TEXT,
    environment_variables  TEXT,            -- JSON object
    secrets_provided       TEXT,            -- JSON object: env var -> secret *name*
    triggered_by           TEXT,
    completed_at_ms        INTEGER,
    total_cases            INTEGER NOT NULL DEFAULT 0,
    ok_cases               INTEGER NOT NULL DEFAULT 0,
    cache_hit_cases        INTEGER NOT NULL DEFAULT 0,
    status_breakdown       TEXT NOT NULL DEFAULT '{}',
    total_cost_usd         REAL NOT NULL DEFAULT 0,
    case_filter            TEXT,            -- JSON array
    notes                  TEXT
);

CREATE TABLE scenario_runs (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    scenario_id       TEXT NOT NULL,
    scenario_version  INTEGER NOT NULL,
    benchmark_run_id  TEXT REFERENCES benchmark_runs(id) ON DELETE CASCADE,
    name              TEXT,
    state             TEXT NOT NULL,
    solution          TEXT NOT NULL,
    sandbox_id        TEXT,
    score             REAL,
    start_time_ms     INTEGER NOT NULL,
    duration_ms       INTEGER,
    failure_reason    TEXT,
    cache_key         TEXT,
    cache_hit         INTEGER NOT NULL DEFAULT 0,
    usage             TEXT,                 -- JSON: tokens, cost
    metadata          TEXT NOT NULL DEFAULT '{}',
    owner_pid         INTEGER,              -- process running it; for crash recovery
    FOREIGN KEY (scenario_id, scenario_version) REFERENCES scenario_versions(scenario_id, version)
);
CREATE INDEX scenario_runs_by_scenario ON scenario_runs(scenario_id, seq);
CREATE INDEX scenario_runs_by_benchmark_run ON scenario_runs(benchmark_run_id);
CREATE INDEX scenario_runs_by_cache_key ON scenario_runs(cache_key) WHERE cache_key IS NOT NULL;

CREATE TABLE scorer_results (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    run_id         TEXT NOT NULL REFERENCES scenario_runs(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    weight         REAL NOT NULL,
    attempt        INTEGER NOT NULL,
    state          TEXT NOT NULL,
    score          REAL,
    exit_code      INTEGER,
    started_at_ms  INTEGER NOT NULL,
    duration_ms    INTEGER,
    details        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (run_id, name, attempt)
);

-- scorer output, appended as it streams so a crash loses nothing already printed
CREATE TABLE output_chunks (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    scorer_result_id  TEXT NOT NULL REFERENCES scorer_results(id) ON DELETE CASCADE,
    stream            TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    data              TEXT NOT NULL,
    at_ms             INTEGER NOT NULL
);
CREATE INDEX output_chunks_by_result ON output_chunks(scorer_result_id, seq);

CREATE TABLE sandboxes (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    name              TEXT,
    status            TEXT NOT NULL,
    scenario_run_id   TEXT,
    image             TEXT NOT NULL,
    container_id      TEXT,
    architecture      TEXT NOT NULL,
    resources         TEXT NOT NULL,        -- JSON: cpu, memory_gib, disk_gib
    blueprint_id      TEXT,
    snapshot_id       TEXT,
    suspended_image   TEXT,                 -- committed writable layer while suspended
    create_time_ms    INTEGER NOT NULL,
    end_time_ms       INTEGER,
    failure_reason    TEXT,
    shutdown_reason   TEXT,
    owner_pid         INTEGER
);
CREATE TABLE sandbox_transitions (
    sandbox_id          TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
    status              TEXT NOT NULL,
    transition_time_ms  INTEGER NOT NULL
);
CREATE INDEX sandbox_transitions_by_sandbox ON sandbox_transitions(sandbox_id);

CREATE TABLE custom_scorers (
    id              TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL PRIMARY KEY,
    bash_script     TEXT NOT NULL,
    create_time_ms  INTEGER NOT NULL,
    update_time_ms  INTEGER NOT NULL
);

CREATE TABLE blueprints (
    id              TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL PRIMARY KEY,
    image           TEXT NOT NULL,
    source          TEXT NOT NULL,
    status          TEXT NOT NULL,
    create_time_ms  INTEGER NOT NULL
);

CREATE TABLE snapshots (
    id                 TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL PRIMARY KEY,
    image              TEXT NOT NULL,
    source_sandbox_id  TEXT,
    create_time_ms     INTEGER NOT NULL
);
"""

V3_SANDBOX_LIFECYCLE = """
ALTER TABLE sandboxes ADD COLUMN spec TEXT;              -- SandboxSpec JSON; never secret values
ALTER TABLE sandboxes ADD COLUMN last_activity_ms INTEGER;
ALTER TABLE sandboxes ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sandboxes ADD COLUMN failure_detail TEXT;    -- e.g. a failed launch command's output
ALTER TABLE sandboxes ADD COLUMN launch_output TEXT;
ALTER TABLE sandboxes ADD COLUMN disk_dir TEXT;
ALTER TABLE sandboxes ADD COLUMN owner_start TEXT;       -- owner's start time: pids get reused
ALTER TABLE sandboxes ADD COLUMN watcher_pid INTEGER;
CREATE INDEX sandboxes_by_status ON sandboxes(status);
"""

V4_RUN_CONTROL = """
ALTER TABLE scenario_runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scenario_runs ADD COLUMN solution_detail TEXT;   -- agent command, its exit code
ALTER TABLE scenario_runs ADD COLUMN solution_output TEXT;   -- what applying it printed
CREATE INDEX benchmark_runs_by_benchmark ON benchmark_runs(benchmark_id, seq);
"""

V5_RUN_LOOKUPS = """
-- the newest agent run (its command is what the solution picker offers) without a scan
CREATE INDEX scenario_runs_by_solution ON scenario_runs(solution, seq);
"""

V6_LOCAL_API = """
-- every command run in a sandbox through the API (or the CLI): the sandbox's activity log
CREATE TABLE executions (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    sandbox_id         TEXT NOT NULL,
    command            TEXT NOT NULL,           -- redacted of secret values
    user               TEXT,
    working_directory  TEXT,
    shell_name         TEXT,
    origin             TEXT NOT NULL,           -- api | cli
    status             TEXT NOT NULL,           -- queued | running | completed
    exit_status        INTEGER,
    failure            TEXT,                    -- why it ended without its own exit status
    create_time_ms     INTEGER NOT NULL,
    start_time_ms      INTEGER,
    end_time_ms        INTEGER,
    owner_pid          INTEGER,
    owner_start        TEXT
);
CREATE INDEX executions_by_sandbox ON executions(sandbox_id, seq);
CREATE INDEX executions_by_status ON executions(status);
CREATE TABLE execution_chunks (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id  TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    stream        TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    start_offset  INTEGER NOT NULL,             -- characters of this stream before the chunk
    data          TEXT NOT NULL,
    at_ms         INTEGER NOT NULL
);
CREATE INDEX execution_chunks_by_execution ON execution_chunks(execution_id, stream, seq);

CREATE TABLE storage_objects (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT NOT NULL UNIQUE,
    name                  TEXT NOT NULL,
    content_type          TEXT NOT NULL,
    state                 TEXT NOT NULL,        -- UPLOADING | READ_ONLY | DELETED | ERROR
    size_bytes            INTEGER,
    sha256                TEXT,
    metadata              TEXT NOT NULL DEFAULT '{}',
    create_time_ms        INTEGER NOT NULL,
    delete_after_time_ms  INTEGER
);
CREATE INDEX storage_objects_by_name ON storage_objects(name, seq);

CREATE TABLE network_policies (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    egress          TEXT NOT NULL,              -- JSON, Runloop's egress object
    create_time_ms  INTEGER NOT NULL,
    update_time_ms  INTEGER NOT NULL
);

-- names and times of secrets; their values live in the 0600 secrets file only
CREATE TABLE secret_records (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    create_time_ms  INTEGER NOT NULL,
    update_time_ms  INTEGER NOT NULL
);

-- a client's idempotency key (x-request-id) -> the object its first attempt made
CREATE TABLE request_keys (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    create_time_ms  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- blueprints: several may share a name (a rebuild with other content); newest wins
CREATE TABLE blueprints_v6 (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT NOT NULL UNIQUE,
    name                  TEXT NOT NULL,
    image                 TEXT NOT NULL,
    source                TEXT NOT NULL,
    status                TEXT NOT NULL,
    create_time_ms        INTEGER NOT NULL,
    parameters            TEXT,                 -- the API's create body, echoed back
    content_hash          TEXT,
    build_log             TEXT NOT NULL DEFAULT '',
    failure_reason        TEXT,
    build_finish_time_ms  INTEGER,
    state                 TEXT NOT NULL DEFAULT 'created'
);
INSERT INTO blueprints_v6 (id, name, image, source, status, create_time_ms)
    SELECT id, name, image, source, status, create_time_ms FROM blueprints
    ORDER BY create_time_ms;
DROP TABLE blueprints;
ALTER TABLE blueprints_v6 RENAME TO blueprints;
CREATE INDEX blueprints_by_name ON blueprints(name, seq);
CREATE INDEX blueprints_by_hash ON blueprints(content_hash);

ALTER TABLE snapshots ADD COLUMN status TEXT NOT NULL DEFAULT 'complete';
ALTER TABLE snapshots ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE snapshots ADD COLUMN commit_message TEXT;
ALTER TABLE snapshots ADD COLUMN error TEXT;
ALTER TABLE snapshots ADD COLUMN display_name TEXT;

ALTER TABLE benchmarks ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';
ALTER TABLE benchmarks ADD COLUMN archive_time_ms INTEGER;

ALTER TABLE scenario_runs ADD COLUMN environment_variables TEXT;
ALTER TABLE scenario_runs ADD COLUMN secrets_provided TEXT;
ALTER TABLE scenario_runs ADD COLUMN purpose TEXT;

ALTER TABLE sandboxes ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sandboxes ADD COLUMN launch_parameters TEXT;   -- as the API client sent them
ALTER TABLE sandboxes ADD COLUMN initiator TEXT;           -- api | scenario | cli
ALTER TABLE sandboxes ADD COLUMN keep_alive_from_ms INTEGER;  -- the last keep_alive call
"""

V7_TRUSTED_BENCHMARKS = """
-- who runs what: work owned by a process that is gone is reconciled, never shown running
ALTER TABLE scenario_runs ADD COLUMN owner_start TEXT;
ALTER TABLE benchmark_runs ADD COLUMN owner_pid INTEGER;
ALTER TABLE benchmark_runs ADD COLUMN owner_start TEXT;
-- what a resume needs to run the rest the same way
ALTER TABLE benchmark_runs ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
-- per-scenario statistics of the repeats (mean, std, pass@1, pass@k), flaky scenarios
ALTER TABLE benchmark_runs ADD COLUMN scenario_stats TEXT NOT NULL DEFAULT '[]';
CREATE INDEX scenario_runs_by_state ON scenario_runs(state);
CREATE INDEX benchmark_runs_by_state ON benchmark_runs(state);

-- a benchmark run's cases: each scenario (pinned version) times each repeat
CREATE TABLE benchmark_cases (
    benchmark_run_id  TEXT NOT NULL REFERENCES benchmark_runs(id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,     -- the scenario's place in the benchmark
    repeat_index      INTEGER NOT NULL,     -- 0 .. repeats-1
    scenario_id       TEXT NOT NULL,
    scenario_version  INTEGER NOT NULL,
    state             TEXT NOT NULL,        -- pending, running, completed, failed, not_started, …
    run_id            TEXT,                 -- the latest attempt's scenario run
    attempts          INTEGER NOT NULL DEFAULT 0,
    reason            TEXT,
    PRIMARY KEY (benchmark_run_id, position, repeat_index)
) WITHOUT ROWID;
"""

V8_CLUSTER = """
-- the Ray node a run's case ran on, when a benchmark ran over a cluster (NULL: locally)
ALTER TABLE scenario_runs ADD COLUMN node TEXT;
"""

# The user-namespace range of a sandbox (engine/userns.py): its disk holds ids shifted into it,
# so a suspended sandbox resumes with the same one. NULL: made without a user namespace.
V9_SANDBOX_USERNS = """
ALTER TABLE sandboxes ADD COLUMN userns_base INTEGER;
"""

MIGRATIONS: list[str] = [
    V1_SCENARIOS,
    V2_RUNS,
    V3_SANDBOX_LIFECYCLE,
    V4_RUN_CONTROL,
    V5_RUN_LOOKUPS,
    V6_LOCAL_API,
    V7_TRUSTED_BENCHMARKS,
    V8_CLUSTER,
    V9_SANDBOX_USERNS,
]
LATEST = len(MIGRATIONS)


class SchemaTooNew(SandbenchError):
    pass


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring the database up to ``target``; safe when several processes open it at once."""
    if current_version(conn) == target:
        return target
    conn.execute("BEGIN IMMEDIATE")  # one migrator at a time; re-read under the lock
    try:
        version = current_version(conn)
        if version > LATEST:
            raise SchemaTooNew(
                f"this database has schema version {version}, newer than this sandbench"
                f" understands ({LATEST}); upgrade sandbench"
            )
        for number in range(version + 1, target + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return [s for s in statements if s]
