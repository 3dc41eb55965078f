"""``sandbench doctor``: can this host run sandboxes, and what to do where it cannot."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from podman import PodmanClient

from sandbench import config as config_module
from sandbench import paths
from sandbench.cli.output import emit_json, table
from sandbench.engine import aliases, disk, host, images, isolation, service, usage, userns
from sandbench.engine.arch import EMULATION_FIX, emulation_available, host_arch
from sandbench.engine.service import Connection, connect
from sandbench.model.scenario import Architecture

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("doctor", help="check that this host can run sandboxes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_doctor)


def run_checks() -> list[Check]:
    checks: list[Check] = []
    cfg = config_module.load()
    if shutil.which("podman") is None and not cfg.podman_uri:
        checks.append(
            Check(
                "podman",
                FAIL,
                "podman is not installed",
                "run `make setup` as root, or install podman",
            )
        )
        return checks
    try:
        connection: Connection | None = connect(cfg.podman_uri)
    except Exception as error:
        checks.append(
            Check("connection", FAIL, str(error), "start a Podman service or fix `podman_uri`")
        )
        return checks
    assert connection is not None
    try:
        checks.append(Check("connection", OK, f"{connection.uri} ({connection.source})"))
        checks.append(exec_monitor_check(connection))
        checks.append(exec_agent_check(cfg, local=connection.local))
        client = connection.client
        probe_image = images.base_image(cfg.default_image, host_arch())
        has_probe = images.inspect(client, probe_image) is not None
        found = host.profile(
            client,
            runtime_override=cfg.oci_runtime,
            probe_image=probe_image if has_probe else None,
            local=connection.local,
        )
        checks.append(Check("podman", OK, f"version {found.podman_version}, kernel {found.kernel}"))
        layout = f"cgroup {found.cgroup_version}" + (" (hybrid)" if found.cgroup_hybrid else "")
        checks.append(
            Check(
                "cgroups",
                OK,
                f"{layout}; controllers: {', '.join(found.cgroup_controllers) or 'none'}",
            )
        )
        notes = "; ".join(f"{k}: {v}" for k, v in found.runtime_notes.items())
        if found.runtime and found.runtime_probed:
            checks.append(
                Check("runtime", OK, f"{found.runtime}" + (f" ({notes})" if notes else ""))
            )
        elif found.runtime:
            checks.append(
                Check(
                    "runtime",
                    WARN,
                    f"{found.runtime}, {notes}",
                    "build the base image: `sandbench images bootstrap`",
                )
            )
        else:
            checks.append(
                Check(
                    "runtime",
                    FAIL,
                    notes or "none works",
                    "install runc, or `sandbench config set oci_runtime NAME`",
                )
            )
        limits = [w for w in ("cpu", "memory", "pids") if found.can_limit(w)]
        missing = sorted({"cpu", "memory", "pids"} - set(limits))
        checks.append(
            Check(
                "limits",
                FAIL if missing else OK,
                f"can limit {', '.join(limits) or 'nothing'}"
                + (f"; cannot limit {', '.join(missing)}" if missing else ""),
                "enable those cgroup controllers or run Podman as root" if missing else "",
            )
        )
        if connection.local:
            supported, reason = disk.disk_limit_support()
            checks.append(
                Check(
                    "disk limit",
                    OK if supported else FAIL,
                    "loop-mounted ext4 per sandbox" if supported else reason,
                    "" if supported else "run sandbench as root on the Podman host",
                )
            )
        else:
            checks.append(
                Check(
                    "disk limit",
                    FAIL,
                    "remote Podman: cannot size sandbox disks",
                    "run sandbench on the Podman host",
                )
            )
        checks.extend(
            isolation_checks(
                enabled=cfg.isolation,
                local=connection.local,
                user_namespaces=cfg.user_namespaces,
            )
        )
        ulimits = ", ".join(f"{u['Name']}={u['Soft']}" for u in found.ulimits)
        checks.append(
            Check(
                "ulimits",
                OK,
                f"{ulimits} (host hard limits: nofile"
                f" {found.nofile_hard}, nproc {found.nproc_hard})",
            )
        )
        for arch in Architecture:
            tag = images.base_image(cfg.default_image, arch)
            emulated = emulation_available(arch)
            native = arch == host_arch()
            checks.append(
                Check(
                    f"{arch.value}",
                    OK if emulated else WARN,
                    "native"
                    if native
                    else ("qemu-user emulation registered" if emulated else "no emulation"),
                    "" if emulated else EMULATION_FIX,
                )
            )
            present = images.inspect(client, tag) is not None
            checks.append(
                Check(
                    f"image {arch.value}",
                    OK if present else (FAIL if native else WARN),
                    tag + (" present" if present else " missing"),
                    "" if present else f"`sandbench images bootstrap --arch {arch.value}`",
                )
            )
        checks.extend(alias_checks(client, cfg.image_aliases))
        checks.append(pool_check())
        checks.extend(disk_checks(client, local=connection.local))
    finally:
        connection.close()
    return checks


def userns_check(*, enabled: bool, local: bool) -> Check:
    """Whether new sandboxes get a user namespace, and whether this host can give them one:
    a host that cannot refuses sandboxes until the switch is off, never runs them without."""
    if not enabled:
        return Check(
            "user namespaces",
            WARN,
            "off (config `user_namespaces = false`): uid 0 in a new sandbox is uid 0 on the host",
            "`sandbench config set user_namespaces true`",
        )
    if not local:
        return Check("user namespaces", FAIL, "remote Podman: cannot idmap its image layers")
    supported, reason = userns.support()
    if not supported:
        return Check(
            "user namespaces",
            FAIL,
            f"cannot: {reason}; new sandboxes are refused",
            "fix that, or `sandbench config set user_namespaces false` (uid 0 inside is then"
            " uid 0 on the host)",
        )
    return Check("user namespaces", OK, reason)


def isolation_checks(*, enabled: bool, local: bool, user_namespaces: bool = True) -> list[Check]:
    """How far a sandbox is kept from the host and from other sandboxes (README: threat
    model): the network wall, user namespaces, a stronger runtime."""
    checks: list[Check] = []
    if not enabled:
        checks.append(
            Check(
                "isolation",
                WARN,
                "off (config `isolation = false`): Podman's default capabilities, one shared"
                " bridge (sandboxes reach each other), the host's services reachable",
                "`sandbench config set isolation true`",
            )
        )
    elif not local:
        checks.append(Check("isolation", FAIL, "remote Podman: cannot manage its firewall"))
    else:
        problem = isolation.wall_problem()
        if problem is not None:
            checks.append(
                Check(
                    "isolation",
                    FAIL,
                    problem,
                    "install iptables, or `sandbench config set isolation false` (unsafe)",
                )
            )
        else:
            state = "installed" if isolation.wall_installed() else "installed at the first sandbox"
            checks.append(
                Check(
                    "isolation",
                    OK,
                    f"no-new-privileges, capabilities {','.join(isolation.CAPABILITIES)}; a"
                    f" network per sandbox; host wall (iptables {isolation.CHAIN}) {state}",
                )
            )
    checks.append(userns_check(enabled=user_namespaces, local=local))
    stronger = isolation.stronger_runtimes()
    checks.append(
        Check(
            "stronger runtime",
            OK,
            f"{', '.join(stronger)} installed (`sandbench config set oci_runtime NAME`)"
            if stronger
            else "none (gVisor runsc or Kata not installed; containers share the host kernel)",
        )
    )
    return checks


def exec_monitor_check(connection: Connection) -> Check:
    """What each exec through Podman leaves running: its monitor stays for the service's
    ``exit_command_delay`` (300 s by default), two ``conmon`` processes per exec."""
    if connection.process is not None:
        return Check(
            "exec monitors",
            OK,
            f"private service: each Podman exec's monitor exits {service.EXEC_EXIT_DELAY_S} s"
            " after it",
        )
    if not connection.local:
        return Check("exec monitors", OK, "remote service: its containers.conf decides")
    delay = service.exit_command_delay()
    running = sum(1 for p in Path("/proc").glob("[0-9]*/comm") if _comm(p) == "conmon")
    detail = (
        f"this service keeps 2 conmon processes for {delay} s after every Podman exec"
        f" (exit_command_delay; ~1.6 MB each); {running} conmon running now"
    )
    if delay <= service.EXEC_EXIT_DELAY_S * 2:
        return Check("exec monitors", OK, detail)
    return Check(
        "exec monitors",
        WARN,
        detail,
        f"set `[engine] exit_command_delay = {service.EXEC_EXIT_DELAY_S}` in"
        " containers.conf and restart the service, or unset podman_uri/CONTAINER_HOST so"
        " sandbench starts its own",
    )


def exec_agent_check(cfg: config_module.Config, *, local: bool) -> Check:
    """Whether new sandboxes get the in-sandbox exec agent (else a Podman exec each)."""
    from sandbench.engine import agent_client

    if not cfg.exec_agent:
        return Check("exec agent", OK, "off (exec_agent = false): one Podman exec per command")
    if not local:
        return Check("exec agent", WARN, "remote Podman: one Podman exec per command")
    found = agent_client.binary()
    if found is None:
        return Check(
            "exec agent",
            WARN,
            "not built: one Podman exec per command (about 30x slower)",
            "`make setup` (needs Go: apt-get install golang-go)",
        )
    return Check("exec agent", OK, f"{found.name}")


def _comm(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def pool_check() -> Check:
    from sandbench.cli import pool_cmd

    try:
        return Check("warm pool", OK, pool_cmd.summary(pool_cmd.pool_status()))
    except Exception as error:  # a diagnosis, never a crash
        return Check("warm pool", WARN, f"could not list it: {error}")


def alias_checks(client: PodmanClient, image_aliases: dict[str, str]) -> list[Check]:
    """Which base images resolve to a local one when they cannot be pulled."""
    if not image_aliases:
        return [Check("image aliases", OK, "none (`sandbench images alias REF LOCAL_IMAGE`)")]
    checks = []
    for ref, local in image_aliases.items():
        present = aliases.present(client, local)
        checks.append(
            Check(
                f"alias {ref}",
                OK if present else WARN,
                f"-> {local}" + ("" if present else " (missing)"),
                "" if present else f"build or load {local}, or `sandbench images unalias {ref}`",
            )
        )
    return checks


def disk_checks(client: object, *, local: bool) -> list[Check]:
    """What this workspace's sandbox disks and sandbench's images hold on the host."""
    root = paths.data_dir() / "sandboxes"
    disks = usage.sandbox_disks(root)
    held = sum(d.allocated_bytes for d in disks.values())
    limits = sum(d.size_bytes for d in disks.values())
    count = len(disks)
    checks = [
        Check(
            "sandbox disks",
            OK,
            f"{human_count(count, 'sandbox disk')}, {usage.human(held)} on disk"
            + (f" (limits {usage.human(limits)})" if count else "")
            + f" in {root}",
            "`sandbench sandboxes gc` removes old runs' sandboxes" if held >= GC_HINT_BYTES else "",
        )
    ]
    try:
        measured = usage.image_usage(client, local=local)
    except Exception as error:  # Podman could not say: the other checks still count
        checks.append(Check("sandbench images", WARN, f"cannot measure: {error}"))
        return checks
    shared = "shared layers counted once" if measured.exact else "sum of image sizes"
    checks.append(
        Check(
            "sandbench images",
            OK,
            f"{human_count(measured.count, 'localhost/sandbench-* image')},"
            f" {usage.human(measured.bytes)} on disk ({shared})",
        )
    )
    return checks


GC_HINT_BYTES = 10 * 1024**3  # sandbox disks holding this much: say how to free them


def human_count(count: int, what: str) -> str:
    return f"{count} {what}" + ("" if count == 1 else "s")


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        emit_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        print(table(["CHECK", "STATUS", "DETAIL"], [[c.name, c.status, c.detail] for c in checks]))
        fixes = [c for c in checks if c.fix]
        if fixes:
            print("\nTo fix:")
            for check in fixes:
                print(f"  {check.name}: {check.fix}")
    return 1 if failed else 0
