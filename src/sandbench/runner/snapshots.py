"""Disk snapshots asked for by clients, synchronously or in the background."""

from __future__ import annotations

import contextlib
import threading

from sandbench.engine import Engine
from sandbench.errors import InvalidInput, SandbenchError
from sandbench.model.ids import new_id
from sandbench.model.sandbox import SandboxState, Snapshot
from sandbench.store import Store

SNAPSHOT_REPO = "localhost/sandbench-snapshot"


class Snapshots:
    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    def start(
        self,
        sandbox_id: str,
        *,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
        commit_message: str | None = None,
        wait: bool = True,
    ) -> Snapshot:
        """Snapshot a running or suspended sandbox's disk; ``wait=False`` returns at once
        with the snapshot ``in_progress``. A client's name need not be unique: the snapshot's
        own (its image tag) is its id."""
        sandbox = self.store.get_sandbox(sandbox_id)
        if sandbox.status not in (SandboxState.RUNNING, SandboxState.SUSPENDED):
            raise InvalidInput(
                f"devbox {sandbox.id} is {sandbox.status.value}; only a running or suspended"
                " devbox can be snapshotted"
            )
        snapshot_id = new_id("snapshot")
        self.store.save_snapshot(
            snapshot_id,
            f"{SNAPSHOT_REPO}-{snapshot_id}:latest",
            sandbox.id,
            status="in_progress",
            metadata=metadata,
            commit_message=commit_message,
            display_name=name,
            snapshot_id=snapshot_id,
        )
        if wait:
            self._take(sandbox.id, snapshot_id)
        else:
            threading.Thread(target=self._take, args=(sandbox.id, snapshot_id), daemon=True).start()
        return self.store.get_snapshot(snapshot_id)

    def _take(self, sandbox_id: str, snapshot_id: str) -> None:
        try:
            self.engine.snapshot(sandbox_id, snapshot_id, lambda _line: None, recorded=True)
        except SandbenchError as error:
            self.store.update_snapshot(snapshot_id, status="error", error=str(error))

    def delete(self, ref: str) -> Snapshot:
        snapshot = self.store.get_snapshot(ref)
        with contextlib.suppress(SandbenchError):
            self.engine.remove_image(snapshot.image)
        return self.store.delete_snapshot_record(snapshot.id)
