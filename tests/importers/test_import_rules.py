"""Mapping rules and refusals of the task importers: pure, no Podman."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbench.importers import harbor, load, terminal_bench
from sandbench.importers._common import Refused, choose_size, read_payload
from sandbench.model.resources import ResourceSize
from tests.conftest import ROOT, schema_errors

TASK = ROOT / "tests" / "api" / "harbor_task"


def harbor_task(tmp_path: Path, toml: str = "", *, name: str = "t") -> Path:
    task = tmp_path / name
    shutil.copytree(TASK, task)
    if toml:
        (task / "task.toml").write_text(toml)
    return task


def refusal(task: Path) -> Refused:
    with pytest.raises(Refused) as caught:
        harbor.load_task(task)
    return caught.value


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("asked", "size", "custom", "rounded"),
    [
        ((1, 2048, None), ResourceSize.SMALL, None, False),
        ((2, 4096, 8192), ResourceSize.MEDIUM, None, False),
        ((4, 16384, 16384), ResourceSize.X_LARGE, None, False),
        ((0.5, 1024, 4096), ResourceSize.X_SMALL, None, False),
        ((3, None, None), ResourceSize.CUSTOM_SIZE, (4, 8, 4), True),  # cpu up, memory for ratio
        ((1.5, 3000, 5000), ResourceSize.CUSTOM_SIZE, (2, 4, 6), True),
        ((1, 20000, None), ResourceSize.CUSTOM_SIZE, (4, 20, 4), True),  # cpu up for 1:8
        ((None, None, 30000), ResourceSize.CUSTOM_SIZE, (1, 2, 30), True),
    ],
)
def test_sizes_are_the_closest_never_smaller(asked, size, custom, rounded) -> None:
    choice = choose_size(*asked, prefix="environment.")
    assert choice is not None
    assert choice.size == size
    if custom:
        assert (choice.cpu, choice.memory_gib, choice.disk_gib) == custom
    assert bool(choice.rounded) == rounded
    cpu, mem, disk = asked
    fields = choice.launch_fields()
    if size == ResourceSize.CUSTOM_SIZE:
        assert fields["custom_cpu_cores"] >= (cpu or 0)
        assert fields["custom_gb_memory"] * 1024 >= (mem or 0)
        assert fields["custom_disk_size"] * 1024 >= (disk or 0)


def test_no_size_asked_is_the_default_and_too_big_is_refused() -> None:
    assert choose_size(None, None, None, prefix="") is None
    with pytest.raises(Refused, match="cpus"):
        choose_size(32, None, None, prefix="environment.")
    with pytest.raises(Refused) as caught:
        choose_size(None, 200_000, None, prefix="environment.")
    assert caught.value.field == "environment.memory_mb"


# --------------------------------------------------------------------------- harbor


def test_the_harbor_task_maps_every_part(tmp_path: Path) -> None:
    task = harbor_task(tmp_path)
    imported = harbor.load_task(task)
    s = imported.scenario
    assert s.name == "t"
    assert s.input_context.problem_statement.startswith("Write the line `hello from harbor`")
    assert s.scorer_timeout_sec == 120
    assert s.metadata["harbor.agent_timeout_sec"] == "120"
    assert s.metadata["description"].startswith("sandbench: write a greeting")
    assert s.size == ResourceSize.SMALL  # cpus 1, memory 2048
    assert s.environment_parameters.blueprint_id == "harbor-t"
    assert imported.build is not None and b"Dockerfile" in imported.build.context_tar
    (function,) = s.scorers
    assert function.name == "verifier" and function.scorer.type == "bash_script_scorer"
    tests = read_payload(function.scorer.bash_script, "TESTS")
    assert tests is not None and b"reward.txt" in tests
    assert read_payload(s.reference_output, "SOLUTION") is not None
    assert "/tests" not in s.input_context.problem_statement
    # the scenario is valid Runloop JSON
    assert schema_errors(s.to_dict(), "runloop-scenario.schema.json") == []


def test_every_mapped_field(tmp_path: Path) -> None:
    task = harbor_task(
        tmp_path,
        """
