"""Exports: one eval-run record per scorer result, and Runloop benchmark-run JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sandbench.model.eval_run import EvalMetrics, EvalModel, EvalRunRecord, EvalScorer
from sandbench.model.runs import ScenarioRun, latest_attempts
from sandbench.store import Store


def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def eval_records(store: Store, run: ScenarioRun) -> list[EvalRunRecord]:
    record = store.get_scenario(run.scenario_id, run.scenario_version)
    scenario = record.scenario
    detail = json.loads(store.run_extras(run.id)["solution_detail"] or "{}")
    suite = None
    if run.benchmark_run_id:
        suite = store.get_benchmark_run(run.benchmark_run_id).benchmark_id
    out = []
    for result in latest_attempts(run.scorer_results):
        usage = run.usage
        out.append(
            EvalRunRecord(
                id=result.id,
                suite_id=suite or record.id,
                case_id=record.id,
                experiment_id=run.benchmark_run_id or run.id,
                model=EvalModel(
                    provider="sandbench",
                    name=run.solution.value,
                    version=str(detail.get("command") or run.solution.value),
                ),
                prompt=scenario.input_context.problem_statement,
                input={
                    "scenario": scenario.name,
                    "version": run.scenario_version,
                    "run_id": run.id,
                },
                output=result.output,
                output_structured={
                    "state": result.state.value,
                    "exit_code": result.exit_code,
                    "attempt": result.attempt,
                    "weight": result.weight,
                    "details": result.details,
                },
                expected=scenario.reference_output,
                scorer=EvalScorer(id=result.name, name=result.name, type="code"),
                score=result.score if result.score is not None else 0.0,
                label=result.state.value,
                metrics=EvalMetrics(
                    latency_ms=result.duration_ms,
                    input_tokens=usage.input_tokens if usage else None,
                    output_tokens=usage.output_tokens if usage else None,
                    cost_usd=usage.cost_usd if usage else None,
                ),
                tags=[result.type, run.solution.value, run.state.value],
                timestamp=_timestamp(result.started_at_ms),
            )
        )
    return out


def eval_jsonl(store: Store, runs: list[ScenarioRun]) -> str:
    lines = [
        json.dumps(r.to_dict(), ensure_ascii=False)
        for run in runs
        for r in eval_records(store, run)
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def benchmark_run_json(store: Store, benchmark_run_id: str) -> str:
    return json.dumps(store.get_benchmark_run(benchmark_run_id).to_runloop_dict(), indent=2) + "\n"
