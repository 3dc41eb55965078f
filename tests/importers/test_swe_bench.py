"""SWE-bench instances: the mapping and its refusals, pure (no Podman), on a tiny git
repository made in the test (no network)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbench.importers import _common, load, swe_bench
from sandbench.importers._common import Refused
from tests.conftest import schema_errors

BUGGY = "def add(a, b):\n    return a - b\n"
TESTS = (
    "import unittest\n\nfrom calc import add\n\n\n"
    "class T(unittest.TestCase):\n"
    "    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
)
ADDED = "\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
VENDORED = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py")


def git(repo: Path, *argv: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *argv],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def make_repo(root: Path, *, vendor_pytest: bool = False) -> tuple[Path, dict[str, Any]]:
    """``root/acme/calc``: a bug in ``add`` and a passing test at the base commit, then the
    fix and a new failing test in later commits (which the sandbox must never hold). Returns
    the repo directory and a classic instance for it."""
    repo = root / "acme" / "calc"
    (repo / "tests").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "calc.py").write_text(BUGGY)
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    if vendor_pytest:  # the base image has no pytest and there is no network: bring the real one
        site = Path(pytest.__file__).parent.parent
        metadata = [
            p.name for n in VENDORED for p in site.glob(f"{n.removesuffix('.py')}-*.dist-info")
        ]
        for name in (*VENDORED, *metadata):
            source = site / name
            if source.is_dir():
                shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, repo / name)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text(BUGGY.replace("a - b", "a + b"))
    patch = git(repo, "diff")
    git(repo, "commit", "-qam", "fix")
    (repo / "tests" / "test_calc.py").write_text(TESTS + ADDED)
    test_patch = git(repo, "diff")
    git(repo, "commit", "-qam", "test")
    instance = {
        "repo": "acme/calc",
        "instance_id": "acme__calc-1",
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": "add(2, 3) is -1, it should be 5.",
        "hints_text": "look at calc.py",
        "created_at": "2024-01-02T03:04:05Z",
        "version": "1.0",
        "environment_setup_commit": base,
        "FAIL_TO_PASS": json.dumps(["tests/test_calc.py::T::test_add"]),
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::T::test_zero"]),
    }
    return root, instance


def five(instance: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The instance in the 5.x schema: an eval_script (SWE-bench's shape) and a log parser."""
    base, test_patch = instance["base_commit"], instance["test_patch"]
    script = (
        "#!/bin/bash\nset -uo pipefail\ncd /testbed\n"
        f"git checkout {base} tests/test_calc.py\n"
        f"git apply -v - <<'EOF_114329324912'\n{test_patch}\nEOF_114329324912\n"
        "echo '>>>>> Start Test Output'\npython3 -m unittest -v tests.test_calc\n"
        "echo '>>>>> End Test Output'\n"
        f"git checkout {base} tests/test_calc.py\n"
    )
    return {
        **instance,
        "FAIL_TO_PASS": ["test_add (tests.test_calc.T.test_add)"],
        "PASS_TO_PASS": ["test_zero (tests.test_calc.T.test_zero)"],
        "eval_script": script,
        "log_parser": "django",
        "eval_type": "pass_and_fail",
        **extra,
    }


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    return make_repo(tmp_path / "clones")


def refused(instance: dict[str, Any], repo_dir: Path | None) -> Refused:
    with pytest.raises(Refused) as caught:
        swe_bench.load_instance(instance, Path("x.json"), repo_dir=repo_dir, base_image="b")
    return caught.value


