"""The warm pool: sandboxes created ahead of need, so a create is a claim.

A warm sandbox is a started container on its sized disk, with its exec agent, and no row in
the store: it is invisible until claimed. It is keyed by what is fixed when its container is
made (image id, architecture, resources, pids limit, network); what a claim adds later (name,
run, user, working directory, launch commands, policies) is applied after the claim, as a
fresh sandbox's would be. A spec whose container environment differs (env vars, secrets)
never matches: a sandbox's environment is fixed with its container.

Each warm sandbox is used once and never returned. The pool refills in the background, stays
within a share of the host's memory, is drained when its engine closes, and is labelled with
its owner (pid and start time), so a start-up after a crash reaps a dead owner's pool.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbench.model.ids import new_id
from sandbench.model.resources import PRESETS, Resources, ResourceSize
from sandbench.model.sandbox import NetworkPolicy, SandboxSpec
from sandbench.model.scenario import Architecture

if TYPE_CHECKING:
    from sandbench.engine.sandboxes import Engine
    from sandbench.store import Store

log = logging.getLogger("sandbench.engine")
LABEL_POOL = "io.sandbench.pool"  # the key a warm sandbox was made for
LABEL_OWNER_START = "io.sandbench.owner-start"  # with the owner's pid: a reused pid is not it
MEMORY_SHARE = 0.25  # the pool's sandboxes' memory limits, in all, at most this share of RAM
MEMORY_RESERVE_GIB = 2.0  # and never when less than this would stay available
IMAGE_ID_TTL_S = 2.0  # how long a tag's resolved image id is trusted by claims
GIB = 1024**3


DROP_WAIT_S = 15.0  # drop_target() waits this long at most for a sandbox being made


@dataclass(frozen=True)
class PoolKey:
    image_id: str
    architecture: str
    cpu: float
    memory_gib: int
    disk_gib: int
    pids_limit: int
    network: str

    def label(self) -> str:
        return (
            f"{self.image_id[:12]}/{self.architecture}/{self.cpu:g}cpu/{self.memory_gib}g"
            f"/{self.disk_gib}g/{self.pids_limit}pids/{self.network}"
        )


@dataclass
class Target:
    """How many warm sandboxes of one kind to keep, and the spec they are made from."""

    name: str  # as configured: the size preset
    spec: SandboxSpec
    size: int
    key: PoolKey | None = None
    ready: list[str] = field(default_factory=list)  # sandbox ids, oldest first
    creating: int = 0
    claimed: int = 0  # warm sandboxes taken by creates, since the pool started
    failures: int = 0
    last_error: str = ""
    idle_s: float | None = None  # a target added for a while (a benchmark's): dropped
    last_claim: float = field(default_factory=time.monotonic)  # after this long unclaimed
    budget: int | None = None  # creates still to come (a benchmark's cases left): no more


@dataclass
class PoolRow:
    """One key of the pool: what is kept of it and how many are warm now."""

    name: str  # the size preset as configured, or "for IMAGE" (a benchmark's)
    key: str
    size: int  # how many are wanted
    ready: int  # warm, waiting for a claim
    creating: int  # being made now (known only to the process keeping the pool)
    last_error: str = ""
    image: str = ""
    architecture: str = ""
    preset: str = ""  # the size preset its resources are ("" if none)
    failing: bool = False  # refills stopped after repeated failures
    claimed: int = 0  # taken by creates (known only to the process keeping the pool)


@dataclass
class PoolReport:
    """The warm pool as `pool status`, `doctor` and the workbench show it (one source)."""

    configured: dict[str, int]
    rows: list[PoolRow]
    warm: list[dict[str, Any]]  # every pool container of this workspace, by any owner
    kept_here: bool  # rows are this process's own pool (refills in flight are known)


def preset_of(resources: Resources) -> str:
    """The size preset ``resources`` are, or "" (a custom size)."""
    return next((size.value for size, preset in PRESETS.items() if preset == resources), "")


def pool_spec(image: str, size: ResourceSize, architecture: Architecture) -> SandboxSpec:
    """The spec a warm sandbox is made from: nothing of any one sandbox's in it."""
    return SandboxSpec(
        image=image,
        architecture=architecture,
        resources=PRESETS[size],
        working_directory="/workspace",
        network=NetworkPolicy.DEFAULT,
    )


