"""Every rule of the scenario schema (and its prose) has a passing and a failing case."""

from __future__ import annotations

from typing import Any

import pytest

from sandbench.model import (
    BenchmarkRun,
    BenchmarkRunState,
    EvalRunRecord,
    Resources,
    ResourceSize,
    Scenario,
    parse_scenarios,
)
from sandbench.model.documents import DocumentError
from sandbench.model.eval_run import EvalMetrics, EvalModel, EvalScorer
from tests.conftest import (
    load_schema,
    scenario_dict,
    schema_errors,
    scorer,
    with_launch,
    with_scorers,
)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        parse_scenarios(data)
    return [str(p) for p in caught.value.problems]


def assert_problem(data: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(data)
    assert any(p.startswith(f"{path}: ") and fragment in p for p in found), found


def valid(data: dict[str, Any]) -> Scenario:
    return parse_scenarios(data)[0].scenario


def test_minimal_scenario_is_valid() -> None:
    scenario = valid(scenario_dict())
    assert scenario.name == "minimal"
    assert scenario.resources == Resources(1, 2, 4)  # SMALL when unset


# ----------------------------------------------------------------- unknown and missing fields


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (scenario_dict(colour="blue"), "colour"),
        (
            scenario_dict(input_context={"problem_statement": "x", "hint": "y"}),
            "input_context.hint",
        ),
        (
            with_scorers(scorer("a", 1.0, command="true", cmd="oops")),
            "scoring_contract.scoring_function_parameters[0].scorer.cmd",
        ),
        (with_launch(cpus=2), "environment_parameters.launch_parameters.cpus"),
        (
            scenario_dict(environment_parameters={"image": "x"}),
            "environment_parameters.image",
        ),
    ],
)
def test_unknown_fields_are_rejected(data: dict[str, Any], path: str) -> None:
    assert_problem(data, path, "unknown field")


@pytest.mark.parametrize("field", ["name", "input_context", "scoring_contract"])
def test_required_top_level_fields(field: str) -> None:
    data = scenario_dict()
    del data[field]
    assert_problem(data, field, "required field is missing")


def test_problem_statement_required() -> None:
    assert_problem(
        scenario_dict(input_context={}), "input_context.problem_statement", "required field"
    )


def test_name_must_not_be_blank() -> None:
    assert_problem(scenario_dict(name="  "), "name", "must not be empty")


# ----------------------------------------------------------------- scorers


def test_all_six_scorer_types_parse_by_discriminator() -> None:
    scenario = valid(
        with_scorers(
            scorer("ast", 0.1, type="ast_grep_scorer", pattern="eval($A)", search_directory="."),
            scorer("bash", 0.2, type="bash_script_scorer", bash_script="echo score=1"),
            scorer("cmd", 0.2, type="command_scorer", command="true"),
            scorer("custom", 0.1, type="custom_scorer", custom_scorer_type="lint"),
            scorer("py", 0.2, type="python_script_scorer", python_script="print(1)"),
            scorer(
                "tests",
                0.2,
                type="test_based_scorer",
                test_command="python3 -m unittest",
                test_files=[{"file_path": "t.py", "file_contents": "pass"}],
            ),
        )
    )
    kinds = [type(f.scorer).__name__ for f in scenario.scorers]
    assert kinds == [
        "AstGrepScorer",
        "BashScriptScorer",
        "CommandScorer",
        "CustomScorer",
        "PythonScriptScorer",
        "TestBasedScorer",
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "ast_grep_scorer", "pattern": "x"}, "search_directory"),
        ({"type": "ast_grep_scorer", "search_directory": "."}, "pattern"),
        ({"type": "custom_scorer"}, "custom_scorer_type"),
        ({"type": "python_script_scorer"}, "python_script"),
    ],
)
def test_scorer_required_fields(spec: dict[str, Any], field: str) -> None:
    data = with_scorers({"name": "s", "weight": 1.0, "scorer": spec})
    assert_problem(
        data, f"scoring_contract.scoring_function_parameters[0].scorer.{field}", "required"
    )


def test_scorer_type_unknown_and_missing() -> None:
    path = "scoring_contract.scoring_function_parameters[0].scorer"
    assert_problem(with_scorers(scorer("s", 1.0, type="llm_scorer")), path, "unknown scorer type")
    assert_problem(
        with_scorers({"name": "s", "weight": 1.0, "scorer": {"command": "true"}}),
        path,
        "missing 'type'",
    )


