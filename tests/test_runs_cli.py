"""`sandbench run`, `runs …`, `scenarios check`, `benchmarks run`, `scorers …` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import schema_errors
from tests.engine_support import in_terminal, require_podman, sandbench
from tests.test_runner import ANSWER, bash, make

pytestmark = pytest.mark.podman


@pytest.fixture(autouse=True)
def remove_kept_sandboxes() -> Iterator[None]:
    """`sandbench run` keeps the run's sandbox for reruns; tests remove theirs."""
    yield
    live = json.loads(sandbench("sandboxes", "list", "--json").stdout or "[]")
    if live:
        sandbench("sandboxes", "rm", *[s["id"] for s in live])


@pytest.fixture
def answer(tmp_path: Path) -> str:
    require_podman()
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(ANSWER))
    assert sandbench("scenarios", "import", str(path)).returncode == 0
    return "answer"


def test_run_streams_output_then_prints_the_breakdown(answer: str) -> None:
    result = sandbench("run", answer)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "── exists (command_scorer, weight 0.25)" in out
    assert "── correct (bash_script_scorer, weight 0.75)" in out
    assert "correct      │ score=1" in out
    assert "TOTAL 1.000" in out and "completed" in out
    lines = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith(("exists ", "correct "))
    }
    assert "0.250" in lines["exists"] and "0.750" in lines["correct"]  # contributions
    baseline = sandbench("run", answer, "--solution", "baseline", "--json")
    run = json.loads(baseline.stdout)
    assert run["state"] == "completed" and run["score"] == 0.0


def test_runs_list_show_rerun_export(answer: str) -> None:
    run = json.loads(sandbench("run", answer, "--json").stdout)
    listed = json.loads(sandbench("runs", "list", "--json").stdout)
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    shown = sandbench("runs", "show", run["id"])
    assert "── correct (attempt 1, complete)" in shown.stdout and "score=1" in shown.stdout
    rerun = json.loads(
        sandbench("runs", "rerun", run["id"], "--scorer", "correct", "--json").stdout
    )
    attempts = sorted(r["attempt"] for r in rerun["scorer_results"] if r["name"] == "correct")
    assert attempts == [1, 2] and rerun["score"] == 1.0
    bad = sandbench("runs", "rerun", run["id"], "--scorer", "nope")
    assert bad.returncode == 2 and "no scorer 'nope'" in bad.stderr
    exported = sandbench("runs", "export", run["id"]).stdout.splitlines()
    records = [json.loads(line) for line in exported]
    assert [r["scorer"]["name"] for r in records] == ["exists", "correct"]
    assert all(schema_errors(r, "eval-run.structure.json") == [] for r in records)
    sandbench("sandboxes", "rm", run["sandbox_id"])


def test_check_passes_and_fails_with_exit_codes(answer: str, tmp_path: Path) -> None:
    ok = sandbench("scenarios", "check", answer)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "FORWARD  reference total 1.000" in ok.stdout and ": ok" in ok.stdout
    blind = make("blind", [bash("always", 1.0, "echo score=1")])
    (tmp_path / "blind.json").write_text(json.dumps(blind))
    sandbench("scenarios", "import", str(tmp_path / "blind.json"))
    failed = sandbench("scenarios", "check", "blind", "--json")
    report = json.loads(failed.stdout)
    assert failed.returncode == 1 and report["forward"]["ok"] and not report["reverse"]["ok"]
    assert "does not separate" in report["scorers"][0]["problem"]


def test_benchmark_run_and_its_exports(answer: str) -> None:
    sandbench("benchmarks", "create", "one", "--scenario", answer)
    first = sandbench("benchmarks", "run", "one", "-j", "2")
    assert first.returncode == 0 and "score 1.000" in first.stdout and "ok 1/1" in first.stdout
    second = json.loads(sandbench("benchmarks", "run", "one", "--json").stdout)
    assert second["cache_hit_cases"] == 1 and second["state"] == "completed"
    exported = json.loads(
        sandbench(
            "runs", "export", "--benchmark-run", second["id"], "--format", "benchmark-run-json"
        ).stdout
    )
    assert schema_errors(exported, "runloop-benchmark-run.schema.json") == []
    runs = sandbench("benchmarks", "runs", "one")
    assert second["id"] in runs.stdout
    filtered = sandbench("benchmarks", "run", "one", "--filter", "nope")
    assert filtered.returncode == 2 and "nope" in filtered.stderr


def test_custom_scorer_registered_from_the_cli(tmp_path: Path) -> None:
    require_podman()
    script = tmp_path / "answer-is.sh"
    script.write_text(
        'want=$(printf %s "$RL_SCORER_CONTEXT" | python3 -c'
        " \"import json,sys; print(json.load(sys.stdin)['want'])\")\n"
        'grep -qx "$want" answer.txt && echo score=1 || echo score=0\n'
    )
    assert sandbench("scorers", "register", "answer-is", "--script", str(script)).returncode == 0
    listed = json.loads(sandbench("scorers", "list", "--json").stdout)
    assert [s["type"] for s in listed] == ["answer-is"]
    custom = make(
        "custom",
        [
            {
                "name": "is42",
                "weight": 1.0,
                "scorer": {
                    "type": "custom_scorer",
                    "custom_scorer_type": "answer-is",
                    "scorer_params": {"want": "42"},
                },
            }
        ],
    )
    (tmp_path / "custom.json").write_text(json.dumps(custom))
    sandbench("scenarios", "import", str(tmp_path / "custom.json"))
    run = json.loads(sandbench("run", "custom", "--json").stdout)
    assert run["score"] == 1.0, run
    sandbench("sandboxes", "rm", run["sandbox_id"])


def test_bad_run_input_is_a_message(answer: str, tmp_path: Path) -> None:
    no_agent = sandbench("run", answer, "--solution", "agent")
    assert no_agent.returncode == 2 and "--agent" in no_agent.stderr
    needs = make(
        "needs-env", [bash("x", 1.0, "echo score=1")], required_environment_variables=["SOME_URL"]
    )
    (tmp_path / "needs.json").write_text(json.dumps(needs))
    sandbench("scenarios", "import", str(tmp_path / "needs.json"))
    env = {k: v for k, v in os.environ.items() if k != "SOME_URL"}
    missing = subprocess.run(
        [sys.executable, "-m", "sandbench", "run", "needs-env"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert missing.returncode == 2 and "SOME_URL" in missing.stderr
    given = sandbench("run", "needs-env", "--env", "SOME_URL=http://x.test", "--json")
    assert json.loads(given.stdout)["state"] == "completed"
    unknown = sandbench("run", "no-such-scenario")
    assert unknown.returncode == 1 and "no scenario" in unknown.stderr


def test_interactive_solution_scores_what_the_user_did_in_the_shell(answer: str) -> None:
    typed: list[bytes] = []

    def reply(screen: bytes) -> bytes | None:
        if typed or b"exit it to score" not in screen:
            return None
        time.sleep(1)  # let the shell start reading its terminal
        typed.append(b"echo 42 > answer.txt; exit\n")
        return typed[0]

    output, code = in_terminal("run", answer, "--solution", "interactive", reply=reply)
    assert typed, output.decode(errors="replace")
    assert code == 0, output.decode(errors="replace")
    assert b"TOTAL 1.000" in output
