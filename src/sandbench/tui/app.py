"""The sandbench workbench: a Textual app over the headless core.

The app owns the long work (runs, reruns) in thread workers, turns runner events into
typed messages for the screens, and turns every failure from below into a notification.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SuspendNotSupported, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme

from sandbench import config as config_module
from sandbench.errors import SandbenchError
from sandbench.model.runs import RunState, ScenarioRun
from sandbench.runner.benchmark_options import BenchmarkOptions
from sandbench.runner.events import RunEvent, RunFinished
from sandbench.runner.retention import Report
from sandbench.runner.solutions import SolutionFailed
from sandbench.tui import keys
from sandbench.tui.benchmarks import BenchmarkEnded, BenchmarksScreen
from sandbench.tui.check import CheckScreen
from sandbench.tui.errors import Notice, describe
from sandbench.tui.messages import (
    EventBridge,
    RunCreated,
    RunEvents,
    RunEventsPending,
    RunStarted,
    RunUpdated,
    RunWorkEnded,
    ShowsRuns,
    WorkFailed,
    reporting,
)
from sandbench.tui.modals import ConfirmScreen, HelpRow, HelpScreen, RunChoice
from sandbench.tui.run import RunScreen
from sandbench.tui.sandboxes import SandboxesScreen, retention_summary
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.themes import DEFAULT_THEME, NO_COLOR_THEME, load_themes
from sandbench.tui.widgets import KeyedScreen
from sandbench.tui.workbench import RunDetail, Workbench


@dataclass
class RetentionDone(Message):
    """The retention policy, applied at start-up, removed something (or failed to)."""

    report: Report


class SandbenchApp(App[int]):
    TITLE = "sandbench"
    CSS_PATH = "sandbench.tcss"
    BINDINGS = keys.bindings(keys.APP)

    def __init__(self, workbench: Workbench, *, theme_dirs: list[Path] | None = None) -> None:
        super().__init__()
        self.workbench = workbench
        self.bridge = EventBridge(self)
        self.running: dict[str, str] = {}  # runs started here and not finished: id -> name
        self.busy_runs: set[str] = set()  # runs being rescored from here
        self.benchmark_going: str | None = None  # name of the benchmark being run from here
        self.checks: dict[str, CheckScreen] = {}  # scenario id -> its check, going or unseen
        self.last_agent_command = ""  # what the solution picker offers for an agent run
        self.startup_notices: list[Notice] = []
        self.notice_log: deque[Notice] = deque(maxlen=100)  # what was shown, newest last
        self._unsubscribe = None

        loaded = load_themes(theme_dirs)
        for theme in loaded.themes.values():
            self.register_theme(theme)
        for problem in loaded.problems:
            self.startup_notices.append(Notice("Theme file skipped", problem, "warning"))
        try:
            settings = config_module.load()
        except SandbenchError as error:
            self.startup_notices.append(
                Notice("Config ignored", f"{error}\nFix it or `sandbench config set KEY ''`.")
            )
            settings = config_module.Config()
        wanted = settings.theme
        self._apply_keymap(settings.keymap)
        if self.no_color and NO_COLOR_THEME in self.available_themes:
            wanted = NO_COLOR_THEME
        if wanted not in self.available_themes:
            self.startup_notices.append(
                Notice(
                    "Theme not found",
                    f"no theme named {wanted!r}; put a {wanted}.toml in {theme_dirs_hint()}",
                    "warning",
                )
            )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self._initial_theme = self._shown_theme = wanted

    def _apply_keymap(self, keymap: dict[str, str]) -> None:
        """The config's ``keymap`` table: keys by binding id; unknown ids are said, not fatal."""
        known = keys.by_id()
        unknown = sorted(set(keymap) - set(known))
        if unknown:
            self.startup_notices.append(
                Notice(
                    "Keymap entries ignored",
                    f"no binding has the id {', '.join(unknown)};"
                    " ctrl+p lists every action with its id",
                    "warning",
                )
            )
        self.set_keymap({k: v for k, v in keymap.items() if k in known})

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is kept in ``notice_log``; text from below is never markup."""
        self.notice_log.append(Notice(title, message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ------------------------------------------------------------------ start and stop

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._unsubscribe = self.workbench.bus.subscribe(self.bridge)
        for notice in self.startup_notices:
            self.notify(notice.message, title=notice.title, severity=notice.severity)  # type: ignore[arg-type]
        self.push_screen(ScenariosScreen())
        self._probe_engine()
        self._load_agent_command()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    @work(thread=True, exit_on_error=False, group="engine")
    def _probe_engine(self) -> None:
        """Connect to Podman at start-up (recovering orphans), so a missing Podman is said
        at once, not at the first run."""
        with reporting(self, "Podman"):
            self.workbench.check_engine()
            self._start_retention()

    def _start_retention(self) -> None:
        """The sandbox retention policy, once, in the background (a notice if it removed
        anything; its failures go to its log, never to the screen)."""

        def done(report: Report) -> None:  # on the retention thread: never blocks on the app
            if report.removed or report.failed:
                self.post_message(RetentionDone(report))

        with contextlib.suppress(Exception):
            self.workbench.start_retention(done)

    def on_retention_done(self, message: RetentionDone) -> None:
        self.notify(retention_summary(message.report), title="Clean up")

    @work(thread=True, exit_on_error=False, group="store")
    def _load_agent_command(self) -> None:
        """The agent command of the newest agent run, so the picker offers it again (a
        store that cannot be read says so elsewhere: not worth a notice of its own)."""
        try:
            command = self.workbench.last_agent_command()
        except Exception:
            return
        if command:
            self.call_from_thread(self._remember_agent_command, command)

    def _remember_agent_command(self, command: str) -> None:
        if not self.last_agent_command:  # one typed meanwhile is newer
            self.last_agent_command = command

    async def action_quit(self) -> None:
        active = set(self.running) | self.busy_runs
        checks = [check for check in self.checks.values() if check.going]
        if not active and not checks and self.benchmark_going is None:
            self.exit(0)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                stopped = {run_id for check in checks for run_id in check.stop()}
                self._cancel_and_exit(sorted(active | stopped))

        count = max(1, len(active) + (self.benchmark_going is not None))
        self.push_screen(
            ConfirmScreen(
                "Quit",
                f"{count} run{'s are' if count > 1 else ' is'} still going. Cancel and quit?",
                "Cancel and quit",
            ),
            confirmed,
        )

    @work(thread=True, exit_on_error=False, group="quit")
    def _cancel_and_exit(self, run_ids: list[str]) -> None:
        if self.benchmark_going is not None:
            with reporting(self, "Cancel benchmark run"):
                self.workbench.cancel_benchmark()
        for run_id in run_ids:
            with reporting(self, "Cancel"):
                self.workbench.cancel(run_id)
        self.call_from_thread(self.exit, 0)

    # ------------------------------------------------------------------ themes

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name == self._shown_theme:
            return  # the start-up theme arriving (NO_COLOR's is never saved)
        self._shown_theme = theme.name
        self._save_theme(theme.name)

    @work(thread=True, exit_on_error=False, group="config")
    def _save_theme(self, name: str) -> None:
        with reporting(self, "Remember theme"):
            config_module.set_value("theme", name)

    # ------------------------------------------------------------------ help and palette

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.help_sections(self.screen)))

    def help_sections(self, screen: Screen) -> list[tuple[str, list[HelpRow]]]:
        """The keys in force on ``screen`` (after any keymap), by where they work."""
        ours = keys.by_id()
        grouped: dict[str, dict[str, list[str]]] = {
            "This screen": {},
            "Lists and output": {},
            "Everywhere": {},
        }
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.id not in ours:
                continue  # Textual's own (focus, copy): not ours to document
            if active.node is self:
                section = "Everywhere"
            elif active.node is screen:
                section = "This screen"
            else:
                section = "Lists and output"
            shown = self.get_key_display(binding.with_key(key))
            grouped[section].setdefault(binding.id, []).append(shown)
        palette = self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "command_palette"))
        sections: list[tuple[str, list[HelpRow]]] = []
        for title, entries in grouped.items():
            rows = []
            for binding_id, shown_keys in entries.items():
                key = ours[binding_id]
                rows.append(HelpRow(" ".join(shown_keys), key.help or key.description))
            if title == "Everywhere":
                rows.append(HelpRow(palette, "Command palette: every action by name"))
            sections.append((title, rows))
        return sections

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        ours = {"Theme", "Quit"}  # offered below, under the names the keys have
        for command in super().get_system_commands(screen):
            if command.title not in ours:
                yield command
        screen_keys: tuple[keys.Key, ...] = getattr(screen, "KEYS", ())
        for key, node in [*((k, screen) for k in screen_keys), *((k, self) for k in keys.APP)]:
            if not key.palette:
                continue
            if node.check_action(key.action, ()) is False:
                continue
            shown = self.get_key_display(key.binding())
            yield SystemCommand(
                key.help or key.description,
                f"{key.description} · key {shown} · {key.id}",
                partial(node.run_action, key.action),
            )

    # ------------------------------------------------------------------ scenarios

    def scenarios_changed(self) -> None:
        """A scenario was saved: lists of scenarios show it as it now is."""
        for screen in self.screen_stack:
            if isinstance(screen, ScenariosScreen):
                screen.reload()

    # ------------------------------------------------------------------ sandboxes

    def action_sandboxes(self) -> None:
        """The sandboxes screen (back to it if it is already open further back)."""
        if isinstance(self.screen, SandboxesScreen):
            return
        for screen in self.screen_stack:
            if isinstance(screen, SandboxesScreen):
                while self.screen is not screen:
                    self.pop_screen()
                screen.reload()
                return
        self.push_screen(SandboxesScreen())

    # ------------------------------------------------------------------ benchmarks

    def action_benchmarks(self) -> None:
        """The benchmarks screen (back to it if it is already open further back)."""
        if isinstance(self.screen, BenchmarksScreen):
            return
        for screen in self.screen_stack:
            if isinstance(screen, BenchmarksScreen):
                while self.screen is not screen:
                    self.pop_screen()
                screen.reload()
                return
        self.push_screen(BenchmarksScreen())

    def start_benchmark(
        self, benchmark_id: str, name: str, options: BenchmarkOptions | None = None
    ) -> None:
        """Run every case of a benchmark with ``options`` (none: the reference, -j and
        retries from the config, with the cache); one benchmark run at a time from here."""
        if self.benchmark_going is not None:
            self.notify(f"{self.benchmark_going} is still running.", severity="warning")
            return
        if options is not None and options.agent_command:
            self.last_agent_command = options.agent_command
        self.benchmark_going = name
        self._run_benchmark(benchmark_id, name, options)

    @work(thread=True, exit_on_error=False, group="benchmarks")
    def _run_benchmark(
        self, benchmark_id: str, name: str, options: BenchmarkOptions | None
    ) -> None:
        finished = None
        try:
            with reporting(self, f"Benchmark {name}"):
                finished = self.workbench.run_benchmark(benchmark_id, options)
        finally:
            self.post_message(BenchmarkEnded(finished))

    def resume_benchmark(self, benchmark_run_id: str, name: str) -> None:
        """Go on with an interrupted or canceled benchmark run, under its id, as it was
        asked for; like a start, one at a time from here."""
        if self.benchmark_going is not None:
            self.notify(f"{self.benchmark_going} is still running.", severity="warning")
            return
        self.benchmark_going = name
        self._resume_benchmark(benchmark_run_id, name)

    @work(thread=True, exit_on_error=False, group="benchmarks")
    def _resume_benchmark(self, benchmark_run_id: str, name: str) -> None:
        finished = None
        try:
            with reporting(self, f"Resume {name}"):
                finished = self.workbench.resume_benchmark(benchmark_run_id)
        finally:
            self.post_message(BenchmarkEnded(finished))

    def on_benchmark_ended(self, message: BenchmarkEnded) -> None:
        name, self.benchmark_going = self.benchmark_going, None
        run = message.run
        if run is not None:
            score = "-" if run.score is None else f"{run.score:.3f}"
            self.notify(
                f"{name}: {run.state.value}, score {score}, ok {run.ok_cases}/{run.total_cases},"
                f" cache hits {run.cache_hit_cases}",
                title="Benchmark run ended",
                severity="information" if run.state.value == "completed" else "warning",
            )
        for screen in self.screen_stack:
            if isinstance(screen, BenchmarksScreen):
                screen.post_message(BenchmarkEnded(run))
        self._refresh_keys()

    def cancel_benchmark(self) -> None:
        self._cancel_benchmark()

    @work(thread=True, exit_on_error=False, group="cancel")
    def _cancel_benchmark(self) -> None:
        with reporting(self, "Cancel benchmark run"):
            self.workbench.cancel_benchmark()

    # ------------------------------------------------------------------ scenario checks

    def open_check(self, scenario_id: str, name: str) -> None:
        """The FORWARD/REVERSE check of a scenario: the one left going (or ended unseen),
        else a new one. Installed, so leaving it while it goes does not end it."""
        screen = self.checks.get(scenario_id)
        if screen is None:
            screen = CheckScreen(scenario_id, name)
            self.checks[scenario_id] = screen
            self.install_screen(screen, name=f"check-{scenario_id}")
        if screen in self.screen_stack:
            if screen is not self.screen:
                self.notify("This check is already open further back (esc returns).")
            return
        self.push_screen(screen)

    def close_check(self, screen: CheckScreen) -> None:
        """Leave a check screen; an ended check is then forgotten (its runs are stored)."""
        if self.screen is screen:
            self.pop_screen()
        if screen.finished and self.checks.get(screen.scenario_id) is screen:
            del self.checks[screen.scenario_id]
            self.uninstall_screen(screen)  # popped and uninstalled: Textual removes it

    def on_run_started(self, message: RunStarted) -> None:
        """A check's run: quit asks first while it goes, and the lists show it."""
        self.running[message.detail.run.id] = message.detail.scenario_name
        self._tell_lists(message.detail.run)

    # ------------------------------------------------------------------ runs

    def start_run(self, scenario_id: str, name: str, choice: RunChoice) -> None:
        if choice.agent_command:
            self.last_agent_command = choice.agent_command
        self._start_run(scenario_id, name, choice)

    def _created(self, made: list[str], detail: RunDetail) -> None:
        """``on_created`` of a run (worker thread): open its screen before its events."""
        made.append(detail.run.id)
        self.post_message(RunCreated(detail))

    @work(thread=True, exit_on_error=False, group="runs")
    def _start_run(self, scenario_id: str, name: str, choice: RunChoice) -> None:
        made: list[str] = []
        try:
            with reporting(self, f"Run {name}"):
                self.workbench.start_run(
                    scenario_id,
                    choice.solution,
                    use_cache=choice.use_cache,
                    agent_command=choice.agent_command,
                    on_created=partial(self._created, made),
                    hand_over=self.hand_over_terminal,
                )
        finally:
            for run_id in made:
                self.post_message(RunWorkEnded(run_id))

    def rerun_scorers(self, run_id: str, scorer: str | None) -> None:
        self.busy_runs.add(run_id)
        self._refresh_keys()
        self._rerun_scorers(run_id, scorer)

    @work(thread=True, exit_on_error=False, group="runs")
    def _rerun_scorers(self, run_id: str, scorer: str | None) -> None:
        try:
            with reporting(self, f"Rerun {scorer or 'all scorers'}"):
                self.workbench.rerun_scorers(run_id, scorer)
        finally:
            self.post_message(RunWorkEnded(run_id))

    def rerun_run(self, run_id: str, name: str) -> None:
        self._rerun_run(run_id, name)

    @work(thread=True, exit_on_error=False, group="runs")
    def _rerun_run(self, run_id: str, name: str) -> None:
        made: list[str] = []
        try:
            with reporting(self, f"Run {name} again"):
                self.workbench.rerun_run(
                    run_id,
                    on_created=partial(self._created, made),
                    hand_over=self.hand_over_terminal,
                )
        finally:
            for new_id in made:
                self.post_message(RunWorkEnded(new_id))

    def cancel_run(self, run_id: str) -> None:
        self._cancel_run(run_id)

    @work(thread=True, exit_on_error=False, group="cancel")
    def _cancel_run(self, run_id: str) -> None:
        with reporting(self, "Cancel"):
            self.workbench.cancel(run_id)

    # ------------------------------------------------------------------ the terminal

    def with_terminal(self, program: Callable[[], int], banner: str = "") -> int:
        """``program``'s result, run with the terminal while the app steps aside (raises
        SuspendNotSupported where it cannot). An exception from ``program`` is raised only
        once the app is back: Textual's suspend does not resume the app on one."""
        outcome: int | Exception
        with self.suspend():
            if banner:
                print(f"sandbench: {banner}", flush=True)  # stdout is the terminal here
            try:
                outcome = program()
            except Exception as error:
                outcome = error
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def open_shell(self, sandbox_id: str) -> int | None:
        """A shell in the sandbox in this terminal, back here when it exits (the engine
        resumes a suspended sandbox first); says how it went in a notification. Its exit
        code, or None when no shell ran."""
        try:
            code = self.with_terminal(partial(self.workbench.sandbox_shell, sandbox_id))
        except SuspendNotSupported:
            self.notify(
                "This terminal cannot hand over to a shell; from a shell:"
                f" sandbench sandboxes shell {sandbox_id}",
                title="Shell",
                severity="error",
            )
            return None
        except Exception as error:
            self.post_message(WorkFailed(f"Shell in {sandbox_id}", error))
            return None
        self.notify(f"shell in {sandbox_id} exited ({code})", title="Shell", timeout=3)
        return code

    def hand_over_terminal(self, what: str, program: Callable[[], int]) -> int:
        """The runner's hand-over for an interactive solution (called on the run's worker
        thread): ``program`` runs on the app's thread with the app stepped aside, and the
        worker waits for its exit code."""
        return self.call_from_thread(self._hand_over, what, program)

    def _hand_over(self, what: str, program: Callable[[], int]) -> int:
        try:
            code = self.with_terminal(program, banner=what)
        except SuspendNotSupported:
            raise SolutionFailed(
                "this terminal cannot hand over to a shell; from a shell:"
                " sandbench run SCENARIO --solution interactive"
            ) from None
        self.notify(f"the shell exited ({code}): scoring", title="Interactive", timeout=5)
        return code

    def open_run(self, detail: RunDetail) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.run_id == detail.run.id:
                if screen is not self.screen:
                    self.notify("This run is already open further back (esc returns).")
                return
        self.push_screen(RunScreen(detail))

    def on_run_created(self, message: RunCreated) -> None:
        run = message.detail.run
        self.running[run.id] = message.detail.scenario_name
        self._tell_lists(run)
        self.push_screen(RunScreen(message.detail))

    def on_run_events_pending(self, _: RunEventsPending) -> None:
        by_run: dict[str, list[RunEvent]] = {}
        for event in self.bridge.drain():
            by_run.setdefault(event.run_id, []).append(event)
        hidden = [check for check in self.checks.values() if check not in self.screen_stack]
        for run_id, events in by_run.items():
            for screen in [*self.screen_stack, *hidden]:  # a check left going still follows
                if isinstance(screen, ShowsRuns) and screen.shows_run(run_id):
                    screen.post_message(RunEvents(run_id, events))
            for event in events:
                if isinstance(event, RunFinished):
                    self._run_finished(event)

    def _run_finished(self, event: RunFinished) -> None:
        run = event.run
        name = self.running.pop(run.id, None) or run.name or run.scenario_id
        self._tell_lists(run)
        if run.benchmark_run_id is not None:
            return  # a benchmark run says how its cases ended once, when it ends
        if run.state == RunState.COMPLETED:
            showing = isinstance(self.screen, ShowsRuns) and self.screen.shows_run(run.id)
            if not showing:
                total = "-" if run.score is None else f"{run.score:.3f}"
                self.notify(f"{name}: total {total}", title="Run completed")
        elif run.state == RunState.CANCELED:
            self.notify(f"{name}: canceled", title="Run canceled", severity="warning")
        else:
            reason = run.failure_reason or run.state.value
            self.notify(
                f"{name}: {reason}", title=f"Run {run.state.value}", severity="error", timeout=15
            )

    def on_run_work_ended(self, message: RunWorkEnded) -> None:
        self.busy_runs.discard(message.run_id)
        self.running.pop(message.run_id, None)  # in case it ended without RunFinished
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        screen = self.screen
        if isinstance(screen, KeyedScreen):
            screen.refresh_keys()
        else:
            screen.refresh_bindings()

    def _tell_lists(self, run: ScenarioRun) -> None:
        """Lists showing ``run`` (scenarios, runs) update their row."""
        for screen in self.screen_stack:
            if not isinstance(screen, RunScreen):
                screen.post_message(RunUpdated(run))

    def on_work_failed(self, message: WorkFailed) -> None:
        notice = describe(message.action, message.error)
        self.notify(notice.message, title=notice.title, severity=notice.severity, timeout=15)  # type: ignore[arg-type]


def theme_dirs_hint() -> str:
    from sandbench import paths

    return str(paths.user_themes_dir())


def run_app() -> int:
    """Open the workbench on the user's store; the engine is closed when it quits."""
    from sandbench.config import Config
    from sandbench.engine import Engine
    from sandbench.runner.reconcile import reconcile
    from sandbench.store import open_store

    try:
        config = config_module.load()
    except SandbenchError:
        config = Config()  # the app says what is wrong with the file
    with open_store() as store:
        reconcile(store)  # nothing shows running that nothing runs
        engine = Engine(store, config=config)
        engine.keep_warm = True  # the config's warm pool, from the first sandbox on
        try:
            app = SandbenchApp(Workbench(store, engine))
            result = app.run()
        finally:
            engine.close()
    return result or 0
