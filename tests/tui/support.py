"""Helpers for the workbench tests: scenarios, a fixed data source, waiting on the app."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Log

from sandbench.engine.pool import PoolReport, PoolRow
from sandbench.engine.usage import ImageUsage
from sandbench.errors import SandbenchError
from sandbench.model import parse_scenarios
from sandbench.model.documents import ParsedScenario
from sandbench.model.resources import Resources
from sandbench.model.runs import RunState, ScenarioRun, ScorerResult, ScorerState, Solution
from sandbench.model.sandbox import SandboxSpec, SandboxState
from sandbench.runner.events import (
    EventBus,
    OutputChunk,
    RunEvent,
    RunFinished,
    RunStateChanged,
    ScorerFinished,
    ScorerStarted,
    StepOutput,
)
from sandbench.runner.validation import CheckReport, ScorerVerdict
from sandbench.store import Page, Store
from sandbench.tui.app import SandbenchApp
from sandbench.tui.errors import Notice
from sandbench.tui.modals import SolutionScreen
from sandbench.tui.run import RunScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.workbench import (
    RowsPage,
    RunDetail,
    SandboxInfo,
    SandboxStats,
    ScenarioRow,
    ScorerSpec,
    Workbench,
)
from tests.engine_support import bash, command, make, scorer_result

# ----------------------------------------------------------------------------- scenarios


# The reference writes 41, not 42: `exists` passes, `correct` fails, the total is 0.25.
PARTIAL = make(
    "partial",
    [
        command("exists", 0.25, "test -f answer.txt"),
        bash(
            "correct",
            0.75,
            "echo checking answer.txt; sleep 2;"
            " grep -qx 42 answer.txt && echo score=1 || echo score=0",
        ),
    ],
    reference_output="echo 41 > answer.txt\n",
)


def store_scenarios(store: Store, *documents: dict[str, Any]) -> list[str]:
    parsed = [ParsedScenario(parse_scenarios(d)[0].scenario) for d in documents]
    return [r.record.id for r in store.import_scenarios(parsed)]


class OfflineWorkbench(Workbench):
    """The real store and runner; the start-up Podman check is skipped (no Podman needed
    for tests that never run anything)."""

    def check_engine(self) -> str:
        return "offline"

    def image_usage(self) -> ImageUsage:
        raise SandbenchError("offline: Podman is not asked")

    def pool_report(self) -> PoolReport:
        raise SandbenchError("offline: Podman is not asked")


# ----------------------------------------------------------------------------- fixed data

NOW_MS = 1_750_000_000_000  # the fixed "now" of the snapshots


def fixed_pool() -> PoolReport:
    """The workbench's own pool mid-refill: one size full (three of it used), one being made."""

    def row(name: str, size: int, ready: int, creating: int, claimed: int) -> PoolRow:
        return PoolRow(
            name,
            f"0123456789ab/x86_64/{name}",
            size,
            ready,
            creating,
            image="localhost/sandbench-base:latest",
            architecture="x86_64",
            preset=name,
            claimed=claimed,
        )

    rows = [row("X_SMALL", 2, 2, 0, 3), row("SMALL", 2, 1, 1, 0)]
    return PoolReport({"X_SMALL": 2, "SMALL": 2}, rows, [], kept_here=True)


