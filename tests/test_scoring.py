"""Scorers: every type on real Podman (pass, fail, errors, timeout, streaming, isolation),
plus unit tests without Podman for the parsing rules, dispatch, error propagation and
the ``sandbench scorers`` commands.

The Podman tests are marked one by one (not with a module-level ``pytestmark``) so that
``-m "not podman"`` still runs the unit tests here.
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbench.cli import scorers_cmd
from sandbench.engine import Engine, EngineError
from sandbench.engine.execs import ExecResult
from sandbench.errors import NotFound, SandbenchError
from sandbench.model.runs import ScorerState
from sandbench.model.scenario import (
    SCORER_TYPES,
    AstGrepScorer,
    BashScriptScorer,
    CommandScorer,
    CustomScorer,
    PythonScriptScorer,
)
from sandbench.model.scenario import (
    TestBasedScorer as BasedOnTests,
)
from sandbench.model.scenario import (
    TestFile as HiddenTestFile,
)
from sandbench.scoring import SCORERS, ScorerContext, ScorerOutcome, parse_score, run_scorer
from sandbench.scoring.ast_grep import unescape_pattern
from sandbench.scoring.python_script import satisfies
from sandbench.scoring.test_based import parse_test_counts
from sandbench.store import Store
from tests.engine_support import need, scenario

podman = pytest.mark.podman
WORKDIR = "/workspace/repo"
SANDBOX_CA = "/usr/local/share/sandbench-test-ca.pem"


# ---------------------------------------------------------------------- sandbox harness


@dataclass
class Box:
    """One sandbox and a ScorerContext bound to it, recording what reaches on_output."""

    engine: Engine
    store: Store
    id: str
    seen: list[tuple[str, str, float]] = field(default_factory=list)
    started: float = 0.0

    def context(self, timeout: float = 120.0) -> ScorerContext:
        self.seen.clear()
        self.started = time.monotonic()

        def on_output(stream: str, text: str) -> None:
            self.seen.append((stream, text, time.monotonic() - self.started))

        return ScorerContext(
            exec=lambda command, *, env=None, timeout=None, on_output=None: self.engine.exec(
                self.id, command, env=env, workdir=WORKDIR, timeout=timeout, on_output=on_output
            ),
            write_file=lambda path, text: self.engine.write_file(
                self.id, path if path.startswith("/") else f"{WORKDIR}/{path}", text
            ),
            workdir=WORKDIR,
            timeout=timeout,
            on_output=on_output,
            custom_script=lambda kind: self.store.get_custom_scorer(kind).bash_script,
        )

    def score(self, spec: Any, timeout: float = 120.0) -> ScorerOutcome:
        return run_scorer(spec, self.context(timeout))

    def output(self) -> str:
        return "".join(text for _, text, _ in self.seen)

    def sh(self, command: str) -> ExecResult:
        return self.engine.exec(self.id, command, timeout=60)

    def write(self, path: str, text: str) -> None:
        self.engine.write_file(self.id, path, text)


def host_ca_bundle() -> str | None:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    return None


def make_box(engine: Engine, store: Store, *, host_ca: bool = False) -> Box:
    env: dict[str, str] = {}
    bundle = host_ca_bundle() if host_ca else None
    if bundle is not None:
        # An egress proxy may re-sign TLS: the sandbox trusts what the host trusts.
        env = {"SSL_CERT_FILE": SANDBOX_CA, "PIP_CERT": SANDBOX_CA}
    sandbox = engine.create(engine.spec_for(scenario("scoring-test"), env=env))
    box = Box(engine, store, sandbox.id)
    if bundle is not None:
        box.write(SANDBOX_CA, bundle)
    return box


@pytest.fixture
def box(engine: Engine, store: Store) -> Box:
    return make_box(engine, store)


def reason(outcome: ScorerOutcome) -> str:
    return str(outcome.details.get("reason", ""))


# ---------------------------------------------------------------------- command_scorer


@podman
def test_command_scorer_passes_from_the_working_directory(box: Box) -> None:
    outcome = box.score(CommandScorer(command=f'test "$(pwd)" = {WORKDIR} && echo here'))
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 1.0, 0)
    assert "here\n" in box.output()


@podman
def test_command_scorer_fails_on_a_non_zero_exit(box: Box) -> None:
    outcome = box.score(CommandScorer(command="echo nope >&2; exit 3"))
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 0.0, 3)
    assert ("stderr", "nope\n") in [(s, t) for s, t, _ in box.seen]
    missing = box.score(CommandScorer(command="no-such-tool --check"))
    assert (missing.score, missing.exit_code) == (0.0, 127)
    assert "not found" in missing.details["note"]


# ---------------------------------------------------------------------- bash_script_scorer


@podman
def test_bash_scorer_reads_score_lines_and_bare_numbers(box: Box) -> None:
    script = 'echo "checking in $(pwd)"\n[ -d . ] && echo score=1\n'
    outcome = box.score(BashScriptScorer(bash_script=script))
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 1.0, 0)
    assert f"checking in {WORKDIR}" in box.output()
    assert box.score(BashScriptScorer(bash_script="echo 0.25\n\n")).score == 0.25
    left = box.sh("ls -d /tmp/sandbench-scorer-* 2>/dev/null | wc -l").stdout.strip()
    assert left == "0", "the scratch directory is removed after the scorer"


@podman
def test_bash_scorer_fails_with_score_zero(box: Box) -> None:
    outcome = box.score(
        BashScriptScorer(bash_script="test -f missing.txt && echo score=1 || echo score=0")
    )
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 0.0)


@podman
def test_bash_scorer_without_a_score_line_is_an_error(box: Box) -> None:
    outcome = box.score(BashScriptScorer(bash_script="echo score=1\necho done"))
    assert outcome.state == ScorerState.ERROR and outcome.score is None
    assert "'done'" in reason(outcome)
    assert "score=1\ndone\n" in box.output(), "the output is still streamed"
    silent = box.score(BashScriptScorer(bash_script="true"))
    assert silent.state == ScorerState.ERROR and "printed nothing" in reason(silent)


@podman
def test_bash_scorer_out_of_range_scores_are_errors(box: Box) -> None:
    for value in ("1.5", "-0.1"):
        outcome = box.score(BashScriptScorer(bash_script=f"echo score={value}"))
        assert outcome.state == ScorerState.ERROR, value
        assert value in reason(outcome) and "outside [0, 1]" in reason(outcome)


@podman
def test_bash_scorer_score_line_stands_after_a_non_zero_exit(box: Box) -> None:
    outcome = box.score(BashScriptScorer(bash_script="echo score=0.5\nexit 1"))
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 0.5, 1)
    assert "exited 1" in outcome.details["warning"]
    crashed = box.score(BashScriptScorer(bash_script="echo partial\nexit 4"))
    assert crashed.state == ScorerState.ERROR and crashed.exit_code == 4
    assert "exited 4" in reason(crashed)


@podman
def test_scorer_output_streams_while_it_runs(box: Box) -> None:
    outcome = box.score(BashScriptScorer(bash_script="echo early\nsleep 2\necho score=1"))
    ended = time.monotonic() - box.started
    assert outcome.score == 1.0
    early = next(t for s, text, t in box.seen if "early" in text)
    assert ended - early >= 1.5, f"'early' at {early:.2f}s, the scorer ended at {ended:.2f}s"


@podman
def test_scorer_timeout_kills_the_scorer(box: Box) -> None:
    started = time.monotonic()
    outcome = box.score(
        BashScriptScorer(bash_script="echo started\nsleep 30 & sleep 31\necho score=1"), timeout=2
    )
    elapsed = time.monotonic() - started
    assert outcome.state == ScorerState.TIMEOUT and outcome.score is None
    assert reason(outcome) == "killed after 2s"
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert "started" in box.output()
    left = box.sh("ps -eo args | grep -c '^sleep 3[01]$' || true").stdout.strip()
    assert left == "0", "the scorer's processes (and their children) are killed"


# ---------------------------------------------------------------------- python_script_scorer

PY_SCORE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    print("python", sys.version.split()[0], "in", Path.cwd())
    print("score=1" if Path("answer.txt").exists() else "score=0.0")
    """
)


