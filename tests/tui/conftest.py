from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from sandbench.engine import Engine
from sandbench.store import Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.workbench import Workbench
from tests.api.conftest import api_server  # noqa: F401  (a real `sandbench serve`)
from tests.conftest import ROOT
from tests.tui.support import OfflineWorkbench


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screens must not depend on the terminal or directory the tests run from."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL", raising=False)
    monkeypatch.chdir(ROOT)  # the samples are ./sample_scenarios, as with `make run`


@pytest.fixture
def offline_app(store: Store) -> Iterator[SandbenchApp]:
    """The app on the real store; nothing that needs Podman is expected to happen."""
    engine = Engine(store)  # never connected: OfflineWorkbench skips the start-up check
    yield SandbenchApp(OfflineWorkbench(store, engine))
    engine.close()


@pytest.fixture
def live_app(store: Store, engine: Engine) -> SandbenchApp:
    """The app on the real store, runner and engine (real Podman)."""
    return SandbenchApp(Workbench(store, engine))


@pytest.fixture
def utc() -> Iterator[None]:
    """Log times are local: the snapshots are taken in UTC."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()