class FixedWorkbench(Workbench):
    """Answers from fixed data: deterministic screens for snapshots, no store, no Podman."""

    def __init__(
        self,
        rows: list[ScenarioRow],
        runs: list[RunDetail] | None = None,
        sandboxes: dict[str, SandboxInfo] | None = None,
        check: FixedCheck | None = None,
    ) -> None:
        self.rows = sorted(rows, key=lambda r: (r.name.lower(), r.id))
        self.details = {d.run.id: d for d in runs or []}
        self.sandboxes = sandboxes or {}
        self.check = check
        self._bus = EventBus()

    @property
    def bus(self) -> EventBus:
        return self._bus

    def now_ms(self) -> int:
        return NOW_MS

    def check_engine(self) -> str:
        return "fixed"

    def pool_report(self) -> PoolReport:
        return fixed_pool()

    def scenario_page(self, name: str | None, starting_after: str | None, limit: int) -> RowsPage:
        rows = [r for r in self.rows if not name or name.lower() in r.name.lower()]
        start = 0
        if starting_after is not None:
            start = next(i for i, r in enumerate(rows) if r.id == starting_after) + 1
        page = rows[start : start + limit]
        return RowsPage(page, start + limit < len(rows), len(rows))

    def runs_page(
        self, scenario_id: str | None, starting_after: str | None, limit: int
    ) -> Page[ScenarioRun]:
        runs = [d.run for d in self.details.values() if scenario_id in (None, d.run.scenario_id)]
        runs.sort(key=lambda r: r.id, reverse=True)
        return Page(runs[:limit], len(runs) > limit, len(runs), max(0, len(runs) - limit))

    def run_detail(self, run_id: str) -> RunDetail:
        return self.details[run_id]

    def run_sandbox_id(self, run_id: str) -> str | None:
        return self.details[run_id].run.sandbox_id

    def sandbox(self, sandbox_id: str) -> SandboxInfo:
        return self.sandboxes[sandbox_id]

    def check_scenario(
        self,
        scenario_id: str,
        *,
        use_cache: bool = True,
        on_created: Callable[[RunDetail], None] | None = None,
        canceled: threading.Event | None = None,
    ) -> CheckReport:
        """The fixed check: each run announced, its events replayed on the bus as the
        runner would emit them, then the report."""
        assert self.check is not None, "this FixedWorkbench has no check answer"
        for detail in (self.check.forward, self.check.reverse):
            if on_created is not None:
                fresh = {"state": RunState.RUNNING, "score": None, "duration_ms": None}
                started = detail.run.model_copy(update={**fresh, "scorer_results": []})
                on_created(dataclasses.replace(detail, run=started))
            for event in replay(detail.run):
                self._bus.emit(event)
        return self.check.report()

    def previous_run(self, run_id: str, look_back: int = 50) -> ScenarioRun | None:
        return None  # the fixed run has a rerun: that is what a comparison shows

    def last_agent_command(self, look_back: int = 200) -> str:
        return ""


def result(
    name: str,
    type_: str,
    weight: float,
    score: float | None,
    *,
    duration_ms: int = 1200,
    **fields: Any,
) -> ScorerResult:
    """A result of the fixed run (``fields``: attempt, state, output)."""
    return scorer_result(
        name,
        score,
        run_id="scr_01fixedrun0000000000",
        id_prefix="fixed",
        type_=type_,
        weight=weight,
        started_at_ms=NOW_MS - 60_000,
        duration_ms=duration_ms,
        **fields,
    )


def fixed_run_detail() -> RunDetail:
    """A completed run of three scorers: one rerun (attempt 2), one failing."""
    results = [
        result("tests", "test_based_scorer", 0.5, 0.0, output="FAILED test_retry (2 failed)\n"),
        result(
            "tests",
            "test_based_scorer",
            0.5,
            1.0,
            attempt=2,
            output="".join(f"test_case_{i} ... ok\n" for i in range(1, 31)) + "Ran 30 tests: OK\n",
            duration_ms=4300,
        ),
        result("lint", "command_scorer", 0.2, 1.0, output="All checks passed!\n", duration_ms=800),
        result(
            "backoff",
            "bash_script_scorer",
            0.3,
            0.5,
            output="PASS retries 3 times\nFAIL waits 2^n seconds\nscore=0.5\n",
            duration_ms=2100,
        ),
    ]
    run = ScenarioRun(
        id="scr_01fixedrun0000000000",
        scenario_id="scn_01fixedscenario00001",
        scenario_version=3,
        name="http-retry-with-backoff",
        state=RunState.COMPLETED,
        solution=Solution.REFERENCE,
        sandbox_id="dbx_01fixedsandbox000000",
        score=0.85,
        start_time_ms=NOW_MS - 90_000,
        duration_ms=12_400,
        scorer_results=results,
    )
    specs = (
        ScorerSpec("tests", "test_based_scorer", 0.5),
        ScorerSpec("lint", "command_scorer", 0.2),
        ScorerSpec("backoff", "bash_script_scorer", 0.3),
    )
    return RunDetail(run, "http-retry-with-backoff", specs)