@podman
def test_python_scorer_passes(box: Box) -> None:
    box.write(f"{WORKDIR}/answer.txt", "42\n")
    outcome = box.score(PythonScriptScorer(python_script=PY_SCORE))
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 1.0), outcome.details
    assert f"in {WORKDIR}" in box.output()
    assert outcome.details["python"].endswith("python3")
    assert "environment" not in outcome.details, "no requirements, nothing installed"


@podman
def test_python_scorer_fails(box: Box) -> None:
    outcome = box.score(PythonScriptScorer(python_script=PY_SCORE))
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 0.0)
    broken = box.score(PythonScriptScorer(python_script="raise SystemExit('boom')"))
    assert broken.state == ScorerState.ERROR and broken.exit_code == 1
    assert "boom" in box.output()


@podman
def test_python_scorer_version_constraints(box: Box) -> None:
    met = box.score(PythonScriptScorer(python_script=PY_SCORE, python_version_constraint=">=3.11"))
    assert met.state == ScorerState.COMPLETE and met.details["python_version"].startswith("3.11")
    unmet = box.score(PythonScriptScorer(python_script=PY_SCORE, python_version_constraint="==2.7"))
    assert unmet.state == ScorerState.ERROR
    assert "'==2.7'" in reason(unmet) and "3.11" in reason(unmet), reason(unmet)


