"""Benchmark runs fanned out over a Ray cluster (the optional ``cluster`` extra).

The only package that imports Ray. The head (the process that started the run) keeps the
store; each case runs on a node that offers sandbench slots, with sandbench's own runner
and engine in the node's Podman and workspace, and streams its events back
(``sandbench.runner.case_executors``).
"""

from __future__ import annotations

from sandbench.cluster.executor import ClusterExecutor
from sandbench.cluster.nodes import (
    ARCH_RESOURCE,
    SLOT_RESOURCE,
    NodeStatus,
    join_command,
    node_statuses,
)

__all__ = [
    "ARCH_RESOURCE",
    "SLOT_RESOURCE",
    "ClusterExecutor",
    "NodeStatus",
    "join_command",
    "node_statuses",
]
