"""The result cache: a key over everything that decides a run's result.

Scenario version content (which holds the scorer definitions), the image's digest, the
solution and its content, and the scripts of the custom scorers it uses. An unchanged
rerun finds a completed run with the same key and copies its results instantly.
"""

from __future__ import annotations

import hashlib
import json

from sandbench.engine import Engine
from sandbench.engine.images import inspect
from sandbench.model.runs import Solution
from sandbench.model.sandbox import SandboxSpec
from sandbench.model.scenario import CustomScorer, Scenario
from sandbench.store import Store

CACHEABLE = (Solution.BASELINE, Solution.REFERENCE, Solution.AGENT)


def cache_key(
    store: Store,
    engine: Engine,
    scenario: Scenario,
    spec: SandboxSpec,
    solution: Solution,
    agent_command: str | None,
) -> str | None:
    if solution not in CACHEABLE:
        return None
    image = inspect(engine.client, spec.image) or {}
    custom = {
        f.scorer.custom_scorer_type: store.get_custom_scorer(
            f.scorer.custom_scorer_type
        ).bash_script
        for f in scenario.scorers
        if isinstance(f.scorer, CustomScorer)
    }
    content = {
        "scenario": scenario.to_dict(),
        "image": image.get("Id") or image.get("Digest") or spec.image,
        "architecture": spec.architecture.value,
        "solution": solution.value,
        "solution_content": {
            Solution.REFERENCE: scenario.reference_output,
            Solution.AGENT: agent_command,
        }.get(solution),
        "custom_scorers": custom,
        "env": spec.env,  # required env vars can change what scorers see
        "secret_names": sorted(spec.secret_env),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