def test_a_classic_instance_maps(repo) -> None:
    repo_dir, instance = repo
    task = swe_bench.load_instance(instance, Path("i.json"), repo_dir=repo_dir, base_image="b:1")
    s = task.scenario
    assert s.name == "acme__calc-1"
    assert s.input_context.problem_statement == instance["problem_statement"]
    assert s.reference_output == instance["patch"]
    assert s.environment_parameters.working_directory == "/testbed"
    assert s.environment_parameters.blueprint_id == task.build.name == "swe-acme__calc-1"
    assert {k: v for k, v in s.metadata.items() if k != "swe_bench.hints_text"} == {
        "swe_bench.format": "swe-bench",
        "swe_bench.repo": "acme/calc",
        "swe_bench.instance_id": "acme__calc-1",
        "swe_bench.version": "1.0",
        "swe_bench.base_commit": instance["base_commit"],
        "swe_bench.environment_setup_commit": instance["base_commit"],
        "swe_bench.created_at": "2024-01-02T03:04:05Z",
    }
    assert [(f.name, f.weight) for f in s.scorers] == [("fail_to_pass", 0.5), ("pass_to_pass", 0.5)]
    f2p, p2p = (f.scorer.bash_script for f in s.scorers)
    assert "'tests/test_calc.py::T::test_add'" in f2p and "test_zero" not in f2p
    assert "'tests/test_calc.py::T::test_zero'" in p2p
    assert "$PYTEST -rA" in f2p and "git apply" in f2p
    # test_patch travels only in the scorers, base64 as the payloads of the other importers
    assert "test_add" not in json.dumps(s.input_context.model_dump())
    assert "TEST_PATCH_B64" in f2p and "def test_add" not in f2p
    assert not schema_errors(s.to_dict(), "runloop-scenario.schema.json")


def test_the_context_holds_the_base_commit_alone(repo) -> None:
    repo_dir, instance = repo
    task = swe_bench.load_instance(instance, Path("i.json"), repo_dir=repo_dir, base_image="b:1")
    files = _common.files_of_tar(task.build.context_tar)
    dockerfile = files["Dockerfile"].decode()
    assert dockerfile.startswith("FROM b:1\n") and "WORKDIR /testbed" in dockerfile
    assert f"git reset -q --hard {instance['base_commit']}" in dockerfile
    assert files["repo/shallow"].decode().strip() == instance["base_commit"]
    # the objects are of the base commit only: unpack them and ask git
    scratch = repo_dir.parent / "unpacked"
    git(scratch.parent, "init", "-q", str(scratch))
    for rel, data in files.items():
        if rel.startswith("repo/objects/"):
            target = scratch / ".git" / rel.removeprefix("repo/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (scratch / ".git" / "shallow").write_bytes(files["repo/shallow"])
    git(scratch, "reset", "-q", "--hard", instance["base_commit"])
    assert (scratch / "calc.py").read_text() == BUGGY
    assert "test_add" not in (scratch / "tests" / "test_calc.py").read_text()
    assert git(scratch, "rev-list", "--all").split() == [instance["base_commit"]]
    # the same instance maps to the same context: built once
    again = swe_bench.load_instance(instance, Path("i.json"), repo_dir=repo_dir, base_image="b:1")
    assert again.build.content_hash == task.build.content_hash


def test_a_5x_instance_with_an_image_needs_no_clone(repo) -> None:
    _, instance = repo
    task = swe_bench.load_instance(
        five(instance, image="localhost/swe-acme:1"), Path("i.json"), repo_dir=None
    )
    files = _common.files_of_tar(task.build.context_tar)
    assert files == {"Dockerfile": b"FROM localhost/swe-acme:1\nWORKDIR /testbed\n"}
    s = task.scenario
    assert s.metadata["swe_bench.image"] == "localhost/swe-acme:1"
    assert s.metadata["swe_bench.log_parser"] == "django"
    assert s.metadata["swe_bench.eval_type"] == "pass_and_fail"
    assert any("eval_type" in note for note in task.notes)
    f2p = s.scorers[0].scorer.bash_script
    assert "EVAL_B64=" in f2p and "$PYTEST" not in f2p and " django " in f2p


def test_no_pass_to_pass_is_one_scorer_of_weight_1(repo) -> None:
    repo_dir, instance = repo
    task = swe_bench.load_instance(
        {**instance, "PASS_TO_PASS": "[]"}, Path("i"), repo_dir=repo_dir, base_image="b"
    )
    assert [(f.name, f.weight) for f in task.scenario.scorers] == [("fail_to_pass", 1.0)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_commit": None}, "base_commit"),
        ({"problem_statement": ""}, "problem_statement"),
        ({"FAIL_TO_PASS": "not json"}, "FAIL_TO_PASS"),
        ({"FAIL_TO_PASS": []}, "FAIL_TO_PASS"),
        ({"PASS_TO_PASS": [1]}, "PASS_TO_PASS"),
        ({"base_commit": "abc123"}, "base_commit"),
        ({"base_commit": "0" * 40}, "base_commit"),  # not in the clone
        ({"patch": "just do it"}, "patch"),
        ({"repo": "other/repo"}, "repo"),  # no clone and no image
        ({"log_parser": "parse_log_sympy"}, "log_parser"),
        ({"log_parser": "django"}, "log_parser"),  # without an eval_script
        ({"image_assets": {"problem_statement": []}}, "image_assets"),
    ],
)
def test_refusals_name_the_field(repo, change, field) -> None:
    repo_dir, instance = repo
    data = {k: v for k, v in {**instance, **change}.items() if v is not None}
    assert refused(data, repo_dir).field == field