def replay(run: ScenarioRun) -> list[RunEvent]:
    """The events the runner emits for ``run`` (a cache hit copies results, no scoring)."""
    events: list[RunEvent] = []
    if run.cache_hit:
        events.append(
            StepOutput(
                run.id,
                "cache",
                "stdout",
                "unchanged since run scr_01fixedearlier000: reusing its results\n",
            )
        )
        events.extend(ScorerFinished(run.id, r) for r in run.scorer_results)
    else:
        events.append(StepOutput(run.id, "sandbox", "stdout", "starting a MEDIUM sandbox\n"))
        events.append(RunStateChanged(run.id, RunState.SCORING))
        for r in run.scorer_results:
            events.append(ScorerStarted(run.id, r.id, r.name, r.type, r.weight, r.attempt))
            events.append(OutputChunk(run.id, r.id, r.name, "stdout", r.output))
            events.append(ScorerFinished(run.id, r))
    events.append(RunStateChanged(run.id, run.state))
    events.append(RunFinished(run.id, run))
    return events


@dataclasses.dataclass(frozen=True)
class FixedCheck:
    """A check's answer: its two finished runs."""

    forward: RunDetail
    reverse: RunDetail

    def report(self) -> CheckReport:
        scores = [
            {r.name: r.score for r in d.run.scorer_results if r.state == ScorerState.COMPLETE}
            for d in (self.forward, self.reverse)
        ]
        verdicts = [
            ScorerVerdict(s.name, scores[0].get(s.name), scores[1].get(s.name))
            for s in self.forward.scorers
        ]
        return CheckReport(self.forward.scenario_name, self.forward.run, self.reverse.run, verdicts)


def fixed_check() -> FixedCheck:
    """http-retry-with-backoff checked: FORWARD a cache hit at 0.85, REVERSE at 0.2; one
    scorer fine, one blind to the baseline, one short of 1 on the reference."""
    specs = fixed_run_detail().scorers

    def run(run_id: str, solution: Solution, scores: dict[str, float], **extra: Any) -> RunDetail:
        outputs = {
            "tests": "Ran 30 tests: OK\n" if scores["tests"] else "FAILED test_retry (30 failed)\n",
            "lint": "All checks passed!\n",
            "backoff": f"PASS retries 3 times\nscore={scores['backoff']:g}\n",
        }
        results = [
            result(s.name, s.type, s.weight, scores[s.name], output=outputs[s.name]).model_copy(
                update={"id": f"srs_{run_id[4:]}{s.name}", "run_id": run_id}
            )
            for s in specs
        ]
        total = sum(s.weight * scores[s.name] for s in specs)
        finished = ScenarioRun(
            id=run_id,
            scenario_id="scn_01fixedscenario00001",
            scenario_version=3,
            name="http-retry-with-backoff",
            state=RunState.COMPLETED,
            solution=solution,
            score=round(total, 6),
            start_time_ms=NOW_MS - 30_000,
            scorer_results=results,
            **extra,
        )
        return RunDetail(finished, "http-retry-with-backoff", specs)

    forward = run(
        "scr_01fixedcheckfw000000",
        Solution.REFERENCE,
        {"tests": 1.0, "lint": 1.0, "backoff": 0.5},
        cache_hit=True,
        duration_ms=300,
    )
    reverse = run(
        "scr_01fixedcheckrv000000",
        Solution.BASELINE,
        {"tests": 0.0, "lint": 1.0, "backoff": 0.0},
        sandbox_id="dbx_01fixedsandbox000001",
        duration_ms=9_800,
    )
    return FixedCheck(forward, reverse)


