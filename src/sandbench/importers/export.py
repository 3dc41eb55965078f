"""Export scenarios back to the formats they came from (Harbor task directories)."""

from __future__ import annotations

from pathlib import Path

from sandbench.errors import InvalidInput, NotFound
from sandbench.importers import harbor
from sandbench.importers._common import Refused
from sandbench.model.scenario import Scenario
from sandbench.store import Store
from sandbench.store.files import file_name


def blueprint_context(store: Store, scenario: Scenario) -> bytes | None:
    """The build context of the scenario's blueprint, when it was built from one here."""
    env = scenario.environment_parameters
    if env is None or not env.blueprint_id:
        return None
    try:
        blueprint = store.get_blueprint(env.blueprint_id)
    except NotFound:
        return None
    source = blueprint.source or ""
    if not source.startswith("object "):
        return None
    object_id = source.removeprefix("object ")
    with store.open_object(object_id) as handle:
        return handle.read()


def export_harbor(
    store: Store, scenarios: list[Scenario], output: Path, *, one: bool
) -> list[Path]:
    """One task directory: ``output`` itself (``one``), else ``output/<name>/`` each."""
    written: list[Path] = []
    for scenario in scenarios:
        target = output if one else output / file_name(scenario, "x").removesuffix(".x")
        try:
            harbor.export_task(scenario, target, context_tar=blueprint_context(store, scenario))
        except Refused as refused:
            raise InvalidInput(f"{scenario.name}: {refused}") from None
        written.append(target)
    return written
