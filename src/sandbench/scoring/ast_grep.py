"""``ast_grep_scorer``: ``ast-grep run --pattern=P [--lang=L] --json=stream -- DIR`` from the
working directory. Any match scores 1.0, none 0.0.

Pattern escaping. The schema says Runloop passes the pattern on a command line inside
double quotes, so authors escape for that (``print(\\$A)``, ``\\$\\$\\$``). Here the
pattern is a single argv element (no shell), so the double-quote escapes are undone
first, exactly as bash would inside "...": a backslash before ``$``, a backtick, ``"``
or ``\\`` is dropped (backslash-newline disappears); every other backslash stays. A
pattern written for Runloop therefore means the same here. An unescaped ``$A`` is kept
as it is (Runloop's shell would have expanded it to nothing, which no author wants).

Matches (file, 1-based line and column, matched text; the first 100) are kept in
``details["matches"]`` with ``details["match_count"]``, and streamed to the output as
readable ``file:line: text`` lines as ast-grep finds them (its raw JSON is not shown).

Errors rather than a score: ast-grep missing from the image, a ``search_directory``
that does not exist, ast-grep exiting with an error (unknown language, empty or
unparsable pattern: exit 2, 8, ...), and "no match" when ast-grep also reported that
it could not read part of the tree (``ERROR:`` lines) or that the pattern does not
parse as code (``Pattern contains an ERROR node``): a 0.0 from a search that did not
really run would be a silent false negative. With at least one match those warnings
are kept in ``details["warnings"]`` and the score is 1.0. As ast-grep does by default,
files ignored by .gitignore and hidden files are not searched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sandbench.model.runs import ScorerState
from sandbench.model.scenario import AstGrepScorer
from sandbench.scoring._common import Clock, guarded, note, tail
from sandbench.scoring.base import ScorerContext, ScorerOutcome

MAX_MATCHES = 100  # kept in details and printed
_NO_AST_GREP = 212
_NO_DIRECTORY = 211
_WRAPPER = f"""\
dir=$1; shift
if ! command -v ast-grep >/dev/null 2>&1; then
  echo "ast-grep is not installed in the sandbox (not on PATH)" >&2; exit {_NO_AST_GREP}
fi
if [ ! -e "$dir" ]; then
  echo "search_directory $dir does not exist (in $(pwd))" >&2; exit {_NO_DIRECTORY}
fi
exec ast-grep "$@" -- "$dir"
"""
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\([$`"\\\n])')


def unescape_pattern(pattern: str) -> str:
    """Undo bash's double-quote escapes: ``\\$`` -> ``$``, ``\\"`` -> ``"``, ``\\\\`` -> ``\\``,
    ``\\``` -> `````; backslash-newline vanishes; other backslashes stay."""
    return _DOUBLE_QUOTE_ESCAPE.sub(lambda m: "" if m[1] == "\n" else m[1], pattern)


class _MatchStream:
    """Turns ast-grep's JSON lines into readable lines as they arrive; keeps the matches."""

    def __init__(self, ctx: ScorerContext) -> None:
        self.ctx = ctx
        self.pending = ""
        self.count = 0
        self.matches: list[dict[str, Any]] = []

    def __call__(self, stream: str, text: str) -> None:
        if stream != "stdout":
            self.ctx.on_output(stream, text)
            return
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._line(line)

    def finish(self) -> None:
        if self.pending.strip():
            self._line(self.pending)
        self.pending = ""

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        try:
            item = json.loads(line)
            start = item["range"]["start"]
            match = {
                "file": str(item["file"]),
                "line": int(start["line"]) + 1,
                "column": int(start["column"]) + 1,
                "text": str(item["text"])[:500],
            }
        except (ValueError, KeyError, TypeError):
            self.ctx.on_output("stdout", line + "\n")  # not a match: shown as it is
            return
        self.count += 1
        if self.count <= MAX_MATCHES:
            self.matches.append(match)
            first = match["text"].splitlines()[0] if match["text"] else ""
            more = " …" if "\n" in match["text"] else ""
            self.ctx.on_output("stdout", f"{match['file']}:{match['line']}: {first}{more}\n")


def _problems(stderr: str) -> list[str]:
    lines = [line.strip() for line in stderr.splitlines()]
    return [
        line
        for line in lines
        if line.startswith(("ERROR:", "Error:")) or "Pattern contains an ERROR node" in line
    ]


@guarded
def score(spec: AstGrepScorer, ctx: ScorerContext) -> ScorerOutcome:
    pattern = unescape_pattern(spec.pattern)
    if not pattern.strip():
        return ScorerOutcome.error("ast_grep_scorer has an empty pattern")
    args = ["run", f"--pattern={pattern}"]
    if spec.lang:
        args.append(f"--lang={spec.lang}")
    args.append("--json=stream")
    command = ["sh", "-c", _WRAPPER, "sandbench", spec.search_directory, *args]
    matches = _MatchStream(ctx)
    result = Clock(ctx).exec(command, stream=matches)
    matches.finish()
    base: dict[str, Any] = {"pattern": pattern, "search_directory": spec.search_directory}
    if spec.lang:
        base["lang"] = spec.lang
    if result.exit_code in (_NO_AST_GREP, _NO_DIRECTORY):
        return ScorerOutcome.error(tail(result.stderr), exit_code=result.exit_code, **base)
    problems = _problems(result.stderr)
    if result.exit_code not in (0, 1):  # 0.36 exits 0 with or without matches; 1 = none
        reason = tail(result.stderr) or tail(result.stdout) or "no output"
        return ScorerOutcome.error(
            f"ast-grep failed (exit {result.exit_code}): {reason}",
            exit_code=result.exit_code,
            **base,
        )
    details: dict[str, Any] = {
        **base,
        "match_count": matches.count,
        "matches": matches.matches,
    }
    if problems:
        details["warnings"] = problems[:20]
    if matches.count == 0 and problems:
        return ScorerOutcome.error(
            "ast-grep found no match but reported problems, so the search may not have run"
            f" as written: {'; '.join(problems[:5])}",
            exit_code=result.exit_code,
            **details,
        )
    if matches.count > MAX_MATCHES:
        note(ctx, f"… and {matches.count - MAX_MATCHES} more matches (first {MAX_MATCHES} kept)")
    note(
        ctx,
        f"ast-grep: {matches.count} match{'es' if matches.count != 1 else ''}"
        f" for {pattern!r} in {spec.search_directory}",
    )
    return ScorerOutcome(
        ScorerState.COMPLETE, 1.0 if matches.count else 0.0, result.exit_code, details
    )