def fixed_check_app() -> SandbenchApp:
    """The fixed list, whose http-retry-with-backoff checks as ``fixed_check``."""
    check = fixed_check()
    return SandbenchApp(FixedWorkbench(fixed_rows(), [check.forward, check.reverse], check=check))


def fixed_rows() -> list[ScenarioRow]:
    def row(
        index: int, name: str, types: tuple[str, ...], preset: str, arch: str, **last: Any
    ) -> ScenarioRow:
        return ScenarioRow(
            id=f"scn_01fixedscenario{index:05d}",
            name=name,
            version=1,
            scorer_types=types,
            preset=preset,
            arch=arch,
            **last,
        )

    return [
        row(
            1,
            "http-retry-with-backoff",
            ("test", "cmd", "bash"),
            "MEDIUM",
            "x86_64",
            last_run_id="scr_01fixedrun0000000000",
            last_state="completed",
            last_score=0.85,
            last_run_ms=NOW_MS - 90_000,
        ),
        row(
            2,
            "add-dry-run-flag",
            ("bash", "cmd"),
            "X_SMALL",
            "x86_64",
            last_run_id="scr_01fixedrun0000000001",
            last_state="completed",
            last_score=1.0,
            last_run_ms=NOW_MS - 3 * 3600_000,
        ),
        row(
            3,
            "arm64-release-asset-name",
            ("cmd", "bash"),
            "X_SMALL",
            "arm64",
            last_run_id="scr_01fixedrun0000000002",
            last_state="failed",
            last_run_ms=NOW_MS - 3 * 86400_000,
        ),
        row(4, "csv-quoted-fields", ("py", "cmd"), "MEDIUM", "x86_64"),
        row(
            5,
            "fix-backup-rotation-idle-suspend",
            ("bash", "cmd"),
            "SMALL",
            "x86_64",
            last_run_id="scr_01fixedrun0000000003",
            last_state="running",
            last_run_ms=NOW_MS - 20_000,
        ),
        row(
            6,
            "replace-eval-with-literal-eval",
            ("test", "ast", "cmd"),
            "SMALL",
            "x86_64",
            last_run_id="scr_01fixedrun0000000004",
            last_state="completed",
            last_score=0.4,
            last_run_ms=NOW_MS - 25 * 60_000,
        ),
        row(7, "wrap-long-lines-custom-scorer", ("custom", "test", "cmd"), "CUSTOM_SIZE", "x86_64"),
    ]


def fixed_app() -> SandbenchApp:
    detail = fixed_run_detail()
    sandboxes = {"dbx_01fixedsandbox000000": SandboxInfo("dbx_01fixedsandbox000000", "suspended")}
    return SandbenchApp(FixedWorkbench(fixed_rows(), [detail], sandboxes))


# ----------------------------------------------------------------------------- activity log

API_BOX = "dbx_01fixedapibox00000001"
T0 = NOW_MS - 5 * 60_000  # the fixed store's first moment (15:01:40 UTC)


