"""Resource presets (CPU cores, memory GiB, disk GiB) and the CUSTOM_SIZE rules."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResourceSize(StrEnum):
    X_SMALL = "X_SMALL"
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"
    X_LARGE = "X_LARGE"
    XX_LARGE = "XX_LARGE"
    CUSTOM_SIZE = "CUSTOM_SIZE"


@dataclass(frozen=True)
class Resources:
    cpu: float
    memory_gib: int
    disk_gib: int

    def describe(self) -> str:
        cpu = f"{self.cpu:g}"
        return f"{cpu} cpu, {self.memory_gib} GiB memory, {self.disk_gib} GiB disk"


PRESETS: dict[ResourceSize, Resources] = {
    ResourceSize.X_SMALL: Resources(0.5, 1, 4),
    ResourceSize.SMALL: Resources(1, 2, 4),
    ResourceSize.MEDIUM: Resources(2, 4, 8),
    ResourceSize.LARGE: Resources(2, 8, 16),
    ResourceSize.X_LARGE: Resources(4, 16, 16),
    ResourceSize.XX_LARGE: Resources(8, 32, 16),
}

DEFAULT_SIZE = ResourceSize.SMALL
DEFAULT_CUSTOM_DISK_GIB = 8
MAX_CUSTOM_CPU = 16
MAX_CUSTOM_MEMORY_GIB = 64
MIN_CUSTOM_DISK_GIB, MAX_CUSTOM_DISK_GIB = 2, 64


def check_custom_cpu(cpu: float) -> None:
    if not (cpu in (0.5, 1) or (cpu == int(cpu) and cpu % 2 == 0 and 2 <= cpu <= MAX_CUSTOM_CPU)):
        raise ValueError(f"must be 0.5, 1 or a multiple of 2 up to {MAX_CUSTOM_CPU}, got {cpu:g}")


def check_custom_memory(gib: int) -> None:
    if not (gib == 1 or (gib % 2 == 0 and 2 <= gib <= MAX_CUSTOM_MEMORY_GIB)):
        raise ValueError(
            f"must be 1 or a multiple of 2 up to {MAX_CUSTOM_MEMORY_GIB} GiB, got {gib}"
        )


def check_custom_disk(gib: int) -> None:
    if not (gib % 2 == 0 and MIN_CUSTOM_DISK_GIB <= gib <= MAX_CUSTOM_DISK_GIB):
        raise ValueError(
            f"must be a multiple of 2 from {MIN_CUSTOM_DISK_GIB} to {MAX_CUSTOM_DISK_GIB} GiB,"
            f" got {gib}"
        )


def check_ratio(cpu: float, memory_gib: int) -> None:
    ratio = memory_gib / cpu
    if not 2 <= ratio <= 8:
        raise ValueError(
            f"cpu:memory ratio is 1:{ratio:g} ({cpu:g} cpu, {memory_gib} GiB);"
            " it must be between 1:2 and 1:8"
        )
