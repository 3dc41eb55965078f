"""One exported record per scorer result, in the structure of ``reference/eval-run.structure.json``.

That structure is tool-neutral: the scenario is the case, the benchmark run (or the single
run) the experiment, the scorer the scorer. sandbench scorers are programs, hence
``scorer.type = "code"``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ScorerKind = Literal[
    "code", "llm_judge", "human", "heuristic", "reference_based", "reference_free", "pairwise"
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalModel(_Open):
    provider: str | None = None
    name: str | None = None
    version: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None


class EvalScorer(_Open):
    id: str | None = None
    name: str | None = None
    type: ScorerKind | None = None


class EvalEvidence(_Open):
    rationale: str | None = None
    judge_model: str | None = None
    trace_id: str | None = None
    retrieved_context: list[str] | None = None


class EvalMetrics(_Open):
    latency_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class EvalRunRecord(_Open):
    id: str
    suite_id: str | None = None
    case_id: str
    experiment_id: str | None = None
    model: EvalModel
    prompt: str | None = None
    input: dict[str, Any] | None = None
    output: str
    output_structured: dict[str, Any] | None = None
    expected: str | None = None
    scorer: EvalScorer
    score: float
    label: str | None = None
    evidence: EvalEvidence | None = None
    metrics: EvalMetrics | None = None
    tags: list[str] | None = None
    timestamp: str  # RFC 3339

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