@pytest.mark.parametrize("name", ["has space", "dot.name", "ümlaut", "", "semi;colon"])
def test_scorer_names_restricted(name: str) -> None:
    assert_problem(
        with_scorers(scorer(name, 1.0)),
        "scoring_contract.scoring_function_parameters[0].name",
        "may only contain",
    )


def test_scorer_name_charset_accepts_dash_and_underscore() -> None:
    assert valid(with_scorers(scorer("Unit_tests-2", 1.0))).scorers[0].name == "Unit_tests-2"


def test_scorer_names_unique() -> None:
    assert_problem(
        with_scorers(scorer("a", 0.5), scorer("a", 0.5)), "scoring_contract", "more than once"
    )


@pytest.mark.parametrize("weight", [0, -0.5])
def test_weights_positive(weight: float) -> None:
    assert_problem(
        with_scorers(scorer("a", weight), scorer("b", 1.0 - weight)),
        "scoring_contract.scoring_function_parameters[0].weight",
        "greater than 0",
    )


@pytest.mark.parametrize("weights", [(0.5, 0.495), (0.5, 0.51), (0.3, 0.7)])
def test_weights_sum_within_tolerance(weights: tuple[float, float]) -> None:
    scenario = valid(with_scorers(scorer("a", weights[0]), scorer("b", weights[1])))
    assert len(scenario.scorers) == 2


@pytest.mark.parametrize("weights", [(0.5, 0.48), (0.6, 0.42), (0.3, 0.3)])
def test_weights_must_sum_to_one(weights: tuple[float, float]) -> None:
    assert_problem(
        with_scorers(scorer("a", weights[0]), scorer("b", weights[1])),
        "scoring_contract",
        "must sum to 1.0",
    )


def test_at_least_one_scorer() -> None:
    assert_problem(with_scorers(), "scoring_contract", "at least one scoring function")


def test_weight_sum_reported_alongside_field_errors() -> None:
    found = problems(with_scorers(scorer("bad name", 0.3)))
    assert any("may only contain" in p for p in found)
    assert any(p.startswith("scoring_contract: weights sum to 0.3") for p in found)


def test_strings_are_not_coerced_to_numbers() -> None:
    assert_problem(
        with_scorers(scorer("a", "1.0")),  # type: ignore[arg-type]
        "scoring_contract.scoring_function_parameters[0].weight",
        "valid number",
    )


# ----------------------------------------------------------------- presets and custom sizes


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("X_SMALL", (0.5, 1, 4)),
        ("SMALL", (1, 2, 4)),
        ("MEDIUM", (2, 4, 8)),
        ("LARGE", (2, 8, 16)),
        ("X_LARGE", (4, 16, 16)),
        ("XX_LARGE", (8, 32, 16)),
    ],
)
def test_presets(size: str, expected: tuple[float, int, int]) -> None:
    assert valid(with_launch(resource_size_request=size)).resources == Resources(*expected)


def test_unknown_preset() -> None:
    assert_problem(
        with_launch(resource_size_request="HUGE"),
        "environment_parameters.launch_parameters.resource_size_request",
        "is not one of",
    )


def custom(cpu: float, memory: int, disk: int | None = None) -> dict[str, Any]:
    launch: dict[str, Any] = {
        "resource_size_request": "CUSTOM_SIZE",
        "custom_cpu_cores": cpu,
        "custom_gb_memory": memory,
    }
    if disk is not None:
        launch["custom_disk_size"] = disk
    return with_launch(**launch)


@pytest.mark.parametrize(
    ("cpu", "memory", "disk"),
    [(0.5, 1, 2), (0.5, 4, None), (1, 2, 64), (1, 8, 4), (2, 16, 10), (16, 32, 64), (16, 64, 8)],
)
def test_custom_sizes_accepted(cpu: float, memory: int, disk: int | None) -> None:
    resources = valid(custom(cpu, memory, disk)).resources
    assert (resources.cpu, resources.memory_gib) == (cpu, memory)
    assert resources.disk_gib == (disk or 8)


@pytest.mark.parametrize("cpu", [0.25, 1.5, 3, 18, 0])
def test_custom_cpu_rule(cpu: float) -> None:
    assert_problem(
        custom(cpu, 8),
        "environment_parameters.launch_parameters.custom_cpu_cores",
        "0.5, 1 or a multiple of 2",
    )