schema_version = "1.4"
source = "terminal-bench"
[task]
name = "org/every-field"
description = "all of it"
keywords = ["a", "b"]
[metadata]
difficulty = "hard"
expert_minutes = 30
[verifier]
timeout_sec = 45.5
env = { MODE = "strict" }
[agent]
timeout_sec = 900
[solution]
env = { HINT = "x y" }
[environment]
build_timeout_sec = 120
cpus = 3
memory_mb = 5000
storage_mb = 9000
network_mode = "no-network"
workdir = "/workspace"
[environment.healthcheck]
command = "test -d /workspace"
retries = 2
""",
    )
    imported = harbor.load_task(task)
    s = imported.scenario
    assert s.name == "org/every-field"
    assert s.metadata["difficulty"] == "hard"
    assert s.metadata["expert_minutes"] == "30"
    assert s.metadata["keywords"] == "a, b"
    assert s.metadata["harbor.source"] == "terminal-bench"
    assert s.metadata["harbor.agent_timeout_sec"] == "900"
    assert s.scorer_timeout_sec == 46
    launch = s.launch
    assert launch.resource_size_request == ResourceSize.CUSTOM_SIZE
    assert (launch.custom_cpu_cores, launch.custom_gb_memory, launch.custom_disk_size) == (4, 8, 10)
    assert any("rounded up" in n for n in imported.notes)
    assert launch.network_policy_id == "none"
    assert s.environment_parameters.working_directory == "/workspace"
    assert "harbor healthcheck" in launch.launch_commands[0]
    assert "export MODE=strict" in s.scorers[0].scorer.bash_script
    assert "export HINT='x y'" in s.reference_output
    assert imported.build.timeout_sec == 120


def test_legacy_fields_and_docker_image(tmp_path: Path) -> None:
    task = harbor_task(
        tmp_path,
        """
