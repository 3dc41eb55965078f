"""The warm pool on real Podman: claims, refill, misses, drain, and reaping after a crash."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbench import paths, secrets
from sandbench.engine import Engine
from sandbench.engine.pool import LABEL_POOL, warm_containers
from sandbench.model import SandboxState
from sandbench.store import Store
from tests.engine_support import (
    containers_of,
    host_port_policy,
    sandbench,
    scenario,
    with_extra,
)

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def warm_ids(engine: Engine) -> set[str]:
    return {c["io.sandbench.sandbox"] for c in warm_containers(engine.client, paths.home_label())}


def test_a_claim_is_clean_and_the_pool_refills(engine: Engine, store: Store) -> None:
    pool = engine.start_pool({"X_SMALL": 1})
    assert pool.wait_filled(120), pool.status()
    (warm,) = (row for row in pool.status())
    assert (warm.ready, warm.size) == (1, 1)
    waiting = warm_ids(engine)
    assert len(waiting) == 1 and store.list_sandboxes() == []  # unclaimed: no store row
    scn = scenario(
        resource_size_request="X_SMALL",
        user_parameters={"username": "agent", "uid": 1234},
        launch_commands=["echo launched in $SANDBENCH_WORKDIR", "touch made-by-launch"],
    )
    sandbox = engine.create(engine.spec_for(scn))
    assert sandbox.id in waiting, "the create did not claim the warm sandbox"
    assert pool.claims == 1
    assert [t.status for t in sandbox.state_transitions] == [
        SandboxState.PROVISIONING,
        SandboxState.INITIALIZING,
        SandboxState.RUNNING,
    ]
    assert "launched in /workspace/repo" in (sandbox.launch_output or "")
    out = engine.exec(sandbox.id, "id -un; pwd; ls -A; echo $SANDBENCH_WORKDIR")
    assert out.stdout.split() == ["agent", "/workspace/repo", "made-by-launch", "/workspace/repo"]
    # refilled with a new sandbox; the claimed one never goes back
    assert pool.wait_filled(120), pool.status()
    refilled = warm_ids(engine) - {sandbox.id}
    assert len(refilled) == 1 and sandbox.id not in refilled
    engine.shutdown(sandbox.id)
    assert not pool.owns(sandbox.id)
    again = engine.create(engine.spec_for(scenario(resource_size_request="X_SMALL")))
    assert again.id in refilled and again.id != sandbox.id
    assert engine.exec(again.id, "ls -A").stdout == ""  # nothing of the earlier sandbox


def test_a_different_key_misses_and_creates_cold(engine: Engine) -> None:
    pool = engine.start_pool({"X_SMALL": 1})
    assert pool.wait_filled(120), pool.status()
    waiting = warm_ids(engine)
    small = engine.create(engine.spec_for(scenario(resource_size_request="SMALL")))
    with_env = with_extra(
        scenario(resource_size_request="X_SMALL"), required_environment_variables=["TOKENISH"]
    )
    own_env = engine.create(engine.spec_for(with_env, env={"TOKENISH": "x"}))
    offline = engine.create(
        engine.spec_for(scenario(resource_size_request="X_SMALL", network_policy_id="none"))
    )
    reaches_host = engine.create(
        engine.spec_for(
            scenario(
                resource_size_request="X_SMALL",
                network_policy_id=host_port_policy(engine.store, 9),
            )
        )
    )
    for cold in (small, own_env, offline, reaches_host):
        assert cold.id not in waiting
        assert cold.status == SandboxState.RUNNING
    assert pool.claims == 0 and pool.misses == 4
    assert warm_ids(engine) >= waiting  # still there for a matching create
    assert engine.exec(own_env.id, "echo $TOKENISH").stdout == "x\n"


def test_a_sandbox_with_secrets_is_served_warm(engine: Engine) -> None:
    """Secrets reach each exec, not the container: a warm sandbox serves them too, and
    they are not in its configuration."""
    value = "warm-s3cr3t-77"
    secrets.set_secret("WARM_TOKEN", value)
    pool = engine.start_pool({"X_SMALL": 1})
    assert pool.wait_filled(120), pool.status()
    waiting = warm_ids(engine)
    scn = with_extra(
        scenario(resource_size_request="X_SMALL", launch_commands=["echo got $WARM_TOKEN"]),
        required_secret_names=["WARM_TOKEN"],
    )
    sandbox = engine.create(engine.spec_for(scn))
    assert sandbox.id in waiting and pool.claims == 1
    assert engine.exec(sandbox.id, "printenv WARM_TOKEN").stdout.strip() == value
    assert "got ***" in (sandbox.launch_output or "")
    inspected = engine.client.containers.get(f"sandbench-{sandbox.id}").attrs
    assert value not in json.dumps(inspected)


def test_close_drains_the_pool(store: Store) -> None:
    from tests.engine_support import require_podman

    require_podman()
    with Engine(store) as engine:
        pool = engine.start_pool({"X_SMALL": 1})
        assert pool.wait_filled(120), pool.status()
        (sandbox_id,) = warm_ids(engine)
    assert containers_of(sandbox_id) == []
    assert not (paths.data_dir() / "sandboxes" / sandbox_id).exists()


def test_a_crashed_owners_pool_is_reaped_at_the_next_start(store: Store, tmp_path: Path) -> None:
    from tests.engine_support import require_podman

    require_podman()
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import time
        from sandbench.engine import Engine
        from sandbench.store import open_store
        engine = Engine(open_store())
        pool = engine.start_pool({{"X_SMALL": 1}})
        assert pool.wait_filled(120), pool.status()
        open({str(ready)!r}, "w").write(",".join(r.key for r in pool.status()))
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    try:
        for _ in range(1200):  # the child fills its pool (up to 2 min), then waits
            if ready.exists() or child.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.1)
        assert ready.exists(), "the child never filled its pool"
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no close(), no drain
        child.wait()
    with Engine(store) as engine:
        left = [c for c in warm_containers(engine.client, paths.home_label())]
        assert left == [], f"not reaped: {left}"  # the engine's start-up recovery ran
    leftovers = [p.name for p in (paths.data_dir() / "sandboxes").glob("dbx_*") if p.is_dir()]
    assert leftovers == []
    listed = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={LABEL_POOL}", "--format", "{{.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert paths.home_label() not in listed


def test_pool_status_counts_the_warm_sandboxes_of_each_configured_size(engine: Engine) -> None:
    """From another process: the sizes `config set` asked for, and the warm sandboxes of a
    live owner (this one) counted against their size (the workbench shows the same report)."""
    assert sandbench("config", "set", "warm_pool.SMALL", "0").returncode == 0
    assert sandbench("config", "set", "warm_pool.X_SMALL", "1").returncode == 0
    pool = engine.start_pool({"X_SMALL": 1})
    assert pool.wait_filled(120), pool.status()
    result = sandbench("pool", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["configured"] == {"X_SMALL": 1}
    (size,) = status["sizes"]
    assert (size["preset"], size["size"], size["ready"]) == ("X_SMALL", 1, 1)
    assert size["key"] == pool.status()[0].key  # the key this process's pool made it for
    (warm,) = status["warm"]
    assert warm["owner_pid"] == os.getpid() and warm["owner_alive"] and not warm["claimed"]
    text = sandbench("pool", "status").stdout
    assert "X_SMALL" in text and "WANTED" in text
    # a claimed one keeps its pool label: listed as claimed, no longer counted as warm
    claimed = engine.create(engine.spec_for(scenario(resource_size_request="X_SMALL")))
    assert claimed.id == warm["sandbox"]
    status = json.loads(sandbench("pool", "status", "--json").stdout)
    by_id = {w["sandbox"]: w for w in status["warm"]}
    assert by_id[claimed.id]["claimed"]
    unclaimed = [w for w in status["warm"] if not w["claimed"]]  # the refill, if made yet
    assert status["sizes"][0]["ready"] == len(unclaimed) <= 1
