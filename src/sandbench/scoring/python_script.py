"""``python_script_scorer``: run ``python_script`` with a Python matching
``python_version_constraint``, with ``requirements_contents`` installed in an isolated
environment; the last non-empty stdout line is the score, read exactly as for
``bash_script_scorer`` (same exit-code policy: a valid score line stands even after a
non-zero exit, which is recorded with a warning).

Choosing the interpreter (``details["python"]``, ``details["python_version"]``):

- Constraint unset: the sandbox's ``python3`` (the first on PATH). The schema's
  "default ==3.12.10" is Runloop's platform default, not something a local image can be
  assumed to have, so an unset constraint never triggers a download.
- Constraint set: ``python3`` if it satisfies it, else any other ``python3.X`` /
  ``python`` on PATH that does. The constraint is a PEP 440 specifier list
  (``==3.12.10``, ``>=3.11,<3.13``, ``~=3.11``, ``==3.12.*``) or a bare version
  (``3.12``). As in uv, ``==3.12`` and ``3.12`` mean any 3.12.x.
- Nothing on PATH matches: if the sandbox has ``uv``, ``uv python find`` then
  ``uv python install`` (which downloads, so it needs the network and honours
  ``UV_PYTHON_DOWNLOADS``). Otherwise, or if uv cannot provide one, the scorer errors,
  naming the constraint and the versions the sandbox has.

Isolation: with non-empty ``requirements_contents`` the script runs in a virtual
environment of its own, without the system site-packages (so it sees exactly the
stdlib plus its requirements, never what the agent installed), made with
``uv venv`` + ``uv pip install -r`` where uv exists, else ``python -m venv`` + pip. The
environment lives under ``/tmp/sandbench-pyenvs/<hash>`` in the sandbox, keyed by the
interpreter and the requirements text, so rerunning a scorer in the same sandbox
reuses it (``details["environment_reused"]``); a lock serialises concurrent builds. Its
install output is streamed like the script's. A failed install is a scorer error. The
install runs from the working directory like everything else, so relative entries
(``-e .``, ``./pkg``) mean the project; note that a cached environment is not rebuilt
when a non-editable local path changes (use ``-e`` for code the agent edits). Without
requirements nothing is installed and the script runs directly with the chosen
interpreter (and so sees that interpreter's packages).

The script itself is written to a private scratch directory (removed afterwards) and
runs from the working directory with ``PYTHONUNBUFFERED=1``, so its output streams as
it is printed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sandbench.model.scenario import PythonScriptScorer
from sandbench.scoring._common import (
    Clock,
    guarded,
    note,
    score_from_stdout,
    scratch,
    scratch_failed,
    tail,
)
from sandbench.scoring.base import ScorerContext, ScorerOutcome

ENV_ROOT = "/tmp/sandbench-pyenvs"
REUSED_MARKER = "[sandbench] reusing the environment"

# Lists the interpreters on PATH ("python VERSION PATH") and uv ("uv PATH").
_PROBE = r"""
IFS=:
for dir in $PATH; do
  [ -n "$dir" ] || continue
  for p in "$dir"/python3 "$dir"/python3.[0-9] "$dir"/python3.[0-9][0-9] "$dir"/python; do
    { [ -f "$p" ] && [ -x "$p" ]; } || continue
    v=$("$p" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || continue
    echo "python $v $p"
  done
done
u=$(command -v uv 2>/dev/null) && echo "uv $u"
exit 0
"""

# $1 scratch dir, $2 constraint: find (or install) a matching Python with uv.
_UV_FIND = r"""
cd "$1" || exit 1
p=$(uv python find "$2" 2>/dev/null) || {
  echo "[sandbench] no installed Python matches $2; asking uv to install one" >&2
  uv python install "$2" >&2 && p=$(uv python find "$2")
} || exit 3
v=$("$p" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') || exit 3
echo "python $v $p"
"""

# $1 env dir, $2 interpreter, $3 requirements file, $4 "uv" | "venv". Runs from the
# working directory, so relative paths in the requirements (-e .) mean the project.
_SETUP = f"""\
set -u
env_dir=$1 py=$2 req=$3 tool=$4
mkdir -p "${{env_dir%/*}}" || exit 1
if [ -z "${{SANDBENCH_ENV_LOCKED:-}}" ] && command -v flock >/dev/null 2>&1; then
  SANDBENCH_ENV_LOCKED=1 exec flock "$env_dir.lock" sh "$0" "$@"
fi
if [ -f "$env_dir/.sandbench-ready" ]; then
  echo "{REUSED_MARKER} $env_dir"
  exit 0
fi
rm -rf "$env_dir"
echo "[sandbench] installing the requirements into $env_dir ($tool)"
if [ "$tool" = uv ]; then
  if [ -z "${{UV_CACHE_DIR:-}}" ] && [ ! -w "${{HOME:-/nonexistent}}" ]; then
    export UV_CACHE_DIR={ENV_ROOT}/.uv-cache
  fi
  UV_NO_PROJECT=1 uv venv --python "$py" "$env_dir" &&
    uv pip install --python "$env_dir/bin/python" -r "$req"
else
  "$py" -m venv "$env_dir" &&
    "$env_dir/bin/python" -m pip install --disable-pip-version-check -r "$req"
fi
status=$?
if [ "$status" -ne 0 ]; then
  rm -rf "$env_dir"
  echo "[sandbench] installing the requirements failed (exit $status)" >&2
  exit "$status"
fi
touch "$env_dir/.sandbench-ready"
"""


@dataclass(frozen=True)
class Interpreter:
    version: str
    path: str

    @property
    def release(self) -> tuple[int, ...]:
        return _release(self.version)


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _parse_interpreters(output: str) -> tuple[list[Interpreter], str | None]:
    found: list[Interpreter] = []
    uv: str | None = None
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "python":
            version, _, path = rest.partition(" ")
            if re.fullmatch(r"\d+\.\d+\.\d+", version) and path:
                found.append(Interpreter(version, path))
        elif kind == "uv" and rest:
            uv = rest
    return found, uv


_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)?\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


def _compare(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def _prefix(version: tuple[int, ...], prefix: tuple[int, ...]) -> bool:
    padded = version + (0,) * max(0, len(prefix) - len(version))
    return padded[: len(prefix)] == prefix


def satisfies(version: tuple[int, ...], constraint: str) -> bool | None:
    """Whether a CPython ``version`` meets ``constraint``; None if it cannot be read.

    PEP 440 operators on release numbers, with uv's reading of short versions: a bare
    ``3.12``, ``==3.12`` and ``==3.12.*`` all mean any 3.12.x.
    """
    clauses = constraint.split(",")
    if not constraint.strip():
        return None
    verdict = True
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if match is None:
            return None
        op, number, star = match[1], _release(match[2]), match[3] is not None
        if op is None:
            ok = _prefix(version, number)
        elif op in ("==", "!="):
            equal = (
                _prefix(version, number)
                if star or len(number) < 3
                else _compare(version, number) == 0
            )
            ok = equal if op == "==" else not equal
        elif star:
            return None  # ">=3.*" is not a specifier
        elif op == "===":
            ok = ".".join(map(str, version)) == match[2]
        elif op == "~=":
            if len(number) < 2:
                return None
            ok = _compare(version, number) >= 0 and _prefix(version, number[:-1])
        else:
            order = _compare(version, number)
            ok = {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]
        verdict = verdict and ok
    return verdict


def _choose(found: list[Interpreter], constraint: str | None) -> tuple[Interpreter | None, bool]:
    """(the interpreter to use or None, whether sandbench could read the constraint).
    ``python3`` comes first, then the other interpreters in PATH order."""
    ordered = sorted(found, key=lambda i: i.path.rsplit("/", 1)[-1] != "python3")
    if constraint is None:
        return next((i for i in ordered if i.release[0] == 3), None), True
    if satisfies((3, 0, 0), constraint) is None:
        return None, False
    return next((i for i in ordered if satisfies(i.release, constraint)), None), True


def _available(found: list[Interpreter]) -> str:
    if not found:
        return "no Python on PATH"
    seen: dict[str, str] = {}
    for interpreter in found:
        seen.setdefault(interpreter.version, interpreter.path)
    return ", ".join(f"{version} ({path})" for version, path in seen.items())


@guarded
def score(spec: PythonScriptScorer, ctx: ScorerContext) -> ScorerOutcome:
    if not spec.python_script.strip():
        return ScorerOutcome.error("python_script_scorer has an empty python_script")
    constraint = spec.python_version_constraint
    if constraint is not None and not constraint.strip():
        constraint = None
    clock = Clock(ctx)
    with scratch(clock, _PROBE) as (directory, probe):
        if (failed := scratch_failed(probe)) is not None:
            return failed
        found, uv = _parse_interpreters(probe.stdout)
        chosen, readable = _choose(found, constraint)
        if chosen is None and constraint is None:
            return ScorerOutcome.error(
                "the sandbox has no python3 on PATH; install one in the image"
                " (or set python_version_constraint and provide uv)"
            )
        if chosen is None:
            assert constraint is not None
            if uv is None:
                why = (
                    "cannot be met: no matching Python on PATH and no uv to fetch one"
                    if readable
                    else "is not a version specifier sandbench understands"
                    " (e.g. ==3.12.10, >=3.11, 3.12) and the sandbox has no uv to ask"
                )
                return ScorerOutcome.error(
                    f"python_version_constraint {constraint!r} {why};"
                    f" the sandbox has {_available(found)}",
                    python_version_constraint=constraint,
                )
            asked = clock.exec(["sh", "-c", _UV_FIND, "sandbench", directory, constraint])
            picked, _ = _parse_interpreters(asked.stdout)
            if asked.exit_code != 0 or not picked:
                said = "\n".join(
                    line for line in asked.stderr.splitlines() if not line.startswith("[sandbench]")
                )
                return ScorerOutcome.error(
                    f"no Python satisfies python_version_constraint {constraint!r}: the"
                    f" sandbox has {_available(found)}, and uv could not provide one"
                    f" ({tail(said, lines=3, chars=500) or 'see the output'})",
                    exit_code=asked.exit_code,
                    python_version_constraint=constraint,
                )
            chosen = picked[-1]
        note(ctx, f"Python {chosen.version} ({chosen.path})")
        details: dict[str, Any] = {"python": chosen.path, "python_version": chosen.version}
        if constraint is not None:
            details["python_version_constraint"] = constraint
        python = chosen.path
        requirements = spec.requirements_contents or ""
        if requirements.strip():
            tool = "uv" if uv is not None else "venv"
            key = hashlib.sha256(
                "\0".join([chosen.path, chosen.version, tool, requirements]).encode()
            ).hexdigest()[:16]
            env_dir = f"{ENV_ROOT}/{key}"
            ctx.write_file(f"{directory}/requirements.txt", requirements)
            ctx.write_file(f"{directory}/setup-env.sh", _SETUP)
            setup = clock.exec(
                [
                    "sh",
                    f"{directory}/setup-env.sh",
                    env_dir,
                    chosen.path,
                    f"{directory}/requirements.txt",
                    tool,
                ]
            )
            if setup.exit_code != 0:
                return ScorerOutcome.error(
                    f"installing requirements_contents failed ({tool}, exit"
                    f" {setup.exit_code}): {tail(setup.output, lines=5, chars=800)}",
                    exit_code=setup.exit_code,
                    **details,
                )
            python = f"{env_dir}/bin/python"
            details["environment"] = env_dir
            details["installer"] = tool
            details["environment_reused"] = REUSED_MARKER in setup.stdout
        ctx.write_file(f"{directory}/scorer.py", spec.python_script)
        result = clock.exec([python, f"{directory}/scorer.py"], env={"PYTHONUNBUFFERED": "1"})
        outcome = score_from_stdout(result, "python script")
        outcome.details = {**details, **outcome.details}
        return outcome
