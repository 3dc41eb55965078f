"""Small widgets and formatting shared by the screens."""

from __future__ import annotations

from textual import events
from textual.screen import Screen
from textual.widgets import DataTable, Log

from sandbench.tui import keys

BAR_WIDTH = 12
OUTPUT_MAX_LINES = 20_000  # per pane: a million streamed lines stay a bounded tail


class KeyedScreen(Screen):
    """A screen whose keys come and go with its state (``check_action``).

    ``refresh_keys`` redraws the footer only when the answer for one of the screen's keys
    changed: a footer rebuild per batch of streamed output made key presses wait, and
    Textual's footer keeps every key widget it ever built (measured by bench_tui.py).
    """

    KEYS: tuple[keys.Key, ...] = ()
    _offered: tuple[bool | None, ...] | None = None

    def _offer(self) -> tuple[bool | None, ...]:
        return tuple(self.check_action(k.action.split("(")[0], ()) for k in self.KEYS)

    def refresh_keys(self) -> None:
        if self._offer() != self._offered:
            self.refresh_bindings()

    def refresh_bindings(self) -> None:
        """Every redraw (ours or Textual's, on focus) records what it showed."""
        self._offered = self._offer()
        super().refresh_bindings()


class VimTable(DataTable, inherit_bindings=False):
    """A row-cursor table with j/k/g/G as well as the arrows.

    DataTable's own bindings are not inherited: enter (and the rest) reach the screen,
    whose bindings say what enter does there.
    """

    BINDINGS = keys.bindings(keys.TABLE)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]

    def set_columns(self, columns: list[tuple[str, str, int]]) -> None:
        """(label, key, width) columns of fixed width: widths known at the first paint
        (automatic widths settle only when the table is idle, after it painted)."""
        for label, key, width in columns:
            self.add_column(label, key=key, width=width)

    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class FollowsEnd:
    """For a scrolling log: ``follow`` (stay at the end as text arrives) until the user
    scrolls up, and again once they go back to the end (G). Mixed in before the widget."""

    follow = True

    def on_show(self) -> None:
        # a log written to while hidden had no height to scroll in: catch up when shown
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)  # type: ignore[attr-defined]

    def _recheck_follow(self) -> None:
        self.follow = self.is_vertical_scroll_end  # type: ignore[attr-defined]

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()  # type: ignore[misc]

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()  # type: ignore[misc]

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()  # type: ignore[misc]

    def action_scroll_down(self) -> None:
        super().action_scroll_down()  # type: ignore[misc]
        self.call_after_refresh(self._recheck_follow)  # type: ignore[attr-defined]

    def action_page_down(self) -> None:
        super().action_page_down()  # type: ignore[misc]
        self.call_after_refresh(self._recheck_follow)  # type: ignore[attr-defined]

    def action_scroll_end(self) -> None:
        self.follow = True
        super().action_scroll_end()  # type: ignore[misc]

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.follow = False
        super()._on_mouse_scroll_up(event)  # type: ignore[misc]

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        super()._on_mouse_scroll_down(event)  # type: ignore[misc]
        self.call_after_refresh(self._recheck_follow)  # type: ignore[attr-defined]


class OutputLog(FollowsEnd, Log):
    """A scorer's output: a bounded tail that follows the end until the user scrolls up,
    and again once they go back to the end (G)."""

    BINDINGS = keys.bindings(keys.LOG)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=OUTPUT_MAX_LINES, auto_scroll=False, **kwargs)  # type: ignore[arg-type]
        self.follow = True
        self._bulk = False

    def add(self, text: str) -> None:
        """Append output: one repaint for the whole batch. ``Log.write`` repaints line by
        line, which was most of the app's time under a flood of output (profiled with
        bench_tui.py), time the runner's threads then waited for."""
        if not text:
            return
        if text.count("\n") > OUTPUT_MAX_LINES:  # a huge stored output: only its tail shows
            text = "\n".join(text.split("\n")[-OUTPUT_MAX_LINES - 1 :])
        self._bulk = True
        try:
            self.write(text, scroll_end=self.follow)
        finally:
            self._bulk = False
        self._render_line_cache.clear()  # lines changed and moved: nothing cached holds
        self.refresh()

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        if not self._bulk:  # in a batch, ``add`` repaints once at the end
            super().refresh_lines(y_start, line_count)

    def add_line(self, line: str) -> None:
        """``line`` on a line of its own, even after a partial line."""
        lines = self.lines
        start = "\n" if lines and lines[-1] else ""
        self.add(f"{start}{line}\n")


# ---------------------------------------------------------------------------- formatting


def ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return ""
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 60:
        return "just now" if seconds < 10 else f"{seconds}s ago"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h ago"
    return f"{hours // 24}d ago"


def seconds(ms: int | None) -> str:
    if ms is None:
        return ""
    value = ms / 1000
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s"


def score_text(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


def bar(contribution: float, weight: float, total_weight: float, width: int = BAR_WIDTH) -> str:
    """The scorer's share of the total: filled for what it earned, dots for what it could."""
    if total_weight <= 0:
        return ""
    share = round(width * weight / total_weight)
    filled = min(share, round(width * contribution / total_weight))
    return "█" * filled + "·" * (share - filled)


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