[environment]
docker_image = "localhost/sandbench-base:latest"
allow_internet = false
memory = "4G"
storage = "10240M"
""",
    )
    shutil.rmtree(task / "environment")
    imported = harbor.load_task(task)
    assert imported.scenario.launch.network_policy_id == "none"
    assert imported.scenario.metadata["harbor.docker_image"] == "localhost/sandbench-base:latest"
    context = imported.build.context_tar
    assert b"FROM localhost/sandbench-base:latest" in context
    assert imported.scenario.launch.custom_gb_memory == 4


def test_same_context_same_content_hash(tmp_path: Path) -> None:
    a = harbor.load_task(harbor_task(tmp_path, name="a")).build
    b = harbor.load_task(harbor_task(tmp_path, name="b")).build
    assert a.name != b.name and a.content_hash == b.content_hash
    other = harbor_task(tmp_path, name="c")
    (other / "environment" / "extra.txt").write_text("more context\n")
    assert harbor.load_task(other).build.content_hash != a.content_hash


def test_instruction_canary_is_stripped(tmp_path: Path) -> None:
    task = harbor_task(tmp_path)
    (task / "instruction.md").write_text("<!-- canary GUID 123 -->\n\nDo it.\n")
    assert harbor.load_task(task).scenario.input_context.problem_statement == "Do it.\n"


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[environment]\ngpus = 1\n", "environment.gpus"),
        ("[environment]\ngpu_types = ['H100']\n", "environment.gpu_types"),
        ("[environment]\nos = 'windows'\n", "environment.os"),
        ("[environment]\nnetwork_mode = 'allowlist'\nallowed_hosts = ['a.com']\n",
         "environment.network_mode"),
        ("[environment]\nenv = { TOKEN = '${TOKEN}' }\n", "environment.env.TOKEN"),
        ("[environment]\nenv = { A = 'b' }\n", "environment.env"),
        ("[environment]\nskills_dir = '/skills'\n", "environment.skills_dir"),
        ("[environment]\ncpus = 64\n", "environment.cpus"),
        ("[environment]\n[[environment.mcp_servers]]\nname = 'x'\nurl = 'http://x'\n",
         "environment.mcp_servers"),
        ("[environment]\n[environment.tpu]\ntype = 'v6e'\ntopology = '2x2'\n", "environment.tpu"),
        ("[environment]\nbogus = 1\n", "environment.bogus"),
        ("[verifier]\nenvironment_mode = 'separate'\n", "verifier.environment_mode"),
        ("[verifier]\nuser = 'tester'\n", "verifier.user"),
        ("[agent]\nuser = 'agent'\n", "agent.user"),
        ("[agent]\nnetwork_mode = 'no-network'\n", "agent.network_mode"),
        ("[verifier]\nenv = { K = '${K:-x}' }\n", "verifier.env.K"),
        ("[[steps]]\nname = 'one'\n", "steps"),
        ("unknown = 1\n", "unknown"),
        ("[environment\n", "task.toml"),
    ],
)  # fmt: skip
def test_unfaithful_tasks_are_refused_naming_the_field(
    tmp_path: Path, toml: str, field: str
) -> None:
    assert refusal(harbor_task(tmp_path, toml)).field == field


def test_missing_parts_are_refused(tmp_path: Path) -> None:
    task = harbor_task(tmp_path)
    (task / "tests" / "test.sh").unlink()
    assert refusal(task).field == "tests/test.sh"
    task = harbor_task(tmp_path, name="u")
    (task / "instruction.md").unlink()
    assert refusal(task).field == "instruction.md"
    task = harbor_task(tmp_path, name="v")
    (task / "environment" / "Dockerfile").unlink()
    assert refusal(task).field == "environment"
    task = harbor_task(tmp_path, name="w")
    (task / "environment" / "docker-compose.yaml").write_text("services: {}\n")
    assert refusal(task).field == "environment/docker-compose.yaml"


def test_a_dataset_directory_and_its_refusals(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    harbor_task(dataset, name="good")
    harbor_task(dataset, "[environment]\ngpus = 2\n", name="bad")
    report = load("harbor", [dataset])
    assert [t.scenario.name for t in report.tasks] == ["good"]
    (problem,) = report.problems
    assert problem.file.name == "bad" and problem.problem.path == "environment.gpus"


def sandbench_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbench", *argv], capture_output=True, text=True, timeout=120
    )


def test_a_refused_import_stores_nothing_and_exits_2(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    harbor_task(dataset, name="good")
    harbor_task(dataset, "[environment]\nos = 'windows'\n", name="bad")
    result = sandbench_cli("scenarios", "import", "--format", "harbor", str(dataset))
    assert result.returncode == 2
    assert "environment.os" in result.stderr and "Traceback" not in result.stderr
    assert "nothing imported" in result.stderr
    listed = sandbench_cli("scenarios", "list", "--json")
    assert json.loads(listed.stdout)["scenarios"] == []
    checked = sandbench_cli("scenarios", "validate", "--format", "harbor", "--json", str(dataset))
    assert checked.returncode == 2
    body = json.loads(checked.stdout)
    assert [t["name"] for t in body["tasks"]] == ["good"]
    assert body["problems"][0]["path"] == "environment.os"


def test_the_default_format_is_unchanged(tmp_path: Path) -> None:
    result = sandbench_cli("scenarios", "validate", str(ROOT / "sample_scenarios"))
    assert result.returncode == 0


# --------------------------------------------------------------------------- terminal-bench 1


def tb1_task(tmp_path: Path, yaml_text: str | None = None, *, compose: bool = False) -> Path:
    task = tmp_path / "tb1-hello"
    (task / "tests").mkdir(parents=True)
    (task / "task.yaml").write_text(
        yaml_text
        or "instruction: |\n  Write hello to /app/hello.txt.\nauthor_name: me\ndifficulty: easy\n"
        "tags: [files]\nmax_agent_timeout_sec: 300\nmax_test_timeout_sec: 40\n"
    )
    (task / "Dockerfile").write_text(
        "FROM localhost/sandbench-base:latest\nRUN mkdir -p /app\nWORKDIR /app\n"
    )
    if compose:
        (task / "docker-compose.yaml").write_text(
            "services:\n  client:\n    build:\n      context: .\n      dockerfile: Dockerfile\n"
        )
    (task / "run-tests.sh").write_text("#!/bin/bash\nbash $TEST_DIR/check.sh\n")
    (task / "tests" / "check.sh").write_text(
        "#!/bin/bash\necho '=== short test summary info ==='\n"
        'if [ "$(cat /app/hello.txt)" = hello ]; then echo "PASSED test_outputs.py::test_hello";'
        ' else echo "FAILED test_outputs.py::test_hello"; fi\n'
    )
    (task / "solution.sh").write_text("#!/bin/bash\necho hello > /app/hello.txt\n")
    return task


def test_tb1_task_maps(tmp_path: Path) -> None:
    imported = terminal_bench.load_task(tb1_task(tmp_path, compose=True))
    s = imported.scenario
    assert s.input_context.problem_statement.startswith("Write hello")
    assert s.scorer_timeout_sec == 40
    assert s.metadata["difficulty"] == "easy" and s.metadata["tags"] == "files"
    assert s.metadata["terminal_bench.max_agent_timeout_sec"] == "300"
    tests = read_payload(s.scorers[0].scorer.bash_script, "TESTS")
    assert b"run-tests.sh" in tests and b"check.sh" in tests
    # the agent's image never holds the tests or the solution
    assert b"check.sh" not in imported.build.context_tar
    assert b"solution.sh" not in imported.build.context_tar
    assert s.reference_output.startswith("#!/bin/bash")


def test_tb1_solution_yaml_and_refusals(tmp_path: Path) -> None:
    task = tb1_task(tmp_path)
    (task / "solution.sh").unlink()
    (task / "solution.yaml").write_text("- command: echo hello > /app/hello.txt\n  block: true\n")
    assert "echo hello > /app/hello.txt" in terminal_bench.load_task(task).scenario.reference_output
    (task / "task.yaml").write_text("instruction: x\nparser_name: swebench\n")
    with pytest.raises(Refused) as caught:
        terminal_bench.load_task(task)
    assert caught.value.field == "task.yaml.parser_name"
    (task / "task.yaml").write_text("instruction: x\n")
    (task / "docker-compose.yaml").write_text(
        "services:\n  client:\n    build: .\n  db:\n    image: postgres\n"
    )
    with pytest.raises(Refused) as caught:
        terminal_bench.load_task(task)
    assert caught.value.field == "docker-compose.yaml.services.db"