class Clock:
    """A store clock that reads ``at`` (set by the test) instead of the time."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


def fixed_activity_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A devbox made through the API, straight into the store with fixed ids and times:
    a finished command whose stdout and stderr interleave, then one still running as
    another user in another directory."""
    clock = Clock(T0)
    monkeypatch.setattr("sandbench.store.sandboxes.now_ms", clock)
    monkeypatch.setattr("sandbench.store.executions.now_ms", clock)
    monkeypatch.setattr("sandbench.store.sandboxes.new_id", lambda kind: API_BOX)
    spec = SandboxSpec(
        image="sandbench-base:latest",
        resources=Resources(1, 2, 4),
        working_directory="/workspace",
        name="agent-devbox",
    )
    store.insert_sandbox(
        spec, owner_pid=None, owner_start=None, metadata={"task": "fix"}, initiator="api"
    )
    store.transition(API_BOX, SandboxState.RUNNING)

    def at(ms: int) -> None:
        clock.at = T0 + ms

    at(2_000)
    first = store.create_execution(API_BOX, "pytest -q tests/test_retry.py", origin="api")
    at(2_050)
    store.start_execution(first.id)
    store.append_execution_output(first.id, "stdout", "..F.\n")
    store.append_execution_output(first.id, "stderr", "warning: flaky test_backoff\n")
    store.append_execution_output(first.id, "stdout", "1 failed, 3 passed in 1.31s\n")
    at(3_450)
    store.finish_execution(first.id, 1)
    at(61_000)
    second = store.create_execution(
        API_BOX,
        "for i in 1 2 3; do echo tick$i; sleep 30; done",
        user="agent",
        working_directory="/tmp",
    )
    at(61_010)
    store.start_execution(second.id)
    store.append_execution_output(second.id, "stdout", "tick1\ntick2\n")


class ActivityWorkbench(OfflineWorkbench):
    """The real store; "now" frozen and no container stats (no Podman)."""

    def now_ms(self) -> int:
        return NOW_MS

    def sandbox_stats(self, sandbox_ids: list[str]) -> dict[str, SandboxStats]:
        return {}


# ----------------------------------------------------------------------------- waiting


async def wait_for(
    pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = 60
) -> None:
    """Let the app run until ``condition()`` holds (it is checked on the app's loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


async def settle(pilot: Pilot) -> None:
    """Every worker started so far is done and its messages handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await asyncio.sleep(0)
    await pilot.pause()


S = TypeVar("S", bound=Screen)


async def wait_for_screen(pilot: Pilot, kind: type[S], what: str, timeout: float = 60) -> S:
    """Let the app run until it shows a ``kind`` screen, mounted (its on_mount has run:
    under load a test could otherwise read the screen before it had filled itself in)."""
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, what, timeout
    )
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def open_run(pilot: Pilot, detail: RunDetail | None = None) -> RunScreen:
    """Once the app has settled, the run screen of ``detail`` (the fixed run by default),
    its sandbox's state known."""
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, SandbenchApp)
    app.open_run(detail or fixed_run_detail())
    screen = await wait_for_screen(pilot, RunScreen, "the run screen")
    await wait_for(pilot, lambda: screen.sandbox is not None, "the sandbox state")
    return screen


async def open_picker(pilot: Pilot, *choice: str) -> SolutionScreen:
    """Once the scenarios are listed, ``r`` on the selected one, then ``choice`` in the
    solution picker."""
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, ScenariosScreen)
    await wait_for(pilot, lambda: screen.loaded_once and screen.rows, "the scenarios")
    await pilot.press("r")
    picker = app.screen
    assert isinstance(picker, SolutionScreen)
    await pilot.press(*choice)
    return picker


async def start_run(pilot: Pilot, *choice: str) -> RunScreen:
    """``open_picker`` with ``choice`` (the reference if none): the run's screen."""
    await open_picker(pilot, *(choice or ("enter",)))
    return await wait_for_screen(pilot, RunScreen, "the run screen")


async def notice_shown(pilot: Pilot, title: str) -> Notice:
    """Let the app run until it has shown a notice titled ``title``; the first such."""
    app = pilot.app
    assert isinstance(app, SandbenchApp)
    await wait_for(pilot, lambda: any(n.title == title for n in app.notice_log), "the notice")
    return next(n for n in app.notice_log if n.title == title)


def fake_suspend(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """``App.suspend`` replaced by one that only records, in the list returned: True on the
    way in, False on the way out. Like Textual's, it does not resume on an exception."""
    suspended: list[bool] = []

    @contextmanager
    def suspend(self: App) -> Iterator[None]:
        suspended.append(True)
        yield
        suspended.append(False)

    monkeypatch.setattr(App, "suspend", suspend)
    return suspended


def log_text(log: Log) -> str:
    return "\n".join(log.lines)


def notices(app: SandbenchApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]
