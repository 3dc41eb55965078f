"""Scenario runs, benchmark runs, validation, reruns, the result cache, and run events."""

from sandbench.runner.events import EventBus, RunEvent
from sandbench.runner.scenario_runs import RunCanceled, Runner

__all__ = ["EventBus", "RunCanceled", "RunEvent", "Runner"]
