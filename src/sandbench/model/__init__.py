"""Pydantic models of sandbench's data, compatible with Runloop's public schemas."""

from sandbench.model.benchmark import Benchmark, BenchmarkRun, BenchmarkRunState
from sandbench.model.custom_scorer import CustomScorerDefinition
from sandbench.model.documents import DocumentError, ParsedScenario, parse_scenarios
from sandbench.model.eval_run import EvalRunRecord
from sandbench.model.ids import new_id
from sandbench.model.problems import Problem
from sandbench.model.resources import PRESETS, Resources, ResourceSize
from sandbench.model.runs import (
    RunState,
    ScenarioRun,
    ScorerResult,
    ScorerState,
    Solution,
    weighted_total,
)
from sandbench.model.sandbox import (
    Blueprint,
    FailureReason,
    NetworkPolicy,
    Sandbox,
    SandboxSpec,
    SandboxState,
    ShutdownReason,
    Snapshot,
)
from sandbench.model.scenario import (
    SCORER_TYPES,
    Architecture,
    IdleAction,
    LaunchParameters,
    Scenario,
    ScenarioEnvironment,
    ScenarioView,
    ScoringFunction,
)

__all__ = [
    "PRESETS",
    "SCORER_TYPES",
    "Architecture",
    "Benchmark",
    "BenchmarkRun",
    "BenchmarkRunState",
    "Blueprint",
    "CustomScorerDefinition",
    "DocumentError",
    "EvalRunRecord",
    "FailureReason",
    "IdleAction",
    "LaunchParameters",
    "NetworkPolicy",
    "ParsedScenario",
    "Problem",
    "ResourceSize",
    "Resources",
    "RunState",
    "Sandbox",
    "SandboxSpec",
    "SandboxState",
    "Scenario",
    "ScenarioEnvironment",
    "ScenarioRun",
    "ScenarioView",
    "ScorerResult",
    "ScorerState",
    "ScoringFunction",
    "ShutdownReason",
    "Snapshot",
    "Solution",
    "new_id",
    "parse_scenarios",
    "weighted_total",
]
