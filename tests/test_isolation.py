"""Escape attempts, each run through the real engine in a real sandbox, each failing.

What a sandbox holds is code an agent wrote: these are the things such code would try.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbench import secrets
from sandbench.engine import Engine, isolation, userns
from sandbench.engine.execs import ExecResult
from sandbench.model import Sandbox
from sandbench.model.network import Egress
from sandbench.store import Store
from tests.engine_support import host_address, host_port_policy, scenario

pytestmark = pytest.mark.podman

SECRET_VALUE = "escape-test-secret-5f1c9a"
# Fetch a URL from inside a sandbox; prints the HTTP status or the error's class.
FETCH = (
    'python3 -c "import sys, urllib.request\n'
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)\n"
    "except Exception as e:\n"
    "    print('blocked', type(e).__name__)\" {url}"
)
# Serve HTTP on port 8000 in the background and wait (inside) until it answers.
SERVE = (
    "cd /tmp && (setsid python3 -m http.server 8000 >/dev/null 2>&1 &);"
    ' for i in $(seq 100); do python3 -c "import socket; socket.create_connection('
    "('127.0.0.1', 8000), 1)\" 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
)


def run(engine: Engine, sandbox: Sandbox, command: str) -> ExecResult:
    return engine.exec(sandbox.id, command, timeout=60)


def sandbox_ip(engine: Engine, sandbox: Sandbox) -> str:
    attrs = engine.client.containers.get(f"sandbench-{sandbox.id}").attrs
    networks = attrs["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))


def gateway(engine: Engine, sandbox: Sandbox) -> str:
    attrs = engine.client.containers.get(f"sandbench-{sandbox.id}").attrs
    networks = attrs["NetworkSettings"]["Networks"]
    return next(n["Gateway"] for n in networks.values() if n.get("Gateway"))


@pytest.fixture
def sandbox(engine: Engine) -> Sandbox:
    return engine.create(engine.spec_for(scenario("escape")))


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"host")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def host_server() -> Iterator[int]:
    """A service on every host address (as a developer's tools often are): its port."""
    server = ThreadingHTTPServer(("0.0.0.0", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


# ------------------------------------------------------------------ privileges


def test_least_privilege_holds_inside(engine: Engine, sandbox: Sandbox) -> None:
    status = run(engine, sandbox, "cat /proc/self/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2", "Podman's seccomp filter is on"
    wanted = sum(1 << bit for bit in (0, 1, 3, 4, 5, 6, 7, 10))  # isolation.CAPABILITIES
    assert int(fields["CapEff"], 16) == wanted
    assert int(fields["CapBnd"], 16) == wanted


def test_mknod_of_a_block_device_fails(engine: Engine, sandbox: Sandbox) -> None:
    made = run(engine, sandbox, "mknod /tmp/disk b 8 0 && head -c 512 /tmp/disk | wc -c")
    assert made.exit_code != 0
    assert "Operation not permitted" in made.output


def test_no_host_devices(engine: Engine, sandbox: Sandbox) -> None:
    listed = run(engine, sandbox, "ls /dev").stdout.split()
    assert not {"mem", "kmem", "sda", "vda", "nvme0n1", "kmsg", "port"} & set(listed)


def test_mounting_anything_fails(engine: Engine, sandbox: Sandbox) -> None:
    for command in (
        "mount -t tmpfs none /mnt",
        "mount -t proc proc /mnt",
        "mount -o remount,rw /sys",
        "mount --bind / /mnt",
    ):
        result = run(engine, sandbox, command)
        assert result.exit_code != 0, command


def test_sys_proc_sys_and_cgroup_files_are_read_only(engine: Engine, sandbox: Sandbox) -> None:
    container = engine.client.containers.get(f"sandbench-{sandbox.id}")
    cgroup = container.attrs["State"]["CgroupPath"]
    limit = Path(f"/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes")
    before = limit.read_text() if limit.exists() else None
    for command in (
        "echo 999999999999 > /sys/fs/cgroup/memory/memory.limit_in_bytes",
        # cgroup v2: the sandbox's own limits; v1 has no such file (and its /sys/fs/cgroup
        # is a private tmpfs holding the read-only controller mounts)
        "test -e /sys/fs/cgroup/cgroup.controllers && echo max > /sys/fs/cgroup/memory.max",
        "echo max > /sys/fs/cgroup/pids/pids.max",
        "echo 1 > /proc/sys/kernel/sysrq",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "echo 1 > /sys/kernel/profiling",
    ):
        result = run(engine, sandbox, command)
        assert result.exit_code != 0, command
    if before is not None:
        assert limit.read_text() == before
    mounts = run(engine, sandbox, "cat /proc/mounts").stdout.splitlines()
    for point in ("/sys", "/proc/sys"):
        options = [m.split()[3] for m in mounts if m.split()[1] == point]
        assert options and options[-1].startswith("ro"), (point, options)
    controllers = [m.split() for m in mounts if m.split()[2] in ("cgroup", "cgroup2")]
    assert controllers and all(m[3].startswith("ro") for m in controllers), controllers


def test_loading_a_kernel_module_fails(engine: Engine, sandbox: Sandbox) -> None:
    # finit_module(2) (313 on x86_64) needs CAP_SYS_MODULE, checked before its arguments.
    code = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True);"
        " r = libc.syscall(313, 0, b'', 0); print(r, ctypes.get_errno())"
    )
    attempt = engine.exec(sandbox.id, ["python3", "-c", code], timeout=60)
    assert attempt.stdout.split() == ["-1", "1"]  # EPERM


# ------------------------------------------------------------------ network


def test_another_live_sandbox_s_port_is_unreachable(engine: Engine) -> None:
    first = engine.create(engine.spec_for(scenario("first")))
    second = engine.create(engine.spec_for(scenario("second")))
    assert run(engine, first, SERVE).exit_code == 0
    target = f"http://{sandbox_ip(engine, first)}:8000/"
    assert run(engine, first, FETCH.format(url=target)).stdout.strip() == "200"
    reached = run(engine, second, FETCH.format(url=target)).stdout.strip()
    assert reached.startswith("blocked"), reached


def test_sandboxes_whose_policy_allows_it_reach_each_other(engine: Engine, store: Store) -> None:
    policy = store.create_network_policy(
        "devbox-to-devbox", Egress(allow_all=True, allow_devbox_to_devbox=True)
    )
    first = engine.create(engine.spec_for(scenario("first", network_policy_id=policy.id)))
    second = engine.create(engine.spec_for(scenario("second", network_policy_id=policy.id)))
    alone = engine.create(engine.spec_for(scenario("alone")))
    assert run(engine, first, SERVE).exit_code == 0
    target = f"http://{sandbox_ip(engine, first)}:8000/"
    assert run(engine, second, FETCH.format(url=target)).stdout.strip() == "200"
    assert run(engine, alone, FETCH.format(url=target)).stdout.strip().startswith("blocked")


def test_the_host_s_services_are_unreachable(
    engine: Engine, sandbox: Sandbox, host_server: int
) -> None:
    for address in {gateway(engine, sandbox), host_address(), "10.88.0.1"}:
        url = f"http://{address}:{host_server}/"
        reached = run(engine, sandbox, FETCH.format(url=url)).stdout.strip()
        assert reached.startswith("blocked"), (url, reached)
    # the package mirrors, through the default route, still answer
    mirror = run(engine, sandbox, FETCH.format(url="http://deb.debian.org/debian/"))
    assert mirror.stdout.strip() == "200", mirror.output


def test_a_policy_opens_one_host_port_and_no_other(
    engine: Engine, store: Store, host_server: int
) -> None:
    other = ThreadingHTTPServer(("0.0.0.0", 0), Hello)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        policy = host_port_policy(store, host_server)
        allowed = engine.create(engine.spec_for(scenario("allowed", network_policy_id=policy)))
        plain = engine.create(engine.spec_for(scenario("plain")))
        url = f"http://{host_address()}:{host_server}/"
        assert run(engine, allowed, FETCH.format(url=url)).stdout.strip() == "200"
        assert run(engine, plain, FETCH.format(url=url)).stdout.strip().startswith("blocked")
        closed = f"http://{host_address()}:{other.server_address[1]}/"
        assert run(engine, allowed, FETCH.format(url=closed)).stdout.strip().startswith("blocked")
    finally:
        other.shutdown()
    engine.shutdown(allowed.id)
    rules = subprocess.run(
        ["iptables", "-S", isolation.CHAIN], capture_output=True, text=True, check=True
    ).stdout
    assert allowed.id not in rules, "the opening goes with the sandbox"


def test_the_wall_is_installed_once(engine: Engine, sandbox: Sandbox) -> None:
    isolation.ensure_wall()
    isolation.ensure_wall()
    assert isolation.wall_installed()
    hooks = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True).stdout
    assert hooks.count(f"-j {isolation.CHAIN}") == 1
    chain = subprocess.run(
        ["iptables", "-S", isolation.CHAIN], capture_output=True, text=True
    ).stdout
    assert chain.count("--dst-type LOCAL -j DROP") == 1
    forward = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True)
    assert forward.stdout.count(f"-j {isolation.FORWARD_CHAIN}") == 1


