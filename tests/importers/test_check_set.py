"""`scenarios check` over an imported task set: per task, does its verifier separate the
reference from the baseline? Real Podman, two Harbor tasks written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine_support import require_podman, sandbench
from tests.importers.test_import_podman import imported
from tests.importers.test_import_rules import harbor_task

pytestmark = [pytest.mark.podman, pytest.mark.slow]


@pytest.fixture(autouse=True)
def no_sandboxes_left():
    yield
    listed = sandbench("sandboxes", "list", "--json")
    for sandbox in json.loads(listed.stdout or "[]"):
        sandbench("sandboxes", "rm", sandbox["id"])


def task_set(tmp_path: Path) -> Path:
    """``good`` separates them; ``broken``'s verifier rewards anything (baseline 1.0)."""
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    harbor_task(dataset, name="good")
    broken = harbor_task(dataset, name="broken")
    (broken / "tests" / "test.sh").write_text(
        "#!/bin/bash\nmkdir -p /logs/verifier\necho 1 > /logs/verifier/reward.txt\n"
    )
    return dataset


def test_check_reports_each_task_of_an_imported_set(tmp_path: Path) -> None:
    require_podman()
    dataset = task_set(tmp_path)
    imported(str(dataset))  # the format is detected

    result = sandbench(
        "scenarios", "check", "--from", str(dataset), "-j", "2", "--no-cache", timeout=900
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines[:2]) == [
        "FAIL  broken  baseline also scores 1",
        "PASS  good    reference scored 1, baseline 0",
    ]
    assert lines[2] == "2 checked: 1 pass, 1 fail"
    assert "failing: broken" in result.stderr

    # by name, in JSON (the runs come from the result cache now)
    result = sandbench("scenarios", "check", "good", "broken", "--json", timeout=900)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["passed"], report["failed"]) == (False, 1, 1)
    good, broken = report["tasks"]
    assert (good["scenario"], good["ok"]) == ("good", True)
    assert (good["forward"]["score"], good["reverse"]["score"]) == (1.0, 0.0)
    assert (broken["scenario"], broken["ok"]) == ("broken", False)
    assert broken["reason"] == "baseline also scores 1"
    assert broken["scorers"][0]["problem"].startswith("scores the baseline as high")

    only_good = sandbench("scenarios", "check", "good", "--all", "--json", timeout=900)
    assert only_good.returncode == 1  # --all adds broken again
    assert [t["scenario"] for t in json.loads(only_good.stdout)["tasks"]] == ["good", "broken"]


def test_check_refuses_a_selection_it_cannot_resolve(tmp_path: Path) -> None:
    require_podman()
    result = sandbench("scenarios", "check")
    assert result.returncode == 2 and "check needs a scenario" in result.stderr
    result = sandbench("scenarios", "check", "--from", str(tmp_path))
    assert result.returncode == 2 and "--from: no task found" in result.stderr
    result = sandbench("scenarios", "check", "no-such-scenario", "other")
    assert result.returncode != 0 and "no-such-scenario" in result.stderr
