"""Sandboxes asked for directly (Runloop's devboxes), not by a scenario run.

A devbox is detached: it outlives the process that made it (the API server), its idle and
keep-alive policy enforced by its own watcher, so a restarted server finds it as it was.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sandbench.engine import Engine
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.sandbox import Sandbox, SandboxState
from sandbench.model.scenario import LaunchParameters, ScenarioEnvironment
from sandbench.store import Store
from sandbench.store.database import now_ms


class Devboxes:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    def create(
        self,
        *,
        blueprint: str | None = None,
        snapshot: str | None = None,
        launch: LaunchParameters | None = None,
        launch_as_sent: dict[str, Any] | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        file_mounts: dict[str, str] | None = None,
    ) -> Sandbox:
        """Record the devbox (``provisioning``) and bring it up in the background; a
        problem with what was asked (image, limits, policy) fails here, before anything."""
        if blueprint and snapshot:
            raise InvalidInput("blueprint_id: give a blueprint or a snapshot, not both")
        if launch is None and blueprint:
            # a blueprint made through the API remembers the launch parameters it was made
            # with (Harbor sends them to both); they apply when the devbox gives none
            stored = (self.store.get_blueprint(blueprint).parameters or {}).get("launch_parameters")
            if stored:
                launch = LaunchParameters.model_validate(stored)
        environment = ScenarioEnvironment(
            blueprint_id=blueprint, snapshot_id=snapshot, launch_parameters=launch
        )
        spec = self.engine.spec_for_environment(
            environment, env=env, secret_env=secret_env, name=name
        )
        sandbox = self.engine.provision(
            spec,
            detach=True,
            metadata=metadata,
            launch_parameters=launch_as_sent,
            initiator="api",
        )
        threading.Thread(
            target=self._bring_up,
            args=(sandbox.id, dict(file_mounts or {})),
            name=f"devbox-{sandbox.id}",
            daemon=True,
        ).start()
        return sandbox

    def _bring_up(self, sandbox_id: str, file_mounts: dict[str, str]) -> None:
        with contextlib.suppress(SandbenchError):  # a failure is recorded on the sandbox
            sandbox = self.engine.start(sandbox_id)
            if sandbox.status == SandboxState.RUNNING:
                for path, contents in file_mounts.items():
                    self.engine.write_file(sandbox_id, path, contents)

    def keep_alive(self, sandbox_id: str) -> Sandbox:
        """Counts as activity (the idle timer starts again) and restarts the keep-alive."""
        sandbox = self.store.get_sandbox(sandbox_id)
        self.store.touch_sandbox(sandbox.id)
        self.store.update_sandbox(sandbox.id, keep_alive_from_ms=now_ms())
        return self.store.get_sandbox(sandbox.id)

    def usage(self, sandbox_id: str) -> dict[str, Any]:
        """Resource-seconds from the state transitions: running time times the limits."""
        sandbox = self.store.get_sandbox(sandbox_id)
        end = sandbox.end_time_ms or now_ms()
        active_ms, since = 0, None
        for transition in sandbox.state_transitions:
            if transition.status == SandboxState.RUNNING and since is None:
                since = transition.transition_time_ms
            elif transition.status != SandboxState.RUNNING and since is not None:
                active_ms += transition.transition_time_ms - since
                since = None
        if since is not None:
            active_ms += end - since
        active_s = active_ms // 1000
        return {
            "id": sandbox.id,
            "status": sandbox.status.value,
            "start_time_ms": sandbox.create_time_ms,
            "end_time_ms": sandbox.end_time_ms,
            "total_elapsed_seconds": (end - sandbox.create_time_ms) // 1000,
            "total_active_seconds": active_s,
            "vcpu_seconds": int(active_s * sandbox.resources.cpu),
            "memory_gb_seconds": active_s * sandbox.resources.memory_gib,
            "disk_gb_seconds": active_s * sandbox.resources.disk_gib,
        }
