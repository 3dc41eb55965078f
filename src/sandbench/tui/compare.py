"""The compare screen: a run's scores against what came before, and how an output changed.

Before is the previous attempt of each rerun scorer, or else the previous run of the same
scenario (the workbench decides, in a thread worker, before this screen opens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.highlighter import Highlighter
from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from sandbench.runner.comparison import Against, RunComparison, ScorerChange
from sandbench.tui import keys
from sandbench.tui.widgets import OutputLog, VimTable, ago, score_text, seconds, truncate

if TYPE_CHECKING:
    from sandbench.tui.app import SandbenchApp

COLUMNS = ("scorer", "prev", "this", "delta", "state", "time")
LABELS = {"scorer": "SCORER", "prev": "PREV", "this": "THIS", "delta": "DELTA"}
FIXED = {"prev": 5, "this": 5, "delta": 6, "state": 17, "time": 14}


class DiffHighlighter(Highlighter):
    """Colours a unified diff line by line, from the theme's colours."""

    def __init__(self, added: str, removed: str, hunk: str) -> None:
        self.added, self.removed, self.hunk = added, removed, hunk

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if plain.startswith(("+++ ", "--- ")):
            text.stylize("bold")
        elif plain.startswith("+"):
            text.stylize(self.added)
        elif plain.startswith("-"):
            text.stylize(self.removed)
        elif plain.startswith("@@"):
            text.stylize(self.hunk)


def signed_seconds(ms: int) -> str:
    return ("+" if ms >= 0 else "-") + seconds(abs(ms))


