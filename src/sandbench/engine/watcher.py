"""``python -m sandbench.engine.watcher SANDBOX_ID``: keeps a detached sandbox's policy.

A detached sandbox outlives the process that created it; this small process applies its
idle and keep-alive policy (and notices OOM kills and exits) until it is suspended or
ends. Any later resume starts a new watcher.
"""

from __future__ import annotations

import sys
import time

from sandbench.engine.sandboxes import MONITOR_INTERVAL_S, Engine
from sandbench.model.sandbox import SandboxState
from sandbench.store import open_store


def watch(sandbox_id: str) -> int:
    with open_store() as store, Engine(store, recover=False, monitor=False) as engine:
        while True:
            sandbox = store.get_sandbox(sandbox_id)
            if sandbox.status != SandboxState.RUNNING and sandbox.status not in (
                SandboxState.PROVISIONING,
                SandboxState.INITIALIZING,
                SandboxState.RESUMING,
            ):
                return 0
            engine.enforce_policy(sandbox_id)
            time.sleep(MONITOR_INTERVAL_S)


if __name__ == "__main__":
    sys.exit(watch(sys.argv[1]))
