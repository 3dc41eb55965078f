"""Helpers for tests that drive the real engine on real Podman."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbench import config as config_module
from sandbench.engine import Engine
from sandbench.engine.arch import host_arch
from sandbench.engine.images import base_image
from sandbench.model import parse_scenarios
from sandbench.model.runs import ScorerResult, ScorerState
from sandbench.model.scenario import Scenario
from sandbench.store import Store

IN_CI = os.environ.get("CI") == "true"


def need(condition: bool, why: str) -> None:
    """In CI a missing prerequisite is a failure, never a silent skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI must have it: scripts/setup.sh installs it)")
    pytest.skip(why)


def require_podman() -> None:
    need(shutil.which("podman") is not None, "podman is not installed")
    need(os.geteuid() == 0, "the engine tests need root (loop-mounted sandbox disks)")
    image = base_image(config_module.Config().default_image, host_arch())
    found = subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0
    need(found, f"the base image {image} is missing (`sandbench images bootstrap`)")


def scenario(
    name: str = "engine-test", *, workdir: str = "/workspace/repo", **launch: Any
) -> Scenario:
    data: dict[str, Any] = {
        "name": name,
        "input_context": {"problem_statement": "test"},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": "ok",
                    "weight": 1.0,
                    "scorer": {"type": "command_scorer", "command": "true"},
                }
            ]
        },
        "environment_parameters": {"working_directory": workdir, "launch_parameters": launch},
    }
    return parse_scenarios(data)[0].scenario


def with_extra(base: Scenario, **top: Any) -> Scenario:
    data = base.to_dict()
    data.update(top)
    return parse_scenarios(data)[0].scenario


@pytest.fixture
def engine(store: Store) -> Iterator[Engine]:
    require_podman()
    with Engine(store) as opened:
        yield opened
        # detached sandboxes (a run keeps its sandbox for reruns) outlive close(): end them
        from sandbench.model import SandboxState

        for sandbox in store.list_sandboxes(statuses=[s for s in SandboxState if not s.terminal]):
            try:
                opened.shutdown(sandbox.id)
            except Exception as error:
                print(f"could not shut down {sandbox.id}: {error}")


def cgroup_file(engine: Engine, sandbox_id: str, controller: str, name: str) -> Path:
    state = engine.client.containers.get(f"sandbench-{sandbox_id}").attrs["State"]
    cgroup = state["CgroupPath"]
    v1 = Path(f"/sys/fs/cgroup/{controller}{cgroup}/{name}")
    return v1 if v1.exists() else Path(f"/sys/fs/cgroup{cgroup}/{name}")