@pytest.mark.parametrize("memory", [3, 66, 0, 128])
def test_custom_memory_rule(memory: int) -> None:
    path = "environment_parameters.launch_parameters.custom_gb_memory"
    found = problems(custom(2, memory))
    assert any(p.startswith(path) for p in found), found


@pytest.mark.parametrize("disk", [1, 3, 66, 0])
def test_custom_disk_rule(disk: int) -> None:
    path = "environment_parameters.launch_parameters.custom_disk_size"
    found = problems(custom(2, 8, disk))
    assert any(p.startswith(path) for p in found), found


@pytest.mark.parametrize(("cpu", "memory"), [(2, 2), (4, 4), (2, 32), (0.5, 8), (1, 1)])
def test_custom_cpu_memory_ratio(cpu: float, memory: int) -> None:
    assert_problem(
        custom(cpu, memory), "environment_parameters.launch_parameters", "between 1:2 and 1:8"
    )


def test_custom_size_needs_cpu_and_memory() -> None:
    assert_problem(
        with_launch(resource_size_request="CUSTOM_SIZE", custom_gb_memory=4),
        "environment_parameters.launch_parameters",
        "CUSTOM_SIZE needs custom_cpu_cores",
    )


def test_custom_fields_need_custom_size() -> None:
    assert_problem(
        with_launch(resource_size_request="MEDIUM", custom_cpu_cores=2, custom_gb_memory=8),
        "environment_parameters.launch_parameters",
        "only apply with resource_size_request = 'CUSTOM_SIZE'",
    )


def test_integral_custom_cpu_exported_as_integer() -> None:
    exported = valid(custom(2, 8)).to_dict()
    cores = exported["environment_parameters"]["launch_parameters"]["custom_cpu_cores"]
    assert cores == 2 and isinstance(cores, int)


# ----------------------------------------------------------------- lifecycle and environment


def test_keep_alive_limit() -> None:
    assert valid(with_launch(keep_alive_time_seconds=172_800)).launch.keep_alive_time_seconds
    path = "environment_parameters.launch_parameters.keep_alive_time_seconds"
    assert_problem(with_launch(keep_alive_time_seconds=172_801), path, "less than or equal")
    assert_problem(with_launch(keep_alive_time_seconds=0), path, "greater than 0")


def test_after_idle_must_match_lifecycle_after_idle() -> None:
    idle = {"idle_time_seconds": 60, "on_idle": "suspend"}
    same = valid(with_launch(after_idle=idle, lifecycle={"after_idle": idle}))
    assert same.launch.idle_policy() is not None
    assert same.launch.idle_policy().idle_time_seconds == 60  # type: ignore[union-attr]
    other = {"idle_time_seconds": 60, "on_idle": "shutdown"}
    assert_problem(
        with_launch(after_idle=idle, lifecycle={"after_idle": other}),
        "environment_parameters.launch_parameters",
        "must be equal",
    )


def test_idle_policy_fields() -> None:
    path = "environment_parameters.launch_parameters.after_idle"
    assert_problem(
        with_launch(after_idle={"idle_time_seconds": 5, "on_idle": "hibernate"}),
        f"{path}.on_idle",
        "is not one of",
    )
    assert_problem(
        with_launch(after_idle={"idle_time_seconds": 0, "on_idle": "suspend"}),
        f"{path}.idle_time_seconds",
        "greater than 0",
    )


def test_architecture_enum() -> None:
    assert valid(with_launch(architecture="arm64")).architecture.value == "arm64"
    assert_problem(
        with_launch(architecture="riscv64"),
        "environment_parameters.launch_parameters.architecture",
        "is not one of",
    )


def test_user_parameters() -> None:
    user = valid(with_launch(user_parameters={"username": "dev", "uid": 1000}))
    assert user.launch.user_parameters is not None
    path = "environment_parameters.launch_parameters.user_parameters"
    assert_problem(
        with_launch(user_parameters={"username": "dev", "uid": -1}), f"{path}.uid", "greater"
    )
    assert_problem(
        with_launch(user_parameters={"username": "Bad User", "uid": 1}),
        f"{path}.username",
        "must start with",
    )
    assert_problem(with_launch(user_parameters={"username": "dev"}), f"{path}.uid", "required")


