"""Imported Harbor and Terminal-Bench 1 tasks on real Podman: built, checked by the core
(the reference scores 1.0, the baseline less), the tests hidden until scoring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.engine_support import need, require_podman, sandbench
from tests.importers.test_import_rules import harbor_task, tb1_task

pytestmark = [pytest.mark.podman, pytest.mark.slow]
HARBOR_PYTHON = ROOT / ".venv-harbor" / "bin" / "python"


@pytest.fixture(autouse=True)
def no_sandboxes_left():
    """A run keeps its sandbox for reruns: end them all when the test ends."""
    yield
    listed = sandbench("sandboxes", "list", "--json")
    for sandbox in json.loads(listed.stdout or "[]"):
        sandbench("sandboxes", "rm", sandbox["id"])


def imported(*argv: str) -> list[dict]:
    result = sandbench("scenarios", "import", "--json", *argv)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check(name: str) -> dict:
    result = sandbench("scenarios", "check", name, "--json", "--no-cache", timeout=600)
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_harbor_task_checks_and_its_context_builds_once(tmp_path: Path) -> None:
    require_podman()
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    harbor_task(dataset, name="one")
    harbor_task(dataset, name="two")
    rows = imported("--format", "harbor", str(dataset))
    assert rows[0]["blueprint_id"] != rows[1]["blueprint_id"]  # one blueprint per name...
    blueprints = json.loads(sandbench("blueprints", "list", "--json").stdout)
    images = {b["image"] for b in blueprints if b["name"].startswith("harbor-")}
    assert len(images) == 1  # ...and one image: the same context is built once
    report = check("one")
    assert report["forward"]["score"] == 1.0 and report["reverse"]["score"] == 0.0
    assert report["ok"] is True
    again = imported("--format", "harbor", str(dataset))
    assert {r["action"] for r in again} == {"unchanged"}


def test_tests_are_hidden_from_the_agent(tmp_path: Path) -> None:
    require_podman()
    imported("--format", "harbor", str(harbor_task(tmp_path, name="hidden")))
    check_and_solve = (
        "test ! -e /tests && test ! -e /solution && echo hello from harbor > /workspace/hello.txt"
    )
    agent = f'$SANDBENCH sandboxes exec "$SANDBENCH_SANDBOX_ID" -- sh -c {check_and_solve!r}'
    result = sandbench("run", "hidden", "--agent", agent, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["score"] == 1.0


def test_a_fractional_json_reward_is_the_score(tmp_path: Path) -> None:
    require_podman()
    task = harbor_task(tmp_path, name="fraction")
    (task / "tests" / "test.sh").write_text(
        "#!/bin/bash\nmkdir -p /logs/verifier\n"
        'if [ -f /workspace/hello.txt ]; then echo \'{"reward": 0.25, "style": 1}\''
        " > /logs/verifier/reward.json; else echo 0 > /logs/verifier/reward.txt; fi\n"
    )
    imported("--format", "harbor", str(task))
    report = check("fraction")
    assert report["forward"]["score"] == 0.25
    assert report["reverse"]["score"] == 0.0


def test_a_docker_image_task_without_network(tmp_path: Path) -> None:
    require_podman()
    task = harbor_task(
        tmp_path,
        '[environment]\ndocker_image = "localhost/sandbench-base:latest"\n'
        'workdir = "/workspace"\nnetwork_mode = "no-network"\ncpus = 1\nmemory_mb = 1500\n',
        name="image",
    )
    shutil.rmtree(task / "environment")
    (task / "solution" / "solve.sh").write_text(
        "#!/bin/bash\nmkdir -p /workspace\n"
        "ip -o link 2>/dev/null | grep -v ' lo:' && exit 1\n"
        "printf 'hello from harbor\\n' > /workspace/hello.txt\n"
    )
    rows = imported("--format", "harbor", str(task))
    assert rows[0]["action"] == "created"
    report = check("image")
    assert report["ok"] is True


def test_terminal_bench_1_task_checks(tmp_path: Path) -> None:
    require_podman()
    imported("--format", "terminal-bench", str(tb1_task(tmp_path, compose=True)))
    report = check("tb1-hello")
    assert report["forward"]["score"] == 1.0 and report["reverse"]["score"] == 0.0


def test_harbor_export_round_trip_through_harbors_loader(tmp_path: Path) -> None:
    require_podman()
    need(HARBOR_PYTHON.exists(), "Harbor's environment (.venv-harbor) is missing")
    imported("--format", "harbor", str(harbor_task(tmp_path, name="trip")))
    out = tmp_path / "out"
    result = sandbench("scenarios", "export", "trip", "--format", "harbor", "-o", str(out))
    assert result.returncode == 0, result.stderr
    for part in ("task.toml", "instruction.md", "environment/Dockerfile", "tests/test.sh",
                 "solution/solve.sh"):  # fmt: skip
        assert (out / part).read_bytes() == (tmp_path / "trip" / part).read_bytes(), part
    loaded = subprocess.run(
        [str(HARBOR_PYTHON), "-c",
         "import sys; from harbor.models.task.task import Task; t = Task(sys.argv[1]);"
         " print(t.config.verifier.timeout_sec, t.config.environment.memory_mb)", str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["120.0", "2048"]
    # and back: importing the export changes nothing
    again = imported("--format", "harbor", str(out))
    assert again[0]["name"] == "out" and again[0]["action"] == "created"
