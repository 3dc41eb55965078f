"""TUI speed: start-up on a big store, key latency while a scorer streams, memory of a long
stream.

1. Start-up: from opening the store to the first frame in which the scenarios screen shows
   its first page of rows (each with its scenario's last run), on a store holding RUNS
   finished runs spread evenly over SCENARIOS scenarios, each run with its scorer results and
   their output (rows written in bulk, as the runner leaves them). Baseline: the same
   scenarios with no runs at all. The two stores are opened alternately, REPEAT times each,
   after one warm-up pair; medians are reported. ``Workbench.scenario_page`` (the query behind
   the first page) is timed alone as well, to tell the store's share from the app's.
2. Key to repaint: on the run screen of a running scorer, ``j`` and ``k`` alternately move the
   breakdown table's cursor (which also switches the output pane); timed from handing the
   key to the app until the end of the first frame showing the cursor on its new row. Under
   load, the scorer prints RATE lines a second from a thread (what is due, every TICK_S at
   most: while the app holds the GIL the thread gets it less often, so chunks are fewer and
   bigger; their number is reported), each chunk passed on the way the runner's ``write()``
   does: appended to the store, then emitted on the bus. Baseline: the same presses with
   nothing streaming. Blocks of each alternate (ABBA); a block stops after BLOCK_MAX_S
   even if it got fewer than its presses (a slow app must not stretch the benchmark).
3. A long stream: LINES lines through the run screen, the scorer's pane in view and
   following, sent by the thread as fast as it can (chunks of CHUNK_LINES) in three legs:
   to line 10,000, to 100,000 and to LINES. After each leg has reached the pane: memory
   (resident set, Python's live allocations, widgets alive and mounted, the pane's retained
   lines), with the garbage collected and freed heap handed back (``malloc_trim``). Also
   the resident peak while streaming (lines waiting for the screen included: how far
   behind it got is reported), the time to drain them all (the legs' times to their last
   line in the pane, summed) and the time the thread took to send them. Baselines: the
   memory after 10,000 lines (and before streaming); the same thread sending the same
   lines with no app, before and after.

The app runs headless (``App.run_test``, SIZE cells) on the real store and runner, with the
start-up Podman check skipped, so no Podman is needed. Headless, Textual composes every
frame but never turns it into terminal bytes: the benchmark does that part too (and drops
the bytes), so a frame costs what it would in a terminal, minus the write. How often the run
screen's footer is rebuilt is counted too (Textual rebuilds it on every
``refresh_bindings``).

Everything runs in a temporary SANDBENCH_HOME; Ctrl-C stops the streaming thread, closes
the stores and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import random
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench_engine import (
    print_header,
    print_load,
    run_in_temporary_home,
    summary,
    two_scorer_document,
    write_results,
)

if TYPE_CHECKING:
    from textual.screen import Screen

    from sandbench.engine import Engine
    from sandbench.runner.events import EventBus
    from sandbench.store import Store
    from sandbench.tui.app import SandbenchApp
    from sandbench.tui.run import RunScreen
    from sandbench.tui.widgets import OutputLog, VimTable
    from sandbench.tui.workbench import Workbench

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

RUNS = int(os.environ.get("SANDBENCH_BENCH_TUI_RUNS", "100000"))
SCENARIOS = int(os.environ.get("SANDBENCH_BENCH_TUI_SCENARIOS", "300"))
LINES = int(os.environ.get("SANDBENCH_BENCH_TUI_LINES", "1000000"))
RATE = int(os.environ.get("SANDBENCH_BENCH_TUI_RATE", "10000"))  # lines a second
REPEAT = int(os.environ.get("SANDBENCH_BENCH_TUI_REPEAT", "11"))  # app starts per store
PRESSES = int(os.environ.get("SANDBENCH_BENCH_TUI_PRESSES", "75"))  # per condition
BLOCKS = 3  # idle and streaming blocks of presses, alternating
BLOCK_MAX_S = 10.0  # a block stops pressing after this long
SIZE = (120, 40)
TICK_S = 0.002  # the paced scorer sends what is due this often
STREAM_WARMUP_S = 0.5  # streaming before the first press of a block
CHUNK_LINES = 1000  # per chunk in the long stream
TIMEOUT_S = 120.0
SCORER = "tests"  # the streaming scorer: the run screen's first row and pane
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1_000_000
T = TypeVar("T")


# ----------------------------------------------------------------------------- data


def scenario_document(index: int) -> dict[str, Any]:
    """A scenario of two scorers, named so that the list's first page is scenarios 0-99."""
    return two_scorer_document(f"scenario-{index:05d}", index)


