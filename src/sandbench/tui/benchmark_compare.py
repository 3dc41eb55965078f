"""Two benchmark runs compared, scenario by scenario, with two terminal plots.

The table comes as the core orders it (``runner.benchmark_comparison``): regressions
first, most negative delta first, flips from pass to fail marked. Below it, a bar per
scenario whose score moved (B - A), and the score history of the benchmark across its
runs with A and B marked; both plots side by side on a wide terminal, one at a time (``p``
shows the other) at 80 columns. The comparison is read in a thread worker before this
screen opens, and again when ``x`` swaps the two runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from sandbench.runner.benchmark_comparison import (
    FLIP_TEXT,
    BenchmarkComparison,
    Change,
    RunSide,
    ScenarioDelta,
    ScenarioScore,
    ScoreHistory,
)
from sandbench.tui import keys
from sandbench.tui.messages import reporting
from sandbench.tui.widgets import KeyedScreen, VimTable, ago, score_text, truncate

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

WIDE = 120  # from this width both plots show side by side
PLOTS = ("deltas", "history")
COLUMNS = ("scenario", "a", "b", "delta", "change")
LABELS = {"scenario": "SCENARIO", "a": "A", "b": "B", "delta": "DELTA", "change": "CHANGE"}
FIXED = {"a": 6, "b": 6, "delta": 7, "change": 14}
LABEL_WIDTH = 16  # of a scenario's name beside its bar
CHANGE_TEXT = {
    Change.REGRESSED: "worse",
    Change.IMPROVED: "better",
    Change.UNCHANGED: "same",
    Change.ONLY_A: "only in A",
    Change.ONLY_B: "only in B",
}


@dataclass
class ComparisonLoaded(Message):
    comparison: BenchmarkComparison


def rgb(value: str | None, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        return Color.parse(value).rgb if value else fallback
    except Exception:
        return fallback


def signed(delta: float | None) -> str:
    if delta is None:
        return "-"
    return "=" if abs(delta) < 0.0005 else f"{delta:+.3f}"


def change_text(row: ScenarioDelta) -> str:
    if row.flip is not None:
        return FLIP_TEXT[row.flip]
    if row.change == Change.UNSCORED:
        side, score = ("A", row.a) if row.a is None or row.a.score is None else ("B", row.b)
        return f"{side} {score.state if score else '-'}"
    return CHANGE_TEXT[row.change]


def side_text(score: ScenarioScore | None) -> str:
    if score is None:
        return "-"
    shown = score_text(score.score)
    if score.cases > 1:
        shown += f" ({score.runs}/{score.cases} scored)"
    if score.score is None:
        shown = score.state + (f": {score.reason}" if score.reason else "")
    return shown


class DeltaPlot(PlotextPlot):
    """A horizontal bar per scenario whose score moved, regressions at the top; as many as
    the height holds, the largest moves first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[ScenarioDelta] = []

    def show_rows(self, rows: list[ScenarioDelta]) -> None:
        self.rows = rows
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_figure()
        moved = [r for r in self.rows if r.delta is not None and r.change != Change.UNCHANGED]
        room = max(1, self.size.height - 3)  # title and axis
        shown = sorted(moved, key=lambda r: -abs(r.delta or 0.0))[:room]
        shown.sort(key=lambda r: moved.index(r))
        if len(shown) < len(moved):
            plt.title(f"score moves B - A ({len(shown)} largest of {len(moved)})")
        else:
            plt.title("score moves B - A" if moved else "no scenario's score moved")
        theme = self.app.current_theme
        worse, better = rgb(theme.error, (220, 50, 50)), rgb(theme.success, (50, 180, 80))
        if shown:
            # plotext draws the first bar at the bottom: reversed, the worst is at the top;
            # one series per colour (a bar of 0 draws nothing)
            ordered = list(reversed(shown))
            labels = [truncate(r.name, LABEL_WIDTH) for r in ordered]
            deltas = [r.delta or 0.0 for r in ordered]
            for colour, keep in ((worse, lambda d: d < 0), (better, lambda d: d > 0)):
                plt.bar(
                    labels,
                    [d if keep(d) else 0.0 for d in deltas],
                    orientation="horizontal",
                    color=colour,
                    width=0.6,
                )
        plt.xlim(-1.0, 1.0)
        plt.xticks([-1.0, -0.5, 0.0, 0.5, 1.0], ["-1", "-0.5", "0", "+0.5", "+1"])
        return super().render()


