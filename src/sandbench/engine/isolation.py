"""What keeps a sandbox's code away from the host and from other sandboxes.

Three parts, each applied at container create:

- **Least privilege**: ``no-new-privileges``, a capability set cut to what package managers
  and test runners need as root inside (``CAPABILITIES``; measured, see the README), Podman's
  default seccomp profile, no host devices.
- **A network of its own**: every networked sandbox gets a netavark bridge created with
  ``isolate=true`` (no traffic to other isolated networks), so sandboxes cannot reach each
  other; sandboxes whose policy allows devbox-to-devbox traffic share one such network
  instead. Bridge interfaces carry ``IFACE_PREFIX``.
- **A wall around the host**: an iptables chain hooked in INPUT for those interfaces drops
  anything a sandbox addresses to one of the host's own addresses (except replies, and the
  host ports a network policy lists in ``allowed_cidrs``). Traffic through the default route
  (package mirrors) is forwarded, not delivered locally, so it is untouched.

Root only (iptables, network create), like the sized disks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbench.engine.errors import EngineError
from sandbench.model.sandbox import HostAccess

# What package managers (apt's _apt sandbox, dpkg, pip), useradd/su and test runners use as
# root inside; dropped from Podman's default set: SETPCAP, SETFCAP, SYS_CHROOT (see README).
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETGID",
    "SETUID",
)
IFACE_PREFIX = "sbx"
NETWORK_LABEL = "io.sandbench.network"
SHARED = "shared"  # the network of sandboxes whose policy allows devbox-to-devbox traffic
CHAIN = "SANDBENCH-INPUT"
_COMMENT = "sandbench"


def security_options() -> dict[str, Any]:
    """podman-py create arguments for least privilege (the default seccomp profile stays:
    nothing here names another)."""
    return {
        "cap_drop": ["ALL"],
        "cap_add": list(CAPABILITIES),
        "no_new_privileges": True,
        "devices": [],
    }


# ---------------------------------------------------------------------- networks


def interface_name(key: str) -> str:
    """A bridge name of at most 15 characters (the kernel's limit) for ``key``."""
    return IFACE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:11]


def network_name(home: str, key: str) -> str:
    return f"sandbench-{home}-{key}"


@dataclass(frozen=True)
class SandboxNetwork:
    name: str
    interface: str


def ensure_network(client: Any, home: str, key: str, labels: dict[str, str]) -> SandboxNetwork:
    """The isolated network ``key`` (a sandbox id, or ``SHARED``), made if missing.

    Created through the libpod API itself: podman-py's ``networks.create`` cannot name the
    bridge interface, and the firewall matches sandboxes by that name. DNS is off: netavark's
    resolver would listen on the gateway, a host address the wall drops; containers use the
    host's upstream resolvers (written into their resolv.conf by the disk)."""
    name = network_name(home, key)
    interface = interface_name(f"{home}/{key}")
    found = client.api.get(f"/networks/{name}/json")
    if found.status_code == 200:
        return SandboxNetwork(name, found.json().get("network_interface") or interface)
    body = {
        "name": name,
        "driver": "bridge",
        "network_interface": interface,
        "dns_enabled": False,
        "internal": False,
        "options": {"isolate": "true"},
        "labels": {**labels, NETWORK_LABEL: key},
    }
    made = client.api.post("/networks/create", data=json.dumps(body))
    if made.status_code == 409:  # made meanwhile by another process (the shared one)
        return SandboxNetwork(name, interface)
    if made.status_code >= 400:
        raise EngineError(f"cannot create the sandbox network {name}: {made.text.strip()}")
    return SandboxNetwork(name, interface)


def remove_network(client: Any, home: str, key: str, *, force: bool = True) -> None:
    """Remove a network (its container is gone already); missing is fine. Without
    ``force``, Podman refuses while a container still uses it."""
    params = {"force": "true"} if force else None
    client.api.delete(f"/networks/{network_name(home, key)}", params=params)


