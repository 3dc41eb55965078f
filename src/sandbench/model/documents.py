"""Read scenario documents: Runloop create parameters, a scenario view, or a list response.

The three shapes are told apart by their keys; each is validated strictly in its own shape,
so a problem's path is the path in the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sandbench.model.problems import Problem, problems_from
from sandbench.model.scenario import (
    WEIGHT_TOLERANCE,
    Scenario,
    ScenarioListView,
    ScenarioView,
    weights_sum_ok,
)

_VIEW_ONLY_KEYS = {"id", "environment", "is_public", "status"}


@dataclass(frozen=True)
class ParsedScenario:
    scenario: Scenario
    source_id: str | None = None  # the id it carried, when it came from a Runloop view


class DocumentError(Exception):
    """A document that is not a valid scenario; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def parse_scenarios(data: Any) -> list[ParsedScenario]:
    """Validate a decoded document. Raises DocumentError listing every problem."""
    if not isinstance(data, dict):
        raise DocumentError([Problem("", "expected an object/table at the top level")])
    try:
        if "scenarios" in data:
            listing = ScenarioListView.model_validate(data)
            return [_from_view(v, f"scenarios[{i}]") for i, v in enumerate(listing.scenarios)]
        if _VIEW_ONLY_KEYS & data.keys():
            return [_from_view(ScenarioView.model_validate(data), "")]
        return [ParsedScenario(Scenario.model_validate(data))]
    except ValidationError as error:
        problems = problems_from(error) + _contract_problems(data)
        raise DocumentError(list(dict.fromkeys(problems))) from None  # dedupe, keep order


def validate_scenario(data: Any) -> Scenario:
    """A document in the create-parameters shape only (the editor's): view keys are unknown
    fields here. Raises DocumentError listing every problem."""
    if not isinstance(data, dict):
        raise DocumentError([Problem("", "expected an object/table at the top level")])
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = problems_from(error) + _contract_problems(data)
        raise DocumentError(list(dict.fromkeys(problems))) from None


def _contract_problems(data: dict[str, Any]) -> list[Problem]:
    """The weight-sum rule, checked on raw data.

    Pydantic skips a model's own rules when one of its fields is invalid, so a file with a
    bad scorer would not hear about its weights; this reports them anyway.
    """
    documents = data.get("scenarios") if "scenarios" in data else [data]
    problems: list[Problem] = []
    for index, document in enumerate(documents if isinstance(documents, list) else []):
        contract = document.get("scoring_contract") if isinstance(document, dict) else None
        functions = (
            contract.get("scoring_function_parameters") if isinstance(contract, dict) else None
        )
        if not isinstance(functions, list) or not functions:
            continue
        weights = [f.get("weight") for f in functions if isinstance(f, dict)]
        if not all(type(w) in (int, float) for w in weights) or len(weights) != len(functions):
            continue  # a bad weight is already reported on its own
        total = sum(weights)
        if not weights_sum_ok(total):
            where = (
                f"scenarios[{index}].scoring_contract"
                if "scenarios" in data
                else ("scoring_contract")
            )
            problem = Problem(
                where, f"weights sum to {total:g}; they must sum to 1.0 (within {WEIGHT_TOLERANCE})"
            )
            problems.append(problem)
    return problems


def _from_view(view: ScenarioView, where: str) -> ParsedScenario:
    try:
        return ParsedScenario(view.to_scenario(), view.id)
    except ValidationError as error:  # pragma: no cover - a valid view is a valid scenario
        raise DocumentError(problems_from(error, where)) from None
