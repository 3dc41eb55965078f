"""Every key binding of the workbench, as data.

Each binding has a stable id (``scope.name``) that never changes when its key does, so a
``keymap`` table in the config can remap keys by id (Textual's ``App.set_keymap``), the
help screen and the command palette list actions by id, and the tests can find them.
Screens build their ``BINDINGS`` from these tables and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str
    keys: str  # Textual key names, comma-separated for alternatives ("j,down")
    action: str  # action on the node that owns the binding
    description: str  # short, for the footer
    help: str = ""  # longer, for the help screen and the command palette
    show: bool = True  # in the footer
    palette: bool = True  # offered in the command palette
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            tooltip=self.help,
            id=self.id,
        )


def bindings(keys: Iterable[Key]) -> list[Binding]:
    return [key.binding() for key in keys]


APP = (
    Key("app.help", "question_mark", "help", "Help", "List the keys of this screen"),
    Key(
        "app.theme",
        "ctrl+t",
        "change_theme",
        "Theme",
        "Choose a colour theme (remembered)",
        show=False,
    ),
    Key("app.quit", "q", "quit", "Quit", "Quit sandbench (asks first if runs are going)"),
)

SCENARIOS = (
    Key("scenarios.new", "n", "new", "New", "New scenario from a template or a sample"),
    Key("scenarios.edit", "e", "edit", "Edit", "Edit the selected scenario (saves a new version)"),
    Key("scenarios.run", "r", "run", "Run", "Run the selected scenario (choose the solution)"),
    Key(
        "scenarios.validate",
        "v",
        "validate",
        "Check",
        "Check: the reference must score 1, the baseline less",
        show=False,  # the 80-column footer is full; in ? help and ctrl+p
    ),
    Key("scenarios.runs", "enter", "runs", "Runs", "The runs of the selected scenario", show=False),
    Key(
        "scenarios.duplicate",
        "c",
        "duplicate",
        "Copy",
        "Duplicate the selected scenario into the editor",
        show=False,
    ),
    Key("scenarios.import", "i", "import", "Import", "Import a scenario file or directory"),
    Key(
        "scenarios.archive",
        "a",
        "archive",
        "Archive",
        "Archive the selected scenario",
        show=False,
    ),
    Key("scenarios.filter", "slash", "filter", "Filter", "Filter scenarios by name"),
    Key(
        "scenarios.sandboxes",
        "b",
        "app.sandboxes",
        "Sandboxes",
        "Every sandbox: state, load, suspend/resume/shell",
        show=False,  # the 80-column footer is full (Quit would go); in ? help and ctrl+p
    ),
    Key(
        "scenarios.benchmarks",
        "B",
        "app.benchmarks",
        "Benchmarks",
        "Benchmarks and their runs: start, resume, compare",
        show=False,  # like Sandboxes: the 80-column footer is full; in ? help and ctrl+p
    ),
    Key("scenarios.all_runs", "R", "all_runs", "All runs", "Every run, newest first", show=False),
    Key(
        "scenarios.mark",
        "m",
        "mark",
        "Mark",
        "Mark or unmark the selected scenario for a benchmark",
        show=False,  # the 80-column footer is full; the status line says how many are marked
    ),
    Key(
        "scenarios.make_benchmark",
        "M",
        "make_benchmark",
        "Make benchmark",
        "Make a benchmark of the marked scenarios",
        show=False,
    ),
    Key("scenarios.refresh", "ctrl+l", "refresh", "Refresh", "Reload the list", show=False),
)

RUNS = (
    Key("runs.open", "enter", "open", "Open", "Open the selected run"),
    Key("runs.refresh", "ctrl+l", "refresh", "Refresh", "Reload the list", show=False),
    Key("runs.back", "escape", "back", "Back", "Back to the previous screen"),
)

RUN = (
    Key("run.rerun_scorer", "s", "rerun_scorer", "Rerun", "Rerun the selected scorer"),
    Key("run.rerun_all", "a", "rerun_all", "Rerun all", "Rerun every scorer in the sandbox"),
    Key("run.rerun_run", "w", "rerun_run", "New run", "Run the whole scenario again"),
    Key("run.cancel", "c", "cancel", "Cancel", "Cancel the run (its sandbox goes at once)"),
    Key("run.shell", "x", "shell", "Shell", "A shell in the run's sandbox (back here on exit)"),
    Key(
        "run.compare",
        "v",
        "compare",
        "Compare",
        "Compare with the previous attempts, or else the previous run: scores and output",
        show=False,  # the 80-column footer is full (Quit would go); in ? help and ctrl+p
    ),
    Key(
        "run.next_output",
        "right_square_bracket",
        "next_output",
        "Next pane",
        "Show the next output pane",
        show=False,
    ),
    Key(
        "run.previous_output",
        "left_square_bracket",
        "previous_output",
        "Prev pane",
        "Show the previous output pane",
        show=False,
    ),
    Key("run.back", "escape", "back", "Back", "Back to the previous screen"),
)

COMPARE = (Key("compare.back", "escape", "back", "Back", "Back to the run"),)

SANDBOXES = (
    Key("sandboxes.suspend", "s", "suspend", "Suspend", "Suspend the sandbox (keeps its disk)"),
    Key("sandboxes.resume", "r", "resume", "Resume", "Resume the suspended sandbox"),
    Key("sandboxes.pause", "p", "pause", "Pause", "Freeze the sandbox's processes"),
    Key("sandboxes.unpause", "u", "unpause", "Unpause", "Let the paused sandbox run again"),
    Key("sandboxes.shell", "x", "shell", "Shell", "A shell in the sandbox (back here on exit)"),
    Key("sandboxes.remove", "d", "remove", "Remove", "Shut the sandbox down for good"),
    Key(
        "sandboxes.activity",
        "l",
        "activity",
        "Log",
        "The selected sandbox's activity log: every command run in it, live"
        " (l moves between the list and the log, and closes it from the log)",
    ),
    Key(
        "sandboxes.prune",
        "P",
        "prune",
        "Prune",
        "Remove what crashed processes left behind",
        show=False,  # the 80-column footer is full (Back would go); in ? help and ctrl+p
    ),
    Key(
        "sandboxes.collect",
        "C",
        "collect",
        "Clean up",
        "Apply the retention policy now: old runs' sandboxes go (`sandbench sandboxes gc`)",
        show=False,  # as prune: in ? help and ctrl+p
    ),
    Key("sandboxes.ended", "e", "toggle_ended", "Ended", "Show or hide ended sandboxes"),
    Key("sandboxes.refresh", "ctrl+l", "refresh", "Refresh", "Reload the list", show=False),
    Key(
        "sandboxes.back",
        "escape",
        "back",
        "Back",
        "Back to the previous screen (closes the activity log first)",
    ),
)

BENCHMARKS = (
    Key(
        "benchmarks.start",
        "s",
        "start",
        "Start",
        "Run the selected benchmark (asks its options first)",
    ),
    Key("benchmarks.cancel", "c", "cancel", "Cancel", "Cancel the benchmark run going"),
    Key(
        "benchmarks.resume",
        "r",
        "resume",
        "Resume",
        "Finish the selected interrupted or canceled run, same id",
    ),
    Key(
        "benchmarks.mark",
        "m",
        "mark",
        "Mark",
        "Mark or unmark the selected run (v compares two)",
        show=False,  # the 80-column footer is full; the status line shows the marks
    ),
    Key(
        "benchmarks.compare",
        "v",
        "compare",
        "Compare",
        "Compare the marked runs, or the selected with the one before",
    ),
    Key(
        "benchmarks.stats",
        "t",
        "toggle_stats",
        "Stats",
        "Repeats: per scenario mean, std, pass@1, pass@k, flaky",
        show=False,  # the 80-column footer is full; the progress line says "t stats"
    ),
    Key("benchmarks.open", "enter", "open", "Open", "Next list; on a scenario run, open it"),
    Key(
        "benchmarks.next_list",
        "tab",
        "next_list",
        "Lists",
        "Move to the next list",
        show=False,  # the 80-column footer is full; tab moves on as everywhere
    ),
    Key("benchmarks.refresh", "ctrl+l", "refresh", "Refresh", "Reload the lists", show=False),
    Key("benchmarks.back", "escape", "back", "Back", "Back to the previous screen"),
)

BENCHMARK_COMPARE = (
    Key(
        "benchmark_compare.plot",
        "p",
        "plot",
        "Plot",
        "The other plot: the score moves or the score history",
    ),
    Key(
        "benchmark_compare.swap",
        "x",
        "swap",
        "Swap",
        "Swap the two runs (the delta is B - A)",
    ),
    Key("benchmark_compare.back", "escape", "back", "Back", "Back to the benchmarks"),
)

BENCHMARK_START = (
    Key(
        "benchmark_start.start",
        "ctrl+s",
        "start",
        "Start",
        "Start the benchmark run with these options",
        priority=True,  # from any field, the text areas included
    ),
    Key("benchmark_start.close", "escape", "close", "Close", "Close without starting anything"),
)

CHECK = (
    Key("check.open", "enter", "open", "Open run", "Open the selected side's run"),
    Key("check.side", "tab", "side", "Side", "Select the other side (FORWARD / REVERSE)"),
    Key("check.cancel", "c", "cancel", "Cancel", "Cancel the check (both runs)"),
    Key("check.recheck", "r", "recheck", "Recheck", "Check again, ignoring the result cache"),
    Key("check.back", "escape", "back", "Back", "Back (a check going keeps going: v returns)"),
)

EDITOR = (
    Key("editor.save", "ctrl+s", "save", "Save", "Save as a new version", priority=True),
    Key(
        "editor.external",
        "ctrl+o",
        "external",
        "$EDITOR",
        "Edit the scenario's TOML in $EDITOR (validated on return)",
        priority=True,
    ),
    Key("editor.add_scorer", "ctrl+n", "add_scorer", "+Scorer", "Add a scorer after this one"),
    Key(
        "editor.remove",
        "ctrl+r",
        "remove",
        "-Scorer",
        "Remove the focused scorer (or test file)",
    ),
    Key(
        "editor.normalise",
        "ctrl+b",
        "normalise",
        "Normalise",
        "Scale the weights to sum to 1",
    ),
    Key(
        "editor.move_up",
        "alt+up",
        "move_scorer(-1)",
        "Move up",
        "Move the focused scorer up",
        show=False,
    ),
    Key(
        "editor.move_down",
        "alt+down",
        "move_scorer(1)",
        "Move down",
        "Move the focused scorer down",
        show=False,
    ),
    Key(
        "editor.add_test_file",
        "ctrl+f",
        "add_test_file",
        "+File",
        "Add a test file to the focused test scorer",
        show=False,
    ),
    Key(
        "editor.next_problem",
        "ctrl+g",
        "next_problem",
        "Next problem",
        "Go to the next field with a problem",
        show=False,
    ),
    Key("editor.back", "escape", "back", "Back", "Back (asks first if not saved)"),
)

# vim-style movement in lists and output panes (on the widgets, not shown in the footer)
TABLE = (
    Key("table.down", "j,down", "cursor_down", "Down", "Move down", show=False, palette=False),
    Key("table.up", "k,up", "cursor_up", "Up", "Move up", show=False, palette=False),
    Key("table.top", "g,home", "first", "Top", "Go to the first row", show=False, palette=False),
    Key("table.bottom", "G,end", "last", "Bottom", "Go to the last row", show=False, palette=False),
    Key("table.page_down", "pagedown,ctrl+d", "page_down", "Page down", show=False, palette=False),
    Key("table.page_up", "pageup,ctrl+u", "page_up", "Page up", show=False, palette=False),
)

LOG = (
    Key("log.down", "j,down", "scroll_down", "Down", "Scroll down", show=False, palette=False),
    Key("log.up", "k,up", "scroll_up", "Up", "Scroll up", show=False, palette=False),
    Key("log.top", "g,home", "scroll_home", "Top", "Go to the top", show=False, palette=False),
    Key("log.bottom", "G,end", "scroll_end", "Bottom", "Go to the end", show=False, palette=False),
    Key("log.page_down", "pagedown,ctrl+d", "page_down", "Page down", show=False, palette=False),
    Key("log.page_up", "pageup,ctrl+u", "page_up", "Page up", show=False, palette=False),
)

FILTER = (
    Key("filter.clear", "escape", "clear", "Clear", "Clear the filter and close it", palette=False),
)

MODAL = (Key("modal.close", "escape", "close", "Close", "Close without doing anything"),)

CONFIRM = (
    Key("confirm.yes", "y", "confirm", "Yes", "Do it", palette=False),
    Key("confirm.no", "n,escape", "close", "No", "Do nothing", palette=False),
)

SOLUTION = (
    *MODAL,
    Key("solution.cache", "c", "toggle_cache", "Cache", "Reuse an identical run's result or not"),
)

HELP = (
    Key("help.close", "escape,question_mark,q", "close", "Close", "Close the help", palette=False),
    Key("help.down", "j", "scroll_down", "Down", show=False, palette=False),
    Key("help.up", "k", "scroll_up", "Up", show=False, palette=False),
)

IMPORT_RESULT = (
    Key("import_result.close", "escape,enter", "close", "Close", "Close the report", palette=False),
    Key("import_result.down", "j", "scroll_down", "Down", show=False, palette=False),
    Key("import_result.up", "k", "scroll_up", "Up", show=False, palette=False),
)

ALL: dict[str, tuple[Key, ...]] = {
    "app": APP,
    "scenarios": SCENARIOS,
    "runs": RUNS,
    "run": RUN,
    "compare": COMPARE,
    "editor": EDITOR,
    "sandboxes": SANDBOXES,
    "benchmarks": BENCHMARKS,
    "benchmark_compare": BENCHMARK_COMPARE,
    "benchmark_start": BENCHMARK_START,
    "check": CHECK,
    "table": TABLE,
    "log": LOG,
    "filter": FILTER,
    "modal": MODAL,
    "confirm": CONFIRM,
    "solution": SOLUTION,
    "help": HELP,
    "import_result": IMPORT_RESULT,
}


def by_id() -> dict[str, Key]:
    return {key.id: key for scope in ALL.values() for key in scope}
