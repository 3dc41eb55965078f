"""Benchmarks from the workbench: a benchmark made of marked scenarios (through the filter
and the pages), a run started with options from the dialog (real Podman), an interrupted
run resumed under its id (real Podman), and two runs compared."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from sandbench import config, secrets
from sandbench.engine import Engine
from sandbench.model.benchmark import BenchmarkRunState, CaseState
from sandbench.runner.reconcile import reconcile
from sandbench.store import Store
from sandbench.tui import keys
from sandbench.tui.app import SandbenchApp
from sandbench.tui.benchmark_compare import BenchmarkCompareScreen
from sandbench.tui.benchmark_dialogs import BenchmarkNameScreen, BenchmarkStartScreen
from sandbench.tui.benchmarks import BenchmarksScreen
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.widgets import VimTable
from tests.benchmark_support import benchmark_of, record_run, scenario
from tests.test_benchmark_comparison import two_runs
from tests.tui.support import bash, command, make, notice_shown, store_scenarios, wait_for


def shown_keys(screen: BenchmarksScreen) -> set[str]:
    ids = {key.id for key in keys.BENCHMARKS}
    return {
        active.binding.id
        for active in screen.active_bindings.values()
        if active.binding.id in ids and active.enabled
    }


def cell(table: VimTable, row: str, column: str) -> str:
    return str(table.get_cell(row, column))


def text_of(widget: Widget) -> str:
    assert isinstance(widget, Static)
    return str(widget.render())


async def type_into(pilot: Pilot, widget: Input | TextArea, text: str) -> None:
    """Focus ``widget``, empty it, then type ``text`` key by key (newlines as enter)."""
    widget.focus()
    if isinstance(widget, Input):
        widget.value = ""
    else:
        widget.text = ""
    await pilot.pause()
    await pilot.press(*("enter" if c == "\n" else c for c in text))


async def open_benchmarks(pilot: Pilot) -> BenchmarksScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ScenariosScreen), "the scenarios")
    await pilot.press("B")
    await wait_for(pilot, lambda: isinstance(app.screen, BenchmarksScreen), "the benchmarks")
    screen = app.screen
    assert isinstance(screen, BenchmarksScreen)
    await wait_for(pilot, lambda: screen.loaded_once and not screen.fetching, "the lists")
    return screen


async def run_completed(pilot: Pilot, screen: BenchmarksScreen) -> None:
    """Until the benchmark run going from the workbench has completed, shown in detail."""
    app = pilot.app
    assert isinstance(app, SandbenchApp)
    await wait_for(
        pilot,
        lambda: (
            app.benchmark_going is None
            and screen.detail is not None
            and screen.detail.run.state == BenchmarkRunState.COMPLETED
        ),
        "the run to complete",
        timeout=300,
    )


# ----------------------------------------------------------------------------- marking


async def test_a_benchmark_of_the_scenarios_marked_through_the_filter_and_pages(
    offline_app: SandbenchApp, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sandbench.tui.scenarios.PAGE_SIZE", 2)  # five scenarios, three pages
    names = ["alpha", "beta", "delta", "eps", "gamma"]
    ids = dict(zip(names, store_scenarios(store, *(scenario(n) for n in names)), strict=True))
    store.create_benchmark("taken", ["alpha"])
    app = offline_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScenariosScreen)
        table = screen.query_one(VimTable)
        await wait_for(pilot, lambda: len(screen.rows) == 5 and not screen.fetching, "the pages")

        # nothing marked: the dialog says so and makes nothing
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkNameScreen), "the dialog")
        dialog = app.screen
        assert "No scenario is marked" in text_of(dialog.query_one("#name-error"))
        await pilot.press(*"empty", "enter")
        await pilot.pause()
        assert app.screen is dialog and "No scenario is marked" in text_of(
            dialog.query_one("#name-error")
        )
        await pilot.press("escape")
        assert app.screen is screen

        # gamma, marked while the filter shows only it; the mark stays once it is cleared
        await pilot.press("slash", *"gam", "enter")
        await wait_for(pilot, lambda: list(screen.rows) == [ids["gamma"]], "the filter")
        await pilot.press("m")
        assert cell(table, ids["gamma"], "name") == "● gamma"
        await pilot.press("slash", "escape")
        await wait_for(pilot, lambda: len(screen.rows) == 5 and not screen.fetching, "all")
        assert cell(table, ids["gamma"], "name") == "● gamma"  # a row of the last page
        assert cell(table, ids["beta"], "name") == "beta"
        await pilot.press("g", "m")  # alpha; the cursor moves on to beta
        assert cell(table, ids["alpha"], "name") == "● alpha"
        assert table.cursor_row == 1
        await pilot.press("m", "k", "k", "m")  # beta marked; alpha unmarked
        assert list(screen.marked) == [ids["gamma"], ids["beta"]]
        await pilot.press("k", "m")  # alpha marked again, the cursor on beta
        assert list(screen.marked) == [ids["gamma"], ids["beta"], ids["alpha"]]
        await pilot.press("m")  # beta unmarked
        assert list(screen.marked) == [ids["gamma"], ids["alpha"]]
        assert "2 marked" in text_of(screen.query_one("#status"))

        # a taken name is said in the dialog; a free one makes it, in the order marked
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkNameScreen), "the dialog")
        dialog = app.screen
        assert "gamma, alpha" in text_of(dialog.query_one("#marked-names"))
        await pilot.press(*"taken", "enter")
        await wait_for(
            pilot,
            lambda: "already named 'taken'" in text_of(dialog.query_one("#name-error")),
            "the refusal",
        )
        assert app.screen is dialog
        await type_into(pilot, dialog.query_one(Input), "picked")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        made = await notice_shown(pilot, "Benchmark made")
        assert made.message.startswith("picked: 2 scenarios")
        assert store.get_benchmark("picked").scenario_ids == [ids["gamma"], ids["alpha"]]
        assert screen.marked == {}
        assert cell(table, ids["gamma"], "name") == "gamma"


def test_every_new_binding_has_a_stable_id() -> None:
    known = keys.by_id()
    for screen in (ScenariosScreen, BenchmarksScreen, BenchmarkCompareScreen):
        for binding in screen.BINDINGS:
            assert binding.id in known  # type: ignore[union-attr]
    for binding in BenchmarkStartScreen.BINDINGS:
        assert binding.id in known  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- starting


def needs_env(name: str) -> dict:
    """Scores 1 only where $ANSWER and the secret reach it (each case's sandbox)."""
    check = '[ "$ANSWER" = 42 ] && [ "$TOKEN" = s3cret ] && echo score=1 || echo score=0'
    return make(name, [command("exists", 0.5, "test -f answer.txt"), bash("env", 0.5, check)])


@pytest.mark.podman
async def test_a_run_started_with_options_from_the_dialog(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    secrets.set_secret("BENCH_TOKEN", "s3cret")
    store_scenarios(store, needs_env("opts-one"), needs_env("opts-two"))
    store.create_benchmark("opts", ["opts-one", "opts-two"])
    app = live_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_benchmarks(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkStartScreen), "dialog")
        dialog = app.screen
        assert dialog.query_one("#jobs", Input).value == "2"  # the config's concurrency
        assert dialog.query_one("#agent-row").display is False

        # bad input is named in the dialog, which stays
        await type_into(pilot, dialog.query_one("#jobs", Input), "0")
        await type_into(pilot, dialog.query_one("#secrets", TextArea), "TOKEN=NOT_STORED")
        await pilot.press("ctrl+s")
        problems = text_of(dialog.query_one("#start-problems"))
        assert "jobs: jobs must be at least 1, got 0" in problems
        assert "no secret NOT_STORED is stored" in problems
        assert dialog.query_one("#jobs").has_class("invalid")
        assert app.screen is dialog and app.benchmark_going is None

        # the agent's command shows only for an agent
        dialog.query_one("#solution").focus()
        await pilot.press("right", "right", "enter")
        assert dialog.query_one("#agent-row").display is True
        await pilot.press("left", "left", "enter")
        assert dialog.query_one("#agent-row").display is False

        await type_into(pilot, dialog.query_one("#jobs", Input), "2")
        await type_into(pilot, dialog.query_one("#repeats", Input), "2")
        await type_into(pilot, dialog.query_one("#retries", Input), "0")
        await type_into(pilot, dialog.query_one("#env", TextArea), "# the answer\nANSWER=42")
        await type_into(pilot, dialog.query_one("#secrets", TextArea), "TOKEN=BENCH_TOKEN")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        await wait_for(pilot, lambda: app.benchmark_going is not None, "the run to start")
        await run_completed(pilot, screen)
        run = screen.detail.run
        assert (run.settings.jobs, run.settings.repeats, run.settings.retries) == (2, 2, 0)
        assert run.environment_variables == {"ANSWER": "42"}
        assert run.secrets_provided == {"TOKEN": "BENCH_TOKEN"}  # the name, never the value
        assert run.score == pytest.approx(1.0)
        states = screen.detail.states
        assert [(c.scenario_name, c.repeat_index, c.state) for c in states] == [
            ("opts-one", 0, CaseState.DONE),
            ("opts-one", 1, CaseState.DONE),
            ("opts-two", 0, CaseState.DONE),
            ("opts-two", 1, CaseState.DONE),
        ]
        cases = screen.table("cases")
        assert cell(cases, "case-0-1", "scenario") == "opts-one #2"

        # per scenario over the repeats
        assert "benchmarks.stats" in shown_keys(screen)
        await pilot.press("t")
        stats = screen.table("stats")
        await wait_for(pilot, lambda: stats.display and stats.row_count == 2, "the stats")
        assert [str(c.label) for c in stats.columns.values()][5] == "PASS@2"
        first = states[0].scenario_id
        assert cell(stats, first, "runs") == "2/2" and cell(stats, first, "passk") == "1.000"
        assert cell(stats, first, "flaky") == ""
        await pilot.press("t")
        assert cases.display and not stats.display


async def test_the_dialog_offers_the_configured_cluster_and_names_a_bad_address(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    config.set_value("cluster.address", "10.0.0.5:6379")
    store_scenarios(store, make("here-one", [command("ok", 1.0, "true")]))
    store.create_benchmark("where", ["here-one"])
    app = live_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_benchmarks(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkStartScreen), "dialog")
        dialog = app.screen
        field = dialog.query_one("#cluster", Input)
        assert field.value == "10.0.0.5:6379"  # the config's cluster.address

        await type_into(pilot, field, "two words")
        await pilot.press("ctrl+s")
        problems = text_of(dialog.query_one("#start-problems"))
        assert "cluster: 'two words' is not a Ray address" in problems
        assert field.has_class("invalid") and app.focused is field
        assert app.screen is dialog and app.benchmark_going is None

        await type_into(pilot, field, "local")  # this one runs here
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        await run_completed(pilot, screen)
        run = screen.detail.run
        assert run.settings.cluster is None and run.score == pytest.approx(1.0)
        assert all(r.node is None for r in store.runs_of_benchmark_run(run.id))


# ----------------------------------------------------------------------------- resuming


def answer(name: str) -> dict:
    return make(name, [command("exists", 1.0, "test -f answer.txt")])


@pytest.mark.podman
async def test_an_interrupted_run_resumed_under_its_id(
    live_app: SandbenchApp, store: Store, engine: Engine
) -> None:
    store_scenarios(store, answer("res-one"), answer("res-two"))
    bench = benchmark_of(store, "res", ["res-one", "res-two"])
    # res-one finished; res-two was running when its process died
    left = record_run(
        store, bench, {"res-one": [1.0], "res-two": [(CaseState.RUNNING, "")]}, finish=False
    )
    assert reconcile(store).benchmark_runs == [left.id]
    kept = store.cases_of(left.id)[0].run_id
    app = live_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_benchmarks(pilot)
        assert screen.run_id == left.id
        cases = screen.table("cases")
        assert cell(cases, "case-1-0", "state") == "interrupted"
        assert cell(cases, "case-1-0", "why").startswith("interrupted: the sandbench process")
        assert "benchmarks.resume" in shown_keys(screen)
        assert "r resumes it" in text_of(screen.query_one("#progress"))

        await pilot.press("r")
        await wait_for(pilot, lambda: app.benchmark_going is not None, "the resume to start")
        assert "benchmarks.resume" not in shown_keys(screen)
        await run_completed(pilot, screen)
        assert list(screen.runs) == [left.id]  # the same run, not a new one
        done = store.cases_of(left.id)
        assert [c.state for c in done] == [CaseState.DONE, CaseState.DONE]
        assert done[0].run_id == kept  # finished work is kept, not done again
        assert len(store.runs_of_benchmark_run(left.id, with_output=False)) == 2
        assert store.get_benchmark_run(left.id).score == pytest.approx(1.0)
        assert cell(cases, "case-1-0", "state") == "completed"
        assert "benchmarks.resume" not in shown_keys(screen)


async def test_resume_shows_only_for_a_run_that_can_go_on(
    offline_app: SandbenchApp, store: Store
) -> None:
    bench = benchmark_of(store, "only", ["alpha"])
    record_run(store, bench, {"alpha": [1.0]})
    async with offline_app.run_test(size=(80, 24)) as pilot:
        screen = await open_benchmarks(pilot)
        assert "benchmarks.resume" not in shown_keys(screen)
        assert "r resumes it" not in text_of(screen.query_one("#progress"))
        await pilot.press("r")  # nothing to resume: nothing happens
        assert offline_app.benchmark_going is None


# ----------------------------------------------------------------------------- comparing


async def test_two_runs_compared_from_the_benchmarks_screen(
    offline_app: SandbenchApp, store: Store
) -> None:
    a, b = two_runs(store)
    other = benchmark_of(store, "other", ["alpha", "beta"])
    c = record_run(store, other, {"alpha": [1.0], "beta": [0.25]}).id
    app = offline_app
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_benchmarks(pilot)
        assert screen.run_id == b  # core's newest; nothing marked: v compares it with A
        assert screen.compare_pair() == (a, b)
        assert "benchmarks.compare" in shown_keys(screen)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkCompareScreen), "view")
        view = app.screen
        assert isinstance(view, BenchmarkCompareScreen)
        rows = view.query_one(VimTable)
        assert [str(k.value) for k in rows.rows] == [r.scenario_id for r in view.comparison.rows]
        assert [r.name for r in view.comparison.rows] == ["alpha", "gamma", "beta", "delta", "eps"]
        first = view.comparison.rows[0].scenario_id
        assert cell(rows, first, "delta") == "-1.000"
        assert cell(rows, first, "change") == "pass→fail"
        head = text_of(view.query_one("#bc-head"))
        assert "2 worse" in head and "2 pass→fail" in head
        deltas, history = view.query_one("#deltas"), view.query_one("#history")
        assert deltas.display and not history.display  # 80 columns: one plot at a time
        await pilot.press("p")
        assert history.display and not deltas.display
        assert "A 1.000 → B 0.000" in text_of(view.query_one("#status"))

        await pilot.press("x")  # B against A now
        await wait_for(pilot, lambda: view.comparison.a.id == b, "the swap")
        assert [r.name for r in view.comparison.rows][:2] == ["beta", "alpha"]
        assert view.comparison.rows[1].flip is not None
        await pilot.press("escape")
        assert app.screen is screen

        # marks: B here, then the other benchmark's run; v compares the two, older first
        screen.table("bench-runs").focus()
        await pilot.press("m")
        assert cell(screen.table("bench-runs"), b, "when").startswith("● ")
        assert "1 marked" in text_of(screen.query_one("#status"))
        screen.table("benchmarks").focus()
        await pilot.press("j")
        await wait_for(pilot, lambda: screen.run_id == c and not screen.fetching, "the other")
        assert screen.compare_pair() == (b, c)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchmarkCompareScreen), "view")
        view = app.screen
        assert isinstance(view, BenchmarkCompareScreen)
        assert (view.comparison.a.id, view.comparison.b.id) == (b, c)
        assert not view.comparison.same_benchmark
        assert [h.benchmark_name for h in view.comparison.histories] == ["other", "core"]
        assert [(r.name, r.change.value) for r in view.comparison.rows] == [
            ("beta", "regressed"),
            ("alpha", "improved"),
            ("delta", "only_a"),
            ("gamma", "only_a"),
        ]
        await pilot.press("escape")

        # a third mark drops the oldest
        await pilot.press("m")  # c
        screen.table("benchmarks").focus()
        await pilot.press("k")
        await wait_for(pilot, lambda: screen.run_id == b and not screen.fetching, "core")
        screen.table("bench-runs").focus()
        await pilot.press("j")
        await wait_for(pilot, lambda: screen.run_id == a and not screen.fetching, "run A")
        await pilot.press("m")
        assert list(screen.marks) == [c, a]
        assert screen.compare_pair() == (a, c)
