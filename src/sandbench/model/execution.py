"""Commands run in a sandbox on a client's behalf: the sandbox's activity log."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"


class Execution(BaseModel):
    """One command, recorded from request to exit; secret values never appear in it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    sandbox_id: str
    command: str
    user: str | None = None
    working_directory: str | None = None
    shell_name: str | None = None
    origin: str = "api"
    status: ExecutionStatus
    exit_status: int | None = None
    # why it ended without an exit status of its own (killed, timed out, the sandbox died)
    failure: str | None = None
    create_time_ms: int
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def duration_ms(self) -> int | None:
        if self.start_time_ms is None or self.end_time_ms is None:
            return None
        return self.end_time_ms - self.start_time_ms


class OutputSlice(BaseModel):
    """Output of one stream from a character offset on, in the chunks it was stored in."""

    model_config = ConfigDict(extra="forbid")

    chunks: list[tuple[int, str]]  # (start offset, text)
    end_offset: int