def containers_of(sandbox_id: str) -> list[str]:
    out = subprocess.run(
        [
            "podman",
            "ps",
            "-a",
            "--filter",
            f"label=io.sandbench.sandbox={sandbox_id}",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


ARM64_TEST_IMAGE = "localhost/sandbench-test-arm64:latest"


def build_arm64_busybox(tag: str) -> None:
    """A tiny arm64 image from Debian's busybox-static package (seconds, no registry)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lists = work / "lists"
        (lists / "partial").mkdir(parents=True)
        apt = [
            "apt-get",
            "-q",
            "-oAPT::Architecture=arm64",
            "-oAPT::Architectures=arm64",
            f"-oDir::State::Lists={lists}",
            "-oDebug::NoLocking=1",
        ]
        subprocess.run([*apt, "update"], check=True, capture_output=True)
        subprocess.run(
            [*apt, "download", "busybox-static"], check=True, cwd=work, capture_output=True
        )
        deb = next(work.glob("busybox-static_*.deb"))
        root = work / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        for directory in ("usr/bin", "sbin", "usr/sbin", "tmp", "proc", "sys", "dev", "etc"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        subprocess.run(["chroot", str(root), "/bin/busybox", "--install", "-s", "/bin"], check=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["podman", "import", "--arch", "arm64", "-", tag],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        tar.wait()


@pytest.fixture(scope="session")
def arm64_image() -> str:
    exists = subprocess.run(["podman", "image", "exists", ARM64_TEST_IMAGE], check=False)
    if exists.returncode != 0:
        need(shutil.which("podman") is not None, "podman is not installed")
        build_arm64_busybox(ARM64_TEST_IMAGE)
    return ARM64_TEST_IMAGE


@pytest.fixture
def arm64_blueprint(store: Store, arm64_image: str) -> str:
    store.save_blueprint("test-arm64-busybox", arm64_image, "tests", "build_complete")
    return "test-arm64-busybox"


def sandbench(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, in the test's workspace; never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "sandbench", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=stdin,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


# Tiny scenarios for runner tests: the answer goes into answer.txt.
def make(name: str, scorers: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {
        "name": name,
        "input_context": {"problem_statement": "Write the answer into answer.txt."},
        "scoring_contract": {"scoring_function_parameters": scorers},
        "environment_parameters": {
            "working_directory": "/workspace/task",
            "launch_parameters": {"resource_size_request": "X_SMALL"},
        },
        "reference_output": "echo 42 > answer.txt\n",
        **top,
    }


def bash(name: str, weight: float, script: str) -> dict[str, Any]:
    return {
        "name": name,
        "weight": weight,
        "scorer": {"type": "bash_script_scorer", "bash_script": script},
    }


def command(name: str, weight: float, cmd: str) -> dict[str, Any]:
    return {"name": name, "weight": weight, "scorer": {"type": "command_scorer", "command": cmd}}


def scorer_result(
    name: str,
    score: float | None,
    *,
    run_id: str = "scr_a",
    id_prefix: str | None = None,
    type_: str = "bash_script_scorer",
    weight: float = 0.5,
    attempt: int = 1,
    state: ScorerState = ScorerState.COMPLETE,
    output: str = "",
    started_at_ms: int = 0,
    duration_ms: int = 1000,
) -> ScorerResult:
    """A scorer's result as the runner stores it; its id is ``srs_``, ``id_prefix`` (the run
    id unless given), the name and the attempt."""
    return ScorerResult(
        id=f"srs_{run_id if id_prefix is None else id_prefix}{name}{attempt}",
        run_id=run_id,
        name=name,
        type=type_,
        weight=weight,
        attempt=attempt,
        state=state,
        score=score,
        output=output,
        started_at_ms=started_at_ms,
        duration_ms=duration_ms,
    )


def in_terminal(
    *argv: str, reply: Callable[[bytes], bytes | None], timeout: float = 120
) -> tuple[bytes, int]:
    """The CLI in a pseudo-terminal: ``reply`` sees the screen so far and may return keys to
    type (once each screen change). Returns everything shown and the exit code."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI in a pseudo-terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "sandbench", *argv], os.environ)
    output, deadline = b"", time.monotonic() + timeout
    typing = reply(output)
    if typing:
        os.write(fd, typing)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: the CLI exited
            break
        if not chunk:
            break
        output += chunk
        typing = reply(output)
        if typing:
            os.write(fd, typing)
    _, status = os.waitpid(pid, 0)
    return output, os.waitstatus_to_exitcode(status)


def host_address() -> str:
    """The host's address on its default route (not the sandbox bridge's gateway)."""
    route = subprocess.run(
        ["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=True
    ).stdout.split()
    return route[route.index("src") + 1]


def host_port_policy(store: Store, port: int, name: str = "reach-test-server") -> str:
    """A network policy that lets a sandbox reach the host at ``host_address():port``, the
    host's services being walled off otherwise: returns its id."""
    from sandbench.model.network import CidrRule, Egress

    rule = CidrRule.model_validate({"cidr": f"{host_address()}/32", "ports": [{"port": port}]})
    return store.create_network_policy(name, Egress(allow_all=True, allowed_cidrs=[rule])).id