def sandbox_networks(client: Any, home: str) -> dict[str, str]:
    """This workspace's per-sandbox networks: network name -> sandbox id (not the shared)."""
    answer = client.api.get("/networks/json")
    if answer.status_code != 200:
        return {}
    out: dict[str, str] = {}
    for network in answer.json() or []:
        labels = network.get("labels") or {}
        key = labels.get(NETWORK_LABEL)
        if key and key != SHARED and labels.get("io.sandbench.home") == home:
            out[network["name"]] = key
    return out


# ---------------------------------------------------------------------- the host wall


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    """Never raises: a host without iptables answers 127, as a shell would."""
    if shutil.which("iptables") is None:
        return subprocess.CompletedProcess(["iptables", *args], 127, "", "iptables not found")
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)


def _must(*args: str) -> None:
    done = _iptables(*args)
    if done.returncode != 0:
        raise EngineError(f"`iptables {' '.join(args)}` failed: {done.stderr.strip()}")


_BASE_RULES = (
    ("-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"),
    ("-m", "addrtype", "--dst-type", "LOCAL", "-j", "DROP"),
)
_HOOK = ("INPUT", "-i", f"{IFACE_PREFIX}+", "-j", CHAIN)
# Between sandbox bridges, in FORWARD, ahead of netavark's own rules: netavark's isolation
# chains are shared by every isolated network, and removing one network has been seen to
# drop their hook for all (two sandboxes then reached each other). Bridged traffic (inside
# one bridge: the shared devbox-to-devbox network) passes; routed traffic from one sandbox
# bridge to another is dropped.
FORWARD_CHAIN = "SANDBENCH-FORWARD"
_FORWARD_RULES = (
    ("-m", "physdev", "--physdev-is-bridged", "-j", "RETURN"),
    ("-o", f"{IFACE_PREFIX}+", "-j", "DROP"),
)
_FORWARD_HOOK = ("FORWARD", "-i", f"{IFACE_PREFIX}+", "-j", FORWARD_CHAIN)


def wall_problem() -> str | None:
    """None when iptables can hold the wall here, else why not (for ``doctor``)."""
    if shutil.which("iptables") is None:
        return "iptables is not installed (`apt-get install iptables`)"
    done = _iptables("-S", "INPUT")
    if done.returncode != 0:
        return f"iptables cannot list INPUT: {done.stderr.strip()}"
    return None


def wall_installed() -> bool:
    return all(_iptables("-C", *hook).returncode == 0 for hook in (_HOOK, _FORWARD_HOOK)) and all(
        _iptables("-C", chain, *rule).returncode == 0
        for chain, rules in ((CHAIN, _BASE_RULES), (FORWARD_CHAIN, _FORWARD_RULES))
        for rule in rules
    )


_wall_seen: frozenset[str] = frozenset()  # the wall as `iptables -S` printed it, once whole


