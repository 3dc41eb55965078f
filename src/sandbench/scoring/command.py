"""``command_scorer``: run ``command`` through the sandbox's shell (bash, else sh) from the
working directory; exit 0 scores 1.0, any other exit 0.0. No command is a scorer error.

The exit code is kept. 126/127 (not executable / not found) still score 0.0, as the
schema says, with a note in the details because it usually means a broken scorer
rather than a failed solution.
"""

from __future__ import annotations

from sandbench.model.runs import ScorerState
from sandbench.model.scenario import CommandScorer
from sandbench.scoring._common import Clock, guarded
from sandbench.scoring.base import ScorerContext, ScorerOutcome

_SHELL_NOTES = {
    126: "exit 126: the command was found but could not be executed",
    127: "exit 127: command not found in the sandbox",
}


@guarded
def score(spec: CommandScorer, ctx: ScorerContext) -> ScorerOutcome:
    if spec.command is None or not spec.command.strip():
        return ScorerOutcome.error("command_scorer has no command to run")
    result = Clock(ctx).exec(spec.command)
    details: dict[str, object] = {}
    if result.exit_code in _SHELL_NOTES:
        details["note"] = _SHELL_NOTES[result.exit_code]
    return ScorerOutcome(
        ScorerState.COMPLETE, 1.0 if result.exit_code == 0 else 0.0, result.exit_code, details
    )
