"""What every scorer gets and returns.

A scorer runs inside the sandbox, from the scenario's working directory, under the
scenario's ``scorer_timeout_sec``; its output streams to ``ScorerContext.on_output`` as it
comes. Scorers never talk to Podman: they only use the context's ``exec`` and
``write_file``, which the runner binds to the engine (so tests and the TUI see the same
behaviour). A scorer that cannot read a score returns ``error``, never a score of 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbench.engine.execs import ExecResult, OutputCallback
from sandbench.model.runs import ScorerState


class Exec(Protocol):
    def __call__(
        self,
        command: str | list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> ExecResult: ...


@dataclass
class ScorerContext:
    exec: Exec  # runs in the sandbox's working directory
    write_file: Callable[[str, str], None]  # (path relative to workdir or absolute, text)
    workdir: str
    timeout: float
    on_output: OutputCallback
    custom_script: Callable[[str], str]  # custom_scorer_type -> bash script (raises NotFound)


@dataclass
class ScorerOutcome:
    state: ScorerState
    score: float | None = None
    exit_code: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, reason: str, exit_code: int | None = None, **details: Any) -> ScorerOutcome:
        return cls(ScorerState.ERROR, None, exit_code, {"reason": reason, **details})

    @classmethod
    def timed_out(cls, timeout: float) -> ScorerOutcome:
        return cls(ScorerState.TIMEOUT, None, None, {"reason": f"killed after {timeout:g}s"})


_SCORE_LINE = re.compile(
    r"^\s*(?:score\s*=\s*)?(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$",
    re.IGNORECASE,  # SCORE=1 is as clear as score=1
)


def parse_score(stdout: str) -> tuple[float | None, str]:
    """The score on the last non-empty stdout line (``score=X`` or a bare X in [0, 1]).

    Returns (score, "") or (None, why not).
    """
    end = len(stdout.rstrip())
    if end == 0:
        return None, "the scorer printed nothing; its last line must be score=X (0..1)"
    # only the tail: a scorer may print a million lines before its score
    last = stdout[max(0, end - 4096) : end].splitlines()[-1].strip()
    match = _SCORE_LINE.match(last)
    if match is None:
        return None, f"the last line {last[:80]!r} is not score=X or a number"
    value = float(match["value"])
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        return None, f"score {match['value']} is outside [0, 1]"
    return value, ""
