"""Exports: one eval-run record per scorer result, Runloop benchmark-run JSON, and
sandbench's benchmark report (cases, reasons, per-scenario statistics)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sandbench.model.benchmark import BenchmarkCase, BenchmarkRun
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
                    **({"node": run.node} if run.node else {}),
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


def benchmark_report_json(store: Store, benchmark_run_id: str) -> str:
    """sandbench's own report: the run, its cases with attempts and reasons, and per
    scenario the mean, standard deviation, pass@1 and pass@k of its repeats."""
    run = store.get_benchmark_run(benchmark_run_id)
    runs = store.runs_of_benchmark_run(run.id, with_output=False)
    document = benchmark_run_document(run, store.cases_of(run.id), runs)
    return json.dumps(document, indent=2) + "\n"


def benchmark_run_document(
    run: BenchmarkRun, cases: list[BenchmarkCase], runs: list[ScenarioRun] | None = None
) -> dict[str, Any]:
    """A benchmark run as ``--json`` prints it: the run, its repeats, each case with its
    attempts and reason, and per scenario the mean, standard deviation, pass@1, pass@k;
    with ``runs``, every attempt (a case retried has several), and where it ran."""
    document = run.model_dump(mode="json")
    document["repeats"] = run.settings.repeats
    document["retries"] = run.settings.retries
    document["flaky"] = run.flaky
    document["cases"] = [c.model_dump(mode="json") for c in cases]
    if runs is not None:
        document["attempts"] = [
            {
                "run_id": r.id,
                "scenario_id": r.scenario_id,
                "name": r.name,
                "state": r.state.value,
                "score": r.score,
                "failure_reason": r.failure_reason,
                "node": r.node,
            }
            for r in runs
        ]
    return document
