"""Network policies (Runloop's): what a sandbox may reach, and what that means locally."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sandbench.errors import InvalidInput
from sandbench.model.sandbox import HostAccess, NetworkPolicy


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


class LocalNetwork(BaseModel):
    """What a policy means here: the network, sharing with other sandboxes, host access."""

    model_config = ConfigDict(extra="forbid")

    network: NetworkPolicy
    devbox_to_devbox: bool = False
    host_access: list[HostAccess] = Field(default_factory=list)


class NetworkPolicyRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = Field(min_length=1)
    description: str | None = None
    egress: Egress
    create_time_ms: int
    update_time_ms: int

    def local(self) -> LocalNetwork:
        """The sandbox network that gives no more than the policy allows.

        Allow-all is an isolated network of the sandbox's own with the internet through the
        default route; ``allow_devbox_to_devbox`` puts it on the network shared by the
        sandboxes that allow it; ``allowed_cidrs`` (with allow-all) are the host addresses and
        ports it may reach, the host's services being walled off otherwise. No egress at all
        is no network. Any other partial allowlist cannot be enforced here yet, so it is
        refused rather than run with more network than asked.
        """
        egress = self.egress
        if egress.allow_all:
            try:
                access = [
                    HostAccess.model_validate(rule.model_dump()) for rule in egress.allowed_cidrs
                ]
            except ValueError as error:
                raise InvalidInput(f"network policy {self.name!r}: {error}") from None
            return LocalNetwork(
                network=NetworkPolicy.DEFAULT,
                devbox_to_devbox=egress.allow_devbox_to_devbox,
                host_access=access,
            )
        partial = [
            what
            for what, given in (
                ("allowed_hostnames", egress.allowed_hostnames),
                ("allowed_cidrs", egress.allowed_cidrs),
                ("allow_runloop_mirrors", egress.allow_runloop_mirrors),
                ("allow_devbox_to_devbox", egress.allow_devbox_to_devbox),
            )
            if given
        ]
        if partial:
            raise InvalidInput(
                f"network policy {self.name!r} ({self.id}) allows only some egress"
                f" ({', '.join(partial)}); sandbench cannot enforce a partial allowlist yet,"
                " so it will not start a sandbox with more network than the policy allows."
                " Use a policy with allow_all (allowed_cidrs then name the host's own"
                " addresses and ports it may reach), or one with no egress at all"
            )
        return LocalNetwork(network=NetworkPolicy.NONE)


class SecretRecord(BaseModel):
    """A secret's name and times; the value stays in the secrets file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    create_time_ms: int
    update_time_ms: int
