"""Cluster nodes: how one joins (a Ray node offering sandbench slots), what it says about
itself, and the sweep that stops the cases of a head that is gone.

A node's identity in the store is its Ray node id. What the node is fit for is checked
when it joins (the ``doctor`` checks) and kept in its workspace, where ``status`` reads it
back along with the memory free now.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from sandbench import paths
from sandbench.build_version import build_version
from sandbench.errors import InvalidInput

SLOT_RESOURCE = "sandbench_slot"  # one per case a node runs at once
ARCH_RESOURCE = "sandbench_arch_"  # + x86_64 / arm64: what the node runs natively
VERSION_RESOURCE = "sandbench_version_"  # + the node's build version, made a name
NODE_FILE = "cluster-node.json"  # in the node's workspace: what it was fit for at join


def version_resource(version: str) -> str:
    """The resource a node running sandbench ``version`` offers (and a case needs)."""
    return VERSION_RESOURCE + re.sub(r"[^A-Za-z0-9]", "_", version)


def ray_binary() -> str:
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else shutil.which("ray") or "ray"


def join_command(
    address: str,
    *,
    slots: int,
    cpus: float,
    memory_bytes: int,
    architecture: str,
    version: str,
) -> list[str]:
    """``ray start`` for a worker node offering ``slots`` sandbench slots, the CPU and
    memory its sandboxes may take, its native architecture and its sandbench version (a
    head sends cases only to nodes of its own); in the foreground, so the node lives
    exactly as long as the process that joined it."""
    resources = {
        SLOT_RESOURCE: slots,
        ARCH_RESOURCE + architecture: 1000,
        version_resource(version): 1000,
    }
    return [
        ray_binary(),
        "start",
        f"--address={address}",
        f"--num-cpus={cpus:g}",
        f"--memory={memory_bytes}",
        f"--resources={json.dumps(resources)}",
        # several nodes on one machine must not fight over the agent's fixed port
        "--dashboard-agent-listen-port=0",
        "--disable-usage-stats",
        "--block",
    ]


def write_node_file(fitness: str, problems: list[str], slots: int) -> Path:
    path = paths.data_dir() / NODE_FILE
    path.write_text(
        json.dumps(
            {"fitness": fitness, "problems": problems, "slots": slots, "joined_at": time.time()}
        )
    )
    return path


@dataclass
class NodeStatus:
    node_id: str
    address: str
    slots: int
    running: int
    architecture: str
    fitness: str
    memory_free_bytes: int
    workspace: str
    version: str


def _describe_node() -> dict[str, Any]:
    """Runs on the node: its workspace, fitness at join, memory free now, version."""
    try:
        joined = json.loads((paths.data_dir() / NODE_FILE).read_text())
    except (OSError, ValueError):
        joined = {"fitness": "unknown (not joined with `sandbench cluster join`)"}
    free = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    return {
        "workspace": os.environ.get("SANDBENCH_HOME") or str(paths.data_dir()),
        "fitness": joined.get("fitness", "unknown"),
        "memory_free": free,
        "version": build_version(),
    }


def connect(address: str) -> None:
    if not ray.is_initialized():
        ray.init(
            address=address,
            namespace="sandbench",
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )


def disconnect() -> None:
    """Leave the cluster as a client (a joining node checks it first, then starts)."""
    if ray.is_initialized():
        ray.shutdown()


def node_statuses(address: str, timeout: float = 60) -> list[NodeStatus]:
    """Every live node offering sandbench slots, asked about itself."""
    from ray._private.state import available_resources_per_node

    connect(address)
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get(SLOT_RESOURCE)]
    free = available_resources_per_node()
    describe = ray.remote(_describe_node)
    probes = [
        describe.options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote()
        for n in nodes
    ]
    answers = ray.get(probes, timeout=timeout)
    statuses = []
    for node, answer in zip(nodes, answers, strict=True):
        total = node["Resources"]
        slots = int(total.get(SLOT_RESOURCE, 0))
        available = free.get(node["NodeID"], {}).get(SLOT_RESOURCE, slots)
        arches = [k.removeprefix(ARCH_RESOURCE) for k in total if k.startswith(ARCH_RESOURCE)]
        statuses.append(
            NodeStatus(
                node_id=node["NodeID"],
                address=node["NodeManagerAddress"],
                slots=slots,
                running=slots - int(available),
                architecture=",".join(arches) or "?",
                fitness=answer["fitness"],
                memory_free_bytes=answer["memory_free"],
                workspace=answer["workspace"],
                version=answer["version"],
            )
        )
    return statuses


def other_versions(address: str, version: str) -> list[NodeStatus]:
    """The live nodes offering slots that run another sandbench than ``version``."""
    connect(address)
    mine = version_resource(version)
    others = [
        n["NodeID"]
        for n in ray.nodes()
        if n["Alive"] and n["Resources"].get(SLOT_RESOURCE) and not n["Resources"].get(mine)
    ]
    if not others:
        return []
    return [s for s in node_statuses(address) if s.node_id in others]


def refuse_other_versions(address: str, version: str, *, who: str) -> None:
    """Raise, naming each node and what it runs, when a node of the cluster runs another
    sandbench than ``version`` (``who`` runs that one: this head, the joining node)."""
    others = other_versions(address, version)
    if others:
        listed = ", ".join(f"{s.node_id[:12]} ({s.address}) runs {s.version}" for s in others)
        raise InvalidInput(
            f"{who} runs sandbench {version}, but in the cluster at {address} {listed}:"
            " a cluster's head and nodes must run the same sandbench (release and source);"
            " install the same one everywhere and join again"
        )
