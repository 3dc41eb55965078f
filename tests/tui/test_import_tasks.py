"""The scenarios screen's import prompt takes task sets too: the format is detected, and a
report says what was imported, what was rounded up and what was refused (field, reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static

from sandbench.model.problems import Problem
from sandbench.store import Store
from sandbench.store.files import FileProblem
from sandbench.tui.app import SandbenchApp
from sandbench.tui.modals import ImportResultScreen, PathPrompt
from sandbench.tui.scenarios import ScenariosScreen
from sandbench.tui.workbench import ImportedItem, ImportOutcome
from tests.importers.test_import_rules import harbor_task
from tests.tui.support import (
    FixedWorkbench,
    fixed_rows,
    settle,
    wait_for,
    wait_for_screen,
)

ROUNDED = "rounded up to CUSTOM_SIZE (4 CPU, 8 GiB, 4 GiB): cpus 3 -> 4, memory 5000 MB -> 8 GiB"


def dataset(tmp_path: Path, *, refused: bool) -> Path:
    """Two Harbor tasks: ``plain`` as written, ``big`` asks for a size that is rounded up,
    or (``refused``) for a GPU, which sandbench cannot give."""
    root = tmp_path / "dataset"
    root.mkdir()
    harbor_task(root, name="plain")
    big = harbor_task(root, name="big")
    extra = "gpus = 1\n" if refused else "cpus = 3\nmemory_mb = 5000\n"
    (big / "task.toml").write_text(f"[environment]\n{extra}")
    return root


async def import_through_prompt(pilot: Pilot, path: Path) -> ImportResultScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ScenariosScreen)
    await wait_for(pilot, lambda: screen.loaded_once, "the scenarios")
    await pilot.press("i")
    prompt = await wait_for_screen(pilot, PathPrompt, "the import prompt")
    prompt.query_one(Input).value = str(path)
    await pilot.press("enter")
    return await wait_for_screen(pilot, ImportResultScreen, "the import report", timeout=300)


def report_text(screen: ImportResultScreen) -> tuple[str, str]:
    title = str(screen.query_one("#import-title", Label).render())
    return title, str(screen.query_one("#import-report", Static).render())


async def test_a_refused_task_is_named_with_its_field_and_nothing_is_stored(
    offline_app: SandbenchApp, store: Store, tmp_path: Path
) -> None:
    root = dataset(tmp_path, refused=True)
    async with offline_app.run_test(size=(80, 24)) as pilot:
        result = await import_through_prompt(pilot, root)
        title, text = report_text(result)
        assert title == f"Nothing imported from {root}"
        assert "Refused (1): nothing was imported" in text
        assert "big: environment.gpus:" in text
        assert "Imported" not in text
        await pilot.press("enter")
        assert isinstance(offline_app.screen, ScenariosScreen)
    assert store.list_scenarios().total_count == 0


@pytest.mark.podman
@pytest.mark.slow
async def test_a_harbor_set_is_detected_built_imported_and_its_rounding_shown(
    live_app: SandbenchApp, store: Store, tmp_path: Path
) -> None:
    root = dataset(tmp_path, refused=False)
    async with live_app.run_test(size=(80, 24)) as pilot:
        result = await import_through_prompt(pilot, root)
        title, text = report_text(result)
        assert title == f"Imported 2 harbor task(s) from {root}"
        assert "Imported (2)\n  created  big\n  created  plain" in text
        assert "Rounded up (1): never smaller than asked" in text
        assert "big: rounded up to CUSTOM_SIZE" in text and "cpus 3 -> 4" in text
        assert "Refused" not in text
        await pilot.press("escape")
        screen = live_app.screen
        assert isinstance(screen, ScenariosScreen)
        await wait_for(pilot, lambda: len(screen.rows) == 2, "the imported scenarios")
    stored = {r.scenario.name: r.scenario for r in store.list_scenarios().items}
    assert set(stored) == {"big", "plain"}
    assert stored["big"].environment_parameters.blueprint_id.startswith("bpt_")


# --------------------------------------------------------------------------- snapshots


class ImportingWorkbench(FixedWorkbench):
    """Fixed data, and a fixed import outcome: a deterministic report to snapshot."""

    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__(fixed_rows())
        self.outcome = outcome

    def import_paths(self, paths, progress=None) -> ImportOutcome:  # type: ignore[no-untyped-def]
        return self.outcome


IMPORTED = ImportOutcome(
    {"created": 2, "updated": 1, "unchanged": 0},
    [],
    "harbor",
    (
        ImportedItem("big", "created", (ROUNDED, "agent timeout 900s recorded in metadata")),
        ImportedItem("plain", "created"),
        ImportedItem("org/fix-the-build", "updated"),
    ),
)
REFUSED = ImportOutcome(
    {},
    [
        FileProblem(Path("/data/set/gpu-task"), Problem("environment.gpus", "GPUs: none here")),
        FileProblem(Path("/data/set/sidecar"), Problem("environment", "compose sidecars")),
    ],
    "harbor",
)


@pytest.mark.parametrize(
    "outcome", [pytest.param(IMPORTED, id="imported"), pytest.param(REFUSED, id="refused")]
)
def test_import_report_snapshot(snap_compare, outcome: ImportOutcome) -> None:
    async def imported(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("i")
        prompt = await wait_for_screen(pilot, PathPrompt, "the import prompt")
        prompt.query_one(Input).value = "/data/set"
        await pilot.press("enter")
        await wait_for_screen(pilot, ImportResultScreen, "the import report")
        await settle(pilot)

    app = SandbenchApp(ImportingWorkbench(outcome))
    assert snap_compare(app, terminal_size=(80, 24), run_before=imported)