def chatty_document() -> dict[str, Any]:
    """The scenario whose run screen is measured: four scorers, the first one streaming."""
    names = [SCORER, "lint", "types", "docs"]
    return {
        "name": "chatty",
        "input_context": {"problem_statement": "Print a lot."},
        "scoring_contract": {
            "scoring_function_parameters": [
                {"name": n, "weight": 0.25, "scorer": {"type": "command_scorer", "command": "true"}}
                for n in names
            ]
        },
        "environment_parameters": {"working_directory": "/workspace"},
    }


def import_documents(store: Store, documents: list[dict[str, Any]]) -> list[str]:
    from sandbench.model import parse_scenarios
    from sandbench.model.documents import ParsedScenario

    parsed = [ParsedScenario(parse_scenarios(d)[0].scenario) for d in documents]
    return [r.record.id for r in store.import_scenarios(parsed)]


def fill_runs(store: Store, scenario_ids: list[str], count: int) -> None:
    """``count`` finished runs, oldest first, round robin over the scenarios, with their
    scorer results and output, in one transaction: the rows the runner leaves behind (its
    own path costs a sandbox per run)."""
    from sandbench.model.ids import new_id
    from sandbench.model.runs import RunState, ScorerState, Solution

    rng = random.Random(20_261_121)
    now = time.time_ns() // 1_000_000
    span = 90 * 86_400_000  # the runs started over the last 90 days
    runs: list[tuple[Any, ...]] = []
    results: list[tuple[Any, ...]] = []
    chunks: list[tuple[Any, ...]] = []
    for k in range(count):
        run_id = new_id("scenario_run")  # time-ordered, like seq
        start = now - span + span * k // count
        roll = rng.random()
        if roll < 0.05:  # canceled before scoring
            runs.append((run_id, scenario_ids[k % len(scenario_ids)], RunState.CANCELED.value,
                         None, start, 4_000, "canceled"))  # fmt: skip
            continue
        if roll < 0.15:  # the sandbox failed to start
            runs.append((run_id, scenario_ids[k % len(scenario_ids)], RunState.FAILED.value,
                         None, start, 9_000, "infrastructure: podman exec failed"))  # fmt: skip
            continue
        tests, lint = rng.choice([0.0, 0.5, 1.0]), rng.choice([0.0, 1.0])
        runs.append((run_id, scenario_ids[k % len(scenario_ids)], RunState.COMPLETED.value,
                     0.7 * tests + 0.3 * lint, start, 30_000, None))  # fmt: skip
        for name, type_, weight, score, output in (
            ("tests", "command_scorer", 0.7, tests, "Ran 30 tests: OK\n"),
            ("lint", "bash_script_scorer", 0.3, lint, "All checks passed!\nscore=1\n"),
        ):
            result_id = new_id("scorer_result")
            results.append((result_id, run_id, name, type_, weight,
                            ScorerState.COMPLETE.value, score, start + 20_000))  # fmt: skip
            chunks.append((result_id, output, start + 25_000))
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO scenario_runs (id, scenario_id, scenario_version, state, solution,"
            " score, start_time_ms, duration_ms, failure_reason)"
            f" VALUES (?, ?, 1, ?, '{Solution.REFERENCE.value}', ?, ?, ?, ?)",
            runs,
        )
        conn.executemany(
            "INSERT INTO scorer_results (id, run_id, name, type, weight, attempt, state, score,"
            " exit_code, started_at_ms, duration_ms) VALUES (?, ?, ?, ?, ?, 1, ?, ?, 0, ?, 5000)",
            results,
        )
        conn.executemany(
            "INSERT INTO output_chunks (scorer_result_id, stream, data, at_ms)"
            " VALUES (?, 'stdout', ?, ?)",
            chunks,
        )


def check_filled(store: Store, scenario_ids: list[str], count: int) -> None:
    """The bulk rows read back through the store's own API, as the screens read them."""
    for index, scenario_id in enumerate(scenario_ids[:2]):
        want = count // len(scenario_ids) + (index < count % len(scenario_ids))
        page = store.list_runs(scenario=scenario_id, limit=1)
        if page.total_count != want or not page.items:
            raise RuntimeError(f"{scenario_id}: {page.total_count} runs read back, want {want}")
        run = store.get_run(page.items[0].id)
        if run.state.value == "completed" and len(run.scorer_results) != 2:
            raise RuntimeError(f"{run.id}: {len(run.scorer_results)} scorer results, want 2")


# ----------------------------------------------------------------------------- the app


def offline_workbench(store: Store, engine: Engine) -> Workbench:
    """The real workbench (store, runner); the start-up Podman check answers at once."""
    from sandbench.tui.workbench import Workbench

    class OfflineWorkbench(Workbench):
        def check_engine(self) -> str:
            return "offline"

    return OfflineWorkbench(store, engine)


