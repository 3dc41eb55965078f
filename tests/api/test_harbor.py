"""Harbor 0.25.0 (.venv-harbor) runs a task through its `runloop` environment on `sandbench serve`.

One trial is, from the command line (Harbor never takes a base URL, only the environment):

    RUNLOOP_BASE_URL=http://127.0.0.1:PORT RUNLOOP_API_KEY=TOKEN HARBOR_TELEMETRY=0 \\
        .venv-harbor/bin/harbor trial start --path tests/api/harbor_task \\
        --agent oracle --env runloop --trials-dir DIR --trial-name NAME

Harbor exits 0 whether or not the trial worked; the outcome is DIR/NAME/result.json
(`verifier_result.rewards.reward`, or `exception_info`), its log DIR/NAME/trial.log, and
the verifier's files (reward.txt, test-stdout.txt) under DIR/NAME/verifier/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.engine_support import need, require_podman

HARBOR = ROOT / ".venv-harbor" / "bin" / "harbor"
TASK = ROOT / "tests" / "api" / "harbor_task"
TRIAL_TIMEOUT = 900  # seconds; Harbor retries a failing request up to 100 times


def require_harbor() -> None:
    need(HARBOR.is_file(), f"{HARBOR.relative_to(ROOT)} is missing (scripts/setup.sh makes it)")
    version = subprocess.run(
        [str(HARBOR.parent / "python"), "-c", "import harbor; print(harbor.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    need(version.stdout.strip() == "0.25.0", f"Harbor is {version.stdout or version.stderr!r}")


def tail(path: Path, lines: int = 30, width: int = 400) -> str:
    if not path.is_file():
        return f"({path.name}: none)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(line[:width] for line in text)


HTTP_LINE = re.compile(r'HTTP Request: (\S+) (\S+) "HTTP/[\d.]+ (\d+)')


def requests_seen(log: Path) -> str:
    """What the SDK sent (RUNLOOP_LOG=debug): the failed requests, then the last ones."""
    if not log.is_file():
        return "(no log)"
    seen = [m.groups() for m in HTTP_LINE.finditer(log.read_text(errors="replace"))]
    # a 408 is a long-poll's "not yet" (wait_for_status), not a failure
    failed = [f"{m} {u} -> {s}" for m, u, s in seen if int(s) >= 400 and s != "408"]
    last = [f"{m} {u} -> {s}" for m, u, s in seen[-12:]]
    return f"{len(seen)} requests; failed: {failed or 'none'}\nlast:\n  " + "\n  ".join(last)


def explain(trials: Path, name: str) -> str:
    trial = trials / name
    return (
        f"--- requests\n{requests_seen(trials / f'{name}.harbor.log')}\n"
        f"--- agent/oracle.txt\n{tail(trial / 'agent' / 'oracle.txt', 10)}\n"
        f"--- verifier/test-stdout.txt\n{tail(trial / 'verifier' / 'test-stdout.txt', 10)}\n"
        f"--- exception.txt\n{tail(trial / 'exception.txt', 8)}\n"
        f"(full log: {trials / f'{name}.harbor.log'})"
    )


def run_trial(api_server: Any, task: Path, trials: Path, name: str) -> dict[str, Any]:
    """One `harbor trial start`; its result.json, or a failure that says what went wrong."""
    env = {
        **api_server.client_env(),
        "HARBOR_TELEMETRY": "0",  # no phoning home from tests
        "RUNLOOP_LOG": "debug",  # every request and response of the SDK in harbor.log
    }
    log = trials / f"{name}.harbor.log"
    argv = [
        str(HARBOR),
        "trial",
        "start",
        "--path",
        str(task),
        "--agent",
        "oracle",
        "--env",
        "runloop",
        "--trials-dir",
        str(trials),
        "--trial-name",
        name,
    ]
    trials.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=TRIAL_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(
                f"harbor trial {name} still running after {TRIAL_TIMEOUT}s\n{explain(trials, name)}"
            )
    trial_dir = trials / name
    result_path = trial_dir / "result.json"
    assert process.returncode == 0, f"harbor exited {process.returncode}\n{tail(log)}"
    assert result_path.is_file(), f"no {result_path}\n{tail(log)}"
    result: dict[str, Any] = json.loads(result_path.read_text())
    error = result.get("exception_info")
    assert error is None, (
        f"trial {name} failed: {error['exception_type']}: {error['exception_message']}\n"
        f"{explain(trials, name)}"
    )
    return result


def reward(result: dict[str, Any]) -> float:
    rewards = (result.get("verifier_result") or {}).get("rewards")
    assert rewards and "reward" in rewards, f"no reward in {result.get('verifier_result')}"
    return float(rewards["reward"])


@pytest.mark.slow
@pytest.mark.podman
def test_harbor_oracle_trial_through_runloop_environment(api_server: Any, tmp_path: Path) -> None:
    require_harbor()
    require_podman()
    trials = tmp_path / "trials"

    solved = run_trial(api_server, TASK, trials, "oracle")
    assert reward(solved) == 1.0, explain(trials, "oracle")
    assert (trials / "oracle" / "verifier" / "reward.txt").read_text().strip() == "1"

    # The same task (same name, so Harbor reuses the blueprint it built) with a
    # solution that does nothing: the verifier runs and says 0.
    unsolved = tmp_path / "unsolved" / TASK.name
    shutil.copytree(TASK, unsolved)
    (unsolved / "solution" / "solve.sh").write_text("#!/bin/bash\nexit 0\n")
    result = run_trial(api_server, unsolved, trials, "nop")
    assert reward(result) == 0.0, explain(trials, "nop")
    assert (trials / "nop" / "verifier" / "reward.txt").read_text().strip() == "0"
