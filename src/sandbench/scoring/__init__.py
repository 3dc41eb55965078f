"""Scorers: each runs inside the sandbox through a ``ScorerContext`` and returns a
``ScorerOutcome`` (see ``base``). One module per scorer type; ``run_scorer`` dispatches.

The context's ``exec`` must run commands in ``ctx.workdir`` (the runner binds it to
``Engine.exec(sandbox_id, ..., workdir=...)``). Every scorer keeps to one deadline of
``ctx.timeout`` seconds over all the execs it makes (timed out -> state ``timeout``, its
processes killed by the engine) and streams output through ``ctx.on_output``. Errors
raised by ``exec`` / ``write_file`` (the engine failing, the sandbox gone) propagate:
they fail the run and are never turned into a score or a scorer error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbench.model.scenario import ScorerSpec
from sandbench.scoring import ast_grep, bash_script, command, custom, python_script, test_based
from sandbench.scoring.base import Exec, ScorerContext, ScorerOutcome, parse_score

SCORERS: dict[str, Callable[[Any, ScorerContext], ScorerOutcome]] = {
    "ast_grep_scorer": ast_grep.score,
    "bash_script_scorer": bash_script.score,
    "command_scorer": command.score,
    "custom_scorer": custom.score,
    "python_script_scorer": python_script.score,
    "test_based_scorer": test_based.score,
}


def run_scorer(spec: ScorerSpec, ctx: ScorerContext) -> ScorerOutcome:
    """Score with ``spec`` (one of the scenario's scorer models) in ``ctx``'s sandbox."""
    kind = getattr(spec, "type", None)
    scorer = SCORERS.get(kind) if isinstance(kind, str) else None
    if scorer is None:
        return ScorerOutcome.error(f"unknown scorer type {kind!r}")
    return scorer(spec, ctx)


__all__ = [
    "SCORERS",
    "Exec",
    "ScorerContext",
    "ScorerOutcome",
    "parse_score",
    "run_scorer",
]
