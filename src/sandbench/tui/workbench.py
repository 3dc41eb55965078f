"""What the screens ask of the core, in one place, shaped for display.

Every method blocks (SQLite, Podman): screens call them from thread workers only. Tests
replace this object with one that answers from fixed data, for deterministic snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbench.engine import Engine
from sandbench.model.runs import ScenarioRun, Solution
from sandbench.model.scenario import Scenario
from sandbench.runner import Runner
from sandbench.runner.events import EventBus
from sandbench.store import ImportAction, Page, ScenarioRecord, Store
from sandbench.store.files import FileProblem, load_paths

SCORER_SHORT = {
    "command_scorer": "cmd",
    "bash_script_scorer": "bash",
    "python_script_scorer": "py",
    "test_based_scorer": "test",
    "ast_grep_scorer": "ast",
    "custom_scorer": "custom",
}


def short_type(scorer_type: str) -> str:
    return SCORER_SHORT.get(scorer_type, scorer_type.removesuffix("_scorer"))


@dataclass(frozen=True)
class ScenarioRow:
    """One line of the scenarios table."""

    id: str
    name: str
    version: int
    scorer_types: tuple[str, ...]
    preset: str
    arch: str
    last_run_id: str | None = None
    last_state: str | None = None
    last_score: float | None = None
    last_run_ms: int | None = None


@dataclass(frozen=True)
class RowsPage:
    rows: list[ScenarioRow]
    has_more: bool
    total: int


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    type: str
    weight: float


@dataclass(frozen=True)
class RunDetail:
    """A run, with what the run screen needs beside it."""

    run: ScenarioRun
    scenario_name: str
    scorers: tuple[ScorerSpec, ...]


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    state: str
    detail: str = ""  # failure or shutdown reason


@dataclass(frozen=True)
class ImportOutcome:
    counts: dict[str, int]  # action -> how many
    problems: list[FileProblem]

    @property
    def summary(self) -> str:
        parts = [f"{n} {action}" for action, n in self.counts.items() if n]
        return ", ".join(parts) or "nothing to import"


def scorer_specs(scenario: Scenario) -> tuple[ScorerSpec, ...]:
    return tuple(ScorerSpec(f.name, f.scorer.type, f.weight) for f in scenario.scorers)


def scenario_row(record: ScenarioRecord, last: ScenarioRun | None) -> ScenarioRow:
    scenario = record.scenario
    types = tuple(dict.fromkeys(short_type(f.scorer.type) for f in scenario.scorers))
    return ScenarioRow(
        id=record.id,
        name=scenario.name,
        version=record.version,
        scorer_types=types,
        preset=scenario.size.value,
        arch=scenario.architecture.value,
        last_run_id=last.id if last else None,
        last_state=last.state.value if last else None,
        last_score=last.score if last else None,
        last_run_ms=last.start_time_ms if last else None,
    )


class Workbench:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self.runner = Runner(store, engine)

    @property
    def bus(self) -> EventBus:
        return self.runner.bus

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def check_engine(self) -> str:
        """Connect to Podman (starting a private service if needed); its URI."""
        return self.engine.connection.uri

    # ------------------------------------------------------------------ reading

    def scenario_page(self, name: str | None, starting_after: str | None, limit: int) -> RowsPage:
        page = self.store.list_scenarios(
            name=name or None, limit=limit, starting_after=starting_after
        )
        rows = []
        for record in page.items:
            last = self.store.list_runs(scenario=record.id, limit=1).items
            rows.append(scenario_row(record, last[0] if last else None))
        return RowsPage(rows, page.has_more, page.total_count)

    def runs_page(
        self, scenario_id: str | None, starting_after: str | None, limit: int
    ) -> Page[ScenarioRun]:
        return self.store.list_runs(
            scenario=scenario_id, limit=limit, starting_after=starting_after
        )

    def run_detail(self, run_id: str) -> RunDetail:
        run = self.store.get_run(run_id)
        record = self.store.get_scenario(run.scenario_id, run.scenario_version)
        return RunDetail(run, record.scenario.name, scorer_specs(record.scenario))

    def run_sandbox_id(self, run_id: str) -> str | None:
        return self.store.get_run(run_id).sandbox_id

    def sandbox(self, sandbox_id: str) -> SandboxInfo:
        sandbox = self.store.get_sandbox(sandbox_id)
        reason = sandbox.failure_reason or sandbox.shutdown_reason
        return SandboxInfo(sandbox.id, sandbox.status.value, str(reason) if reason else "")

    # ------------------------------------------------------------------ changing

    def import_paths(self, paths: list[Path]) -> ImportOutcome:
        report = load_paths(paths)
        if report.problems:  # all or nothing, like `sandbench scenarios import`
            return ImportOutcome({}, report.problems)
        results = self.store.import_scenarios([parsed for _, parsed in report.scenarios])
        counts = {action.value: 0 for action in ImportAction}
        for result in results:
            counts[result.action.value] += 1
        return ImportOutcome(counts, [])

    def archive(self, scenario_id: str) -> ScenarioRecord:
        return self.store.archive_scenario(scenario_id)

    def start_run(
        self,
        scenario_id: str,
        solution: Solution,
        *,
        use_cache: bool = True,
        on_created: Callable[[RunDetail], None] | None = None,
    ) -> ScenarioRun:
        record = self.store.get_scenario(scenario_id)
        specs = scorer_specs(record.scenario)

        def created(run: ScenarioRun) -> None:
            if on_created is not None:
                on_created(RunDetail(run, record.scenario.name, specs))

        return self.runner.run(
            record.id,
            version=record.version,
            solution=solution,
            use_cache=use_cache,
            on_created=created,
        )

    def rerun_scorers(self, run_id: str, scorer: str | None = None) -> ScenarioRun:
        return self.runner.rerun_scorers(run_id, scorer)

    def rerun_run(
        self, run_id: str, *, on_created: Callable[[RunDetail], None] | None = None
    ) -> ScenarioRun:
        """A whole new run of the same version and solution, never from the cache (that is
        what asking to run it again means)."""
        run = self.store.get_run(run_id)
        record = self.store.get_scenario(run.scenario_id, run.scenario_version)
        specs = scorer_specs(record.scenario)

        def created(new: ScenarioRun) -> None:
            if on_created is not None:
                on_created(RunDetail(new, record.scenario.name, specs))

        return self.runner.rerun(run_id, use_cache=False, on_created=created)

    def cancel(self, run_id: str) -> None:
        self.runner.cancel(run_id)
