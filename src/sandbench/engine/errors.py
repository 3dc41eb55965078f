"""Engine errors. Each says what went wrong and what to do about it."""

from __future__ import annotations

from sandbench.errors import SandbenchError


class EngineError(SandbenchError):
    """Podman or the host failed; an infrastructure failure, never a score."""


class PodmanUnavailable(EngineError):
    pass


class HostCannotEnforce(EngineError):
    """A limit the scenario asks for that this host cannot enforce: refused before start."""

    exit_code = 3


class ImageMissing(EngineError):
    pass


class MissingRequirements(EngineError):
    """Required env vars or secrets not provided; raised before any container starts."""

    exit_code = 2
