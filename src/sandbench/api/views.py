"""sandbench's objects in the shapes of Runloop's views (SDK 1.32 types).

Required fields are always present (the SDK's helpers branch on them); sandbench's own
extras ride along, which the clients ignore.
"""

from __future__ import annotations

from typing import Any

from sandbench.model.benchmark import Benchmark, BenchmarkRun
from sandbench.model.custom_scorer import CustomScorerDefinition
from sandbench.model.execution import Execution
from sandbench.model.network import NetworkPolicyRecord, SecretRecord
from sandbench.model.runs import RunState, ScenarioRun, ScorerState, latest_attempts
from sandbench.model.sandbox import Blueprint, Sandbox, Snapshot
from sandbench.model.scenario import ScenarioView
from sandbench.model.storage import StorageObject
from sandbench.store import ScenarioRecord

# sandbench's failure reasons onto Runloop's enum (unknown values pass through clients)
_FAILURES = {"launch_failed": "execution_failed", "engine_error": "health_check_failed"}


def devbox(sandbox: Sandbox) -> dict[str, Any]:
    spec = sandbox.spec
    failure = sandbox.failure_reason.value if sandbox.failure_reason else None
    return {
        "id": sandbox.id,
        "name": sandbox.name,
        "status": sandbox.status.value,
        "capabilities": [],
        "create_time_ms": sandbox.create_time_ms,
        "end_time_ms": sandbox.end_time_ms,
        "launch_parameters": sandbox.launch_parameters
        if sandbox.launch_parameters is not None
        else _launch_of(sandbox),
        "metadata": sandbox.metadata,
        "state_transitions": [
            {"status": t.status.value, "transition_time_ms": t.transition_time_ms}
            for t in sandbox.state_transitions
        ],
        "blueprint_id": sandbox.blueprint_id,
        "snapshot_id": sandbox.snapshot_id,
        "failure_reason": _FAILURES.get(failure, failure) if failure else None,
        "shutdown_reason": sandbox.shutdown_reason.value if sandbox.shutdown_reason else None,
        "initiator_type": "scenario" if sandbox.scenario_run_id else "api",
        "initiator_id": sandbox.scenario_run_id,
        # sandbench's own
        "failure_detail": sandbox.failure_detail,
        "image": sandbox.image,
        "working_directory": spec.working_directory if spec else None,
        "resources": {
            "cpu": sandbox.resources.cpu,
            "memory_gib": sandbox.resources.memory_gib,
            "disk_gib": sandbox.resources.disk_gib,
        },
    }


def _launch_of(sandbox: Sandbox) -> dict[str, Any]:
    return {"architecture": sandbox.architecture.value}


def execution(found: Execution, *, last_n: int | None = None) -> dict[str, Any]:
    stdout, out_cut = _tail(found.stdout, last_n)
    stderr, err_cut = _tail(found.stderr, last_n)
    return {
        "devbox_id": found.sandbox_id,
        "execution_id": found.id,
        "status": found.status.value,
        "exit_status": found.exit_status,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_truncated": out_cut,
        "stderr_truncated": err_cut,
        "shell_name": found.shell_name,
        # sandbench's own
        "command": found.command,
        "failure": found.failure,
        "duration_ms": found.duration_ms,
    }


def _tail(text: str, last_n: int | None) -> tuple[str, bool]:
    if last_n is None:
        return text, False
    lines = text.splitlines(keepends=True)
    return "".join(lines[-last_n:]) if last_n > 0 else "", len(lines) > last_n


def execution_detail(found: Execution) -> dict[str, Any]:
    """DevboxExecutionDetailView (execute_sync, write_file_contents)."""
    return {
        "devbox_id": found.sandbox_id,
        "exit_status": found.exit_status if found.exit_status is not None else 1,
        "stdout": found.stdout,
        "stderr": found.stderr,
        "shell_name": found.shell_name,
    }


def snapshot(found: Snapshot) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.display_name or found.name,
        "create_time_ms": found.create_time_ms,
        "metadata": found.metadata,
        "source_devbox_id": found.source_sandbox_id,
        "commit_message": found.commit_message,
        "status": found.status,
    }


