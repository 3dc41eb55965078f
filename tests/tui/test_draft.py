"""The editor's draft rules, without a screen: conversions, problems by field, scorer edits."""

from __future__ import annotations

import pytest

from sandbench.model.problems import format_loc
from sandbench.store.files import load_file
from sandbench.tui.draft import (
    BLANK,
    ENVIRONMENT,
    GENERAL,
    LAUNCH,
    MISSING,
    SCORERS,
    Draft,
    Field,
    Invalid,
    Kind,
    file_fields,
    owner,
    parse,
    scorer_fields,
    show,
)
from tests.conftest import sample_files, scenario_dict, scorer, with_scorers


def weight_field(index: int) -> Field:
    return scorer_fields(index, "command_scorer")[1]


def every_field(draft: Draft) -> list[Field]:
    fields = [*GENERAL, *draft.environment_fields()]
    for index, entry in enumerate(draft.scorers):
        spec = entry["scorer"]
        fields.extend(scorer_fields(index, spec["type"]))
        for file_index in range(len(spec.get("test_files") or [])):
            fields.extend(file_fields(index, file_index))
    return fields


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (Kind.INT, " 12 ", 12),
        (Kind.INT, "1.5", "1.5"),  # kept as text: the model names the field and the reason
        (Kind.FLOAT, "0.25", 0.25),
        (Kind.FLOAT, "2", 2),
        (Kind.NAMES, "API_KEY, TOKEN  OTHER", ["API_KEY", "TOKEN", "OTHER"]),
        (Kind.INTS, "80, 443", [80, 443]),
        (Kind.LINES, "apt-get update\n\n  make  \n", ["apt-get update", "make"]),
        (Kind.COMMANDS, "apt-get update\nmake\n", ["apt-get update", "make"]),
        (Kind.COMMANDS, "---\nset -e\ncd /x\n---\nmake", ["set -e\ncd /x", "make"]),
        (Kind.PAIRS, "a=1\n b = two \n", {"a": "1", "b": "two"}),
        (Kind.JSON, '{"k": [1, 2]}', {"k": [1, 2]}),
        (Kind.BOOL, "false", False),
        (Kind.TEXT, "   ", MISSING),
        (Kind.REQUIRED, "  ", ""),
    ],
)
def test_field_text_converts(kind: Kind, text: str, value: object) -> None:
    assert parse(kind, text) == value if value is not MISSING else parse(kind, text) is MISSING


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (Kind.JSON, '{"a": }', "invalid JSON: Expecting value (line 1, column 7)"),
        (Kind.JSON, "[1]", "must be a JSON object"),
        (Kind.PAIRS, "ok=1\nno equals sign", "line 2: expected KEY=value"),
    ],
)
def test_text_that_does_not_convert_says_why(kind: Kind, text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(kind, text)


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_opening_a_sample_and_touching_nothing_changes_nothing(path) -> None:
    """Every field shown and written back as it is leaves the document identical: opening
    the editor never makes a new version by itself."""
    document = load_file(path)[0].scenario.to_dict()
    draft = Draft(document)
    for field in every_field(draft):
        draft.write(field, show(field.kind, draft.get(field.path)))
    assert draft.document() == document
    assert draft.problems() == []


def test_a_bad_weight_is_a_problem_of_that_field() -> None:
    draft = Draft(with_scorers(scorer("a", 0.5), scorer("b", 0.5)))
    draft.write(weight_field(1), "heavy")
    problems = draft.problems()
    places = [f.where for f in every_field(draft)]
    assert [(owner(p.path, places), p.reason) for p in problems] == [
        (weight_field(1).where, "Input should be a valid number (got str 'heavy')")
    ]
    draft.write(weight_field(1), "0.6")
    assert [(p.path, p.reason) for p in draft.problems()] == [
        ("scoring_contract", "weights sum to 1.1; they must sum to 1.0 (within 0.01)")
    ]


def test_json_that_does_not_parse_is_reported_once_and_kept_aside() -> None:
    draft = Draft(scenario_dict())
    context = next(f for f in GENERAL if f.path[-1] == "additional_context")
    draft.write(context, '{"repo": ')
    assert [str(p) for p in draft.problems()] == [
        "input_context.additional_context: invalid JSON: Expecting value (line 1, column 10)"
    ]
    assert draft.get(context.path) is MISSING  # the document never holds the broken text
    draft.write(context, '{"repo": "x"}')
    assert draft.problems() == [] and draft.get(context.path) == {"repo": "x"}


def test_emptying_every_field_of_a_section_removes_the_section() -> None:
    draft = Draft(scenario_dict(environment_parameters={"working_directory": "/src"}))
    workdir = next(f for f in ENVIRONMENT if f.path[-1] == "working_directory")
    draft.write(workdir, "")
    assert "environment_parameters" not in draft.document()


def test_custom_size_rules_reach_the_launch_section() -> None:
    draft = Draft(scenario_dict())
    fields = {f.path[-1]: f for f in ENVIRONMENT}
    draft.write(fields["resource_size_request"], "CUSTOM_SIZE")
    assert [str(p) for p in draft.problems()] == [
        f"{format_loc(LAUNCH)}: CUSTOM_SIZE needs custom_cpu_cores and custom_gb_memory"
    ]
    draft.write(fields["custom_cpu_cores"], "2")
    draft.write(fields["custom_gb_memory"], "32")
    assert [p.reason for p in draft.problems()] == [
        "cpu:memory ratio is 1:16 (2 cpu, 32 GiB); it must be between 1:2 and 1:8"
    ]
    draft.write(fields["custom_gb_memory"], "8")
    assert draft.problems() == []
    assert draft.scenario().resources.describe() == "2 cpu, 8 GiB memory, 8 GiB disk"


def test_idle_policy_keeps_lifecycle_in_step() -> None:
    idle = {"idle_time_seconds": 60, "on_idle": "suspend"}
    draft = Draft(
        scenario_dict(
            environment_parameters={
                "launch_parameters": {"after_idle": idle, "lifecycle": {"after_idle": idle}}
            }
        )
    )
    fields = {f.path[-1]: f for f in ENVIRONMENT}
    draft.write(fields["idle_time_seconds"], "300")
    assert draft.problems() == []
    policy = draft.scenario().launch.idle_policy()
    assert policy is not None and policy.idle_time_seconds == 300
    draft.write(fields["on_idle"], "")
    draft.write(fields["idle_time_seconds"], "")
    launch = draft.document().get("environment_parameters", {}).get("launch_parameters", {})
    assert "after_idle" not in launch and "after_idle" not in launch.get("lifecycle", {})


def test_a_lifecycle_only_idle_policy_is_edited_where_it_is() -> None:
    idle = {"idle_time_seconds": 60, "on_idle": "shutdown"}
    draft = Draft(
        scenario_dict(
            environment_parameters={"launch_parameters": {"lifecycle": {"after_idle": idle}}}
        )
    )
    fields = {f.path[-1]: f for f in draft.environment_fields()}
    assert fields["idle_time_seconds"].path == (
        *LAUNCH,
        "lifecycle",
        "after_idle",
        "idle_time_seconds",
    )
    assert show(Kind.INT, draft.get(fields["idle_time_seconds"].path)) == "60"
    draft.write(fields["idle_time_seconds"], "90")
    launch = draft.document()["environment_parameters"]["launch_parameters"]
    assert launch == {"lifecycle": {"after_idle": {"idle_time_seconds": 90, "on_idle": "shutdown"}}}
    assert draft.problems() == []


def test_normalise_scales_weights_to_exactly_one() -> None:
    draft = Draft(with_scorers(scorer("a", 2.0), scorer("b", 1.0), scorer("c", 1.0)))
    draft.normalise_weights()
    assert [s["weight"] for s in draft.scorers] == [0.5, 0.25, 0.25]
    draft = Draft(with_scorers(scorer("a", 1.0), scorer("b", 1.0), scorer("c", 1.0)))
    draft.normalise_weights()
    weights = [s["weight"] for s in draft.scorers]
    assert weights == [0.3333, 0.3333, 0.3334] and draft.problems() == []


def test_normalise_refuses_weights_that_are_not_numbers() -> None:
    draft = Draft(with_scorers(scorer("a", 0.5), scorer("b", 0.5)))
    draft.write(weight_field(1), "lots")
    with pytest.raises(Invalid, match="fix the weight of b first"):
        draft.normalise_weights()


def test_scorers_are_added_moved_retyped_and_removed() -> None:
    draft = Draft(BLANK)
    new = draft.add_scorer(0, "bash_script_scorer")
    assert new == 1 and [s["name"] for s in draft.scorers] == ["done", "scorer-2"]
    assert draft.move_scorer(1, -1) == 0
    assert [s["name"] for s in draft.scorers] == ["scorer-2", "done"]
    assert draft.move_scorer(0, -1) == 0  # already first
    draft.set_scorer_type(0, "ast_grep_scorer")
    entry = draft.scorers[0]
    assert entry["name"] == "scorer-2" and entry["scorer"]["type"] == "ast_grep_scorer"
    problems = [str(p) for p in draft.problems()]
    assert "scoring_contract: weights sum to 1.5; they must sum to 1.0 (within 0.01)" in problems
    draft.remove_scorer(0)
    assert [s["name"] for s in draft.scorers] == ["done"] and draft.problems() == []


def test_test_files_are_added_and_removed() -> None:
    draft = Draft(BLANK)
    draft.set_scorer_type(0, "test_based_scorer")
    assert draft.add_test_file(0) == 0
    _, contents_field = file_fields(0, 0)
    draft.write(contents_field, "def test_ok():\n    pass\n")
    files = draft.scenario().scorers[0].scorer.test_files  # type: ignore[union-attr]
    assert files is not None and files[0].file_path == "tests/test_new_1.py"
    draft.remove_test_file(0, 0)
    assert draft.get((*SCORERS, 0, "scorer", "test_files")) == []
