"""The README's "Use it from your agent harness" examples run as written against a real
server (only the scenario id is filled in)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.api.conftest import ROOT, ApiServer
from tests.engine_support import need

SECTION = ROOT.joinpath("README.md").read_text().split("## Use it from your agent harness")[1]


def _block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", SECTION, re.S)
    assert found, f"no {language} example in the README section"
    return found.group(1)


def _scenario(server: ApiServer) -> str:
    created = server.sdk().scenarios.create(
        name="readme-example",
        input_context={"problem_statement": "make the fix"},
        scoring_contract={
            "scoring_function_parameters": [
                {
                    "name": "fixed",
                    "weight": 1.0,
                    "scorer": {"type": "command_scorer", "command": "test -f fixed"},
                }
            ]
        },
    )
    return created.id


@pytest.mark.podman
@pytest.mark.slow
def test_python_example(api_server: ApiServer) -> None:
    code = _block("python").replace("scn_…", _scenario(api_server))
    code = code.replace('"make fix"', '"touch fixed"')  # the example's agent step, for real
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=api_server.client_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] in ("x86_64", "aarch64") and lines[1] == "hello"
    assert lines[-1] == "1.0"  # the scorer saw the agent's file


@pytest.mark.podman
def test_typescript_example(api_server: ApiServer) -> None:
    node = shutil.which("node")
    modules = ROOT / "tests" / "js" / "node_modules" / "@runloop" / "api-client"
    need(node is not None and modules.is_dir(), "node and tests/js/node_modules (make setup)")
    _scenario(api_server)
    script = ROOT / "tests" / "js" / "readme_example.mjs"
    script.write_text(_block("js"))
    try:
        result = subprocess.run(
            [str(node), str(script)],
            env=api_server.client_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == ["readme-example", "hi"]