class HistoryPlot(PlotextPlot):
    """Each benchmark's score over its runs, oldest to newest, A and B marked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.histories: list[ScoreHistory] = []
        self.marked: dict[str, str] = {}  # run id -> "A" / "B"

    def show_histories(self, histories: list[ScoreHistory], marked: dict[str, str]) -> None:
        self.histories, self.marked = histories, marked
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_figure()
        theme = self.app.current_theme
        colours = [rgb(theme.primary, (0, 130, 200)), rgb(theme.secondary, (145, 30, 180))]
        mark = rgb(theme.accent, (245, 130, 48))
        ticks: dict[int, str] = {}
        count = 0
        for index, history in enumerate(self.histories):
            points = [(i + 1, p) for i, p in enumerate(history.points) if p.score is not None]
            if not points:
                continue
            count = max(count, len(history.points))
            label = history.benchmark_name if len(self.histories) > 1 else None
            plt.plot(
                [x for x, _ in points],
                [p.score for _, p in points],  # type: ignore[misc]
                marker="braille",
                color=colours[index % len(colours)],
                label=label,
            )
            for x, point in points:
                if point.run_id in self.marked:
                    plt.scatter([x], [point.score], marker="●", color=mark)  # type: ignore[list-item]
                    ticks[x] = self.marked[point.run_id]
        names = " / ".join(h.benchmark_name for h in self.histories) or "no benchmark"
        plt.title(f"score of {names} per run" if count else f"{names}: no scored run yet")
        plt.ylim(0.0, 1.0)
        plt.yticks([0.0, 0.5, 1.0], ["0", "0.5", "1"])
        if ticks:
            plt.xticks(sorted(ticks), [ticks[x] for x in sorted(ticks)])
        if count:
            plt.xlim(0.5, count + 0.5)
        return super().render()


class BenchmarkCompareScreen(KeyedScreen):
    KEYS = keys.BENCHMARK_COMPARE
    BINDINGS = keys.bindings(KEYS)
    DEFAULT_CSS = """
    BenchmarkCompareScreen #bc-head { height: 3; }
    BenchmarkCompareScreen #bc-plots { height: 1fr; }
    BenchmarkCompareScreen PlotextPlot { width: 1fr; height: 1fr; }
    """

    def __init__(self, comparison: BenchmarkComparison) -> None:
        super().__init__()
        self.comparison = comparison
        self.plot = PLOTS[0]  # the one shown when only one fits
        self.swapping = False
        self._built: dict[str, int] = {}
        self.sub_title = "compare benchmark runs"

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    @property
    def wide(self) -> bool:
        return self.app.size.width >= WIDE

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="bc-head", classes="run-head")
        yield VimTable(id="bc-rows")
        with Horizontal(id="bc-plots"):
            yield DeltaPlot(id="deltas")
            yield HistoryPlot(id="history")
        yield Static("", id="status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        rows = self.query_one(VimTable).styles  # inline: the app's VimTable rule is 1fr
        rows.height, rows.max_height = "auto", "40%"
        head = self.query_one("#bc-head").styles  # and its .run-head would wrap the lines
        head.text_wrap, head.text_overflow = "nowrap", "ellipsis"
        self._show()
        self._layout()
        self.query_one(VimTable).focus()

    # ------------------------------------------------------------------ rendering

    def _show(self) -> None:
        comparison = self.comparison
        self._render_head()
        self._fill()
        marked = {comparison.a.id: "A", comparison.b.id: "B"}
        self.query_one(DeltaPlot).show_rows(comparison.rows)
        self.query_one(HistoryPlot).show_histories(comparison.histories, marked)
        self._update_status()

    def _side(self, letter: str, run: RunSide) -> Text:
        now = self.sandbench.workbench.now_ms()
        benchmark = run.benchmark_name or run.benchmark_id or "-"
        repeats = f" · {run.repeats} repeats" if run.repeats > 1 else ""
        return Text.assemble(
            (f"{letter} ", "bold"),
            (score_text(run.score), "bold"),
            f"  {benchmark} · {run.solution}{repeats} · {run.state} · {ago(run.start_time_ms, now)}"
            f" · {run.id}",
        )

    def _render_head(self) -> None:
        comparison = self.comparison
        theme = self.app.current_theme
        counts = comparison.counts
        parts = []
        for change, word in (
            (Change.REGRESSED, "worse"),
            (Change.IMPROVED, "better"),
            (Change.UNCHANGED, "same"),
            (Change.UNSCORED, "unscored"),
            (Change.ONLY_A, "only in A"),
            (Change.ONLY_B, "only in B"),
        ):
            if counts[change.value]:
                parts.append(f"{counts[change.value]} {word}")
        flips = [
            f"{counts[flip.value]} {text}" for flip, text in FLIP_TEXT.items() if counts[flip.value]
        ]
        delta = comparison.delta
        style = ""
        if delta is not None and abs(delta) >= 0.0005:
            style = (theme.error if delta < 0 else theme.success) or ""
        total = Text.assemble(
            ("Δ ", "bold"),
            (signed(delta), style),
            "  ",
            " · ".join(parts) or "no scenario",
            f" ({', '.join(flips)})" if flips else "",
        )
        head = Text("\n").join(
            [self._side("A", comparison.a), self._side("B", comparison.b), total]
        )
        head.no_wrap = True
        head.overflow = "ellipsis"
        self.query_one("#bc-head", Static).update(head)

    def _widths(self) -> dict[str, int]:
        spare = self.app.size.width - sum(FIXED.values()) - 2 * (len(FIXED) + 1) - 1
        longest = max((len(row.name) for row in self.comparison.rows), default=8)
        return {"scenario": max(8, min(longest + 2, spare)), **FIXED}

    def _fill(self) -> None:
        widths = self._built = self._widths()
        table = self.query_one(VimTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.set_columns([(LABELS[key], key, widths[key]) for key in COLUMNS])
        for row in self.comparison.rows:
            table.add_row(*self._cells(row, widths["scenario"]), key=row.scenario_id)
        if self.comparison.rows:
            table.move_cursor(row=min(cursor, len(self.comparison.rows) - 1))

    def _cells(self, row: ScenarioDelta, width: int) -> list[Text]:
        theme = self.app.current_theme
        worse, better = theme.error or "", theme.success or ""
        delta = row.delta
        style = worse if (delta or 0) < 0 else better if (delta or 0) > 0 else "dim"
        change_style = ""
        if row.flip is not None:
            change_style = f"bold {worse if row.change == Change.REGRESSED else better}"
        elif row.change in (Change.UNSCORED, Change.ONLY_A, Change.ONLY_B):
            change_style = theme.warning or ""
        return [
            Text(truncate(row.name, width)),
            Text(score_text(row.score_a) if row.a else "-"),
            Text(score_text(row.score_b) if row.b else "-"),
            Text(signed(delta), style=style),
            Text(truncate(change_text(row), FIXED["change"]), style=change_style),
        ]

    def _layout(self) -> None:
        wide = self.wide
        self.set_class(wide, "wide")
        for name in PLOTS:
            self.query_one(f"#{name}").display = wide or name == self.plot
        self.refresh_keys()

    def _selected_row(self) -> ScenarioDelta | None:
        table = self.query_one(VimTable)
        rows = self.comparison.rows
        return rows[table.cursor_row] if rows and 0 <= table.cursor_row < len(rows) else None

    def _update_status(self) -> None:
        row = self._selected_row()
        if row is None:
            text = "the two runs share no scenario" if not self.comparison.rows else ""
        else:
            text = f"{row.name}: A {side_text(row.a)} → B {side_text(row.b)}"
        if not self.wide:
            text += "  · p: the other plot" if text else "p: the other plot"
        self.query_one("#status", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    # ------------------------------------------------------------------ events and keys

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_status()

    def on_resize(self) -> None:
        if not self.is_mounted:
            return
        self._layout()
        if self._built and self._widths() != self._built:
            self._fill()
        self._update_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "plot":
            return not self.wide
        if action == "swap":
            return not self.swapping
        return True

    def action_plot(self) -> None:
        self.plot = PLOTS[(PLOTS.index(self.plot) + 1) % len(PLOTS)]
        self._layout()

    def action_swap(self) -> None:
        if self.swapping:
            return
        self.swapping = True
        self.refresh_keys()
        self._swap(self.comparison.b.id, self.comparison.a.id)

    @work(thread=True, exit_on_error=False, group="benchmark-compare")
    def _swap(self, run_a: str, run_b: str) -> None:
        try:
            with reporting(self.app, "Compare benchmark runs"):
                comparison = self.sandbench.workbench.compare_benchmark_runs(run_a, run_b)
                self.post_message(ComparisonLoaded(comparison))
        finally:
            self.app.call_from_thread(self._swapped)

    def _swapped(self) -> None:
        self.swapping = False
        self.refresh_keys()

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.comparison = message.comparison
        self._show()

    def action_back(self) -> None:
        self.app.pop_screen()
