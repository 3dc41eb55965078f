"""Benchmark runs written straight into the store, as the runner would leave them: no
Podman, every case's outcome chosen by the test."""

from __future__ import annotations

from collections.abc import Sequence

from sandbench.model import parse_scenarios
from sandbench.model.benchmark import (
    Benchmark,
    BenchmarkCase,
    BenchmarkRun,
    BenchmarkRunState,
    BenchmarkSettings,
    CaseState,
)
from sandbench.model.documents import ParsedScenario
from sandbench.model.ids import new_id
from sandbench.model.runs import RunState, ScorerState, Solution
from sandbench.runner.benchmark_runs import summarise
from sandbench.store import Store
from sandbench.store.database import now_ms
from tests.conftest import scenario_dict

# a case's outcome: a score (its run completed with it), or (state, reason)
Outcome = float | tuple[CaseState, str]


def scenario(name: str, reference: bool = True) -> dict:
    top = {"name": name}
    if reference:
        top["reference_output"] = "echo 42 > answer.txt\n"
    return scenario_dict(**top)


def benchmark_of(store: Store, name: str, scenario_names: Sequence[str]) -> Benchmark:
    """The scenarios (made unless stored already), and a benchmark of them."""
    known = {r.name for r in store.list_scenarios(limit=1000).items}
    missing = [scenario(n) for n in scenario_names if n not in known]
    if missing:
        store.import_scenarios([ParsedScenario(parse_scenarios(d)[0].scenario) for d in missing])
    return store.create_benchmark(name, list(scenario_names))


def record_run(
    store: Store,
    benchmark: Benchmark,
    outcomes: dict[str, Sequence[Outcome]],
    *,
    finish: bool = True,
) -> BenchmarkRun:
    """A benchmark run of ``benchmark`` whose cases ended as ``outcomes`` says: per scenario
    name, one outcome per repeat (every scenario the same number). Scenarios left out are
    not in the run (a filtered run). ``finish``: summarised as the runner ends a run;
    otherwise left running, owned by nobody alive (reconcile or
    ``Store.interrupt_benchmark_run`` interrupts it)."""
    repeats = len(next(iter(outcomes.values())))
    records = {r.name: r for r in store.list_scenarios(limit=1000).items}
    positions = {sid: i for i, sid in enumerate(benchmark.scenario_ids)}
    run = store.create_benchmark_run(
        BenchmarkRun(
            id=new_id("benchmark_run"),
            benchmark_id=benchmark.id,
            name=f"{benchmark.name} (reference)",
            start_time_ms=now_ms(),
            state=BenchmarkRunState.RUNNING,
            total_cases=len(outcomes) * repeats,
            settings=BenchmarkSettings(repeats=repeats, jobs=1),
        ),
        owner_pid=None if finish else 2**22 + 12345,  # no such process
        owner_start=None if finish else "gone",
    )
    cases: list[BenchmarkCase] = []
    for name in outcomes:
        record = records[name]
        for repeat in range(repeats):
            cases.append(
                BenchmarkCase(
                    benchmark_run_id=run.id,
                    position=positions[record.id],
                    repeat_index=repeat,
                    scenario_id=record.id,
                    scenario_version=record.version,
                )
            )
    store.create_cases(cases)
    for case in cases:
        outcome = outcomes[records_by_id(records)[case.scenario_id]][case.repeat_index]
        if isinstance(outcome, tuple):
            state, reason = outcome
            if state in (CaseState.PENDING, CaseState.RUNNING):
                store.update_case(case, state=state)
                continue
            run_id = None
            if state == CaseState.FAILED:
                failed = store.create_run(
                    case.scenario_id, case.scenario_version, Solution.REFERENCE,
                    benchmark_run_id=run.id, name=records_by_id(records)[case.scenario_id],
                )  # fmt: skip
                store.set_run_state(failed.id, RunState.FAILED, failure_reason=reason)
                run_id = failed.id
            store.update_case(case, state=state, reason=reason, run_id=run_id, attempts=1)
            continue
        scored = store.create_run(
            case.scenario_id,
            case.scenario_version,
            Solution.REFERENCE,
            benchmark_run_id=run.id,
            name=records_by_id(records)[case.scenario_id],
        )
        result = store.start_scorer(scored.id, "tests", "command_scorer", 1.0)
        store.finish_scorer(result.id, ScorerState.COMPLETE, score=outcome, exit_code=0)
        store.set_run_state(scored.id, RunState.COMPLETED)
        store.update_case(case, state=CaseState.DONE, run_id=scored.id, attempts=1)
    if finish:
        return summarise(store, store.get_benchmark_run(run.id), run.total_cases)
    return store.get_benchmark_run(run.id)


def records_by_id(records: dict) -> dict[str, str]:
    return {record.id: name for name, record in records.items()}