def key_of(spec: SandboxSpec, image_id: str) -> PoolKey:
    """The key of ``spec``'s container with its image resolved to ``image_id``."""
    return PoolKey(
        image_id,
        spec.architecture.value,
        float(spec.resources.cpu),
        int(spec.resources.memory_gib),
        int(spec.resources.disk_gib),
        spec.pids_limit,
        spec.network.value,
    )


def memory_available() -> tuple[float, float]:
    """(MemTotal, MemAvailable) of this host in GiB."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("MemTotal", "MemAvailable"):
                values[name] = int(rest.split()[0]) * 1024 / GIB
    return values.get("MemTotal", 0.0), values.get("MemAvailable", 0.0)


class WarmPool:
    """One engine's pool. ``claim`` is cheap and thread-safe; ``start`` begins refilling."""

    def __init__(self, engine: Engine, sizes: dict[str, int]) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._image_ids: dict[str, tuple[str | None, float]] = {}
        self._builders: list[threading.Thread] = []
        self.targets = [
            Target(
                name,
                pool_spec(engine.config.default_image, ResourceSize(name), Architecture.X86_64),
                count,
            )
            for name, count in sizes.items()
            if count > 0
        ]
        self.claims = 0
        self.misses = 0

    # ------------------------------------------------------------------ keys

    def _image_id(self, image: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._image_ids.get(image)
        if cached is not None and now - cached[1] < IMAGE_ID_TTL_S:
            return cached[0]
        from sandbench.engine import images

        attrs = images.inspect(self._engine.client, image)
        found = str(attrs["Id"]) if attrs else None
        with self._lock:
            self._image_ids[image] = (found, now)
        return found

    def key_for(self, spec: SandboxSpec) -> PoolKey | None:
        """The pool key ``spec`` would be served from; None when it cannot be: its container
        environment is its own, or its network opens what a warm one's does not (the host,
        other sandboxes). Secrets are no obstacle: they reach each exec, not the container."""
        if spec.env or spec.devbox_to_devbox or spec.host_access:
            return None
        image_id = self._image_id(spec.image)
        return None if image_id is None else key_of(spec, image_id)

    # ------------------------------------------------------------------ claims

    def claim(self, spec: SandboxSpec) -> tuple[str, PoolKey] | None:
        """A warm sandbox for ``spec``, taken out of the pool (its id), or None: a miss."""
        if not self.targets:
            return None
        key = self.key_for(spec)
        if key is None:
            self.misses += 1
            return None
        with self._lock:
            for target in self.targets:
                if target.key == key:
                    target.last_claim = time.monotonic()
                    if target.budget is not None:  # a hit or a miss, one create fewer to come
                        target.budget = max(0, target.budget - 1)
                if target.key == key and target.ready:
                    sandbox_id = target.ready.pop(0)
                    target.claimed += 1
                    self.claims += 1
                    self._wake.notify_all()  # make another
                    return sandbox_id, key
        self.misses += 1
        return None

    def owns(self, sandbox_id: str) -> bool:
        with self._lock:
            return any(sandbox_id in target.ready for target in self.targets)

    # ------------------------------------------------------------------ refill

    def start(self, builders: int = 1) -> None:
        """Begin filling with up to ``builders`` sandboxes made at once (in the background;
        close() of the engine waits for them)."""
        if not self.targets:
            return
        with self._lock:
            self._builders = [t for t in self._builders if t.is_alive()]
            wanted = builders - len(self._builders)
        for _ in range(wanted):
            thread = self._engine.in_background("warm-pool", self._refill_loop)
            with self._lock:
                self._builders.append(thread)

    def add_target(
        self, spec: SandboxSpec, size: int, *, idle_s: float = 30.0, budget: int | None = None
    ) -> PoolKey | None:
        """Keep ``size`` warm sandboxes of ``spec``'s key (a benchmark's cases' key, sized to
        its jobs) until none is claimed for ``idle_s``; then the target and its warm sandboxes
        go, so a long-lived process does not hold them after the benchmark. None: ``spec``
        cannot be served warm. Builders are started to match ``size`` (at most 2: creation
        competes with the cases for the host's CPUs). ``budget``: how many creates of the key
        are still to come (the benchmark's cases left, this one included); never more are
        kept warm, so the last cases leave no sandbox built for nothing."""
        key = self.key_for(spec)
        if key is None:
            return None
        # nothing of any one sandbox's: what fixes the key, the rest as pool_spec has it
        warm = pool_spec(spec.image, ResourceSize.X_SMALL, spec.architecture).model_copy(
            update={
                "resources": spec.resources,
                "pids_limit": spec.pids_limit,
                "network": spec.network,
            }
        )
        with self._lock:
            for target in self.targets:
                if target.key == key:
                    target.size = max(target.size, size)
                    target.last_claim = time.monotonic()
                    if budget is not None:
                        target.budget = budget
                    if target.idle_s is not None:
                        target.idle_s = max(target.idle_s, idle_s)
                    break
            else:
                self.targets.append(
                    Target(f"for {spec.image}", warm, size, key=key, idle_s=idle_s, budget=budget)
                )
            self._wake.notify_all()
        self.start(builders=min(2, max(1, size)))
        return key

    def drop_target(self, key: PoolKey) -> None:
        """Stop keeping sandboxes of ``key`` for an added target, and remove its warm ones
        now (the benchmark that added it is over)."""
        with self._lock:
            gone = [t for t in self.targets if t.key == key and t.idle_s is not None]
            for target in gone:
                self.targets.remove(target)
            # one being made is removed by its builder when done: wait for that, bounded
            # (a Ctrl-C'd benchmark must exit; the engine's close waits for builders too)
            self._wake.wait_for(lambda: all(t.creating == 0 for t in gone), timeout=DROP_WAIT_S)
        for target in gone:
            for sandbox_id in target.ready:
                self._remove(sandbox_id, target.spec)

    def wake(self) -> None:
        """Wake the builders now (the engine is closing: they stop without a wait)."""
        with self._lock:
            self._wake.notify_all()

    def _refill_loop(self) -> None:
        while not self._engine.closing:
            self._expire()
            made = self._refill_once()
            if self._engine.closing:
                return
            if not made:
                with self._lock:  # woken by a claim or a new target; else a periodic retry
                    self._wake.wait(1.0 if any(t.idle_s for t in self.targets) else 5.0)

    def _expire(self) -> None:
        """Drop the targets added for a while that nobody claims from any more."""
        now = time.monotonic()
        with self._lock:
            gone = [
                t for t in self.targets if t.idle_s is not None and now - t.last_claim > t.idle_s
            ]
            for target in gone:
                self.targets.remove(target)
        for target in gone:
            for sandbox_id in target.ready:
                self._remove(sandbox_id, target.spec)

    def _within_memory(self, extra_gib: float) -> bool:
        total, available = memory_available()
        with self._lock:
            held = sum(
                t.spec.resources.memory_gib * (len(t.ready) + t.creating) for t in self.targets
            )
        return (
            held + extra_gib <= total * MEMORY_SHARE and available - extra_gib >= MEMORY_RESERVE_GIB
        )

    def _refill_once(self) -> bool:
        """Make one warm sandbox where one is missing; False when none is."""
        with self._lock:
            targets = list(self.targets)
        for target in targets:
            if target.failures >= 3:
                continue
            if not self._within_memory(target.spec.resources.memory_gib):
                continue
            with self._lock:  # checked and counted at once: builders run side by side
                if self._wanted(target) - len(target.ready) - target.creating <= 0:
                    continue
                target.creating += 1
            try:
                if target.key is None:
                    target.key = self.key_for(target.spec)
                    if target.key is None:
                        raise RuntimeError(f"image {target.spec.image} is missing")
                sandbox_id = new_id("sandbox")
                self._engine.warm_up(sandbox_id, target.spec, target.key.label())
                with self._lock:
                    dropped = target not in self.targets
                    if not dropped:
                        target.ready.append(sandbox_id)
                    target.failures = 0
                if dropped:  # expired while it was made
                    self._remove(sandbox_id, target.spec)
                if self._engine.closing:
                    self.drain()
                return True
            except Exception as error:  # retried later, reported in `pool status`
                target.failures += 1
                target.last_error = str(error)[:300]
                log.warning("warm pool %s: %s", target.name, error)
            finally:
                with self._lock:
                    target.creating -= 1
                    self._wake.notify_all()
        return False

    def wait_filled(self, timeout: float) -> bool:
        """Until every target holds its size (tests and benchmarks), at most ``timeout`` s."""
        with self._lock:  # each builder notifies once its sandbox is ready (or failed)
            return self._wake.wait_for(
                lambda: all(len(t.ready) >= self._wanted(t) for t in self.targets), timeout
            )

    @staticmethod
    def _wanted(target: Target) -> int:
        return target.size if target.budget is None else min(target.size, target.budget)

    # ------------------------------------------------------------------ status and drain

    def status(self) -> list[PoolRow]:
        """Each target now: wanted, warm, being made, and why refills fail if they do."""
        with self._lock:
            return [
                PoolRow(
                    t.name,
                    t.key.label() if t.key else "",
                    t.size,
                    len(t.ready),
                    t.creating,
                    t.last_error,
                    t.spec.image,
                    t.spec.architecture.value,
                    preset_of(t.spec.resources),
                    t.failures >= 3,
                    t.claimed,
                )
                for t in self.targets
            ]

    def drain(self) -> None:
        """Remove every warm sandbox not claimed (the engine is closing)."""
        for step in self.drain_steps():
            step()

    def drain_steps(self) -> list[Callable[[], None]]:
        """The removals drain() makes, taken out of the pool now, for the caller to run
        (side by side with its other removals)."""
        with self._lock:
            doomed = [(sandbox_id, t.spec) for t in self.targets for sandbox_id in t.ready]
            for target in self.targets:
                target.ready.clear()
        return [functools.partial(self._remove, sandbox_id, spec) for sandbox_id, spec in doomed]

    def _remove(self, sandbox_id: str, spec: SandboxSpec) -> None:
        try:
            self._engine.remove_unrecorded(sandbox_id, spec)
        except Exception as error:  # the next start-up reaps it
            log.warning("warm pool: could not remove %s: %s", sandbox_id, error)


def warm_containers(client: Any, home_label: str) -> list[dict[str, str]]:
    """The warm (unclaimed or claimed) pool containers of this workspace: their labels,
    with their ``name`` and ``state`` (for ``pool status`` from any process)."""
    from sandbench.engine.sandboxes import LABEL_HOME

    found = []
    for container in client.containers.list(all=True):
        labels = dict(container.labels or {})
        if labels.get(LABEL_HOME) == home_label and LABEL_POOL in labels:
            state = container.attrs.get("State")  # a string in list answers
            state = state.get("Status", "") if isinstance(state, dict) else str(state or "")
            found.append({**labels, "name": container.name, "state": state})
    return found


def pool_report(
    client: Any,
    home_label: str,
    configured: dict[str, int],
    default_image: str,
    store: Store,
    pool: WarmPool | None = None,
) -> PoolReport:
    """The warm pool of this workspace: ``pool``'s own targets when this process keeps it
    (the workbench), else the configured sizes with the warm containers of live owners
    counted against them (`pool status` from another terminal). A pool container the store
    records has been claimed: listed, not counted. Podman calls: a thread's."""
    from sandbench.engine import images
    from sandbench.engine.sandboxes import LABEL_OWNER, LABEL_SANDBOX, _alive

    found = warm_containers(client, home_label)
    claimed = store.recorded_sandboxes(labels.get(LABEL_SANDBOX, "") for labels in found)
    warm = []
    for labels in found:
        owner = labels.get(LABEL_OWNER, "")
        alive = owner.isdigit() and _alive(int(owner), labels.get(LABEL_OWNER_START))
        warm.append(
            {
                "sandbox": labels.get(LABEL_SANDBOX, ""),
                "key": labels.get(LABEL_POOL, ""),
                "owner_pid": int(owner) if owner.isdigit() else None,
                "owner_alive": alive,
                "state": labels.get("state", ""),
                "claimed": labels.get(LABEL_SANDBOX) in claimed,
            }
        )
    if pool is not None:
        return PoolReport(dict(configured), pool.status(), warm, kept_here=True)
    attrs = images.inspect(client, default_image)
    image_id = str(attrs["Id"]) if attrs else None
    live: dict[str, int] = {}
    for container in warm:
        if container["owner_alive"] and not container["claimed"]:
            live[container["key"]] = live.get(container["key"], 0) + 1
    rows = []
    for name, count in configured.items():
        if count <= 0:
            continue
        spec = pool_spec(default_image, ResourceSize(name), Architecture.X86_64)
        key = key_of(spec, image_id).label() if image_id else ""
        rows.append(
            PoolRow(
                name,
                key,
                count,
                live.pop(key, 0),
                0,
                "" if image_id else f"image {default_image} is missing",
                default_image,
                spec.architecture.value,
                name,
            )
        )
    for key, count in live.items():  # kept for a while by another process (a benchmark's)
        rows.append(PoolRow("", key, 0, count, 0, architecture=key.split("/")[1]))
    return PoolReport(dict(configured), rows, warm, kept_here=False)
