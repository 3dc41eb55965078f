"""The exec agent inside sandboxes, on real Podman: what a Podman exec guaranteed still holds."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbench.engine import Engine, EngineError, agent_client
from sandbench.engine.execs import run_exec
from sandbench.model import SandboxState, parse_scenarios
from tests.engine_support import need, scenario
from tests.test_exec_monitors import monitors_of

pytestmark = pytest.mark.podman


@pytest.fixture
def agent_engine(engine: Engine) -> Engine:
    need(agent_client.binary() is not None, "the exec agent is not built (`make setup`)")
    return engine


def agent_pid(engine: Engine, sandbox_id: str) -> int:
    agent = engine.execs.agent(sandbox_id)
    assert agent is not None, "the sandbox has no agent directory"
    assert agent.wait_ready(10), "the agent never answered"
    return int(agent.request({"op": "ping"}, timeout=5)["pid"])


def kill_from_outside(engine: Engine, sandbox_id: str, pid: int) -> None:
    """SIGKILL ``pid`` in the sandbox through a Podman exec (not through the agent)."""
    killed = run_exec(engine.client, f"sandbench-{sandbox_id}", ["kill", "-9", str(pid)])
    assert killed.exit_code == 0, killed.output


def test_execs_go_through_the_agent_and_leave_no_monitor(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    container = agent_engine.client.containers.get(f"sandbench-{sandbox.id}")
    before = monitors_of(container.id)
    for number in range(50):
        result = agent_engine.exec(sandbox.id, f"echo {number}; exit {number % 7}")
        assert (result.via, result.exit_code, result.stdout) == ("agent", number % 7, f"{number}\n")
    assert monitors_of(container.id) == before
    assert agent_engine.execs.fallbacks == 0


def test_streams_order_exit_code_and_live_output(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    seen: list[tuple[str, float]] = []
    start = time.monotonic()
    result = agent_engine.exec(
        sandbox.id,
        "for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 2; echo late; exit 42",
        on_output=lambda stream, text: seen.append((text, time.monotonic() - start)),
    )
    assert result.exit_code == 42
    assert result.stdout == "out1\nout2\nout3\nlate\n"
    assert result.stderr == "err1\nerr2\nerr3\n"
    assert next(t for text, t in seen if "out1" in text) < 1.5, "output came only at the end"
    killed = agent_engine.exec(sandbox.id, "kill -9 $$")
    assert killed.exit_code == 137
    missing = agent_engine.exec(sandbox.id, ["no-such-command"])
    assert missing.exit_code == 127 and "not found" in missing.stderr


def test_user_cwd_env_and_cgroup(agent_engine: Engine) -> None:
    scn = scenario(user_parameters={"username": "agent", "uid": 1234})
    sandbox = agent_engine.create(agent_engine.spec_for(scn, env={"FROM_SPEC": "spec"}))
    out = agent_engine.exec(
        sandbox.id,
        "id -un; id -u; pwd; echo $HOME $FROM_SPEC $EXTRA; touch mine && stat -c %u mine",
        env={"EXTRA": "extra"},
    )
    assert out.via == "agent"
    assert out.stdout.split() == [
        "agent", "1234", "/workspace/repo", "/home/agent", "spec", "extra", "1234"
    ]  # fmt: skip
    assert agent_engine.exec(sandbox.id, "pwd", workdir="/tmp").stdout == "/tmp\n"
    root = agent_engine.exec(sandbox.id, "id -u", user="0")
    assert root.stdout == "0\n"
    # the command runs in the sandbox's own cgroup, so its limits count it
    state = agent_engine.client.containers.get(f"sandbench-{sandbox.id}").attrs["State"]
    cgroups = agent_engine.exec(sandbox.id, "cat /proc/self/cgroup").stdout
    memory = next(line for line in cgroups.splitlines() if ":memory:" in line or line[:3] == "0::")
    host_view = Path(f"/sys/fs/cgroup/memory{state['CgroupPath']}/cgroup.procs")
    if not host_view.exists():
        host_view = Path(f"/sys/fs/cgroup{state['CgroupPath']}/cgroup.procs")
    pid = agent_engine.exec(sandbox.id, "sleep 30 & echo $!").stdout.strip()
    assert memory
    host_pids = host_view.read_text().split()
    assert len(host_pids) >= 3  # init, keep-alive, agent, and the sleep
    in_sandbox = agent_engine.exec(sandbox.id, f"test -d /proc/{pid} && echo alive")
    assert in_sandbox.stdout == "alive\n"


def test_socket_is_out_of_reach_of_the_sandbox_user(agent_engine: Engine) -> None:
    scn = scenario(user_parameters={"username": "agent", "uid": 1234})
    sandbox = agent_engine.create(agent_engine.spec_for(scn))
    probe = agent_engine.exec(sandbox.id, "ls /.sandbench/run/ 2>&1; echo rc=$?")
    assert "Permission denied" in probe.stdout and "rc=0" not in probe.stdout


def test_timeout_kills_the_whole_tree_of_another_user(agent_engine: Engine) -> None:
    scn = scenario(user_parameters={"username": "agent", "uid": 1234})
    sandbox = agent_engine.create(agent_engine.spec_for(scn))
    start = time.monotonic()
    result = agent_engine.exec(
        sandbox.id, "setsid sleep 301 & nohup sleep 302 >/dev/null & sleep 303", timeout=1
    )
    assert result.timed_out and result.exit_code == 124
    assert time.monotonic() - start < 10
    left = agent_engine.exec(sandbox.id, "ps -eo args | grep -c '^sleep 30[123]' || true")
    assert left.stdout.strip() == "0"


def run_marked(engine: Engine, sandbox_id: str, command: str, marker: str) -> None:
    """Start ``command`` in a thread; return once its output has begun."""
    started = threading.Event()

    def run() -> None:
        with contextlib.suppress(EngineError):  # its sandbox goes with the test's engine
            engine.exec(sandbox_id, command, marker=marker, on_output=lambda _s, _t: started.set())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(60), "the command never started"


def test_a_kill_returns_once_the_command_has_ended(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    run_marked(agent_engine, sandbox.id, "echo up; sleep 300", "kill-me")
    assert agent_engine.busy(sandbox.id)
    agent_engine.kill_exec(sandbox.id, "kill-me")
    assert not agent_engine.busy(sandbox.id)  # no wait needed: the kill saw it end
    left = agent_engine.exec(sandbox.id, "ps -eo args | grep -c '^sleep 300' || true")
    assert left.stdout.strip() == "0"


def test_a_kill_that_cannot_end_the_command_says_so(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    # the command drops its marker: no sweep can find it
    run_marked(
        agent_engine,
        sandbox.id,
        "exec env -u SANDBENCH_EXEC_ID sh -c 'echo up; exec sleep 300'",
        "hidden",
    )
    with pytest.raises(EngineError, match="still runs 2s after it was killed"):
        agent_engine.kill_exec(sandbox.id, "hidden", timeout=2)
    assert agent_engine.busy(sandbox.id)


def test_background_process_outlives_its_exec(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    start = time.monotonic()
    result = agent_engine.exec(sandbox.id, "setsid sleep 31 &")  # holds the exec's stdout
    assert result.exit_code == 0 and result.via == "agent"
    assert time.monotonic() - start < 2
    assert "sleep 31" in agent_engine.exec(sandbox.id, "ps -eo args").stdout.splitlines()


def test_32_execs_at_once(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    with ThreadPoolExecutor(32) as pool:
        results = list(
            pool.map(lambda n: agent_engine.exec(sandbox.id, f"echo {n}; exit {n % 5}"), range(32))
        )
    assert [(r.stdout, r.exit_code) for r in results] == [(f"{n}\n", n % 5) for n in range(32)]
    assert {r.via for r in results} == {"agent"}


def test_a_killed_agent_is_started_again(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    first = agent_pid(agent_engine, sandbox.id)
    kill_from_outside(agent_engine, sandbox.id, first)
    result = agent_engine.exec(sandbox.id, "echo back")
    assert (result.stdout, result.via) == ("back\n", "agent")
    assert agent_pid(agent_engine, sandbox.id) != first
    assert agent_engine.execs.fallbacks == 0


def test_an_agent_killed_during_a_command_fails_it_clearly(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    pid = agent_pid(agent_engine, sandbox.id)
    outcome: list[BaseException | object] = []
    started = threading.Event()

    def long_command() -> None:
        try:
            outcome.append(
                agent_engine.exec(
                    sandbox.id, "echo started; sleep 20", on_output=lambda s, t: started.set()
                )
            )
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=long_command)
    worker.start()
    assert started.wait(30)
    kill_from_outside(agent_engine, sandbox.id, pid)
    worker.join(timeout=30)
    assert not worker.is_alive(), "the exec hung after its agent died"
    assert isinstance(outcome[0], EngineError)
    assert "agent stopped during the command" in str(outcome[0])
    assert agent_engine.exec(sandbox.id, "echo fine").stdout == "fine\n"


def test_agent_comes_back_after_resume(agent_engine: Engine) -> None:
    sandbox = agent_engine.create(agent_engine.spec_for(scenario()))
    agent_engine.exec(sandbox.id, "echo kept > kept.txt")
    assert agent_engine.suspend(sandbox.id).status == SandboxState.SUSPENDED
    result = agent_engine.exec(sandbox.id, "cat kept.txt")  # resumes it first
    assert (result.stdout, result.via) == ("kept\n", "agent")


def test_agent_off_uses_podman_exec(agent_engine: Engine) -> None:
    agent_engine.config.exec_agent = False
    scn = scenario(user_parameters={"username": "agent", "uid": 1234})
    sandbox = agent_engine.create(agent_engine.spec_for(scn))
    result = agent_engine.exec(sandbox.id, "echo podman; exit 4")
    assert (result.stdout, result.exit_code, result.via) == ("podman\n", 4, "podman")
    # a timeout kills another user's processes on this path too
    timed = agent_engine.exec(sandbox.id, "setsid sleep 304 & sleep 305", timeout=1)
    assert timed.timed_out and timed.via == "podman"
    left = agent_engine.exec(sandbox.id, "ps -eo args | grep -c '^sleep 30[45]' || true")
    assert left.stdout.strip() == "0"


@pytest.mark.slow
def test_arm64_busybox_sandbox_through_the_agent(
    agent_engine: Engine, arm64_blueprint: str
) -> None:
    need(Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(), "qemu aarch64 not registered")
    data = scenario(architecture="arm64").to_dict()
    data["environment_parameters"]["blueprint_id"] = arm64_blueprint
    sandbox = agent_engine.create(agent_engine.spec_for(parse_scenarios(data)[0].scenario))
    result = agent_engine.exec(sandbox.id, "uname -m; id -u; echo e >&2; exit 3")
    assert (result.via, result.exit_code) == ("agent", 3)
    assert result.stdout == "aarch64\n0\n" and result.stderr == "e\n"
    timed = agent_engine.exec(sandbox.id, "sleep 300 & sleep 301", timeout=1)
    assert timed.timed_out
    left = agent_engine.exec(sandbox.id, "ps -o args | grep -c '^sleep 30[01]' || true")
    assert left.stdout == "0\n"