def snapshot_status(found: Snapshot) -> dict[str, Any]:
    return {
        "status": found.status,
        "error_message": found.error,
        "snapshot": snapshot(found),
    }


def blueprint(found: Blueprint) -> dict[str, Any]:
    parameters = dict(found.parameters or {})
    parameters.setdefault("name", found.name)
    return {
        "id": found.id,
        "name": found.name,
        "create_time_ms": found.create_time_ms,
        "build_finish_time_ms": found.build_finish_time_ms,
        "parameters": parameters,
        "state": found.state,
        "status": found.status,
        "failure_reason": found.failure_reason,
        "metadata": parameters.get("metadata") or {},
        "is_public": False,
        "containerized_services": [],
        "devbox_capabilities": [],
    }


def storage_object(found: StorageObject, upload_url: str | None = None) -> dict[str, Any]:
    view = {
        "id": found.id,
        "name": found.name,
        "content_type": found.content_type.value,
        "state": found.state.value,
        "create_time_ms": found.create_time_ms,
        "delete_after_time_ms": found.delete_after_time_ms,
        "metadata": found.metadata,
        "size_bytes": found.size_bytes,
    }
    if upload_url is not None:
        view["upload_url"] = upload_url
    return view


def network_policy(found: NetworkPolicyRecord) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "description": found.description,
        "create_time_ms": found.create_time_ms,
        "update_time_ms": found.update_time_ms,
        "egress": found.egress.model_dump(mode="json"),
    }


def secret(found: SecretRecord) -> dict[str, Any]:
    return found.model_dump()


def scenario(record: ScenarioRecord) -> dict[str, Any]:
    view = ScenarioView.from_scenario(record.id, record.scenario).to_dict()
    view.setdefault("metadata", {})
    view["status"] = "archived" if record.archived else "active"
    view["version"] = record.version  # sandbench's own
    return view


def scorer(found: CustomScorerDefinition) -> dict[str, Any]:
    return {"id": found.id, "type": found.type, "bash_script": found.bash_script}


def scenario_run(run: ScenarioRun) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "scenario_id": run.scenario_id,
        "benchmark_run_id": run.benchmark_run_id,
        "devbox_id": run.sandbox_id,
        "state": run.state.value,
        "metadata": run.metadata,
        "start_time_ms": run.start_time_ms,
        "duration_ms": run.duration_ms,
        "environment_variables": run.environment_variables,
        "secrets_provided": run.secrets_provided,
        "purpose": run.purpose,
        "scoring_contract_result": None,
        # sandbench's own
        "scenario_version": run.scenario_version,
        "failure_reason": run.failure_reason,
    }
    if run.state in (RunState.SCORED, RunState.COMPLETED) and run.score is not None:
        view["scoring_contract_result"] = {
            "score": run.score,
            "scoring_function_results": [
                {
                    "scoring_function_name": result.name,
                    "score": result.score if result.score is not None else 0.0,
                    "output": result.output,
                    "state": "complete" if result.state == ScorerState.COMPLETE else "error",
                    # the weighted breakdown (sandbench's own)
                    "weight": result.weight,
                    "weighted_score": result.contribution,
                    "scorer_state": result.state.value,
                    "attempt": result.attempt,
                }
                for result in latest_attempts(run.scorer_results)
            ],
        }
    return view


def benchmark(found: Benchmark) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "metadata": found.metadata,
        "scenarioIds": list(found.scenario_ids),  # the SDK reads the camelCase wire name
        "status": "archived" if found.archived else "active",
        "attribution": found.attribution,
        "description": found.description,
        "is_public": False,
        "required_environment_variables": found.required_environment_variables,
        "required_secret_names": found.required_secret_names,
    }


def benchmark_run(run: BenchmarkRun) -> dict[str, Any]:
    view = run.to_runloop_dict()
    view.setdefault("metadata", {})
    view.update(
        {
            "total_cases": run.total_cases,
            "ok_cases": run.ok_cases,
            "status_breakdown": run.status_breakdown,
        }
    )
    return view
