"""Every sample scenario's environment builds offline and comes up on real Podman.

For each file in ``sample_scenarios/``: its blueprint builds from its Dockerfile with
``build_blueprint`` (``--pull=never``: only local images), its sandbox starts through the
engine with its required environment variables and secrets and with no network (so the
launch commands must work offline), its working directory exists, and its
``reference_output`` applies there: a ``git diff`` passes ``git apply --check`` in a clean
git repository whose top is the working directory; shell commands run with exit status 0.
The scorers are not run here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sandbench.engine import Engine
from sandbench.model import Architecture, SandboxState, Scenario, parse_scenarios
from sandbench.model.sandbox import NetworkPolicy
from tests.conftest import sample_files
from tests.sample_support import BLUEPRINTS, requirements

pytestmark = pytest.mark.podman

FILES = sample_files()
REFERENCE_PATH = "/tmp/sandbench-reference.diff"


def load(path: Path) -> Scenario:
    return parse_scenarios(tomllib.loads(path.read_text()))[0].scenario


def is_diff(reference: str) -> bool:
    return "diff --git " in reference


def run(engine: Engine, sandbox_id: str, command: str) -> str:
    result = engine.exec(sandbox_id, command, timeout=300)
    assert result.exit_code == 0, f"$ {command}\n{result.stdout}{result.stderr}"
    return result.stdout


def check_reference(engine: Engine, scenario: Scenario) -> None:
    """Bring the sandbox up and check that the reference solution applies there."""
    env = scenario.environment_parameters
    assert env is not None and env.working_directory
    workdir = env.working_directory
    reference = scenario.reference_output or ""
    assert reference.strip(), "every sample has a reference_output"

    spec = engine.spec_for(scenario, env=requirements(scenario))
    # offline: the launch commands must not need the network
    sandbox = engine.create(spec.model_copy(update={"network": NetworkPolicy.NONE}))
    try:
        assert sandbox.status == SandboxState.RUNNING, sandbox.failure_detail
        assert run(engine, sandbox.id, "pwd").strip() == workdir
        if scenario.architecture == Architecture.ARM64:
            assert run(engine, sandbox.id, "uname -m").strip() == "aarch64"
        for name in scenario.required_environment_variables or []:
            run(engine, sandbox.id, f'test -n "${{{name}}}"')
        for name in scenario.required_secret_names or []:
            run(engine, sandbox.id, f'test -n "${{{name}}}"')
        if is_diff(reference):
            top = run(engine, sandbox.id, "git rev-parse --show-toplevel").strip()
            assert top == workdir, f"the git repository is {top}, not {workdir}"
            run(engine, sandbox.id, "git rev-parse --verify -q HEAD")
            status = run(engine, sandbox.id, "git status --porcelain")
            assert status == "", f"the initial tree is not clean:\n{status}"
            engine.write_file(sandbox.id, REFERENCE_PATH, reference)
            run(engine, sandbox.id, f"git apply --check -v {REFERENCE_PATH}")
            run(engine, sandbox.id, f"git apply {REFERENCE_PATH} && git diff --stat")
        else:
            run(engine, sandbox.id, reference)
    finally:
        final = engine.shutdown(sandbox.id)
    assert final.status == SandboxState.SHUTDOWN


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.usefixtures("registered_blueprints")
def test_sample_environment_comes_up_and_reference_applies(
    path: Path, engine: Engine, request: pytest.FixtureRequest
) -> None:
    scenario = load(path)
    if scenario.architecture == Architecture.ARM64:
        request.getfixturevalue("arm64_base")
    check_reference(engine, scenario)


def test_every_sample_blueprint_is_used_and_built(blueprint_images: dict[str, str]) -> None:
    used = set()
    for path in FILES:
        env = load(path).environment_parameters
        if env is not None and env.blueprint_id:
            used.add(env.blueprint_id)
    assert used == set(BLUEPRINTS) == set(blueprint_images)
