"""What a benchmark run can be asked for, read from a form and checked before it starts.

The workbench's start dialog hands its fields over as text; ``parse_options`` answers the
options a ``BenchmarkRunner.run`` takes, or a problem per field (named as the dialog
names it), with the same rules the runner and ``benchmarks run`` apply: at least one job
and one repeat, no negative retries, an agent needs its command. Environment variables
and secrets come one a line: ``KEY=VALUE``, and ``ENV_NAME=SECRET_NAME`` (Runloop's
mapping: the stored secret SECRET_NAME reaches every case as $ENV_NAME); blank lines and
lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from sandbench.model.benchmark import BenchmarkCase, BenchmarkRun, BenchmarkRunState
from sandbench.model.runs import Solution

# the solutions a benchmark runs unattended (interactive needs a person per case; external
# is a client of the API driving the runs)
BENCHMARK_SOLUTIONS = (Solution.REFERENCE, Solution.BASELINE, Solution.AGENT)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # of a variable, and of a secret (secrets.NAME_RE)
# a Ray address: auto, HOST:PORT, or ray://HOST:PORT (a client's); "local" or empty: here
RAY_ADDRESS = re.compile(r"auto|(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}")


def parse_cluster(text: str) -> tuple[str | None, str | None]:
    """The Ray address to run on (None: here), or the problem with ``text``."""
    address = text.strip()
    if address in ("", "local"):
        return None, None
    if not RAY_ADDRESS.fullmatch(address):
        return None, (
            f"{address!r} is not a Ray address (auto, HOST:PORT or ray://HOST:10001;"
            " empty or local: here)"
        )
    return address, None


@dataclass(frozen=True)
class BenchmarkOptions:
    jobs: int
    solution: Solution = Solution.REFERENCE
    agent_command: str | None = None
    repeats: int = 1
    retries: int = 1
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    use_cache: bool = True
    cluster: str | None = None  # a Ray address the cases run on; None: here


@dataclass(frozen=True)
class OptionsForm:
    """The dialog's fields, as typed."""

    jobs: str
    solution: str = Solution.REFERENCE.value
    agent_command: str = ""
    repeats: str = "1"
    retries: str = "1"
    env: str = ""
    secrets: str = ""
    use_cache: bool = True
    cluster: str = ""


def _count(text: str, what: str, least: int, problems: dict[str, str], key: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        problems[key] = f"{what} must be a whole number, got {text.strip()!r}"
        return least
    if value < least:
        problems[key] = f"{what} must be at least {least}, got {value}"
    return value


def _lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]


def parse_env_lines(text: str) -> tuple[dict[str, str], str | None]:
    """``KEY=VALUE`` lines (the value may be empty, and may hold ``=``); the first problem."""
    env: dict[str, str] = {}
    for number, line in _lines(text):
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            return env, f"line {number}: {line!r} is not KEY=VALUE"
        if not NAME.fullmatch(key):
            return env, f"line {number}: {key!r} is not a variable name (letters, digits, _)"
        if key in env:
            return env, f"line {number}: {key} is given twice"
        env[key] = value.strip()
    return env, None


def parse_secret_lines(
    text: str, known: Collection[str] | None = None
) -> tuple[dict[str, str], str | None]:
    """``ENV_NAME=SECRET_NAME`` lines; with ``known``, a secret must be one of them."""
    mapping: dict[str, str] = {}
    for number, line in _lines(text):
        key, sep, secret = (part.strip() for part in line.partition("="))
        if not sep or not secret:
            return mapping, f"line {number}: {line!r} is not ENV_NAME=SECRET_NAME"
        if not NAME.fullmatch(key):
            return mapping, f"line {number}: {key!r} is not a variable name (letters, digits, _)"
        if not NAME.fullmatch(secret):
            return mapping, f"line {number}: {secret!r} is not a secret name (letters, digits, _)"
        if key in mapping:
            return mapping, f"line {number}: {key} is given twice"
        if known is not None and secret not in known:
            return mapping, (
                f"line {number}: no secret {secret} is stored (sandbench secrets set {secret})"
            )
        mapping[key] = secret
    return mapping, None


def parse_options(
    form: OptionsForm, *, known_secrets: Collection[str] | None = None
) -> tuple[BenchmarkOptions | None, dict[str, str]]:
    """The options, or None and a problem per field (jobs, solution, agent_command,
    repeats, retries, env, secrets, cluster)."""
    problems: dict[str, str] = {}
    jobs = _count(form.jobs, "jobs", 1, problems, "jobs")
    repeats = _count(form.repeats, "repeats", 1, problems, "repeats")
    retries = _count(form.retries, "retries", 0, problems, "retries")
    solution = Solution.REFERENCE
    try:
        solution = Solution(form.solution)
        if solution not in BENCHMARK_SOLUTIONS:
            raise ValueError
    except ValueError:
        allowed = ", ".join(s.value for s in BENCHMARK_SOLUTIONS)
        problems["solution"] = f"a benchmark runs with {allowed}, not {form.solution!r}"
    command = form.agent_command.strip()
    if solution == Solution.AGENT and not command:
        problems["agent_command"] = "an agent run needs the agent's command"
    env, env_problem = parse_env_lines(form.env)
    if env_problem:
        problems["env"] = env_problem
    secret_env, secret_problem = parse_secret_lines(form.secrets, known_secrets)
    if secret_problem:
        problems["secrets"] = secret_problem
    cluster, cluster_problem = parse_cluster(form.cluster)
    if cluster_problem:
        problems["cluster"] = cluster_problem
    if problems:
        return None, problems
    return (
        BenchmarkOptions(
            jobs=jobs,
            solution=solution,
            agent_command=command if solution == Solution.AGENT else None,
            repeats=repeats,
            retries=retries,
            env=env,
            secret_env=secret_env,
            use_cache=form.use_cache,
            cluster=cluster,
        ),
        {},
    )


def resume_refusal(run: BenchmarkRun, cases: list[BenchmarkCase]) -> str | None:
    """Why ``BenchmarkRunner.resume`` would refuse the run, or None when it can go on."""
    if run.state == BenchmarkRunState.RUNNING:
        return "it is still running"
    if not cases:
        return "it has no cases to resume (a client drove it through the API)"
    if all(case.state.finished for case in cases):
        return "every case of it finished"
    return None