@podman
def test_python_scorer_installs_requirements_in_an_isolated_environment(
    engine: Engine, store: Store
) -> None:
    box = make_box(engine, store, host_ca=True)
    reach = box.sh(
        'curl -fsS -m 20 ${SSL_CERT_FILE:+--cacert "$SSL_CERT_FILE"} -o /dev/null'
        " https://pypi.org/simple/six/"
    )
    need(reach.exit_code == 0, f"PyPI is not reachable from a sandbox: {reach.output.strip()}")
    script = textwrap.dedent(
        """
        import sys, six
        print("six", six.__version__, "from", sys.prefix)
        print("score=1" if six.__version__ == "1.16.0" else "score=0")
        """
    )
    spec = PythonScriptScorer(python_script=script, requirements_contents="six==1.16.0\n")
    first = box.score(spec)
    assert (first.state, first.score) == (ScorerState.COMPLETE, 1.0), (
        first.details,
        box.output(),
    )
    env_dir = first.details["environment"]
    assert env_dir.startswith("/tmp/sandbench-pyenvs/") and not first.details["environment_reused"]
    assert first.details["installer"] == "uv"
    assert f"six 1.16.0 from {env_dir}" in box.output()
    assert "six==1.16.0" in box.output(), "the install output is streamed"
    system = box.sh("python3 -c 'import six'")
    assert system.exit_code != 0, "the requirement must not leak into the system python3"

    again = box.score(spec)
    assert again.score == 1.0 and again.details["environment_reused"] is True
    assert again.details["environment"] == env_dir
    assert "six==1.16.0" not in box.output(), "nothing is installed again"


@podman
def test_python_scorer_without_uv_uses_venv_and_pip(engine: Engine, store: Store) -> None:
    box = make_box(engine, store, host_ca=True)
    assert box.sh("mv /usr/local/bin/uv /usr/local/bin/uv.hidden").exit_code == 0
    unmet = box.score(PythonScriptScorer(python_script=PY_SCORE, python_version_constraint="3.13"))
    assert unmet.state == ScorerState.ERROR
    assert "'3.13' cannot be met" in reason(unmet) and "no uv" in reason(unmet)
    assert "3.11.2 (/usr/bin/python3)" in reason(unmet)

    reach = box.sh(
        "python3 -c \"import urllib.request as u; u.urlopen('https://pypi.org/simple/six/')\""
    )
    need(reach.exit_code == 0, f"PyPI is not reachable from a sandbox: {reach.output.strip()}")
    script = "import six, sys\nprint(sys.prefix)\nprint('score=1')"
    spec = PythonScriptScorer(python_script=script, requirements_contents="six==1.16.0")
    outcome = box.score(spec)
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 1.0), box.output()
    assert outcome.details["installer"] == "venv"
    assert f"{outcome.details['environment']}\nscore=1" in box.output()
    assert box.sh("python3 -c 'import six'").exit_code != 0