def test_resume_triggers_and_other_launch_fields() -> None:
    scenario = valid(
        with_launch(
            lifecycle={"resume_triggers": {"http": True, "axon_event": False}},
            required_services=["postgres"],
            network_policy_id="none",
            available_ports=[8080],
            launch_commands=["echo hi"],
        )
    )
    assert scenario.launch.network_policy_id == "none"
    assert_problem(
        with_launch(lifecycle={"resume_triggers": {"http": "yes"}}),
        "environment_parameters.launch_parameters.lifecycle.resume_triggers.http",
        "valid boolean",
    )


def test_working_directory_absolute() -> None:
    assert_problem(
        scenario_dict(environment_parameters={"working_directory": "repo"}),
        "environment_parameters.working_directory",
        "absolute path",
    )


def test_blueprint_or_snapshot_not_both() -> None:
    assert_problem(
        scenario_dict(environment_parameters={"blueprint_id": "a", "snapshot_id": "b"}),
        "environment_parameters",
        "not both",
    )


def test_required_env_and_secret_names() -> None:
    scenario = valid(
        scenario_dict(required_environment_variables=["API_URL"], required_secret_names=["TOKEN"])
    )
    assert scenario.required_secret_names == ["TOKEN"]
    assert_problem(
        scenario_dict(required_environment_variables=["1BAD"]),
        "required_environment_variables",
        "not a valid name",
    )
    assert_problem(
        scenario_dict(required_secret_names=["A", "A"]), "required_secret_names", "more than once"
    )


def test_validation_type_and_timeout() -> None:
    assert valid(scenario_dict(validation_type="FORWARD", scorer_timeout_sec=60)).timeout_sec == 60
    assert valid(scenario_dict()).timeout_sec == 1800
    assert_problem(scenario_dict(validation_type="SIDEWAYS"), "validation_type", "is not one of")
    assert_problem(scenario_dict(scorer_timeout_sec=0), "scorer_timeout_sec", "greater than 0")


def test_metadata_values_are_strings() -> None:
    assert_problem(scenario_dict(metadata={"team": 7}), "metadata.team", "valid string")


# ----------------------------------------------------------------- shapes and export


def test_list_response_and_view_shapes_are_accepted() -> None:
    view = {
        "id": "scn_abc",
        "is_public": False,
        **scenario_dict(),
        "environment": {"working_directory": "/w"},
    }
    parsed = parse_scenarios(view)
    assert parsed[0].source_id == "scn_abc"
    env = parsed[0].scenario.environment_parameters
    assert env is not None and env.working_directory == "/w"

    second = {**view, "id": "scn_def", "name": "second"}
    listing = {"scenarios": [view, second], "has_more": False, "total_count": 2}
    assert [p.scenario.name for p in parse_scenarios(listing)] == ["minimal", "second"]


def test_list_response_problems_name_the_item() -> None:
    bad = {**scenario_dict(), "id": "scn_x", "environment": {"working_directory": "rel"}}
    found = problems({"scenarios": [{**scenario_dict(), "id": "scn_ok"}, bad]})
    assert any(p.startswith("scenarios[1].environment.working_directory") for p in found), found


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(DocumentError, match="expected an object"):
        parse_scenarios(["not", "a", "scenario"])


def _every_field() -> dict[str, Any]:
    idle = {"idle_time_seconds": 300, "on_idle": "suspend"}
    return scenario_dict(
        input_context={"problem_statement": "p", "additional_context": {"k": [1, 2]}},
        scoring_contract={
            "scoring_function_parameters": [
                scorer(
                    "a",
                    0.5,
                    type="ast_grep_scorer",
                    pattern="f($A)",
                    search_directory=".",
                    lang="python",
                ),
                scorer(
                    "b",
                    0.5,
                    type="python_script_scorer",
                    python_script="print(1)",
                    requirements_contents="six\n",
                    python_version_constraint=">=3.11",
                ),
            ]
        },
        environment_parameters={
            "blueprint_id": "bp",
            "working_directory": "/w",
            "launch_parameters": {
                "launch_commands": ["true"],
                "resource_size_request": "CUSTOM_SIZE",
                "custom_cpu_cores": 2,
                "custom_gb_memory": 8,
                "custom_disk_size": 16,
                "available_ports": [80],
                "keep_alive_time_seconds": 3600,
                "after_idle": idle,
                "architecture": "arm64",
                "user_parameters": {"username": "dev", "uid": 1000},
                "required_services": ["db"],
                "network_policy_id": "none",
                "lifecycle": {"after_idle": idle, "resume_triggers": {"http": True}},
            },
        },
        metadata={"team": "evals"},
        reference_output="diff --git a/x b/x\n",
        required_environment_variables=["API_URL"],
        required_secret_names=["TOKEN"],
        validation_type="FORWARD",
        scorer_timeout_sec=600,
    )


