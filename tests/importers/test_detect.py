"""The format of a path is detected, so `scenarios import PATH` and the workbench's import
prompt need no --format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sandbench.errors import InvalidInput
from sandbench.importers import detect, detect_all
from tests.conftest import SAMPLES
from tests.engine_support import sandbench
from tests.importers.test_import_rules import harbor_task, tb1_task

INSTANCE = {
    "repo": "octo/calc",
    "instance_id": "octo__calc-1",
    "base_commit": "0" * 40,
    "patch": "",
    "test_patch": "",
    "problem_statement": "fix add",
    "FAIL_TO_PASS": "[]",
    "PASS_TO_PASS": "[]",
}


def test_each_format_is_detected(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    one = harbor_task(dataset, name="one")
    assert detect(dataset) == "harbor"
    assert detect(one) == "harbor"
    assert detect(one / "task.toml") == "harbor"
    tb1 = tb1_task(tmp_path / "tb")
    assert detect(tb1.parent) == "terminal-bench"
    assert detect(tb1 / "task.yaml") == "terminal-bench"
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text(json.dumps(INSTANCE) + "\n")
    listed = tmp_path / "set.json"
    listed.write_text(json.dumps([INSTANCE]))
    assert detect(jsonl) == "swe-bench" and detect(listed) == "swe-bench"
    assert detect(SAMPLES) == "sandbench"
    assert detect(SAMPLES / "add-dry-run-flag.toml") == "sandbench"
    runloop = tmp_path / "scenario.json"
    runloop.write_text(json.dumps({"name": "x", "input_context": {}}))
    assert detect(runloop) == "sandbench"


def test_mixed_formats_are_refused_by_path(tmp_path: Path) -> None:
    task = harbor_task(tmp_path, name="one")
    assert detect_all([task, tmp_path / "missing"]) == "harbor"
    with pytest.raises(InvalidInput, match=f"{task}: harbor.*: sandbench"):
        detect_all([task, SAMPLES])


def test_the_cli_detects_when_no_format_is_given(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    harbor_task(dataset, name="one")
    broken = harbor_task(dataset, name="two")
    (broken / "task.toml").write_text("[environment]\ngpus = 1\n")
    result = sandbench("scenarios", "validate", "--json", str(dataset))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["tasks"]] == ["one"]
    assert [p["path"] for p in report["problems"]] == ["environment.gpus"]
    shutil.rmtree(broken)
    assert sandbench("scenarios", "validate", str(dataset)).returncode == 0
    samples = sandbench("scenarios", "validate", "--json", str(SAMPLES))
    assert samples.returncode == 0 and json.loads(samples.stdout)["files"]