@podman
def test_python_scorer_failed_install_is_an_error(box: Box) -> None:
    spec = PythonScriptScorer(
        python_script="print('score=1')",
        requirements_contents="sandbench-no-such-package-4c1d==0.0.1\n",
    )
    outcome = box.score(spec)
    assert outcome.state == ScorerState.ERROR and outcome.score is None
    assert "installing requirements_contents failed" in reason(outcome)
    assert "score=1" not in box.output(), "the script does not run without its requirements"


# ---------------------------------------------------------------------- test_based_scorer

UNITTEST_OK = textwrap.dedent(
    """
    import unittest

    class Ok(unittest.TestCase):
        def test_one(self):
            self.assertEqual(1 + 1, 2)

        def test_two(self):
            self.assertTrue(True)
    """
)
UNITTEST_MIXED = textwrap.dedent(
    """
    import unittest

    class Mixed(unittest.TestCase):
        def test_passes(self):
            pass

        def test_fails(self):
            self.assertEqual(1, 2)

        def test_errors(self):
            raise RuntimeError("boom")

        @unittest.skip("not today")
        def test_skipped(self):
            pass
    """
)


@podman
def test_test_based_scorer_passes_with_unittest_counts(box: Box) -> None:
    spec = BasedOnTests(
        test_files=[
            HiddenTestFile(file_path="hidden_tests/__init__.py", file_contents=None),
            HiddenTestFile(file_path="hidden_tests/test_ok.py", file_contents=UNITTEST_OK),
        ],
        test_command="python3 -m unittest discover -s hidden_tests -t . -v",
    )
    outcome = box.score(spec)
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 1.0, 0)
    counts = {k: outcome.details.get(k) for k in ("passed", "failed", "errors", "total")}
    assert counts == {"passed": 2, "failed": 0, "errors": 0, "total": 2}
    assert outcome.details["runner"] == "unittest"
    assert box.sh("test -f hidden_tests/test_ok.py").exit_code == 0


@podman
def test_test_based_scorer_fails_with_unittest_counts(box: Box) -> None:
    spec = BasedOnTests(
        test_files=[HiddenTestFile(file_path="test_mixed.py", file_contents=UNITTEST_MIXED)],
        test_command="python3 -m unittest test_mixed",
    )
    outcome = box.score(spec)
    assert (outcome.state, outcome.score, outcome.exit_code) == (ScorerState.COMPLETE, 0.0, 1)
    counts = {k: outcome.details.get(k) for k in ("passed", "failed", "errors", "skipped", "total")}
    assert counts == {"passed": 1, "failed": 1, "errors": 1, "skipped": 1, "total": 4}
    assert "FAILED (failures=1, errors=1, skipped=1)" in box.output()


# ---------------------------------------------------------------------- ast_grep_scorer

APP = "import logging\n\ndef main(x):\n    print(x)\n    print('done', x)\n"


@podman
def test_ast_grep_scorer_keeps_matches_of_an_escaped_pattern(box: Box) -> None:
    box.write(f"{WORKDIR}/src/app.py", APP)
    outcome = box.score(AstGrepScorer(search_directory="src", pattern=r"print(\$A)", lang="python"))
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 1.0), outcome.details
    assert outcome.details["pattern"] == "print($A)"
    assert outcome.details["match_count"] == 1
    assert outcome.details["matches"] == [
        {"file": "src/app.py", "line": 4, "column": 5, "text": "print(x)"}
    ]
    assert "src/app.py:4: print(x)\n" in box.output()
    assert '"range"' not in box.output(), "matches are shown readably, not as raw JSON"
    many = box.score(AstGrepScorer(search_directory="src", pattern=r"print(\$\$\$ARGS)"))
    assert many.details["match_count"] == 2, "no lang: ast-grep infers it per file"


@podman
def test_ast_grep_scorer_without_a_match_scores_zero(box: Box) -> None:
    box.write(f"{WORKDIR}/src/app.py", APP)
    outcome = box.score(
        AstGrepScorer(search_directory="src", pattern=r"logging.info(\$A)", lang="python")
    )
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 0.0), outcome.details
    assert outcome.details["matches"] == [] and outcome.details["match_count"] == 0


