"""Fixtures for tests over the sample scenarios: their blueprints, the arm64 base image,
made-up values for their required env vars and secrets."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from sandbench import config as config_module
from sandbench import secrets
from sandbench.engine import Engine
from sandbench.engine.arch import emulation_available, host_arch
from sandbench.engine.bootstrap import bootstrap
from sandbench.engine.images import BLUEPRINT_REPO, base_image, build_blueprint
from sandbench.model import Architecture, Scenario
from sandbench.store import Store, open_store
from tests.conftest import SAMPLES
from tests.engine_support import need, require_podman

BLUEPRINTS = sorted(p.parent.name for p in (SAMPLES / "blueprints").glob("*/Dockerfile"))
ARM64_BUILD_HINT = "about 3.5 minutes under qemu emulation"
SAMPLE_SCORERS = sorted((SAMPLES / "scorers").glob("*.sh"))


def image_exists(image: str) -> bool:
    result = subprocess.run(["podman", "image", "exists", image], check=False)
    return result.returncode == 0


@pytest.fixture(scope="session")
def blueprint_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build every sample blueprint once, as `sandbench blueprints build` does."""
    require_podman()
    home = tmp_path_factory.mktemp("blueprint-build-home")
    built: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SANDBENCH_HOME", str(home))
        with open_store() as store, Engine(store, recover=False, monitor=False) as engine:
            for name in BLUEPRINTS:
                log: list[str] = []
                start = time.monotonic()
                blueprint = build_blueprint(
                    engine.connection.uri,
                    store,
                    name,
                    SAMPLES / "blueprints" / name,
                    log.append,
                    arch=host_arch(),
                )
                elapsed = time.monotonic() - start
                print(f"blueprint {name} built in {elapsed:.1f}s")
                assert blueprint.status == "build_complete", "\n".join(log)
                assert blueprint.image == f"{BLUEPRINT_REPO}-{name}:latest"
                built[name] = blueprint.image
    return built


@pytest.fixture(scope="session")
def arm64_base() -> str:
    """The arm64 base image; built offline (debootstrap + qemu) when it is missing."""
    require_podman()
    tag = base_image(config_module.Config().default_image, Architecture.ARM64)
    if image_exists(tag):
        return tag
    need(emulation_available(Architecture.ARM64), "no qemu-user emulation for arm64")
    need(shutil.which("debootstrap") is not None, "debootstrap is not installed")
    print(f"building {tag} ({ARM64_BUILD_HINT})")
    bootstrap(tag, Architecture.ARM64, lambda line: None)
    assert image_exists(tag)
    return tag


@pytest.fixture
def registered_blueprints(store: Store, blueprint_images: dict[str, str]) -> dict[str, str]:
    """The module's blueprint images, registered in this test's store."""
    for name, image in blueprint_images.items():
        store.save_blueprint(name, image, str(SAMPLES / "blueprints" / name), "build_complete")
    return blueprint_images


def requirements(scenario: Scenario) -> dict[str, str]:
    """Made-up values for the scenario's required env vars and secrets (secrets get set)."""
    for name in scenario.required_secret_names or []:
        secrets.set_secret(name, f"test-{name.lower()}-value")
    return {
        name: f"https://{name.lower().replace('_', '-')}.invalid/v1"
        for name in scenario.required_environment_variables or []
    }


@pytest.fixture
def sample_store(store: Store, registered_blueprints: dict[str, str]) -> Store:
    """The store with every sample scenario imported, its blueprints and custom scorers."""
    from sandbench.store.files import load_paths

    report = load_paths([SAMPLES])
    assert report.problems == []
    store.import_scenarios([parsed for _, parsed in report.scenarios])
    for script in SAMPLE_SCORERS:
        store.register_custom_scorer(script.stem, script.read_text())
    return store
