"""``bash_script_scorer``: the script is written to a private scratch directory in the
sandbox (``/tmp/sandbench-scorer-<id>/scorer.sh``, removed afterwards) and run with
``bash`` from the working directory. The last non-empty stdout line is the score:
``score=X`` or a bare X in [0, 1]. Anything else (nothing printed, ``done``, 1.5, -0.1,
nan) is a scorer error whose reason names the offending line; the output itself is kept
by the runner, which records everything streamed through ``ctx.on_output``.

Exit code: the score line is the verdict. A script that prints a valid score and then
exits non-zero keeps that score: scorers often exit 1 to flag "not everything passed"
while printing a partial score, and the design reads only the score line. The exit code
is recorded in the outcome and ``details["warning"]`` says the score stood despite it.
A non-zero exit without a valid score line is an error (naming the exit code).
"""

from __future__ import annotations

from sandbench.model.scenario import BashScriptScorer
from sandbench.scoring._common import Clock, guarded, score_from_stdout, scratch, scratch_failed
from sandbench.scoring.base import ScorerContext, ScorerOutcome


def run_bash(
    ctx: ScorerContext, script: str, *, env: dict[str, str] | None = None, what: str = "script"
) -> ScorerOutcome:
    """Write ``script`` to the sandbox, run it with bash, read its score (also custom_scorer)."""
    clock = Clock(ctx)
    with scratch(clock) as (directory, made):
        if (failed := scratch_failed(made)) is not None:
            return failed
        path = f"{directory}/scorer.sh"
        ctx.write_file(path, script)
        result = clock.exec(["bash", path], env=env)
        if result.exit_code == 127 and "executable file not found" in result.stderr:
            return ScorerOutcome.error(
                "bash is not installed in the sandbox; bash scorers need it",
                exit_code=result.exit_code,
            )
        return score_from_stdout(result, what)


@guarded
def score(spec: BashScriptScorer, ctx: ScorerContext) -> ScorerOutcome:
    if spec.bash_script is None or not spec.bash_script.strip():
        return ScorerOutcome.error("bash_script_scorer has no bash_script to run")
    return run_bash(ctx, spec.bash_script, what="bash script")