@podman
def test_ast_grep_scorer_errors(box: Box) -> None:
    box.write(f"{WORKDIR}/src/app.py", APP)
    bad_lang = box.score(AstGrepScorer(search_directory="src", pattern="print($A)", lang="cobolx"))
    assert bad_lang.state == ScorerState.ERROR and bad_lang.exit_code == 2
    assert "cobolx" in reason(bad_lang)
    missing = box.score(AstGrepScorer(search_directory="nowhere", pattern="print($A)"))
    assert missing.state == ScorerState.ERROR and "nowhere does not exist" in reason(missing)
    broken = box.score(AstGrepScorer(search_directory="src", pattern="def (", lang="python"))
    assert broken.state == ScorerState.ERROR and "ERROR node" in reason(broken)


# ---------------------------------------------------------------------- custom_scorer

CUSTOM = textwrap.dedent(
    """
    echo "context: $RL_SCORER_CONTEXT"
    python3 -c 'import json, os
    c = json.loads(os.environ["RL_SCORER_CONTEXT"])
    print("score=%s" % c.get("expected", 0))'
    """
)


@podman
def test_custom_scorer_receives_its_params(box: Box, store: Store) -> None:
    store.register_custom_scorer("expect-param", CUSTOM)
    outcome = box.score(
        CustomScorer(custom_scorer_type="expect-param", scorer_params={"expected": 1, "n": "x"})
    )
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 1.0), box.output()
    assert 'context: {"expected": 1, "n": "x"}' in box.output()


@podman
def test_custom_scorer_fails_and_always_gets_a_context(box: Box, store: Store) -> None:
    store.register_custom_scorer("expect-param", CUSTOM)
    outcome = box.score(CustomScorer(custom_scorer_type="expect-param"))
    assert (outcome.state, outcome.score) == (ScorerState.COMPLETE, 0.0)
    assert "context: {}\n" in box.output()


# ---------------------------------------------------------------------- without Podman


def fake_context(
    exec_fn: Callable[..., ExecResult],
    *,
    custom: Callable[[str], str] | None = None,
    timeout: float = 5.0,
) -> ScorerContext:
    def no_custom(kind: str) -> str:
        raise NotFound(
            f"no custom scorer {kind!r}; register it with"
            f" `sandbench scorers register {kind} --script FILE`"
        )

    return ScorerContext(
        exec=exec_fn,
        write_file=lambda path, text: None,
        workdir="/w",
        timeout=timeout,
        on_output=lambda stream, text: None,
        custom_script=custom or no_custom,
    )


ALL_SPECS = [
    AstGrepScorer(search_directory=".", pattern="f($A)"),
    BashScriptScorer(bash_script="echo score=1"),
    CommandScorer(command="true"),
    CustomScorer(custom_scorer_type="known"),
    PythonScriptScorer(python_script="print(1)"),
    BasedOnTests(test_files=[], test_command="true"),
]


def test_every_scorer_type_is_dispatched() -> None:
    assert sorted(SCORERS) == sorted(SCORER_TYPES)
    assert sorted(spec.type for spec in ALL_SPECS) == sorted(SCORER_TYPES)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.type)
def test_engine_errors_propagate_from_every_scorer(spec: Any) -> None:
    calls: list[Any] = []

    def broken(command: Any, **kwargs: Any) -> ExecResult:
        calls.append(command)
        raise EngineError("sandbox sbx_1 is gone")

    with pytest.raises(EngineError, match="is gone"):
        run_scorer(spec, fake_context(broken, custom=lambda kind: "echo score=1"))
    assert calls


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.type)
def test_a_timed_out_exec_is_a_timeout_outcome(spec: Any) -> None:
    def slow(command: Any, *, timeout: float | None = None, **kwargs: Any) -> ExecResult:
        assert timeout is not None and 0 < timeout <= 5.0
        return ExecResult(exit_code=124, timed_out=True)

    outcome = run_scorer(spec, fake_context(slow, custom=lambda kind: "echo score=1"))
    assert outcome.state == ScorerState.TIMEOUT and reason(outcome) == "killed after 5s"