def ensure_wall() -> list[str]:
    """Install the chains and their hooks; idempotent (every rule checked with -C), so
    several processes and restarts never stack copies. Returns the filter table's rules
    (`iptables -S`) as they are now.

    One `iptables -S` per call when the wall stands as this process last saw it whole: a
    create no longer runs a dozen iptables processes to find nothing to do; a wall someone
    flushed or cut is noticed by the same listing and put back."""
    global _wall_seen
    listed = _iptables("-S")
    if listed.returncode != 0:
        problem = wall_problem() or listed.stderr.strip()
        raise EngineError(f"cannot keep sandboxes away from the host's services: {problem}")
    lines = listed.stdout.splitlines()
    if _wall_seen and _wall_seen <= set(lines):
        return lines
    if _iptables("-n", "-L", CHAIN).returncode != 0:
        _iptables("-N", CHAIN)  # a racing process may have made it: checked below
    if _iptables("-C", CHAIN, *_BASE_RULES[0]).returncode != 0:
        _must("-I", CHAIN, "1", *_BASE_RULES[0])
    if _iptables("-C", CHAIN, *_BASE_RULES[1]).returncode != 0:
        _must("-A", CHAIN, *_BASE_RULES[1])
    if _iptables("-C", *_HOOK).returncode != 0:
        _must("-I", _HOOK[0], "1", *_HOOK[1:])
    if _iptables("-n", "-L", FORWARD_CHAIN).returncode != 0:
        _iptables("-N", FORWARD_CHAIN)
    bridged, routed = _FORWARD_RULES
    if _iptables("-C", FORWARD_CHAIN, *bridged).returncode != 0:
        _must("-I", FORWARD_CHAIN, "1", *bridged)
    if _iptables("-C", FORWARD_CHAIN, *routed).returncode != 0:
        _must("-A", FORWARD_CHAIN, *routed)
    if _iptables("-C", *_FORWARD_HOOK).returncode != 0:
        _must("-I", _FORWARD_HOOK[0], "1", *_FORWARD_HOOK[1:])
    lines = _iptables("-S").stdout.splitlines()
    _wall_seen = frozenset(  # its own rules and hooks; not the policies' openings
        line
        for line in lines
        if (CHAIN in line or FORWARD_CHAIN in line) and "--comment" not in line
    )
    return lines


def _tag(home: str, sandbox_id: str) -> str:
    return f"{_COMMENT} {home} {sandbox_id}"


def _allow_rules(interface: str, rules: Iterable[HostAccess]) -> list[list[str]]:
    out: list[list[str]] = []
    for rule in rules:
        network = str(ipaddress.ip_network(rule.cidr, strict=False))
        for port in rule.ports or [None]:
            args = ["-i", interface, "-d", network]
            if port is not None:
                end = f":{port.end_port}" if port.end_port else ""
                args += ["-p", port.protocol, "--dport", f"{port.port}{end}"]
            out.append(args)
    return out


def allow_host(home: str, sandbox_id: str, interface: str, rules: list[HostAccess]) -> None:
    """Open the host addresses and ports a policy lists, for this sandbox's interface only
    (inserted before the final DROP; the comment names the sandbox, so removal and recovery
    find them). The caller has just made sure of the wall (``ensure_wall``)."""
    if not rules:
        return
    for args in _allow_rules(interface, rules):
        comment = ["-m", "comment", "--comment", _tag(home, sandbox_id)]
        if _iptables("-C", CHAIN, *args, *comment, "-j", "ACCEPT").returncode != 0:
            _must("-I", CHAIN, "2", *args, *comment, "-j", "ACCEPT")


def revoke_host(
    home: str,
    keep: Iterable[str] = (),
    only: str | None = None,
    listed: list[str] | None = None,
) -> None:
    """Delete this workspace's allow rules: of sandbox ``only``, or of every sandbox not in
    ``keep`` (recovery). ``listed``: the rules as `iptables -S` printed them just now."""
    if listed is None:
        done = _iptables("-S", CHAIN)
        if done.returncode != 0:
            return
        listed = done.stdout.splitlines()
    kept = set(keep)
    prefix = f'--comment "{_COMMENT} {home} '
    for line in listed:
        if prefix not in line or not line.startswith(f"-A {CHAIN} "):
            continue
        sandbox_id = line.split(prefix, 1)[1].split('"', 1)[0]
        if (only is not None and sandbox_id != only) or (only is None and sandbox_id in kept):
            continue
        _iptables("-D", *shlex.split(line)[1:])


def host_addresses() -> list[str]:
    """The host's IPv4 addresses (a test or a user picks one to allow)."""
    done = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False
    )
    out = []
    for line in done.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            out.append(words[words.index("inet") + 1].split("/")[0])
    return out


# ---------------------------------------------------------------------- stronger runtimes

STRONGER_RUNTIMES = ("runsc", "kata-runtime", "kata")


def stronger_runtimes() -> list[str]:
    """gVisor / Kata runtimes installed on this host (for ``doctor`` and the README)."""
    return [name for name in STRONGER_RUNTIMES if shutil.which(name)]