class Frames:
    """The frames the app sends to its terminal, each timed as it is done.

    Headless, Textual composes each frame and skips turning it into terminal bytes; this
    does that too (and drops the bytes), so a frame costs what it would in a terminal,
    minus the write. ``wait`` resolves at the end of the first frame in which a
    condition holds: what the user would see.
    """

    def __init__(self, app: SandbenchApp) -> None:
        self._app = app
        self.times: list[float] = []
        self.watchers: list[Callable[[], None]] = []
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Screen, renderable: Any) -> None:
            render = getattr(renderable, "render_segments", None)
            if render is not None and not app._batch_count:
                render(app.console)
            original(screen, renderable)
            self._frame(time.perf_counter())

        app._display = display  # type: ignore[method-assign]

    def _frame(self, now: float) -> None:
        from textual.css.query import NoMatches

        self.times.append(now)
        for watcher in self.watchers:
            watcher()
        waiting = []
        for condition, future in self._waiting:
            if future.done():
                continue
            try:
                holds = condition()
            except NoMatches:  # a screen still being put together
                holds = False
            if holds:
                future.set_result(now)
            else:
                waiting.append((condition, future))
        self._waiting = waiting

    def wait(self, condition: Callable[[], bool]) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((condition, future))
        return future

    async def until(self, future: asyncio.Future[float], what: str) -> float:
        """When the frame came; an app that crashed meanwhile is said at once."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.25)
            if done:
                return future.result()
            failed = getattr(self._app, "_exception", None)
            if failed is not None:
                raise RuntimeError(f"the app failed before showing {what}") from failed
            if time.monotonic() > deadline:
                raise RuntimeError(f"no frame showed {what} within {TIMEOUT_S:.0f} s")

    def rate(self, start: float, end: float) -> float:
        """Frames a second between two times."""
        return sum(1 for t in self.times if start <= t <= end) / max(end - start, 1e-9)


def page_shown(screen: Screen, rows: int) -> bool:
    """The scenarios screen has its first page of rows in the table."""
    from sandbench.tui.scenarios import ScenariosScreen
    from sandbench.tui.widgets import VimTable

    if not isinstance(screen, ScenariosScreen) or not screen.loaded_once or screen.fetching:
        return False
    return screen.query_one(VimTable).row_count >= rows


def release_free_heap() -> None:
    """Hand freed heap back to the system (glibc's ``malloc_trim``), so the resident set
    says what is still held rather than what a burst once needed."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def widgets(app: SandbenchApp) -> dict[str, int]:
    """Widgets alive (garbage collected first) and mounted: the difference is leaked."""
    from textual.dom import DOMNode

    gc.collect()
    alive = sum(1 for o in gc.get_objects() if isinstance(o, DOMNode))
    return {"widgets": alive, "mounted": len(app._registry)}


def rss_bytes() -> int:
    """The resident set now (Linux, like the rest of sandbench)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def in_own_loop(work: Callable[[], Coroutine[Any, Any, T]], *stores: tuple[Store, Engine]) -> T:
    """Run an app's coroutine in a loop of its own, then close the stores: ``asyncio.run``
    returns only once the app's thread workers are done (a store closed under a query still
    running in one crashes the process). Ctrl-C cancels the coroutine and ends as a
    KeyboardInterrupt, whatever the app raises on its way out (a key still queued)."""
    interrupted = False

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupt)
        return await work()

    try:
        return asyncio.run(main())
    except BaseException as error:
        if interrupted:
            raise KeyboardInterrupt from error
        raise
    finally:
        for store, engine in stores:
            engine.close()
            store.close()


# ----------------------------------------------------------------------------- 1. start-up


def start_app(path: Path) -> dict[str, Any]:
    """One start of the app on the store at ``path``, timed from opening the store."""
    from sandbench.engine import Engine
    from sandbench.store import Store
    from sandbench.tui.app import SandbenchApp
    from sandbench.tui.scenarios import PAGE_SIZE, ScenariosScreen

    rows = min(PAGE_SIZE, SCENARIOS)
    started = time.perf_counter()
    store = Store(path)
    engine = Engine(store)

    async def work() -> dict[str, Any]:
        app = SandbenchApp(offline_workbench(store, engine))
        frames = Frames(app)
        first = frames.wait(lambda: isinstance(app.screen, ScenariosScreen))
        shown = frames.wait(lambda: page_shown(app.screen, rows))
        async with app.run_test(size=SIZE):
            first_at = await frames.until(first, "the scenarios screen")
            shown_at = await frames.until(shown, f"the first {rows} scenarios")
            screen = app.screen
            assert isinstance(screen, ScenariosScreen)
            return {
                "first_frame_s": first_at - started,
                "rows_s": shown_at - started,
                "rows_with_last_run": sum(1 for r in screen.rows.values() if r.last_run_id),
            }

    return in_own_loop(work, (store, engine))


def time_scenario_page(paths: dict[str, Path]) -> dict[str, list[float]]:
    """``Workbench.scenario_page`` for the first page, alone, on each store (interleaved)."""
    from sandbench.engine import Engine
    from sandbench.store import Store
    from sandbench.tui.scenarios import PAGE_SIZE

    opened = {key: Store(path) for key, path in paths.items()}
    engines = {key: Engine(store) for key, store in opened.items()}
    samples: dict[str, list[float]] = {key: [] for key in paths}
    try:
        workbenches = {key: offline_workbench(opened[key], engines[key]) for key in paths}
        for _ in range(REPEAT):
            for key, workbench in workbenches.items():
                start = time.perf_counter()
                workbench.scenario_page(None, None, PAGE_SIZE)
                samples[key].append(time.perf_counter() - start)
    finally:
        for key in paths:
            engines[key].close()
            opened[key].close()
    return samples


def startup(paths: dict[str, Path]) -> dict[str, Any]:
    """Alternate the stores (which goes first alternates too); the first pair is a warm-up."""
    from sandbench.tui.scenarios import PAGE_SIZE

    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in paths}
    warmup: dict[str, Any] = {}
    order = list(paths)
    for repetition in range(REPEAT + 1):
        for key in order if repetition % 2 else reversed(order):
            sample = start_app(paths[key])
            if repetition == 0:
                warmup[key] = sample
            else:
                samples[key].append(sample)
    want = {"no_runs": 0, "runs": min(PAGE_SIZE, SCENARIOS, RUNS)}
    for key, values in samples.items():
        if any(v["rows_with_last_run"] != want[key] for v in values):
            raise RuntimeError(f"{key}: rows with a last run {values[0]['rows_with_last_run']}")
    result: dict[str, Any] = {"warmup_excluded": warmup}
    for key, values in samples.items():
        result[key] = {
            "first_frame": summary([v["first_frame_s"] for v in values]),
            "rows": summary([v["rows_s"] for v in values]),
        }
    for part in ("first_frame", "rows"):
        result[f"{part}_ratio"] = result["runs"][part]["p50_ms"] / result["no_runs"][part]["p50_ms"]
    return result


# ----------------------------------------------------------------------------- 2. and 3.


def line(number: int) -> str:
    return f"test_case_{number:07d} ... ok\n"


def shown_lines(log: OutputLog) -> int:
    """Streamed lines the pane has: the number on its last complete one, plus one."""
    for text in reversed(log.lines[-3:]):
        if text.startswith("test_case_"):
            return int(text.split()[0].removeprefix("test_case_")) + 1
    return 0


class Feeder:
    """A scorer printing numbered lines from a thread; each chunk is passed on as the
    runner's ``write()`` does (appended to the store, then emitted on the bus), minus
    Podman and secret redaction."""

    def __init__(self, store: Store, bus: EventBus, run_id: str, result_id: str) -> None:
        self._store, self._bus = store, bus
        self._run_id, self._result_id = run_id, result_id
        self.sent = 0
        self.chunks = 0
        self.most_behind = 0  # lines sent and not yet in the pane, at most
        self.finished = 0.0  # when ``bulk`` sent its last line
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _send(self, upto: int) -> None:
        from sandbench.runner.events import OutputChunk

        text = "".join(line(n) for n in range(self.sent, upto))
        self._store.append_output(self._result_id, "stdout", text)
        self._bus.emit(OutputChunk(self._run_id, self._result_id, SCORER, "stdout", text))
        self.sent = upto
        self.chunks += 1

    def _start(self, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except BaseException as error:
                self._error = error

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="bench-scorer", daemon=True)
        self._thread.start()

    def paced(self, rate: int) -> None:
        """Print ``rate`` lines a second until stopped: what is due, every TICK_S."""

        def work() -> None:
            first, start = self.sent, time.perf_counter()
            while not self._stop.wait(TICK_S):
                due = first + int((time.perf_counter() - start) * rate)
                if due > self.sent:
                    self._send(due)

        self._start(work)

    def bulk(self, until: int, shown: Callable[[], int]) -> None:
        """Print up to line ``until`` in chunks of CHUNK_LINES as fast as the thread can,
        noting how far ahead of the pane (``shown``) it got."""

        def work() -> None:
            while self.sent < until and not self._stop.is_set():
                self._send(min(until, self.sent + CHUNK_LINES))
                self.most_behind = max(self.most_behind, self.sent - shown())
            self.finished = time.perf_counter()

        self._start(work)

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def wait(self) -> None:
        """Until the thread is done (``bulk`` ends by itself)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None  # said once
        if error is not None:
            raise RuntimeError("the streaming thread failed") from error


