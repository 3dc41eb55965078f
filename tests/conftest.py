from __future__ import annotations

import copy
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sandbench.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "reference"
SAMPLES = ROOT / "sample_scenarios"

# A suite started in the background by a non-interactive shell (`cmd &`, nohup) inherits
# SIGINT ignored, and so would every sandbench the tests start: the Ctrl-C tests would
# interrupt nothing. Python's own handler here makes it default again in the children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / name).read_text())


def schema_errors(instance: Any, schema_name: str) -> list[str]:
    schema = load_schema(schema_name)
    schema.pop("$schema", None)  # JSON Structure's meta-schema is not a JSON-Schema draft
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.toml"))


MINIMAL: dict[str, Any] = {
    "name": "minimal",
    "input_context": {"problem_statement": "Make the tests pass."},
    "scoring_contract": {
        "scoring_function_parameters": [
            {
                "name": "tests",
                "weight": 1.0,
                "scorer": {"type": "command_scorer", "command": "true"},
            }
        ]
    },
}


def scenario_dict(**top: Any) -> dict[str, Any]:
    """A valid scenario document, with top-level keys replaced."""
    data = copy.deepcopy(MINIMAL)
    data.update(copy.deepcopy(top))
    return data


def with_launch(**launch: Any) -> dict[str, Any]:
    return scenario_dict(environment_parameters={"launch_parameters": launch})


def with_scorers(*functions: dict[str, Any]) -> dict[str, Any]:
    return scenario_dict(scoring_contract={"scoring_function_parameters": list(functions)})


def scorer(name: str, weight: float, **spec: Any) -> dict[str, Any]:
    spec.setdefault("type", "command_scorer")
    return {"name": name, "weight": weight, "scorer": spec}


@pytest.fixture(autouse=True)
def sandbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own workspace; nothing touches the user's real store."""
    home = tmp_path / "sandbench-home"
    monkeypatch.setenv("SANDBENCH_HOME", str(home))
    return home


@pytest.fixture
def store(sandbench_home: Path) -> Iterator[Store]:
    with open_store() as opened:
        yield opened


# Engine fixtures live with their helpers; importing them here makes them visible to all tests.
from tests.engine_support import arm64_blueprint, arm64_image, engine  # noqa: E402, F401
from tests.sample_support import (  # noqa: E402, F401
    arm64_base,
    blueprint_images,
    registered_blueprints,
    sample_store,
)


@pytest.fixture(scope="session", autouse=True)
def no_leaked_mounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every sandbox disk a test mounted is unmounted again by the end of the session."""
    base = tmp_path_factory.getbasetemp()
    yield
    leaked = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(base))
    ]
    assert leaked == [], f"tests left mounts behind: {leaked}"
