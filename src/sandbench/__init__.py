"""sandbench: a terminal workbench for agent-evaluation scenarios run in Podman sandboxes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sandbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
