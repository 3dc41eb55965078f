"""The sample scenarios: valid, round-trippable, schema-clean, and covering what they promise."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from sandbench.model import Architecture, IdleAction, ResourceSize, Scenario, parse_scenarios
from sandbench.store.files import load_file, to_json, to_toml
from tests.conftest import SAMPLES, sample_files, schema_errors

FILES = sample_files()


def load(path: Path) -> Scenario:
    return parse_scenarios(tomllib.loads(path.read_text()))[0].scenario


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_round_trip_toml_model_json_model(path: Path) -> None:
    scenario = load(path)
    as_json = to_json(scenario)
    again = parse_scenarios(json.loads(as_json))[0].scenario
    assert again == scenario
    assert parse_scenarios(tomllib.loads(to_toml(scenario)))[0].scenario == scenario


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_export_validates_against_runloop_schema(path: Path) -> None:
    assert schema_errors(load(path).to_dict(), "runloop-scenario.schema.json") == []


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_sample_is_complete(path: Path) -> None:
    scenario = load(path)
    assert scenario.reference_output, "every sample has a reference solution"
    env = scenario.environment_parameters
    assert env is not None and env.working_directory, "every sample names its working dir"
    if env.blueprint_id:
        dockerfile = SAMPLES / "blueprints" / env.blueprint_id / "Dockerfile"
        assert dockerfile.is_file(), f"blueprint {env.blueprint_id} has no {dockerfile}"
        if "diff --git" in scenario.reference_output:
            assert "git" in dockerfile.read_text()
    for function in scenario.scorers:
        if function.scorer.type == "custom_scorer":
            script = SAMPLES / "scorers" / f"{function.scorer.custom_scorer_type}.sh"
            assert script.is_file(), f"custom scorer {script} is missing"


def test_samples_cover_what_a_new_user_learns_from() -> None:
    scenarios = [load(p) for p in FILES]
    assert len(scenarios) >= 8
    types = {f.scorer.type for s in scenarios for f in s.scorers}
    assert types == {
        "command_scorer",
        "bash_script_scorer",
        "python_script_scorer",
        "test_based_scorer",
        "ast_grep_scorer",
        "custom_scorer",
    }
    assert len({s.size for s in scenarios}) >= 3
    assert ResourceSize.CUSTOM_SIZE in {s.size for s in scenarios}
    assert any(s.architecture == Architecture.ARM64 for s in scenarios)
    idle = [s.launch.idle_policy() for s in scenarios]
    assert any(p is not None and p.on_idle == IdleAction.SUSPEND for p in idle)
    assert any(s.required_environment_variables and s.required_secret_names for s in scenarios)
    assert any(len({f.weight for f in s.scorers}) > 1 for s in scenarios)
    assert (
        sum(
            bool(s.environment_parameters and s.environment_parameters.blueprint_id)
            for s in scenarios
        )
        >= len(scenarios) // 2
    )
    assert len({s.name for s in scenarios}) == len(scenarios)


def test_samples_load_through_the_file_reader() -> None:
    assert all(len(load_file(p)) == 1 for p in FILES)
