"""SWE-bench instances on real Podman, from a tiny local repository (no network): imported
with --repo-dir, the reference patch resolves the instance (1.0), the baseline does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine_support import require_podman, sandbench
from tests.importers.test_import_podman import check, imported, no_sandboxes_left  # noqa: F401
from tests.importers.test_swe_bench import five, make_repo

pytestmark = [pytest.mark.podman, pytest.mark.slow]


def test_classic_and_5x_instances_check(tmp_path: Path) -> None:
    require_podman()
    repo_dir, instance = make_repo(tmp_path / "clones", vendor_pytest=True)
    classic = tmp_path / "classic.json"
    classic.write_text(json.dumps(instance))
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps(five({**instance, "instance_id": "acme__calc-5x"})) + "\n")
    rows = imported("--format", "swe-bench", "--repo-dir", str(repo_dir), str(classic), str(newer))
    assert [r["name"] for r in rows] == ["acme__calc-1", "acme__calc-5x"]
    for name in ("acme__calc-1", "acme__calc-5x"):
        report = check(name)
        assert report["forward"]["score"] == 1.0, report
        # the baseline: FAIL_TO_PASS fails, PASS_TO_PASS still passes
        assert report["reverse"]["score"] == 0.5, report
        assert report["ok"] is True
    again = imported("--format", "swe-bench", "--repo-dir", str(repo_dir), str(classic))
    assert again[0]["action"] == "unchanged"


def test_the_agent_sees_neither_the_tests_nor_later_commits(tmp_path: Path) -> None:
    require_podman()
    repo_dir, instance = make_repo(tmp_path / "clones", vendor_pytest=True)
    path = tmp_path / "one.json"
    path.write_text(json.dumps(instance))
    imported("--format", "swe-bench", "--repo-dir", str(repo_dir), str(path))
    probe = (
        "cd /testbed && ! grep -rq test_add tests && test $(git rev-list --all | wc -l) = 1"
        " && sed -i s/-/+/ calc.py"  # the fix: calc.py's only '-' is the bug
    )
    agent = f'$SANDBENCH sandboxes exec "$SANDBENCH_SANDBOX_ID" -- sh -c {probe!r}'
    result = sandbench("run", "acme__calc-1", "--agent", agent, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["score"] == 1.0