def test_sandboxes_stay_apart_without_netavark_s_isolation_rules(engine: Engine) -> None:
    """netavark's isolation hook is shared by every isolated network and was seen gone after
    another network's removal: the wall between sandbox bridges is sandbench's own."""
    first = engine.create(engine.spec_for(scenario("apart-a")))
    second = engine.create(engine.spec_for(scenario("apart-b")))
    for chain in ("FORWARD", "NETAVARK_FORWARD"):
        listed = subprocess.run(["iptables", "-S", chain], capture_output=True, text=True)
        for line in listed.stdout.splitlines():
            if "NETAVARK_ISOLATION" in line and line.startswith("-A "):
                subprocess.run(["iptables", "-D", *shlex.split(line)[1:]], check=True)
    assert run(engine, first, SERVE).exit_code == 0
    target = f"http://{sandbox_ip(engine, first)}:8000/"
    assert run(engine, first, FETCH.format(url=target)).stdout.strip() == "200"  # it serves
    assert run(engine, second, FETCH.format(url=target)).stdout.strip().startswith("blocked")


def test_a_sandbox_s_network_goes_with_it_and_comes_back_on_resume(engine: Engine) -> None:
    sandbox = engine.create(engine.spec_for(scenario("net")))
    name = isolation.network_name(engine._home_label, sandbox.id)
    exists = ["podman", "network", "exists", name]
    assert subprocess.run(exists, check=False).returncode == 0
    engine.suspend(sandbox.id)
    assert subprocess.run(exists, check=False).returncode != 0
    engine.resume(sandbox.id)
    assert subprocess.run(exists, check=False).returncode == 0
    mirror = run(engine, sandbox, FETCH.format(url="http://deb.debian.org/debian/"))
    assert mirror.stdout.strip() == "200"
    engine.shutdown(sandbox.id)
    assert subprocess.run(exists, check=False).returncode != 0


