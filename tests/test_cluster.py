"""Benchmark runs over a real local Ray cluster: a head and two worker nodes joined with
``sandbench cluster join``, each with its own workspace, sharing this host's Podman.

One cluster per module (a node takes seconds to start on a 2-core machine). The tests run
in order: the last one kills a worker node for good.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbench.build_version import build_version
from sandbench.engine import image_pins
from sandbench.model import parse_scenarios
from sandbench.model.benchmark import BenchmarkRunState, CaseState
from sandbench.model.documents import ParsedScenario
from sandbench.model.runs import RunState, ScorerState
from sandbench.model.sandbox import SandboxState
from sandbench.store import Store
from tests.engine_support import bash, make, need, require_podman, sandbench

pytestmark = [pytest.mark.slow, pytest.mark.podman, pytest.mark.cluster]

SLOTS = 2  # per worker node
CLI = [sys.executable, "-m", "sandbench"]
RETRY_TWICE = ["--retries", "2", "--json", "--no-cache"]


def require_ray() -> None:
    need(importlib.util.find_spec("ray") is not None, "ray is not installed (sandbench[cluster])")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Any, what: str, timeout: float = 120) -> Any:
    """Poll what other processes write (the store, Ray's node table) until it answers."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # other processes write: nothing here to await
    return found


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    workspace: Path
    node_id: str = ""

    @property
    def home_label(self) -> str:
        return hashlib.sha256(str(self.workspace / "data").encode()).hexdigest()[:16]

    def kill(self) -> None:
        """The whole node at once (the join process, its raylet and workers)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)


@dataclass
class Cluster:
    address: str
    nodes: list[Node]
    temp_dir: Path


def containers_of_home(label: str) -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}} {{.Labels}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split()[0] for line in out.splitlines() if label in line]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_podman()
    require_ray()
    import ray

    base = tmp_path_factory.mktemp("cluster")
    ray_bin = str(Path(sys.executable).parent / "ray")
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = base / "ray"
    env = {**os.environ, "SANDBENCH_HOME": str(base / "joiner")}
    head = subprocess.run(
        [
            ray_bin,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=0",  # the head schedules; sandboxes run on the nodes
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert head.returncode == 0, head.stderr
    nodes: list[Node] = []
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        for count, name in enumerate(("node-a", "node-b"), start=1):
            workspace = base / name
            process = subprocess.Popen(
                [
                    *CLI,
                    "cluster",
                    "join",
                    address,
                    "--slots",
                    str(SLOTS),
                    "--workspace",
                    str(workspace),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(base / f"{name}.log").open("wb"),
                start_new_session=True,  # its own process group: killed as one node
            )
            nodes.append(Node(process, workspace))
            # one at a time: two raylets starting at once on one host can pick the same port
            wait_until(
                lambda count=count: (
                    len(
                        [
                            n
                            for n in ray.nodes()
                            if n["Alive"] and n["Resources"].get("sandbench_slot")
                        ]
                    )
                    == count
                ),
                f"worker node {count} to join",
            )
        # which Ray node is which workspace: ask each node who it is
        statuses = json.loads(
            sandbench("cluster", "status", "--address", address, "--json", env=env).stdout
        )
        by_workspace = {s["workspace"]: s["node_id"] for s in statuses}
        for node in nodes:
            node.node_id = by_workspace[str(node.workspace)]
        yield Cluster(address, nodes, temp_dir)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)  # leaves the cluster, sweeps
        for node in nodes:
            try:
                node.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, check=False, env=env)
        leftovers = subprocess.run(
            ["pgrep", "-f", str(temp_dir)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in leftovers:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                continue
        for node in nodes:  # a node killed outright left its sandboxes: sweep as join does
            sweep = "from sandbench.cli.cluster_cmd import sweep; sweep()"
            subprocess.run(
                [sys.executable, "-c", sweep],
                env={**env, "SANDBENCH_HOME": str(node.workspace)},
                capture_output=True,
                check=False,
                timeout=120,
            )
            # the sandboxes the node kept for reruns (suspended), then the image pins their
            # disks named (a pin stays until nothing names its image: prune releases it)
            for command in (["sandboxes", "rm", "--all", "--yes"], ["sandboxes", "prune"]):
                subprocess.run(
                    [*CLI, *command],
                    env={**env, "SANDBENCH_HOME": str(node.workspace)},
                    capture_output=True,
                    check=False,
                    timeout=300,
                )
            for name in containers_of_home(node.home_label):
                subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
        pins = pins_under(base)
        if pins:
            subprocess.run(["podman", "rm", "-f", *pins], capture_output=True, check=False)
        assert leftovers == [], f"Ray processes outlived the cluster: {leftovers}"
        assert pins == [], f"sandboxes kept on the nodes outlived them: {pins}"


def pins_under(base: Path) -> list[str]:
    """Image pins of the workspaces under ``base`` (one per image while a sandbox disk
    there names it)."""
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={image_pins.PIN_LABEL}",
         "--format", f'{{{{.Names}}}} {{{{index .Labels "{image_pins.PIN_LABEL}"}}}}'],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line.split()[0] for line in out.splitlines() if str(base) in line]


def held_by(workspace: Path) -> list[str]:
    """Mounts and sandbox directories (disks) under a node's workspace: what a case that
    was not torn down keeps busy."""
    mounts = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(workspace))
    ]
    disks = workspace / "data" / "sandboxes"
    directories = sorted(str(d) for d in disks.glob("*") if d.is_dir()) if disks.is_dir() else []
    return mounts + directories


def held_by_cut_cases(node: Node) -> list[str]:
    """What ``held_by`` lists but the sandboxes the node keeps, suspended, for reruns
    (their disks' image pins stay while the disks do)."""
    with Store(node.workspace / "data" / "sandbench.db") as there:
        kept = {s.id for s in there.list_sandboxes(statuses=[SandboxState.SUSPENDED])}
    return [p for p in held_by(node.workspace) if not kept & set(Path(p).parts)]


def owners_of(held: list[str]) -> dict[str, str]:
    """Who holds each of ``held``: the process that prepared its sandbox's disk."""
    found = {}
    for path in held:
        directory = Path(path) if Path(path).parent.name == "sandboxes" else Path(path).parent
        try:
            pid = (directory / "owner").read_text().split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError as error:
            command = f"({error.__class__.__name__}: {error.strerror})"
        found[path] = command
    return found


def what_holds(node: Node, held: list[str]) -> str:
    """Why ``held`` stays: who prepared each, the node's sandbox rows, the containers and
    processes Podman runs for them, and the node's log (a failure's whole story)."""
    ids = {part for path in held for part in Path(path).parts if part.startswith("dbx_")}
    with Store(node.workspace / "data" / "sandbench.db") as there:
        rows = [
            f"{s.id} {s.name} {s.status.value} {dict(there.sandbox_bookkeeping(s.id))}"
            for s in there.list_sandboxes(limit=1000)
            if s.id in ids
        ]
    containers = subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    processes = subprocess.run(
        ["ps", "-eo", "pid,ppid,stat,etimes,args"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    log = node.workspace.parent / f"{node.workspace.name}.log"
    return "\n".join(
        [
            f"owners: {owners_of(held)}",
            "rows:",
            *rows,
            "containers:",
            *[c for c in containers if any(i in c for i in ids)],
            "processes:",
            *[p for p in processes if any(i in p for i in ids)],
            f"{log.name}:",
            *(log.read_text().splitlines()[-20:] if log.exists() else []),
        ]
    )


def ticking(name: str, score: str, ticks: int = 4, pause: float = 0.4) -> dict[str, Any]:
    """A tiny case whose scorer prints numbered lines, slowly, then its score."""
    script = f"for i in $(seq 1 {ticks}); do echo tick $i; sleep {pause}; done; echo score={score}"
    return make(name, [bash("ticks", 1.0, script)])


def benchmark(store: Store, name: str, documents: list[dict[str, Any]]) -> None:
    store.import_scenarios([ParsedScenario(parse_scenarios(d)[0].scenario) for d in documents])
    store.create_benchmark(name, [d["name"] for d in documents])


def test_status_lists_both_nodes_with_their_slots(cluster: Cluster) -> None:
    result = sandbench("cluster", "status", "--address", cluster.address, "--json")
    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout)
    assert sorted(s["node_id"] for s in statuses) == sorted(n.node_id for n in cluster.nodes)
    for status in statuses:
        assert status["slots"] == SLOTS and status["running"] == 0
        assert status["architecture"] in ("x86_64", "arm64")
        assert status["fitness"] in ("ok", "warn")
        assert status["memory_free_bytes"] > 0
        assert status["version"] == build_version(), "the node runs this very sandbench"
    table = sandbench("cluster", "status", "--address", cluster.address)
    assert "VERSION" in table.stdout and build_version() in table.stdout


def test_a_benchmark_runs_on_both_nodes_streams_live_and_scores_as_here(
    cluster: Cluster, store: Store
) -> None:
    scores = ["1", "0.5", "0", "1", "0.25", "1", "0.75", "1"]
    benchmark(store, "spread", [ticking(f"case-{i}", s) for i, s in enumerate(scores)])
    process = subprocess.Popen(
        [*CLI, "benchmarks", "run", "spread", "--cluster", cluster.address, "--json", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def mid_output() -> Any:
        for run in store.list_runs(limit=50).items:
            for result in store.get_run(run.id).scorer_results:
                if result.state == ScorerState.RUNNING and "tick 1" in result.output:
                    return result.output
        return None

    partial = wait_until(mid_output, "a scorer's output in the head's store while it runs")
    assert "score=" not in partial  # it was read before the scorer finished
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    document = json.loads(out)
    assert document["state"] == "completed"
    assert document["settings"]["cluster"] == cluster.address
    attempts = document["attempts"]
    assert len(attempts) == len(scores)
    worker_ids = {n.node_id for n in cluster.nodes}
    assert {a["node"] for a in attempts} == worker_ids, "cases ran on both nodes"
    for run in store.runs_of_benchmark_run(document["id"]):
        [result] = run.scorer_results
        ticks = [line for line in result.output.splitlines() if line.startswith("tick")]
        assert ticks == [f"tick {i}" for i in range(1, 5)], "output arrived in order"
        assert result.output.rstrip().endswith("score=" + scores[int(run.name.split("-")[1])])
        assert run.node in worker_ids and run.sandbox_id is None
    report = json.loads(
        sandbench(
            "runs", "export", "--benchmark-run", document["id"], "--format", "benchmark-report-json"
        ).stdout
    )
    assert {a["node"] for a in report["attempts"]} == worker_ids
    records = sandbench("runs", "export", "--benchmark-run", document["id"]).stdout.splitlines()
    assert {json.loads(r)["input"]["node"] for r in records} == worker_ids

    local = sandbench("benchmarks", "run", "spread", "--no-cache", "--json", "-j", "2")
    assert local.returncode == 0, local.stderr
    here = json.loads(local.stdout)
    assert all(a["node"] is None for a in here["attempts"])
    assert {c["position"]: c["score"] for c in here["cases"]} == {
        c["position"]: c["score"] for c in document["cases"]
    }
    assert here["score"] == pytest.approx(document["score"])
    for node in cluster.nodes:  # each case's sandbox is kept there, suspended
        wait_until(lambda n=node: containers_of_home(n.home_label) == [], "containers removed")
        with Store(node.workspace / "data" / "sandbench.db") as there:
            kept = [
                there.get_sandbox(r.sandbox_id).status.value
                for r in there.list_runs(limit=50).items
                if r.name and r.name.startswith("case-") and r.sandbox_id
            ]
        ran_here = [a for a in attempts if a["node"] == node.node_id]
        assert kept and len(kept) >= len(ran_here) and set(kept) == {"suspended"}, kept


def runs_on_node(node: Node, name: str) -> int:
    """How many runs of scenario ``name`` the node's own store holds."""
    with Store(node.workspace / "data" / "sandbench.db") as there:
        return len(there.list_runs(name=name, limit=100).items)


def node_sandbox_of(node: Node, name: str) -> tuple[str, str]:
    """The node's own run of scenario ``name`` and the state of the sandbox it kept."""
    with Store(node.workspace / "data" / "sandbench.db") as there:
        [run] = there.list_runs(name=name, limit=10).items
        assert run.sandbox_id is not None
        return run.sandbox_id, there.get_sandbox(run.sandbox_id).status.value


def test_a_scorer_rerun_runs_in_the_sandbox_the_case_left_on_its_node(
    cluster: Cluster, store: Store
) -> None:
    # the solution leaves a random token; the scorer counts its own visits beside it
    token = "/workspace/task/token.txt"
    count = "/workspace/task/scored"
    script = (
        f"echo $(( $(cat {count} 2>/dev/null || echo 0) + 1 )) > {count};"
        f' echo "token=$(cat {token}) visits=$(cat {count})"; echo score=0.5'
    )
    document = make("again-0", [bash("visits", 1.0, script)])
    document["reference_output"] = (
        f"head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {token}\n"
    )
    benchmark(store, "again", [document])
    first = sandbench("benchmarks", "run", "again", "--cluster", cluster.address, "--json")
    assert first.returncode == 0, first.stderr
    [run] = store.runs_of_benchmark_run(json.loads(first.stdout)["id"])
    [ran_it] = [n for n in cluster.nodes if n.node_id == run.node]
    [other] = [n for n in cluster.nodes if n is not ran_it]
    assert runs_on_node(ran_it, "again-0") == 1 and runs_on_node(other, "again-0") == 0
    [attempt] = run.scorer_results
    [line] = [x for x in attempt.output.splitlines() if x.startswith("token=")]
    assert line.endswith(" visits=1") and len(line.split()[0]) > len("token=") + 8, line
    sandbox_id, _ = node_sandbox_of(ran_it, "again-0")
    # the case's sandbox is kept there, suspended: no container, its disk kept
    wait_until(lambda: node_sandbox_of(ran_it, "again-0")[1] == "suspended", "a suspended sandbox")
    assert containers_of_home(ran_it.home_label) == []

    rerun = sandbench("runs", "rerun", run.id, "--scorer", "visits")
    assert rerun.returncode == 0, rerun.stderr
    again = store.get_run(run.id)
    assert again.state == RunState.COMPLETED and again.node == ran_it.node_id
    assert [r.attempt for r in again.scorer_results] == [1, 2]
    second = again.scorer_results[1]
    assert second.state == ScorerState.COMPLETE and second.score == attempt.score
    assert line.replace("visits=1", "visits=2") in second.output, "the same sandbox, again"
    assert again.score == pytest.approx(run.score)
    assert runs_on_node(ran_it, "again-0") == 1 and runs_on_node(other, "again-0") == 0
    wait_until(lambda: node_sandbox_of(ran_it, "again-0")[1] == "suspended", "suspended again")

    # the sandbox removed on its node (as its retention policy would): refused, named
    removed = sandbench(
        "sandboxes", "rm", sandbox_id, env={"SANDBENCH_HOME": str(ran_it.workspace)}
    )
    assert removed.returncode == 0, removed.stderr
    refused = sandbench("runs", "rerun", run.id, "--scorer", "visits")
    assert refused.returncode != 0
    assert ran_it.node_id in refused.stderr and "--whole" in refused.stderr, refused.stderr
    assert "sandbox" in refused.stderr
    unchanged = store.get_run(run.id)
    assert unchanged.state == RunState.COMPLETED
    assert [r.attempt for r in unchanged.scorer_results] == [1, 2]


def holds(path: Path, needle: bytes, chunk: int = 1 << 22) -> bool:
    """Whether ``needle`` is in the file, read extent by extent: a kept sandbox's disk is
    a sparse file of gigabytes, mostly holes."""
    with path.open("rb") as handle:
        fd, size, offset = handle.fileno(), os.fstat(handle.fileno()).st_size, 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # no data past offset
                return False
            end = os.lseek(fd, start, os.SEEK_HOLE)
            tail = b""
            for at in range(start, end, chunk):
                handle.seek(at)
                block = tail + handle.read(min(chunk, end - at))
                if needle in block:
                    return True
                tail = block[-len(needle) :]
            offset = end
    return False


def test_secrets_reach_the_node_in_memory_and_are_redacted_there(
    cluster: Cluster, store: Store
) -> None:
    from sandbench import secrets

    secrets.set_secret("NODE_TOKEN", "n0de-s3cret-77")
    digest = hashlib.sha256(b"n0de-s3cret-77").hexdigest()  # the value is in no document
    check = (
        f'[ "$(printf %s "$TOKEN" | sha256sum | cut -d" " -f1)" = {digest} ]'
        ' && echo "got $TOKEN" && echo score=1 || echo score=0'
    )
    benchmark(store, "secretive", [make("secret-case", [bash("secret", 1.0, check)])])
    result = sandbench(
        "benchmarks", "run", "secretive", "--cluster", cluster.address,
        "--secret", "TOKEN=NODE_TOKEN", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["score"] == pytest.approx(1.0)
    [run] = store.runs_of_benchmark_run(document["id"])
    assert "got ***" in run.scorer_results[0].output
    for node in cluster.nodes:  # teardown goes on after the run: scan what it leaves
        wait_until(lambda n=node: containers_of_home(n.home_label) == [], "sandboxes removed")
        for path in node.workspace.rglob("*"):  # kept sandboxes' disks included
            try:
                if path.is_file():
                    assert not holds(path, b"n0de-s3cret-77"), path
            except FileNotFoundError:  # a sandbox's file removed while we walked
                continue


def test_a_blueprint_is_shipped_with_the_case_and_built_once_per_node(
    cluster: Cluster, store: Store, tmp_path: Path
) -> None:
    marker = f"shipped-{os.getpid()}-{time.time_ns()}"  # new content: no node has it yet
    context = tmp_path / "shipped"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM localhost/sandbench-base:latest\nCOPY note.txt /etc/note.txt\n"
        f"RUN echo {marker} > /etc/shipped-marker\n"
    )
    (context / "note.txt").write_text("from the build context\n")
    built = sandbench("blueprints", "build", "shipped", str(context))
    assert built.returncode == 0, built.stderr
    check = (
        f"grep -qx {marker} /etc/shipped-marker && grep -q 'build context' /etc/note.txt"
        " && echo score=1 || echo score=0"
    )
    documents = []
    for i in range(2 * SLOTS):
        document = make(f"shipped-{i}", [bash("marker", 1.0, check)])
        document["environment_parameters"]["blueprint_id"] = "shipped"
        documents.append(document)
    benchmark(store, "shipped", documents)
    images = ["localhost/sandbench-blueprint-shipped:latest"]
    try:
        result = sandbench(
            "benchmarks", "run", "shipped", "--cluster", cluster.address, "--json", "--no-cache"
        )
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["score"] == pytest.approx(1.0), document.get("notes")
        ran = {a["node"] for a in document["attempts"]}
        for node in cluster.nodes:
            with Store(node.workspace / "data" / "sandbench.db") as there:
                mine = [b for b in there.list_blueprints() if b.name == "shipped"]
            if node.node_id not in ran:
                continue
            # one build per node, however many of its cases arrived at once
            [blueprint] = mine
            assert blueprint.status == "build_complete"
            assert blueprint.build_log.count(marker) >= 1
            assert blueprint.build_log.count("STEP 1/3") == 1, blueprint.build_log
            images.append(blueprint.image)
    finally:
        subprocess.run(["podman", "rmi", "-f", *set(images)], capture_output=True, check=False)


def test_the_head_killed_mid_run_the_nodes_stop_its_cases_and_resume_finishes(
    cluster: Cluster, store: Store
) -> None:
    benchmark(store, "cut", [ticking(f"cut-{i}", "1", ticks=20, pause=0.5) for i in range(4)])
    process = subprocess.Popen(
        [*CLI, "benchmarks", "run", "cut", "--cluster", cluster.address, "--no-cache"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: len([r for r in store.list_runs(limit=10).items if r.state == "scoring"]) >= 2,
            "cases scoring on the nodes",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    [killed] = store.list_benchmark_runs("cut")
    for node in cluster.nodes:  # the nodes stop what the dead head started
        wait_until(
            lambda n=node: containers_of_home(n.home_label) == [],
            "the nodes to remove the dead head's sandboxes",
            timeout=90,
        )
        try:
            wait_until(lambda n=node: held_by_cut_cases(n) == [], "their disks released", 60)
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{what_holds(node, held_by_cut_cases(node))}") from None
    resumed = sandbench("benchmarks", "resume", killed.id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    document = json.loads(resumed.stdout)
    assert document["id"] == killed.id and document["state"] == "completed"
    assert [c["state"] for c in document["cases"]] == ["completed"] * 4
    runs = store.runs_of_benchmark_run(killed.id)
    completed = [r for r in runs if r.state == RunState.COMPLETED]
    assert sorted(r.id for r in completed) == sorted(c["run_id"] for c in document["cases"])
    assert all(r.node is not None for r in runs)
    cut = [r for r in runs if r.state != RunState.COMPLETED]
    assert cut and all((r.failure_reason or "").startswith("interrupted") for r in cut)


def another_sandbench(base: Path) -> dict[str, str]:
    """The environment of a sandbench whose source differs from this one by a comment:
    a real other build (a copy of the package first on the path)."""
    import sandbench

    copy = base / "other" / "sandbench"
    shutil.copytree(
        Path(sandbench.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    with (copy / "build_version.py").open("a") as handle:
        handle.write("# another build\n")
    path = os.pathsep.join([str(base / "other"), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path}


def test_a_node_or_a_head_of_another_sandbench_is_refused(
    cluster: Cluster, store: Store, tmp_path: Path
) -> None:
    import ray

    env = another_sandbench(tmp_path)
    probe = "from sandbench.build_version import build_version; print(build_version())"
    theirs = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True
    ).stdout.strip()
    mine = build_version()
    assert theirs and theirs != mine and theirs.split("+")[0] == mine.split("+")[0]

    # a node of the other build cannot join
    odd = str(tmp_path / "odd-node")
    joining = subprocess.run(
        [*CLI, "cluster", "join", cluster.address, "--slots", "1", "--workspace", odd],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert joining.returncode != 0
    assert f"this node runs sandbench {theirs}" in joining.stderr, joining.stderr
    assert all(n.node_id[:12] in joining.stderr for n in cluster.nodes)
    assert mine in joining.stderr and "same sandbench" in joining.stderr
    slots = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("sandbench_slot")]
    assert len(slots) == len(cluster.nodes), "the refused node never joined"

    # a head of the other build sends its cases nowhere, and says why before it starts
    benchmark(store, "versioned", [ticking("versioned-0", "1", ticks=1, pause=0)])
    head = sandbench("benchmarks", "run", "versioned", "--cluster", cluster.address, env=env)
    assert head.returncode != 0
    assert f"this head runs sandbench {theirs}" in head.stderr, head.stderr
    assert all(f"{n.node_id[:12]} " in head.stderr for n in cluster.nodes)
    assert mine in head.stderr
    assert store.list_benchmark_runs("versioned") == [], "no run was recorded"


def test_a_worker_killed_mid_run_its_cases_are_retried_on_the_other(
    cluster: Cluster, store: Store
) -> None:
    """Last in the module: one node is gone for good afterwards."""
    documents = [ticking(f"lost-{i}", "1", ticks=16, pause=0.5) for i in range(2 * SLOTS)]
    benchmark(store, "lost", documents)
    victim, survivor = cluster.nodes
    process = subprocess.Popen(
        [*CLI, "benchmarks", "run", "lost", "--cluster", cluster.address, *RETRY_TWICE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        lambda: any(
            r.node == victim.node_id and r.state == "scoring"
            for r in store.list_runs(limit=20).items
        ),
        "a case scoring on the node to kill",
    )
    victim.kill()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    document = json.loads(out)
    assert document["state"] == "completed"
    assert [c["state"] for c in document["cases"]] == ["completed"] * len(documents)
    runs = store.runs_of_benchmark_run(document["id"])
    lost = [r for r in runs if r.node == victim.node_id and r.state != RunState.COMPLETED]
    assert lost, "some case was cut by the node's death"
    assert all((r.failure_reason or "").startswith("infrastructure:") for r in lost)
    assert all(r.score is None for r in lost), "a lost case is never a score"
    finals = {c["run_id"] for c in document["cases"]}
    completed = [r for r in runs if r.state == RunState.COMPLETED]
    assert sorted(r.id for r in completed) == sorted(finals), "every case scored once"
    retried = [c for c in store.cases_of(document["id"]) if c.attempts > 1]
    assert retried and all(c.state == CaseState.DONE for c in retried)
    assert all(store.get_run(c.run_id).node == survivor.node_id for c in retried)
    assert store.get_benchmark_run(document["id"]).state == BenchmarkRunState.COMPLETED
    refused = sandbench("runs", "rerun", lost[0].id, "--scorer", "ticks")
    assert refused.returncode != 0
    assert "no longer in the cluster" in refused.stderr and "--whole" in refused.stderr
    assert victim.node_id in refused.stderr, "the message names the node that held it"


def test_without_ray_cluster_says_which_extra(tmp_path: Path) -> None:
    """A Python where `ray` cannot be imported: --cluster names the extra."""
    blocker = tmp_path / "noray"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('no ray here', name='ray')\n")
    env = {"PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = sandbench("benchmarks", "run", "anything", "--cluster", "auto", env=env)
    assert result.returncode != 0
    assert "sandbench[cluster]" in result.stderr, result.stderr
    status = sandbench("cluster", "status", env=env)
    assert status.returncode != 0 and "sandbench[cluster]" in status.stderr