def test_export_with_every_field_validates_against_schema() -> None:
    exported = valid(_every_field()).to_dict()
    assert schema_errors(exported, "runloop-scenario.schema.json") == []
    assert valid(exported) == valid(_every_field())


def test_export_omits_unset_fields() -> None:
    exported = valid(scenario_dict()).to_dict()

    def has_none(value: Any) -> bool:
        if isinstance(value, dict):
            return any(v is None or has_none(v) for v in value.values())
        if isinstance(value, list):
            return any(has_none(v) for v in value)
        return False

    assert not has_none(exported)
    assert "environment_parameters" not in exported
    assert schema_errors(exported, "runloop-scenario.schema.json") == []


def test_model_fields_match_schema_properties() -> None:
    """The names of every schema object's properties are exactly the model's fields."""
    from sandbench.model import scenario as m

    schema = load_schema("runloop-scenario.schema.json")
    defs = schema["$defs"]
    pairs = {
        m.Scenario: schema,
        m.InputContext: defs["InputContext"],
        m.ScoringContract: defs["ScoringContract"],
        m.ScoringFunction: defs["ScoringFunction"],
        m.AstGrepScorer: defs["AstGrepScoringFunction"],
        m.BashScriptScorer: defs["BashScriptScoringFunction"],
        m.CommandScorer: defs["CommandScoringFunction"],
        m.CustomScorer: defs["CustomScoringFunction"],
        m.PythonScriptScorer: defs["PythonScriptScoringFunction"],
        m.TestFile: defs["TestFile"],
        m.TestBasedScorer: defs["TestBasedScoringFunction"],
        m.IdleConfiguration: defs["IdleConfigurationParameters"],
        m.UserParameters: defs["UserParameters"],
        m.ResumeTriggers: defs["ResumeTriggers"],
        m.LifecycleConfiguration: defs["LifecycleConfigurationParameters"],
        m.LaunchParameters: defs["LaunchParameters"],
        m.ScenarioEnvironment: defs["ScenarioEnvironment"],
    }
    for model, definition in pairs.items():
        assert set(model.model_fields) == set(definition["properties"]), model.__name__
    assert {s.value for s in ResourceSize} == set(defs["ResourceSize"]["enum"])


# ----------------------------------------------------------------- other exports


def test_benchmark_run_export_validates_against_schema() -> None:
    run = BenchmarkRun(
        id="bmr_1",
        benchmark_id="bmd_1",
        name="nightly",
        start_time_ms=1_700_000_000_000,
        duration_ms=1234,
        state=BenchmarkRunState.COMPLETED,
        score=0.75,
        secrets_provided={"DB_PASS": "DATABASE_PASSWORD"},
        total_cases=4,
        ok_cases=3,
        cache_hit_cases=1,
        status_breakdown={"completed": 3, "failed": 1},
        total_cost_usd=0.02,
        case_filter=["a"],
        notes="n",
        triggered_by="cli",
    )
    exported = run.to_runloop_dict()
    assert schema_errors(exported, "runloop-benchmark-run.schema.json") == []
    assert "total_cases" not in exported and exported["metadata"] == {}
    minimal = BenchmarkRun(id="bmr_2", start_time_ms=1, state=BenchmarkRunState.RUNNING)
    assert schema_errors(minimal.to_runloop_dict(), "runloop-benchmark-run.schema.json") == []


def test_eval_run_record_validates_against_structure() -> None:
    record = EvalRunRecord(
        id="srs_1",
        suite_id="bmd_1",
        case_id="scn_1",
        experiment_id="bmr_1",
        model=EvalModel(provider="local", name="reference"),
        output="ok\n",
        scorer=EvalScorer(id="tests", name="tests", type="code"),
        score=1.0,
        metrics=EvalMetrics(latency_ms=12),
        tags=["command_scorer"],
        timestamp="2026-11-21T08:00:00Z",
    )
    assert schema_errors(record.to_dict(), "eval-run.structure.json") == []
    assert schema_errors({"id": "x"}, "eval-run.structure.json") != []  # the check can fail