def test_specs_without_anything_to_run_are_errors() -> None:
    def never(command: Any, **kwargs: Any) -> ExecResult:
        raise AssertionError("nothing should run")

    ctx = fake_context(never)
    assert "no command" in reason(run_scorer(CommandScorer(command="  "), ctx))
    assert "no bash_script" in reason(run_scorer(BashScriptScorer(), ctx))
    assert "no test_command" in reason(run_scorer(BasedOnTests(), ctx))
    missing_path = BasedOnTests(test_files=[HiddenTestFile(file_contents="x")], test_command="true")
    assert "test_files[0] has no file_path" in reason(run_scorer(missing_path, ctx))
    assert "empty pattern" in reason(
        run_scorer(AstGrepScorer(search_directory=".", pattern=" "), ctx)
    )


def test_a_missing_custom_scorer_type_is_an_error_naming_the_fix(store: Store) -> None:
    def never(command: Any, **kwargs: Any) -> ExecResult:
        raise AssertionError("nothing should run")

    registry = lambda kind: store.get_custom_scorer(kind).bash_script  # noqa: E731
    ctx = fake_context(never, custom=registry)
    outcome = run_scorer(CustomScorer(custom_scorer_type="nope"), ctx)
    assert outcome.state == ScorerState.ERROR and outcome.score is None
    assert "sandbench scorers register nope --script FILE" in reason(outcome)


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("score=1\n", 1.0),
        ("score=0", 0.0),
        ("  score = 0.5  \n\n  \n", 0.5),
        ("0.25", 0.25),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e-1", 0.1),
        ("+0.75", 0.75),
        ("score=1.0\r\n", 1.0),
        ("log line\nscore=0.3\n", 0.3),
        ("score=0.1\nscore=0.9", 0.9),
    ],
)
def test_parse_score_reads_the_last_line(stdout: str, expected: float) -> None:
    assert parse_score(stdout) == (expected, "")


@pytest.mark.parametrize(
    ("stdout", "why"),
    [
        ("", "printed nothing"),
        ("\n  \n", "printed nothing"),
        ("score=1\ndone", "'done'"),
        ("score=1.5", "outside [0, 1]"),
        ("-0.1", "outside [0, 1]"),
        ("1e3", "outside [0, 1]"),
        ("nan", "not score=X"),
        ("score=", "not score=X"),
        ("score=0.5 points", "not score=X"),
        ("SCORE: 1", "not score=X"),
        ("0,5", "not score=X"),
    ],
)
def test_parse_score_rejects(stdout: str, why: str) -> None:
    score, reason_text = parse_score(stdout)
    assert score is None and why in reason_text


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ((3, 11, 2), ">=3.11", True),
        ((3, 11, 2), "==3.12.10", False),
        ((3, 12, 10), "==3.12.10", True),
        ((3, 11, 2), "==2.7", False),
        ((3, 11, 2), "3.11", True),
        ((3, 11, 2), "==3.11", True),
        ((3, 11, 2), "==3.11.*", True),
        ((3, 11, 2), "!=3.11.*", False),
        ((3, 11, 2), ">=3.11,<3.12", True),
        ((3, 12, 0), ">=3.11, <3.12", False),
        ((3, 11, 2), "~=3.10", True),
        ((3, 11, 2), "~=3.10.0", False),
        ((3, 11, 2), "<3.11.2", False),
        ((3, 11, 2), ">3.11", True),
        ((3, 11, 2), "===3.11.2", True),
        ((3, 11, 2), "cpython@3.11", None),
        ((3, 11, 2), ">=3.*", None),
        ((3, 11, 2), "", None),
    ],
)
def test_python_version_constraints(
    version: tuple[int, ...], constraint: str, expected: bool | None
) -> None:
    assert satisfies(version, constraint) is expected