class CompareScreen(Screen):
    KEYS = keys.COMPARE
    BINDINGS = keys.bindings(KEYS)
    DEFAULT_CSS = """
    CompareScreen #compare-head { height: 2; }
    CompareScreen #changes { height: auto; max-height: 10; }
    CompareScreen #diff { height: 1fr; }
    """

    def __init__(
        self, comparison: RunComparison, scenario_name: str, selected: str | None = None
    ) -> None:
        super().__init__()
        self.comparison = comparison
        self.scenario_name = scenario_name
        self.names = [change.name for change in comparison.changes]
        self._selected = selected if selected in self.names else None
        self._shown: str | None = None
        self._built: dict[str, int] = {}
        self.sub_title = f"compare {scenario_name}"

    @property
    def sandbench(self) -> SandbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Static("", id="compare-head", classes="run-head")
        yield VimTable(id="changes")
        yield Static("", id="compare-total", classes="total")
        yield Static("", id="diff-title", classes="status")
        yield OutputLog(id="diff", highlight=True)
        yield Footer()

    def on_mount(self) -> None:
        theme = self.app.current_theme
        log = self.query_one("#diff", OutputLog)
        log.highlighter = DiffHighlighter(
            theme.success or "", theme.error or "", theme.accent or ""
        )
        self._render_head()
        self._fill()
        self._render_total()
        table = self.query_one(VimTable)
        table.focus()
        if self.names:
            table.move_cursor(row=self.names.index(self._selected or self.names[0]))
            self._show_diff(self._selected or self.names[0])

    # ------------------------------------------------------------------ rendering

    def _render_head(self) -> None:
        comparison = self.comparison
        first = f"[b]{escape(self.scenario_name)}[/b] · run {comparison.run_id}"
        previous = comparison.previous
        if comparison.against == Against.ATTEMPTS or previous is None:
            second = "against the previous attempt of each rerun scorer (same run)"
        else:
            when = ago(previous.start_time_ms, self.sandbench.workbench.now_ms())
            second = (
                f"against the previous run {previous.id} · v{previous.scenario_version}"
                f" · {previous.solution.value} · {when}"
            )
        self.query_one("#compare-head", Static).update(f"{first}\n{second}")

    def _widths(self) -> dict[str, int]:
        spare = self.app.size.width - sum(FIXED.values()) - 2 * (len(FIXED) + 1) - 1
        longest = max((len(name) for name in self.names), default=6)
        return {"scorer": max(8, min(longest, spare, 40)), **FIXED}

    def _fill(self) -> None:
        widths = self._built = self._widths()
        table = self.query_one(VimTable)
        table.clear(columns=True)
        table.set_columns([(LABELS.get(key, key.upper()), key, widths[key]) for key in COLUMNS])
        for change in self.comparison.changes:
            table.add_row(*self._cells(change, widths["scorer"]), key=change.name)

    def _delta(self, change: ScorerChange) -> Text:
        theme = self.app.current_theme
        if change.before is None:
            return Text("new", style=theme.accent or "")
        if change.after is None:
            return Text("gone", style=theme.warning or "")
        if change.same_attempt:
            return Text("·", style="dim")
        delta = change.delta
        if delta is None:
            return Text("-")
        if abs(delta) < 0.0005:
            return Text("=")
        return Text(f"{delta:+.3f}", style=(theme.success if delta > 0 else theme.error) or "")

    def _cells(self, change: ScorerChange, scorer_width: int) -> list[str | Text]:
        before, after = change.before, change.after
        if before is not None and after is not None and before.state == after.state:
            state = after.state.value
        else:
            state = f"{before.state.value if before else '-'}→{after.state.value if after else '-'}"
        duration = seconds(after.duration_ms) if after else "-"
        moved = change.duration_delta_ms
        if moved is not None and not change.same_attempt:
            duration += f" ({signed_seconds(moved)})"
        style = "dim" if change.same_attempt else ""
        return [
            Text(truncate(change.name, scorer_width), style=style),
            Text(score_text(before.score) if before else "-", style=style),
            Text(score_text(after.score) if after else "-", style=style),
            self._delta(change),
            Text(truncate(state, FIXED["state"]), style=style),
            Text(truncate(duration, FIXED["time"]), style=style),
        ]

    def _render_total(self) -> None:
        comparison = self.comparison
        theme = self.app.current_theme
        delta = comparison.total_delta
        if delta is None:
            shown = Text("")
        elif abs(delta) < 0.0005:
            shown = Text("unchanged", style="dim")
        else:
            shown = Text(f"{delta:+.3f}", style=(theme.success if delta > 0 else theme.error) or "")
        self.query_one("#compare-total", Static).update(
            Text.assemble(
                ("TOTAL ", "bold"),
                score_text(comparison.total_before),
                " → ",
                (score_text(comparison.total_after), "bold"),
                "  ",
                shown,
            )
        )

    def _show_diff(self, name: str) -> None:
        if name == self._shown:
            return
        self._shown = name
        change = self.comparison.change(name)
        log = self.query_one("#diff", OutputLog)
        log.clear()
        log.follow = False
        if change is None:
            return
        title = self.query_one("#diff-title", Static)
        if change.same_attempt and change.after is not None:
            title.update(f"{name} was not rerun: attempt {change.after.attempt} on both sides")
            return
        if change.before is None:
            title.update(f"{name}: new in this run; its output:")
        elif change.after is None:
            title.update(f"{name}: not in this run; its output before:")
        elif self.comparison.against == Against.ATTEMPTS:
            title.update(
                f"{name}: output, attempt {change.before.attempt} → {change.after.attempt}"
            )
        else:
            title.update(f"{name}: output, previous run → this run")
        if change.diff:
            log.write(change.diff + "\n", scroll_end=False)
        else:
            log.write("(the output is the same)\n", scroll_end=False)

    # ------------------------------------------------------------------ events and keys

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.names):
            self._show_diff(self.names[event.cursor_row])

    def on_resize(self) -> None:
        if self._built and self._widths() != self._built:
            cursor = self.query_one(VimTable).cursor_row
            self._fill()
            self.query_one(VimTable).move_cursor(row=cursor)

    def action_back(self) -> None:
        self.app.pop_screen()
