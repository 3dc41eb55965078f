"""Network policies (Runloop's): what a sandbox may reach, and what that means locally."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sandbench.errors import InvalidInput
from sandbench.model.sandbox import NetworkPolicy


class CidrRule(BaseModel):
    model_config = ConfigDict(extra="allow")

    cidr: str


class Egress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_all: bool = False
    allow_agent_gateway: bool = False
    allow_devbox_to_devbox: bool = False
    allow_mcp_gateway: bool = False
    allow_runloop_mirrors: bool = False
    allowed_cidrs: list[CidrRule] = Field(default_factory=list)
    allowed_hostnames: list[str] = Field(default_factory=list)  # in the order given


class NetworkPolicyRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1)
    description: str | None = None
    egress: Egress
    create_time_ms: int
    update_time_ms: int

    def local(self) -> NetworkPolicy:
        """The sandbox network that gives no more than the policy allows.

        Allow-all is the default network; no egress at all is no network. Anything in
        between (host names, CIDRs, mirrors only) cannot be enforced here yet, so it is
        refused rather than run with more network than asked.
        """
        egress = self.egress
        if egress.allow_all:
            return NetworkPolicy.DEFAULT
        partial = [
            what
            for what, given in (
                ("allowed_hostnames", egress.allowed_hostnames),
                ("allowed_cidrs", egress.allowed_cidrs),
                ("allow_runloop_mirrors", egress.allow_runloop_mirrors),
            )
            if given
        ]
        if partial:
            raise InvalidInput(
                f"network policy {self.name!r} ({self.id}) allows only some egress"
                f" ({', '.join(partial)}); sandbench cannot enforce a partial allowlist yet,"
                " so it will not start a sandbox with more network than the policy allows."
                " Use a policy with allow_all, or one with no egress at all"
            )
        return NetworkPolicy.NONE


class SecretRecord(BaseModel):
    """A secret's name and times; the value stays in the secrets file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    create_time_ms: int
    update_time_ms: int