class StreamingRun:
    """The app on a store, showing the run screen of a run whose first scorer is running."""

    def __init__(self, path: Path) -> None:
        from sandbench.engine import Engine
        from sandbench.store import Store
        from sandbench.tui.app import SandbenchApp

        self.store = Store(path)
        self.engine = Engine(self.store)
        self.workbench = offline_workbench(self.store, self.engine)
        self.app = SandbenchApp(self.workbench)
        self.frames = Frames(self.app)
        self.feeder: Feeder | None = None

    async def open(self) -> tuple[RunScreen, OutputLog, VimTable]:
        """The scenarios list first, then the run screen, as a user gets there."""
        from sandbench.model.runs import RunState, Solution
        from sandbench.runner.events import RunStateChanged, ScorerStarted
        from sandbench.tui.run import Running, RunScreen
        from sandbench.tui.widgets import OutputLog, VimTable

        app, frames, store = self.app, self.frames, self.store
        await frames.until(frames.wait(lambda: page_shown(app.screen, 1)), "the scenarios")
        record = store.list_scenarios(name="chatty").items[0]
        run = store.create_run(record.id, record.version, Solution.REFERENCE)
        app.open_run(self.workbench.run_detail(run.id))
        await frames.until(
            frames.wait(lambda: isinstance(app.screen, RunScreen) and app.screen.is_mounted),
            "the run screen",
        )
        screen = app.screen
        assert isinstance(screen, RunScreen)
        bus = self.workbench.bus
        store.set_run_state(run.id, RunState.SCORING)
        bus.emit(RunStateChanged(run.id, RunState.SCORING))
        weight = 0.25
        result = store.start_scorer(run.id, SCORER, "command_scorer", weight)
        bus.emit(ScorerStarted(run.id, result.id, SCORER, result.type, weight, result.attempt))
        await frames.until(
            frames.wait(lambda: isinstance(screen.latest.get(SCORER), Running)),
            f"{SCORER} running",
        )
        self.feeder = Feeder(store, bus, run.id, result.id)
        return screen, screen.query_one("#log-0", OutputLog), screen.query_one(VimTable)

    def measure(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``work`` with the app running, in a loop of its own; then the streaming thread
        stops, the app quits and its workers finish, and the store is closed."""

        async def main() -> T:
            async with self.app.run_test(size=SIZE):
                try:
                    return await work()
                finally:
                    if self.feeder is not None:
                        self.feeder.stop()

        return in_own_loop(main, (self.store, self.engine))


async def press(run: StreamingRun, table: VimTable) -> tuple[str, float]:
    """``j`` or ``k`` (whichever moves the cursor between the first two rows), from handing
    the key to the app, as a terminal driver does, to the end of the frame showing it."""
    from textual import events

    target = 1 if table.cursor_row == 0 else 0
    key = "j" if target else "k"
    shown = run.frames.wait(lambda: table.cursor_row == target)
    event = events.Key(key, key)
    event.set_sender(run.app)
    sent = time.perf_counter()
    run.app.post_message(event)
    return key, await run.frames.until(shown, f"the cursor moved by {key}") - sent


def count_footer_rebuilds(screen: RunScreen) -> list[int]:
    """How often the footer is rebuilt (Textual does it on every ``refresh_bindings``)."""
    from textual.widgets import Footer

    footer = screen.query_one(Footer)
    original = footer.recompose
    count = [0]

    async def counted() -> None:
        count[0] += 1
        await original()

    footer.recompose = counted  # type: ignore[method-assign]
    return count


def key_latency(path: Path) -> dict[str, Any]:
    run = StreamingRun(path)
    measured = run.measure(lambda: press_blocks(run))
    samples, blocks = measured["samples"], measured["blocks"]
    kept = ("blocks", "chunks", "lines", "footer_rebuilds", "widgets_before", "widgets_after")
    result: dict[str, Any] = {k: measured[k] for k in kept}
    for kind, pressed in samples.items():
        mine = [b for b in blocks if b["kind"] == kind]
        result[kind] = {
            **summary([s for _, s in pressed]),
            "by_key_p50_ms": {
                key: statistics.median([s for k, s in pressed if k == key]) * 1000
                for key in ("j", "k")
            },
            "frames_per_s": statistics.median([b["frames_per_s"] for b in mine]),
            "footer_rebuilds_per_s": statistics.median([b["footer_rebuilds_per_s"] for b in mine]),
        }
    streaming = [b for b in blocks if b["kind"] == "streaming"]
    result["streaming"] |= {
        "lines_per_s": statistics.median([b["lines_per_s"] for b in streaming]),
        "behind_at_stop_lines": max(b["behind_at_stop_lines"] for b in streaming),
        "catch_up_s": max(b["catch_up_s"] for b in streaming),
    }
    for stat in ("p50", "p95"):
        result[f"ratio_{stat}"] = result["streaming"][f"{stat}_ms"] / result["idle"][f"{stat}_ms"]
    return result


async def press_blocks(run: StreamingRun) -> dict[str, Any]:
    """Blocks of presses, idle and streaming alternately (ABBA), after a few not counted."""
    rng = random.Random(7)
    screen, log, table = await run.open()
    feeder = run.feeder
    assert feeder is not None
    rebuilds = count_footer_rebuilds(screen)
    for _ in range(6):
        await press(run, table)
        await asyncio.sleep(0.05)
    widgets_before = widgets(run.app)
    samples: dict[str, list[tuple[str, float]]] = {"idle": [], "streaming": []}
    blocks: list[dict[str, Any]] = []
    for block in range(BLOCKS):
        for kind in ("idle", "streaming") if block % 2 == 0 else ("streaming", "idle"):
            if kind == "streaming":
                feeder.paced(RATE)
                await asyncio.sleep(STREAM_WARMUP_S)
            start, sent_before, rebuilt_before = time.perf_counter(), feeder.sent, rebuilds[0]
            pressed: list[tuple[str, float]] = []
            while len(pressed) < max(1, PRESSES // BLOCKS):
                if time.perf_counter() - start > BLOCK_MAX_S:
                    break  # a slow app gets fewer presses, not a longer benchmark
                pressed.append(await press(run, table))
                await asyncio.sleep(rng.uniform(0.03, 0.08))  # not in step with the frames
            end = time.perf_counter()
            samples[kind] += pressed
            info: dict[str, Any] = {
                "kind": kind,
                "presses": len(pressed),
                "p50_ms": statistics.median([s for _, s in pressed]) * 1000,
                "s": end - start,
                "frames_per_s": run.frames.rate(start, end),
                "footer_rebuilds_per_s": (rebuilds[0] - rebuilt_before) / (end - start),
            }
            if kind == "streaming":
                feeder.stop()
                stopped, sent = time.perf_counter(), feeder.sent
                behind = sent - shown_lines(log)
                caught = run.frames.wait(lambda sent=sent: shown_lines(log) >= sent)
                caught_at = await run.frames.until(caught, "the pane catching up")
                info |= {
                    "lines_per_s": (sent - sent_before) / (stopped - start),
                    "behind_at_stop_lines": behind,
                    "catch_up_s": caught_at - stopped,
                }
            blocks.append(info)
    if log.lines[-2] != line(feeder.sent - 1).rstrip("\n"):
        raise RuntimeError(f"the pane ends with {log.lines[-2]!r}")
    return {
        "samples": samples,
        "blocks": blocks,
        "chunks": feeder.chunks,
        "lines": feeder.sent,
        "footer_rebuilds": rebuilds[0],
        "widgets_before": widgets_before,
        "widgets_after": widgets(run.app),
    }


class PeakRss:
    """The highest resident set size seen every 10 ms (the process's own peak, ru_maxrss,
    also counts filling the big store)."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def producer_alone(path: Path) -> float:
    """The long stream's thread with no app: every chunk into the store and onto a bus that
    nobody listens to. What the stream costs without a screen."""
    from sandbench.model.runs import Solution
    from sandbench.runner.events import EventBus
    from sandbench.store import Store

    store = Store(path)
    feeder: Feeder | None = None
    try:
        record = store.list_scenarios(name="chatty").items[0]
        run = store.create_run(record.id, record.version, Solution.REFERENCE)
        result = store.start_scorer(run.id, SCORER, "command_scorer", 0.25)
        feeder = Feeder(store, EventBus(), run.id, result.id)
        start = time.perf_counter()
        feeder.bulk(LINES, lambda: feeder.sent if feeder else 0)
        feeder.wait()
        return time.perf_counter() - start
    finally:
        if feeder is not None:
            feeder.stop()  # before the store closes under it (Ctrl-C)
        store.close()


def long_stream(path: Path) -> dict[str, Any]:
    from sandbench.tui.widgets import OUTPUT_MAX_LINES

    run = StreamingRun(path)
    measured = run.measure(lambda: stream_legs(run))
    points = measured["points"]
    base = next(p for p in points if p["lines"] == min(10_000, LINES))
    end = points[-1]
    return {
        **measured,
        "lines_per_s": LINES / measured["drain_s"],
        "max_pane_lines": OUTPUT_MAX_LINES,
        "bounded": end["pane_lines"] <= OUTPUT_MAX_LINES + 1,  # + the empty line after the last
        "rss_growth_bytes": end["rss_bytes"] - base["rss_bytes"],
        "rss_ratio": end["rss_bytes"] / base["rss_bytes"],
        "python_blocks_ratio": end["python_blocks"] / base["python_blocks"],
        "widgets_ratio": end["widgets"] / base["widgets"],
    }


async def stream_legs(run: StreamingRun) -> dict[str, Any]:
    _, log, _ = await run.open()
    feeder = run.feeder
    assert feeder is not None
    shown = [0]
    run.frames.watchers.append(lambda: shown.__setitem__(0, shown_lines(log)))

    def snapshot() -> dict[str, int]:
        counted = widgets(run.app)
        release_free_heap()
        return {
            "lines": shown_lines(log),
            "rss_bytes": rss_bytes(),
            "python_blocks": sys.getallocatedblocks(),
            **counted,
            "pane_lines": len(log.lines),
        }

    points = [snapshot()]
    drain_s = send_s = 0.0
    with PeakRss() as peak:
        for target in sorted({min(10_000, LINES), min(100_000, LINES), LINES}):
            start = time.perf_counter()
            done = run.frames.wait(lambda target=target: shown_lines(log) >= target)
            feeder.bulk(target, lambda: shown[0])
            drain_s += await run.frames.until(done, f"line {target:,}") - start
            feeder.wait()
            send_s += feeder.finished - start
            points.append(snapshot())
    if log.lines[-2] != line(LINES - 1).rstrip("\n"):
        raise RuntimeError(f"the pane ends with {log.lines[-2]!r}")
    return {
        "points": points,
        "drain_s": drain_s,
        "send_s": send_s,
        "chunks": feeder.chunks,
        "most_behind_lines": feeder.most_behind,
        "peak_rss_bytes": peak.peak,
    }


# ----------------------------------------------------------------------------- driver


def measure(home: Path) -> dict[str, Any]:
    import textual

    from sandbench.store import Store

    load_before = os.getloadavg()

    def status(text: str) -> None:
        print(f"\r  {text:66}", end="", file=sys.stderr, flush=True)

    paths = {"no_runs": home / "no-runs.db", "runs": home / "runs.db"}
    status(f"filling a store with {RUNS:,} runs over {SCENARIOS} scenarios")
    start = time.perf_counter()
    for key, path in paths.items():
        store = Store(path)
        try:
            ids = import_documents(store, [scenario_document(i) for i in range(SCENARIOS)])
            if key == "runs" and RUNS:
                fill_runs(store, ids, RUNS)
                check_filled(store, ids, RUNS)
        finally:
            store.close()
    fill_s = time.perf_counter() - start
    db_bytes = sum(p.stat().st_size for p in home.glob("runs.db*"))
    run_path = home / "run-screen.db"
    store = Store(run_path)
    try:
        import_documents(store, [chatty_document()])
    finally:
        store.close()

    status(f"start-up, {REPEAT} times on each store")
    started = startup(paths)
    started["scenario_page"] = {
        key: summary(values) for key, values in time_scenario_page(paths).items()
    }
    pages = started["scenario_page"]
    started["scenario_page_ratio"] = pages["runs"]["p50_ms"] / pages["no_runs"]["p50_ms"]
    status(f"key latency, {PRESSES} presses idle and {PRESSES} at {RATE:,} lines/s")
    keys = key_latency(run_path)
    status(f"streaming {LINES:,} lines through the run screen (and with no app)")
    alone_before = producer_alone(run_path)
    memory = long_stream(run_path)
    alone_after = producer_alone(run_path)
    alone = (alone_before + alone_after) / 2
    memory |= {
        "producer_alone_s": [alone_before, alone_after],
        "drain_ratio_vs_producer_alone": memory["drain_s"] / alone,
        "send_ratio_vs_producer_alone": memory["send_s"] / alone,
    }
    print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)
    return {
        "runs": RUNS,
        "scenarios": SCENARIOS,
        "lines": LINES,
        "rate": RATE,
        "repeat": REPEAT,
        "presses": PRESSES,
        "size": list(SIZE),
        "textual": textual.__version__,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "fill_s": fill_s,
        "runs_db_bytes": db_bytes,
        "startup": started,
        "keys": keys,
        "memory": memory,
    }