def test_no_repo_dir_and_no_image_is_refused(repo) -> None:
    _, instance = repo
    problem = refused(instance, None)
    assert problem.field == "repo" and "no --repo-dir" in problem.reason


def test_json_list_and_jsonl_files(repo, tmp_path: Path) -> None:
    repo_dir, instance = repo
    second = {**instance, "instance_id": "acme__calc-2", "FAIL_TO_PASS": ["x::y"]}
    listed = tmp_path / "set.json"
    listed.write_text(json.dumps([instance, five(second)]))
    one = tmp_path / "one.json"
    one.write_text(json.dumps({**instance, "instance_id": "acme__calc-3"}))
    lines = tmp_path / "set.jsonl"
    bad = {**instance, "instance_id": "acme__calc-5", "log_parser": "nope"}
    lines.write_text(
        json.dumps({**instance, "instance_id": "acme__calc-4"})
        + "\n\n"
        + json.dumps(bad)
        + "\n{oops\n"
    )
    report = load("swe-bench", [listed, one, lines], repo_dir=repo_dir)
    names = [t.scenario.name for t in report.tasks]
    assert names == ["acme__calc-1", "acme__calc-2", "acme__calc-3", "acme__calc-4"]
    assert [(p.file.name, p.problem.path) for p in report.problems] == [
        ("set.jsonl", "line 3.log_parser"),
        ("set.jsonl", "line 4"),
    ]
    assert "invalid JSON" in report.problems[1].problem.reason
    # the same instance twice is a name clash
    twice = tmp_path / "twice.jsonl"
    twice.write_text(json.dumps(instance) + "\n" + json.dumps(instance) + "\n")
    report = load("swe-bench", [twice], repo_dir=repo_dir)
    assert [p.problem.path for p in report.problems] == ["name"]


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbench", *argv], capture_output=True, text=True, timeout=120
    )


def test_the_cli_refuses_with_exit_2_and_stores_nothing(repo, tmp_path: Path) -> None:
    repo_dir, instance = repo
    path = tmp_path / "set.jsonl"
    path.write_text(
        json.dumps(instance) + "\n" + json.dumps({**instance, "instance_id": "b", "repo": "x/y"})
    )
    result = cli("scenarios", "import", "--format", "swe-bench", "--repo-dir", str(repo_dir),
                 str(path))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "line 2.repo" in result.stderr and "nothing imported" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("scenarios", "list", "--json").stdout)["scenarios"] == []
    checked = cli("scenarios", "validate", "--format", "swe-bench", "--repo-dir", str(repo_dir),
                  "--json", str(path))  # fmt: skip
    assert checked.returncode == 2
    body = json.loads(checked.stdout)
    assert [t["name"] for t in body["tasks"]] == ["acme__calc-1"]
    assert body["problems"][0]["path"] == "line 2.repo"
    # --repo-dir belongs to swe-bench only
    wrong = cli(
        "scenarios", "validate", "--format", "harbor", "--repo-dir", str(repo_dir), str(path)
    )
    assert wrong.returncode == 2 and "--repo-dir is for --format swe-bench" in wrong.stderr
