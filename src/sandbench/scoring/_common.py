"""Helpers the scorer modules share: one deadline per scorer, a private scratch directory
in the sandbox, and reading a script's score.

Everything goes through ``ScorerContext.exec`` / ``write_file``. Exceptions they raise
(engine errors: the sandbox is gone, Podman failed) are never caught here: they are
infrastructure failures and fail the run.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from sandbench.engine.execs import ExecResult, OutputCallback
from sandbench.model.runs import ScorerState
from sandbench.scoring.base import ScorerContext, ScorerOutcome, parse_score

Spec = TypeVar("Spec")
SCRATCH_PREFIX = "/tmp/sandbench-scorer-"
CLEANUP_TIMEOUT = 30.0


class TimedOut(Exception):
    """The scorer's time ran out (inside an exec, or before the next one could start)."""


class Clock:
    """One ``scorer_timeout_sec`` for the whole scorer, however many execs it takes."""

    def __init__(self, ctx: ScorerContext) -> None:
        self.ctx = ctx
        self.deadline = time.monotonic() + ctx.timeout

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def exec(
        self,
        command: str | list[str],
        *,
        env: dict[str, str] | None = None,
        stream: bool | OutputCallback = True,
    ) -> ExecResult:
        """Run ``command`` with what is left of the timeout. ``stream``: True sends the
        output to ``ctx.on_output``, False keeps it private (machine-read probes), or a
        callback of its own. Raises ``TimedOut``; engine errors propagate."""
        left = self.remaining()
        if left <= 0:
            raise TimedOut
        if stream is True:
            on_output: OutputCallback | None = self.ctx.on_output
        elif stream is False:
            on_output = None
        else:
            on_output = stream
        result = self.ctx.exec(command, env=env, timeout=left, on_output=on_output)
        if result.timed_out:
            raise TimedOut
        return result


def guarded(
    score: Callable[[Spec, ScorerContext], ScorerOutcome],
) -> Callable[[Spec, ScorerContext], ScorerOutcome]:
    """Turn ``TimedOut`` into the timeout outcome; let everything else through."""

    @functools.wraps(score)
    def wrapper(spec: Spec, ctx: ScorerContext) -> ScorerOutcome:
        try:
            return score(spec, ctx)
        except TimedOut:
            return ScorerOutcome.timed_out(ctx.timeout)

    return wrapper


def note(ctx: ScorerContext, message: str) -> None:
    """A line of sandbench's own in the scorer's output (stderr, so it never reads as a score)."""
    ctx.on_output("stderr", f"[sandbench] {message}\n")


def tail(text: str, lines: int = 20, chars: int = 2000) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


@contextlib.contextmanager
def scratch(clock: Clock, setup: str = "") -> Iterator[tuple[str, ExecResult]]:
    """A private directory for the scorer's files (mode 700, made by the sandbox's user so
    that user can remove it), removed afterwards. ``setup``: more shell to run in the same
    exec, after the directory exists (``$1`` is the directory); its result is yielded.
    Exits 90 when the directory cannot be made."""
    directory = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    script = 'mkdir -m 700 -p "$1" || exit 90\n' + setup
    result = clock.exec(["sh", "-c", script, "sandbench", directory], stream=False)
    try:
        yield directory, result
    finally:
        # Best effort: the score is already known; a failing cleanup must not change it.
        with contextlib.suppress(Exception):
            clock.ctx.exec(["rm", "-rf", directory], timeout=CLEANUP_TIMEOUT)


def scratch_failed(result: ExecResult) -> ScorerOutcome | None:
    if result.exit_code == 90:
        return ScorerOutcome.error(
            f"cannot create a scratch directory under /tmp in the sandbox: {tail(result.output)}",
            exit_code=result.exit_code,
        )
    return None


def score_from_stdout(result: ExecResult, what: str) -> ScorerOutcome:
    """The bash-scorer rule: the last non-empty stdout line is the score.

    The score line is the verdict. A script that prints a valid score and then exits
    non-zero keeps its score (many scorers exit 1 to flag "not fully passed" while still
    printing a partial score); the exit code is kept and a warning says so. Without a
    valid score line the outcome is an error, whatever the exit code.
    """
    score, why = parse_score(result.stdout)
    if score is None:
        if result.exit_code != 0:
            why = f"{why} (the {what} exited {result.exit_code})"
        return ScorerOutcome.error(why, exit_code=result.exit_code)
    details: dict[str, object] = {}
    if result.exit_code != 0:
        details["warning"] = (
            f"the {what} exited {result.exit_code} after printing its score; the score stands"
        )
    return ScorerOutcome(ScorerState.COMPLETE, score, result.exit_code, details)