def report(results: dict[str, Any]) -> None:
    s, k, m = results["startup"], results["keys"], results["memory"]
    runs, rate = results["runs"], results["rate"]
    print(
        f"tui benchmark: headless {results['size'][0]}x{results['size'][1]}, frames encoded;"
        f" textual {results['textual']}"
    )
    print(
        f"  store: {runs:,} runs over {results['scenarios']} scenarios, filled in"
        f" {results['fill_s']:.1f} s ({results['runs_db_bytes'] / MB:.0f} MB)"
    )
    title = f"start-up (median of {results['repeat']})"
    header = f"  {title:46} {'no runs':>9} {f'{runs:,} runs':>12} {'ratio':>7}"
    print_header(header)
    for label, base, big, ratio in (
        ("first frame of the scenarios screen", s["no_runs"]["first_frame"],
         s["runs"]["first_frame"], s["first_frame_ratio"]),
        ("first page of rows shown (interactive)", s["no_runs"]["rows"], s["runs"]["rows"],
         s["rows_ratio"]),
        ("  of which Workbench.scenario_page alone", s["scenario_page"]["no_runs"],
         s["scenario_page"]["runs"], s["scenario_page_ratio"]),
    ):  # fmt: skip
        print(f"  {label:46} {base['p50_ms']:6.0f} ms {big['p50_ms']:9.0f} ms {ratio:6.2f}x")
    print()
    header = (
        f"  {'key to repaint (j/k in the breakdown)':46} {'p50':>6} {'p95':>6} {'max':>6}"
        f" {'frames/s':>8} {'footer/s':>8}"
    )
    print_header(header)
    for label, data in (
        (f"idle ({k['idle']['n']} presses)", k["idle"]),
        (f"{rate:,} lines/s streaming ({k['streaming']['n']} presses)", k["streaming"]),
    ):
        print(
            f"  {label:46} {data['p50_ms']:6.1f} {data['p95_ms']:6.1f} {data['max_ms']:6.1f}"
            f" {data['frames_per_s']:8.0f} {data['footer_rebuilds_per_s']:8.1f}"
        )
    st = k["streaming"]
    print(
        f"  ms; streaming/idle: p50 {k['ratio_p50']:.2f}x, p95 {k['ratio_p95']:.2f}x."
        f" Streamed {st['lines_per_s']:,.0f} lines/s in {k['chunks']:,} chunks;"
        f"\n  at most {st['behind_at_stop_lines']:,} lines behind when stopped, caught up in"
        f" {st['catch_up_s'] * 1000:.0f} ms. footer/s: footer rebuilds a second."
    )
    trend = ", ".join(f"{b['p50_ms']:.0f}" for b in k["blocks"] if b["kind"] == "streaming")
    print(f"  streaming p50 block by block, in order: {trend} ms")
    before, after = k["widgets_before"], k["widgets_after"]
    print(
        f"  widgets alive {before['widgets']:,} -> {after['widgets']:,} (mounted"
        f" {before['mounted']:,} -> {after['mounted']:,}) over the presses and"
        f" {k['lines']:,} lines; {k['footer_rebuilds']:,} footer rebuilds"
    )
    print()
    title = f"{results['lines']:,} lines streamed"
    header = (
        f"  {title:30} {'RSS MB':>8} {'Python blocks':>14} {'widgets':>8} {'mounted':>8}"
        f" {'pane lines':>11}"
    )
    print_header(header)
    for point in m["points"]:
        label = "before streaming" if point["lines"] == 0 else f"after {point['lines']:,} lines"
        print(
            f"  {label:30} {point['rss_bytes'] / MB:8.1f} {point['python_blocks']:14,}"
            f" {point['widgets']:8,} {point['mounted']:8,} {point['pane_lines']:11,}"
        )
    print(
        f"  from 10,000 lines to the end: RSS {m['rss_growth_bytes'] / MB:+.1f} MB"
        f" ({m['rss_ratio']:.2f}x), Python blocks {m['python_blocks_ratio']:.2f}x,"
        f" widgets alive {m['widgets_ratio']:.2f}x;"
        f"\n  peak RSS while streaming {m['peak_rss_bytes'] / MB:.1f} MB, with up to"
        f" {m['most_behind_lines']:,} lines sent and not yet in the pane"
    )
    print(
        f"  the pane keeps {m['points'][-1]['pane_lines']:,} lines (cap {m['max_pane_lines']:,}):"
        f" {'bounded' if m['bounded'] else 'NOT BOUNDED'}."
    )
    alone = statistics.mean(m["producer_alone_s"])
    print(
        f"  drained in {m['drain_s']:.2f} s ({m['lines_per_s']:,.0f} lines/s,"
        f" {m['lines_per_s'] / rate:.1f}x the {rate:,} lines/s scorer): the thread sent them"
        f" in {m['send_s']:.2f} s.\n  The same thread with no app: {alone:.2f} s"
        f" ({results['lines'] / alone:,.0f} lines/s, mean of before and after); with the app,"
        f" sending takes {m['send_ratio_vs_producer_alone']:.2f}x,\n  draining"
        f" {m['drain_ratio_vs_producer_alone']:.2f}x."
    )
    print_load(results)
    write_results(results, "tui")


def main() -> None:
    if min(SCENARIOS, LINES, RATE, REPEAT, PRESSES) < 1 or RUNS < 0:
        raise SystemExit(
            "SANDBENCH_BENCH_TUI_SCENARIOS, _LINES, _RATE, _REPEAT and _PRESSES must be >= 1,"
            " SANDBENCH_BENCH_TUI_RUNS >= 0"
        )
    run_in_temporary_home("tui", measure, report, needs_podman=False)


if __name__ == "__main__":
    main()
