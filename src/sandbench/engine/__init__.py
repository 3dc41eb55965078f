"""The sandbox engine on Podman: presets enforced, arm64, idle suspend/resume, images."""

from sandbench.engine.errors import EngineError, HostCannotEnforce, PodmanUnavailable
from sandbench.engine.execs import ExecResult
from sandbench.engine.sandboxes import Engine, ExecEvent

__all__ = [
    "Engine",
    "EngineError",
    "ExecEvent",
    "ExecResult",
    "HostCannotEnforce",
    "PodmanUnavailable",
]
