"""Sandboxes (Runloop's devboxes), their lifecycle states, and the images they start from."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbench.model.resources import Resources
from sandbench.model.scenario import Architecture, IdleConfiguration, UserParameters


class SandboxState(StrEnum):
    PROVISIONING = "provisioning"
    INITIALIZING = "initializing"
    RUNNING = "running"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    FAILURE = "failure"
    SHUTDOWN = "shutdown"

    @property
    def terminal(self) -> bool:
        return self in (SandboxState.FAILURE, SandboxState.SHUTDOWN)


class ShutdownReason(StrEnum):
    API_SHUTDOWN = "api_shutdown"
    KEEP_ALIVE_TIMEOUT = "keep_alive_timeout"
    IDLE = "idle"
    ENTRYPOINT_EXIT = "entrypoint_exit"
    TTL_EXPIRED = "ttl_expired"  # Runloop's value; here: the retention policy's TTL


class FailureReason(StrEnum):
    OUT_OF_MEMORY = "out_of_memory"
    OUT_OF_DISK = "out_of_disk"
    LAUNCH_FAILED = "launch_failed"
    ENGINE_ERROR = "engine_error"
    ORPHANED = "orphaned"  # its owning process died without cleaning up


class StateTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: SandboxState
    transition_time_ms: int


class NetworkPolicy(StrEnum):
    """Local stand-ins for Runloop's network policies (``network_policy_id``)."""

    DEFAULT = "default"  # the default bridge network: package mirrors reachable
    NONE = "none"  # loopback only


class PortRange(BaseModel):
    """A port or a range (Runloop's ``allowed_cidrs[].ports[]``)."""

    model_config = ConfigDict(extra="ignore")

    port: int = Field(ge=1, le=65535)
    end_port: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"


class HostAccess(BaseModel):
    """Host addresses (and ports) a sandbox may reach although they are the host's own: the
    host's services are otherwise walled off from every sandbox."""

    model_config = ConfigDict(extra="ignore")

    cidr: str
    ports: list[PortRange] = Field(default_factory=list)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a CIDR: {error}") from None
        if network.version != 4:
            raise ValueError(f"{value!r}: only IPv4 sandbox networks exist here")
        return str(network)


class SandboxSpec(BaseModel):
    """Everything needed to (re)create a sandbox. Secrets appear by *name* only."""

    model_config = ConfigDict(extra="forbid")

    image: str
    architecture: Architecture = Architecture.X86_64
    resources: Resources
    working_directory: str = "/workspace"
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)  # env var -> secret name
    user: UserParameters | None = None
    network: NetworkPolicy = NetworkPolicy.DEFAULT
    devbox_to_devbox: bool = False  # shares a network with the other sandboxes that allow it
    host_access: list[HostAccess] = Field(default_factory=list)
    launch_commands: list[str] = Field(default_factory=list)
    idle: IdleConfiguration | None = None
    keep_alive_seconds: int | None = None
    pids_limit: int = 4096
    name: str | None = None
    scenario_run_id: str | None = None
    blueprint_id: str | None = None
    snapshot_id: str | None = None


class Sandbox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    status: SandboxState
    scenario_run_id: str | None = None
    image: str
    container_id: str | None = None
    architecture: Architecture = Architecture.X86_64
    resources: Resources
    blueprint_id: str | None = None
    snapshot_id: str | None = None
    create_time_ms: int
    end_time_ms: int | None = None
    failure_reason: FailureReason | None = None
    shutdown_reason: ShutdownReason | None = None
    state_transitions: list[StateTransition] = Field(default_factory=list)
    paused: bool = False
    last_activity_ms: int | None = None
    failure_detail: str | None = None
    launch_output: str | None = None
    spec: SandboxSpec | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    launch_parameters: dict[str, Any] | None = None  # as an API client sent them
    initiator: str | None = None  # api | scenario | cli


class Blueprint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    image: str
    source: str  # the directory or Dockerfile it was built from
    status: str  # queued | building | build_complete | failed
    create_time_ms: int
    parameters: dict[str, Any] | None = None  # the API's create body, echoed back
    content_hash: str | None = None  # of the Dockerfile and build context
    build_log: str = ""
    failure_reason: str | None = None
    build_finish_time_ms: int | None = None
    state: str = "created"  # created | deleted


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    image: str
    source_sandbox_id: str | None = None
    create_time_ms: int
    status: str = "complete"  # in_progress | complete | error
    metadata: dict[str, str] = Field(default_factory=dict)
    commit_message: str | None = None
    error: str | None = None
    display_name: str | None = None  # the name a client gave (names need not be unique)