# ------------------------------------------------------------------ secrets and files


@pytest.fixture
def with_secret(engine: Engine) -> Sandbox:
    secrets.set_secret("ESCAPE_TOKEN", SECRET_VALUE)
    spec = engine.spec_for(scenario("holder"), secret_env={"TOKEN": "ESCAPE_TOKEN"})
    return engine.create(spec)


def test_a_secret_is_not_in_podman_inspect(engine: Engine, with_secret: Sandbox) -> None:
    assert run(engine, with_secret, "printenv TOKEN").stdout.strip() == SECRET_VALUE
    inspected = subprocess.run(
        ["podman", "inspect", f"sandbench-{with_secret.id}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert SECRET_VALUE not in inspected
    # nor in the sandbox's first process, which every later process could read
    pid1 = run(engine, with_secret, "tr '\\0' '\\n' < /proc/1/environ").stdout
    assert SECRET_VALUE not in pid1


def test_another_sandbox_s_files_and_secrets_are_out_of_reach(
    engine: Engine, with_secret: Sandbox
) -> None:
    engine.write_file(with_secret.id, "private.txt", "holder's data")
    run(engine, with_secret, "(setsid sleep 600 >/dev/null 2>&1 &)")  # a process with TOKEN
    other = engine.create(engine.spec_for(scenario("snoop")))
    hunt = run(
        engine,
        other,
        "find / -xdev -name private.txt 2>/dev/null;"
        " cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c TOKEN= ;"
        " ls /proc | grep -c '^[0-9]'",
    )
    lines = hunt.stdout.split()
    assert "private.txt" not in hunt.stdout
    assert lines[0] == "0", "no process of the other sandbox is visible"
    assert SECRET_VALUE not in hunt.output


def test_no_process_outlives_its_sandbox(engine: Engine, sandbox: Sandbox) -> None:
    tag = "98765.4321"  # a sleep length no other process on the host uses
    run(engine, sandbox, f"(setsid nohup sleep {tag} >/dev/null 2>&1 &); (sleep {tag} &)")

    def survivors() -> list[str]:
        found = []
        for proc in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if tag in proc.read_bytes().decode(errors="replace"):
                    found.append(proc.parent.name)
            except OSError:
                continue
        return found

    assert len(survivors()) >= 2
    engine.shutdown(sandbox.id)
    assert survivors() == []


# ------------------------------------------------------------------ user namespaces


def uid_map(engine: Engine, sandbox: Sandbox) -> tuple[int, int, int]:
    inside, outside, size = run(engine, sandbox, "cat /proc/self/uid_map").stdout.split()
    return int(inside), int(outside), int(size)


def host_uid_of_pid_1(engine: Engine, sandbox: Sandbox) -> int:
    """The host's view of the sandbox's PID 1, not what the sandbox says of itself."""
    pid = engine.client.containers.get(f"sandbench-{sandbox.id}").attrs["State"]["Pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_uid_0_inside_is_a_host_range_of_its_own(engine: Engine, store: Store) -> None:
    first = engine.create(engine.spec_for(scenario("userns-a")))
    second = engine.create(engine.spec_for(scenario("userns-b")))
    maps = [uid_map(engine, s) for s in (first, second)]
    for (inside, outside, size), sandbox in zip(maps, (first, second), strict=True):
        assert inside == 0 and outside != 0 and size == userns.SLOT
        assert host_uid_of_pid_1(engine, sandbox) == outside
        assert store.sandbox_bookkeeping(sandbox.id)["userns_base"] == outside
    (_, a, size), (_, b, _) = maps
    assert a + size <= b or b + size <= a, f"ranges overlap: {a} and {b}"
    # root inside owns its files inside, and on the host they belong to the range
    assert run(engine, first, "touch /etc/mine && stat -c %u /etc/mine").stdout.strip() == "0"
    disk_dir = Path(store.sandbox_bookkeeping(first.id)["disk_dir"])
    assert (disk_dir / "disk/upper/etc/mine").stat().st_uid == a


def test_files_stay_writable_across_suspend_and_resume(engine: Engine, store: Store) -> None:
    sandbox = engine.create(
        engine.spec_for(
            scenario("userns-resume", user_parameters={"username": "agent", "uid": 1234})
        )
    )
    base = store.sandbox_bookkeeping(sandbox.id)["userns_base"]
    assert run(engine, sandbox, "id -u && echo one > mine.txt").stdout == "1234\n"
    engine.write_file(sandbox.id, "given.txt", "given\n")
    engine.suspend(sandbox.id)
    engine.resume(sandbox.id)
    assert store.sandbox_bookkeeping(sandbox.id)["userns_base"] == base
    assert uid_map(engine, sandbox)[1] == base
    after = run(engine, sandbox, "echo two >> mine.txt && echo more >> given.txt && cat mine.txt")
    assert after.exit_code == 0, after.output
    assert after.stdout == "one\ntwo\n"
    as_root = engine.exec(sandbox.id, "echo root >> /etc/motd && chown 1234 /etc/motd", user="0")
    assert as_root.exit_code == 0, as_root.output


def test_a_snapshot_of_a_userns_sandbox_keeps_the_owners_inside(engine: Engine) -> None:
    from sandbench.model import parse_scenarios

    made = scenario("userns-snap", user_parameters={"username": "agent", "uid": 1234})
    sandbox = engine.create(engine.spec_for(made))
    run(engine, sandbox, "echo mine > mine.txt")
    assert engine.exec(sandbox.id, "echo root > /root-file", user="0").exit_code == 0
    snapshot = engine.snapshot(sandbox.id, f"userns-{sandbox.id}", lambda line: None)
    try:
        data = scenario("from-userns-snap").to_dict()
        data["environment_parameters"]["snapshot_id"] = snapshot.name
        restored = engine.create(engine.spec_for(parse_scenarios(data)[0].scenario))
        owners = run(
            engine,
            restored,
            "stat -c '%u %n' /root-file /etc/passwd /usr/bin/su /workspace/repo/mine.txt",
        ).stdout.split("\n")
        assert owners[:4] == [
            "0 /root-file",
            "0 /etc/passwd",
            "0 /usr/bin/su",
            "1234 /workspace/repo/mine.txt",
        ]
        assert uid_map(engine, restored)[1] != 0
    finally:
        subprocess.run(["podman", "rmi", "-f", snapshot.image], check=False, capture_output=True)


def test_doctor_says_what_the_host_supports(tmp_path: Path) -> None:
    from sandbench.cli.doctor import FAIL, OK, WARN, userns_check

    off = userns_check(enabled=False, local=True)
    assert off.status == WARN and "user_namespaces true" in off.fix
    on = userns_check(enabled=True, local=True)
    assert on.status == OK, on.detail
    assert "1073741824" in on.detail or userns.SUBID_NAME in on.detail
    assert userns_check(enabled=True, local=False).status == FAIL
    # a host without the range: a clear refusal that names the way out
    empty = tmp_path / "subid"
    empty.write_text("someone:100000:65536\n")
    supported, reason = userns.support(empty, empty)
    assert not supported
    assert "sandbench" in reason and "scripts/setup.sh" in reason