@pytest.mark.parametrize(
    ("written", "passed"),
    [
        (r"print(\$A)", "print($A)"),
        (r"foo(\$\$\$)", "foo($$$)"),
        ("print($A)", "print($A)"),
        (r"f(\"x\")", 'f("x")'),
        (r"a \\ b", r"a \ b"),
        (r"re.compile('\d+')", r"re.compile('\d+')"),
        ("a\\\nb", "ab"),
    ],
)
def test_ast_grep_patterns_lose_their_double_quote_escapes(written: str, passed: str) -> None:
    assert unescape_pattern(written) == passed


PYTEST_OUTPUT = """
tests/test_a.py ..F.E                                                  [100%]
=========================== short test summary info ============================
FAILED tests/test_a.py::test_c - assert 1 == 2
ERROR tests/test_a.py::test_e - RuntimeError
============= 1 failed, 3 passed, 1 skipped, 2 warnings, 1 error in 0.12s ==============
"""


def test_test_counts_from_pytest_and_unittest() -> None:
    assert parse_test_counts(PYTEST_OUTPUT) == {
        "passed": 3,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "total": 6,
        "runner": "pytest",
    }
    assert parse_test_counts("2 passed in 0.01s\n") == {
        "passed": 2,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "total": 2,
        "runner": "pytest",
    }
    unittest = "..\n-----\nRan 3 tests in 0.001s\n\nOK (skipped=1)\n"
    assert parse_test_counts(unittest) == {
        "passed": 2,
        "failed": 0,
        "errors": 0,
        "skipped": 1,
        "total": 3,
        "runner": "unittest",
    }
    two_suites = unittest + "Ran 2 tests in 0.1s\n\nFAILED (failures=1, errors=1)\n"
    counts = parse_test_counts(two_suites)
    assert counts is not None
    assert (counts["passed"], counts["failed"], counts["errors"], counts["total"]) == (2, 1, 1, 5)
    assert parse_test_counts("all good\n") is None
    assert parse_test_counts("took 3 seconds in 0.5s\n") is None


# ---------------------------------------------------------------------- sandbench scorers


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sandbench")
    scorers_cmd.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    try:
        return int(args.handler(args))
    except SandbenchError as error:
        print(f"sandbench: error: {error}")
        return error.exit_code


@pytest.fixture
def script_file(tmp_path: Path) -> Path:
    path = tmp_path / "check.sh"
    path.write_text("echo score=1\n")
    return path


def test_scorers_register_and_list(
    script_file: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("scorers", "list") == 0
    assert "no custom scorers yet" in capsys.readouterr().err
    assert cli("scorers", "register", "my-check.v1", "--script", str(script_file)) == 0
    assert "registered custom scorer my-check.v1" in capsys.readouterr().out
    first = store.get_custom_scorer("my-check.v1")
    assert first.bash_script == "echo score=1\n"

    script_file.write_text("echo score=0\n")
    assert cli("scorers", "register", "my-check.v1", "--script", str(script_file)) == 0
    assert "replaced custom scorer my-check.v1" in capsys.readouterr().out
    second = store.get_custom_scorer("my-check.v1")
    assert second.bash_script == "echo score=0\n" and second.id == first.id

    assert cli("scorers", "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["TYPE", "ID", "UPDATED"]
    assert "my-check.v1" in out and first.id in out
    assert cli("scorers", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["type"], s["id"], s["bash_script"]) for s in listed] == [
        ("my-check.v1", first.id, "echo score=0\n")
    ]


@pytest.mark.parametrize(
    ("kind", "script", "message"),
    [
        ("bad name!", "ok", "may only contain"),
        ("fine", "missing", "no such file"),
        ("fine", "empty", "is empty"),
        ("fine", "directory", "is a directory"),
    ],
)
def test_scorers_register_rejects_bad_input(
    kind: str,
    script: str,
    message: str,
    tmp_path: Path,
    store: Store,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {
        "ok": tmp_path / "ok.sh",
        "missing": tmp_path / "missing.sh",
        "empty": tmp_path / "empty.sh",
        "directory": tmp_path,
    }
    paths["ok"].write_text("echo score=1\n")
    paths["empty"].write_text("  \n")
    assert cli("scorers", "register", kind, "--script", str(paths[script])) == 2
    assert message in capsys.readouterr().out
    assert store.list_custom_scorers() == []
