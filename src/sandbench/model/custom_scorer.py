"""Custom scorers: bash scripts registered locally under a ``custom_scorer_type`` name."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

CUSTOM_SCORER_TYPE_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")


class CustomScorerDefinition(BaseModel):
    """Shaped like Runloop's ``ScenarioScorerView`` (id, type, bash_script)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    bash_script: str
    create_time_ms: int
    update_time_ms: int

    @field_validator("type")
    @classmethod
    def _type_name(cls, value: str) -> str:
        if not CUSTOM_SCORER_TYPE_RE.match(value):
            raise ValueError(
                f"custom scorer type {value!r} may only contain letters, digits, '.', '_', '-'"
            )
        return value
