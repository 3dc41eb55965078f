"""An interactive solution gets the user's terminal from its caller (real Podman): the CLI
hands over its own (it must be a terminal), a full-screen caller steps aside first."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from sandbench.engine import Engine
from sandbench.model.runs import RunState, Solution
from sandbench.runner import Runner
from sandbench.store import Store
from tests.engine_support import bash, make
from tests.tui.support import store_scenarios

pytestmark = pytest.mark.podman

ANSWER = make(
    "answer", [bash("answer", 1.0, "grep -qx 42 answer.txt && echo score=1 || echo score=0")]
)


def test_the_callers_hand_over_runs_the_shell(
    store: Store, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_scenarios(store, ANSWER)
    handed: list[str] = []

    def shell(sandbox_id: str) -> int:  # the user, solving it in the shell
        engine.exec(sandbox_id, "echo 42 > answer.txt")
        return 7

    def hand_over(what: str, program: Callable[[], int]) -> int:
        handed.append(what)
        return program()

    monkeypatch.setattr(engine, "shell", shell)
    run = Runner(store, engine).run(
        "answer", solution=Solution.INTERACTIVE, hand_over=hand_over, keep_sandbox=False
    )
    assert run.state == RunState.COMPLETED and run.score == pytest.approx(1.0)
    assert handed == [f"a shell in sandbox {run.sandbox_id}; exit it to score"]
    assert '"shell_exit_code": 7' in (store.run_extras(run.id)["solution_detail"] or "")


def test_without_a_terminal_the_default_hand_over_fails_the_run(
    store: Store, engine: Engine
) -> None:
    if sys.stdin.isatty():
        pytest.skip("stdin is a terminal here (pytest -s in a terminal)")
    store_scenarios(store, ANSWER)
    run = Runner(store, engine).run("answer", solution=Solution.INTERACTIVE, keep_sandbox=False)
    assert run.state == RunState.FAILED and run.score is None
    assert "needs a terminal" in (run.failure_reason or "")
