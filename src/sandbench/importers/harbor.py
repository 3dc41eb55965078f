"""Harbor task directories (Terminal-Bench 2 and the datasets adapted to Harbor), both ways.

A task directory holds ``task.toml``, ``instruction.md``, ``environment/`` (a Dockerfile
and its build context), ``tests/test.sh`` and ``solution/solve.sh``. Every field Harbor
0.25 documents for ``task.toml`` is either mapped onto the scenario or refused with the
field's name and the reason (``Refused``); see ``MAPPING`` in ``docs``-style below and the
README. The verifier becomes one ``bash_script_scorer`` that carries ``tests/`` inside
itself, so the tests enter the sandbox (at ``/tests``, as Harbor puts them) only when the
scorer runs; it runs ``test.sh`` and reads ``/logs/verifier/reward.json``, else
``reward.txt``, exactly as Harbor's verifier does. The solution becomes the reference
output: a script that puts ``solution/`` at ``/solution`` and runs ``solve.sh`` as
Harbor's oracle agent does. The scenario stays valid Runloop JSON.
"""

# ruff: noqa: E501  (the shell scripts embedded below keep their own line lengths)
from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from sandbench.importers._common import (
    BuildRequest,
    ImportedTask,
    Refused,
    choose_size,
    exports,
    files_of_tar,
    modes_of_tar,
    payload,
    read_payload,
    slug,
    tar_directory,
    task_dirs_with,
    unpack,
)
from sandbench.model.documents import DocumentError, validate_scenario
from sandbench.model.scenario import Architecture, Scenario

VERIFIER_NAME = "verifier"
TESTS_VAR, SOLUTION_VAR = "TESTS", "SOLUTION"
META = "harbor."  # metadata keys sandbench keeps for the round trip
_CANARY = re.compile(r"^(<!--.*canary.*-->|#.*canary.*)$", re.IGNORECASE)

# The fields of Harbor 0.25's TaskConfig, per section; anything else is refused.
_TOP = {
    "schema_version", "version", "task", "metadata", "verifier", "agent", "environment",
    "solution", "source", "multi_step_reward_strategy", "steps", "artifacts",
}  # fmt: skip
_TASK = {"name", "version", "description", "authors", "keywords"}
_VERIFIER = {
    "timeout_sec", "env", "user", "environment_mode", "environment", "collect",
    "network_mode", "allowed_hosts",
}  # fmt: skip
_AGENT = {"timeout_sec", "user", "network_mode", "allowed_hosts"}
_ENVIRONMENT = {
    "build_timeout_sec", "docker_image", "os", "cpus", "memory_mb", "storage_mb", "gpus",
    "gpu_types", "tpu", "mcp_servers", "env", "skills_dir", "healthcheck", "workdir",
    "allow_internet", "network_mode", "allowed_hosts", "memory", "storage",
}  # fmt: skip
_SOLUTION = {"env"}
_HEALTHCHECK = {"command", "interval_sec", "timeout_sec", "start_period_sec",
                "start_interval_sec", "retries"}  # fmt: skip
_NETWORK_MODES = {"public", "no-network", "allowlist"}


def is_task_dir(path: Path) -> bool:
    return (path / "task.toml").is_file()


def task_dirs(path: Path) -> list[Path]:
    """A task directory, or the task directories in a dataset directory (sorted)."""
    return task_dirs_with(path, "task.toml")


def strip_canary(text: str) -> str:
    """Harbor's ``strip_canary``: leading canary comment lines and the blank lines after."""
    lines = text.split("\n")
    index = 0
    while index < len(lines) and _CANARY.match(lines[index].strip()):
        index += 1
    while index < len(lines) and lines[index].strip() == "":
        index += 1
    return "\n".join(lines[index:])


def _table(data: dict[str, Any], key: str, known: set[str], where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise Refused(f"{where}{key}", "must be a table")
    for name in value:
        if name not in known:
            raise Refused(f"{where}{key}.{name}", "not a field of Harbor's task.toml (0.25)")
    return value


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused(field_name, f"must be a number, got {value!r}")
    return float(value)


def _size_mb(value: Any, field_name: str) -> int:
    """Harbor's deprecated ``memory``/``storage`` strings ('1G', '512M', '2048K')."""
    if not isinstance(value, str):
        raise Refused(field_name, f"must be a size like '2G' or '512M', got {value!r}")
    text = value.strip().upper()
    try:
        number = float(text[:-1])
    except ValueError:
        raise Refused(field_name, f"{value!r} is not a size like '2G' or '512M'") from None
    factor = {"G": 1024, "M": 1, "K": 1 / 1024}.get(text[-1:])
    if factor is None:
        raise Refused(field_name, f"{value!r} is not a size like '2G' or '512M'")
    return int(number * factor)


def _literal_env(env: Any, field_name: str) -> dict[str, str]:
    if not isinstance(env, dict):
        raise Refused(field_name, "must be a table of strings")
    out: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(value, str):
            raise Refused(f"{field_name}.{name}", "must be a string")
        if "${" in value:
            raise Refused(
                f"{field_name}.{name}",
                "takes its value from the host's environment when the task runs; a scenario"
                " cannot carry that (set it with a literal value)",
            )
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise Refused(f"{field_name}.{name}", "is not a valid environment variable name")
        out[name] = value
    return out


def _network(section: dict[str, Any], field_name: str, *, legacy: bool) -> str | None:
    """'public' / 'no-network' for a section, None when it does not say."""
    mode = section.get("network_mode")
    if mode is None and legacy and "allow_internet" in section:
        allow = section["allow_internet"]
        if not isinstance(allow, bool):
            raise Refused(f"{field_name}.allow_internet", "must be true or false")
        mode = "public" if allow else "no-network"
    if mode is None:
        if section.get("allowed_hosts") is not None:
            raise Refused(f"{field_name}.allowed_hosts", "only valid with network_mode='allowlist'")
        return None
    if mode not in _NETWORK_MODES:
        raise Refused(
            f"{field_name}.network_mode", f"{mode!r} is not public, no-network or allowlist"
        )
    if mode == "allowlist":
        raise Refused(
            f"{field_name}.network_mode",
            "an allowlist of hosts cannot be enforced by a local sandbox (only public or"
            " no-network)",
        )
    return str(mode)


def _user_ok(value: Any, field_name: str) -> None:
    if value is not None and value not in ("root", 0):
        raise Refused(
            field_name,
            f"running as {value!r} is not supported: scorers and solutions run as the"
            " sandbox's user (the image's)",
        )


def _dockerfile_workdir(dockerfile: str) -> str | None:
    """The last WORKDIR of the last stage (what the image's WorkingDir will be)."""
    workdir = None
    for line in dockerfile.splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        if parts[0].upper() == "FROM":
            workdir = None
        elif parts[0].upper() == "WORKDIR" and len(parts) == 2:
            value = parts[1].strip().strip('"')
            workdir = value if value.startswith("/") else f"{(workdir or '').rstrip('/')}/{value}"
    return workdir


def healthcheck_command(check: dict[str, Any]) -> str:
    """Harbor's healthcheck as a launch command: every retry must not be used up."""
    command = check["command"]
    retries = int(check.get("retries", 3))
    interval = float(check.get("interval_sec", 5.0))
    timeout = float(check.get("timeout_sec", 30.0))
    start_period = float(check.get("start_period_sec", 0.0))
    start_interval = float(check.get("start_interval_sec", 5.0))
    grace = math.ceil(start_period / start_interval) if start_period > 0 else 0
    quoted = json.dumps(command)
    return (
        f"# harbor healthcheck\nfor i in $(seq 1 {grace + retries}); do"
        f" timeout {timeout:g} sh -c {quoted} && exit 0;"
        f" if [ $i -le {grace} ]; then sleep {start_interval:g}; else sleep {interval:g}; fi;"
        f" done; echo 'healthcheck failed: '{quoted} >&2; exit 1"
    )


# --------------------------------------------------------------------------- scripts


def verifier_script(task: str, tests: Path, env: dict[str, str]) -> str:
    """The scorer: tests/ into /tests now, test.sh as Harbor runs it, the reward read as
    Harbor reads it. stdout carries only sandbench's lines; the tests' output goes to
    stderr (and /logs/verifier/test-stdout.txt, as in Harbor)."""
    return (
        "#!/bin/bash\n"
        f"# sandbench: the verifier of Harbor task {task}. It puts the task's tests/ into\n"
        "# /tests only now, at scoring time (an agent never sees them), runs\n"
        "# /tests/test.sh as Harbor does, and reads /logs/verifier/reward.json, else\n"
        "# reward.txt, as Harbor does: the reward is the score.\n"
        f"{payload(TESTS_VAR, tests)}\n"
        + exports(env)
        + unpack(TESTS_VAR, "/tests")
        + REWARD_READER
    )


REWARD_READER = r"""mkdir -p /logs/verifier /logs/agent /logs/artifacts || { echo 'sandbench: cannot create /logs/verifier'; exit 3; }
rm -f -- /logs/verifier/reward.txt /logs/verifier/reward.json
chmod +x /tests/test.sh 2>/dev/null
/tests/test.sh 2>&1 | tee /logs/verifier/test-stdout.txt >&2
code=${PIPESTATUS[0]}
echo "[sandbench] test.sh exited $code" >&2
num='[+-]?(([0-9](_?[0-9])*)(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?'
if [ -f /logs/verifier/reward.json ]; then
  if [ ! -s /logs/verifier/reward.json ]; then echo 'reward.json is empty'; exit 1; fi
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'PY'
import json, math
try:
    rewards = json.loads(open("/logs/verifier/reward.json").read())
except ValueError as error:
    raise SystemExit(print(f"reward.json is not JSON: {error}"))
values = rewards if isinstance(rewards, dict) else {"reward": rewards}
for key, value in values.items():
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise SystemExit(print(f"reward.json: reward {key!r} is {value!r}, not a finite number"))
if "reward" in values:
    key = "reward"
elif len(values) == 1:
    key = next(iter(values))
else:
    raise SystemExit(print(f"reward.json has no 'reward' among {sorted(values)}; one score needs one"))
for other, value in values.items():
    if other != key:
        print(f"[sandbench] reward {other} = {value}", file=__import__("sys").stderr)
print(float(values[key]))
PY
    exit $?
  fi
  flat=$(tr -d ' \t\r\n' < /logs/verifier/reward.json)
  jnum='-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false'
  pair="\"([^\"\\\\]|\\\\.)*\":($jnum)"
  if [[ $flat =~ ^($jnum)$ ]]; then chosen=$flat
  elif [[ $flat =~ ^\{($pair(,$pair)*)?\}$ ]]; then
    body=${flat#\{}; body=${body%\}}; chosen=; only=; n=0
    IFS=',' read -r -a pairs <<< "$body"
    for p in "${pairs[@]}"; do
      [ -z "$p" ] && continue
      n=$((n + 1)); k=${p%%\":*}; k=${k#\"}; v=${p##*\":}
      if [ "$k" = reward ]; then chosen=$v; else echo "[sandbench] reward $k = $v" >&2; only=$v; fi
    done
    if [ -z "$chosen" ]; then
      if [ "$n" = 1 ]; then chosen=$only; else echo "reward.json has no 'reward' key; one score needs one"; exit 1; fi
    fi
  else echo 'reward.json is not an object of numbers (and python3 is not here to read more)'; exit 1
  fi
  case $chosen in true) chosen=1 ;; false) chosen=0 ;; esac
  echo "$chosen"
elif [ -f /logs/verifier/reward.txt ]; then
  if [ ! -s /logs/verifier/reward.txt ]; then echo 'reward.txt is empty'; exit 1; fi
  raw=$(cat /logs/verifier/reward.txt; echo x); raw=${raw%x}
  shopt -s extglob; raw=${raw##+([[:space:]])}; raw=${raw%%+([[:space:]])}
  if [[ $raw =~ ^$num$ ]]; then echo "${raw//_/}"
  else echo "reward.txt holds '${raw:0:60}', not a number"; exit 1
  fi
else
  echo "no reward: test.sh (exit $code) wrote neither /logs/verifier/reward.json nor reward.txt"
  exit 1
fi
"""


def solution_script(task: str, solution: Path, solve: str, env: dict[str, str]) -> str:
    """The reference: solution/ at /solution, solve.sh run as Harbor's oracle runs it (its
    exit code is reported, and the verifier decides, as in Harbor)."""
    return (
        "#!/bin/bash\n"
        f"# sandbench: the reference solution of Harbor task {task}: solution/ goes to\n"
        f"# /solution and {solve} runs there as Harbor's oracle agent runs it.\n"
        f"{payload(SOLUTION_VAR, solution)}\n"
        + exports({"DEBIAN_FRONTEND": "noninteractive", **env})
        + unpack(SOLUTION_VAR, "/solution")
        + "mkdir -p /logs/agent\n"
        + f"chmod +x /solution/{solve} 2>/dev/null\n"
        + "set +e\n"
        + f"/solution/{solve} 2>&1 | tee /logs/agent/oracle.txt\n"
        + "code=${PIPESTATUS[0]}\n"
        + 'if [ "$code" != 0 ]; then echo "$code" > /logs/agent/exit-code.txt;'
        + ' echo "[sandbench] solve.sh exited $code; the verifier decides" >&2; fi\n'
        + "exit 0\n"
    )


# --------------------------------------------------------------------------- import


def load_task(directory: Path, *, architecture: Architecture = Architecture.X86_64) -> ImportedTask:
    """Map one Harbor task directory. Raises Refused (field, reason)."""
    config_path = directory / "task.toml"
    try:
        original = config_path.read_text(encoding="utf-8")
        config = tomllib.loads(original)
    except (OSError, UnicodeDecodeError) as error:
        raise Refused("task.toml", f"cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise Refused("task.toml", f"invalid TOML: {error}") from None
    for key in config:
        if key not in _TOP:
            raise Refused(key, "not a field of Harbor's task.toml (0.25)")
    package = _table(config, "task", _TASK, "")
    verifier = _table(config, "verifier", _VERIFIER, "")
    agent = _table(config, "agent", _AGENT, "")
    environment = _table(config, "environment", _ENVIRONMENT, "")
    solution_cfg = _table(config, "solution", _SOLUTION, "")
    metadata_in = config.get("metadata", {})
    if not isinstance(metadata_in, dict):
        raise Refused("metadata", "must be a table")
    notes: list[str] = []

    # multi-step tasks and what a single sandbox cannot be
    if config.get("steps"):
        raise Refused("steps", "multi-step tasks have no single problem statement and scorer")
    if environment.get("os", "linux").lower() != "linux":
        raise Refused("environment.os", f"{environment['os']!r}: sandboxes run Linux only")
    if environment.get("gpus"):
        raise Refused("environment.gpus", "sandboxes have no GPUs")
    if environment.get("gpu_types"):
        raise Refused("environment.gpu_types", "sandboxes have no GPUs")
    if environment.get("tpu"):
        raise Refused("environment.tpu", "sandboxes have no TPUs")
    if environment.get("mcp_servers"):
        raise Refused(
            "environment.mcp_servers", "MCP servers for the agent are not part of a scenario"
        )
    if environment.get("skills_dir") is not None:
        raise Refused("environment.skills_dir", "agent skills are not part of a scenario")
    if environment.get("env"):
        _literal_env(environment["env"], "environment.env")
        raise Refused(
            "environment.env",
            "a scenario has no environment variable values for its sandbox (only names the"
            " run must provide)",
        )
    mode = verifier.get("environment_mode")
    if mode not in (None, "shared"):
        raise Refused(
            "verifier.environment_mode", f"{mode!r}: the verifier runs in the agent's sandbox"
        )
    if verifier.get("environment") is not None:
        raise Refused("verifier.environment", "a separate verifier container is not supported")
    if verifier.get("collect"):
        raise Refused("verifier.collect", "collect hooks need compose services")
    _user_ok(verifier.get("user"), "verifier.user")
    _user_ok(agent.get("user"), "agent.user")

    # network: one policy for the sandbox; a phase override that differs is refused
    network = _network(environment, "environment", legacy=True) or "public"
    for phase, section in (("agent", agent), ("verifier", verifier)):
        override = _network(section, phase, legacy=False)
        if override is not None and override != network:
            raise Refused(
                f"{phase}.network_mode",
                f"{override!r} differs from the environment's {network!r}; a sandbox has one"
                " network for the agent and the verifier",
            )

    # resources
    cpus = environment.get("cpus")
    memory_mb = environment.get("memory_mb")
    storage_mb = environment.get("storage_mb")
    if memory_mb is None and "memory" in environment:
        memory_mb = _size_mb(environment["memory"], "environment.memory")
    if storage_mb is None and "storage" in environment:
        storage_mb = _size_mb(environment["storage"], "environment.storage")
    for name, value in (("memory_mb", memory_mb), ("storage_mb", storage_mb)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise Refused(f"environment.{name}", f"must be an integer, got {value!r}")
    choice = choose_size(
        None if cpus is None else _number(cpus, "environment.cpus"),
        memory_mb,
        storage_mb,
        prefix="environment.",
    )
    if choice is not None and choice.rounded:
        notes.append(
            f"rounded up to {choice.size.value}"
            + (
                f" ({choice.cpu:g} cpu, {choice.memory_gib} GiB, {choice.disk_gib} GiB disk)"
                if choice.cpu is not None
                else ""
            )
            + ": "
            + ", ".join(choice.rounded)
        )

    # instruction, tests, solution
    instruction_path = directory / "instruction.md"
    if not instruction_path.is_file():
        raise Refused("instruction.md", "missing (it is the problem statement)")
    instruction = strip_canary(instruction_path.read_text(encoding="utf-8"))
    if not instruction.strip():
        raise Refused("instruction.md", "is empty")
    tests_dir = directory / "tests"
    if not (tests_dir / "test.sh").is_file():
        raise Refused("tests/test.sh", "missing (it is the verifier)")
    solution_dir = directory / "solution"
    reference = None
    if (solution_dir / "solve.sh").is_file():
        solution_env = _literal_env(solution_cfg.get("env", {}), "solution.env")
        reference = solution_script(directory.name, solution_dir, "solve.sh", solution_env)
    else:
        notes.append("no solution/solve.sh: no reference solution")
    verifier_env = _literal_env(verifier.get("env", {}), "verifier.env")

    # the image: docker_image, else environment/Dockerfile and its context
    env_dir = directory / "environment"
    docker_image = environment.get("docker_image")
    for compose in ("docker-compose.yaml", "docker-compose.yml", "compose.yaml"):
        if (env_dir / compose).is_file() and not docker_image:
            raise Refused(
                f"environment/{compose}", "multi-container (compose) environments are not supported"
            )
    build_timeout = environment.get("build_timeout_sec", 600.0)
    build_timeout = _number(build_timeout, "environment.build_timeout_sec")
    name = package.get("name") or directory.name
    if not isinstance(name, str) or not name.strip():
        raise Refused("task.name", "must be a non-empty string")
    blueprint = f"harbor-{slug(name)}"
    if docker_image:
        if not isinstance(docker_image, str):
            raise Refused("environment.docker_image", "must be a string")
        dockerfile = f"FROM {docker_image}\n"
        context = tar_directory(None, extra={"Dockerfile": dockerfile.encode()})
    else:
        found = next(
            (env_dir / n for n in ("Dockerfile", "Containerfile") if (env_dir / n).is_file()), None
        )
        if found is None:
            raise Refused("environment", "no environment/Dockerfile and no docker_image")
        dockerfile = found.read_text(encoding="utf-8", errors="replace")
        extra = {"Dockerfile": found.read_bytes()} if found.name == "Containerfile" else None
        context = tar_directory(env_dir, extra=extra)
    build = BuildRequest(blueprint, context, architecture, build_timeout)
    workdir = environment.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise Refused("environment.workdir", f"must be an absolute path, got {workdir!r}")

    # launch parameters
    launch: dict[str, Any] = {}
    if choice is not None:
        launch.update(choice.launch_fields())
    if architecture != Architecture.X86_64:
        launch["architecture"] = architecture.value
    if network == "no-network":
        launch["network_policy_id"] = "none"
    if environment.get("healthcheck") is not None:
        check = _table(environment, "healthcheck", _HEALTHCHECK, "environment.")
        if not isinstance(check.get("command"), str):
            raise Refused("environment.healthcheck.command", "must be a string")
        launch["launch_commands"] = [healthcheck_command(check)]
    env_params: dict[str, Any] = {"blueprint_id": blueprint}
    if workdir:
        env_params["working_directory"] = workdir
    elif _dockerfile_workdir(dockerfile) is None and not docker_image:
        notes.append("no WORKDIR in the Dockerfile: scorers run from the image's default (/)")
    if launch:
        env_params["launch_parameters"] = launch

    # metadata: the task's own, then what sandbench keeps for the round trip
    metadata: dict[str, str] = {}
    for key, value in metadata_in.items():
        metadata[str(key)] = value if isinstance(value, str) else json.dumps(value)
    if isinstance(package.get("description"), str) and package["description"]:
        metadata.setdefault("description", package["description"])
    if isinstance(package.get("keywords"), list) and package["keywords"]:
        metadata.setdefault("keywords", ", ".join(map(str, package["keywords"])))
    metadata[META + "format"] = "harbor"
    metadata[META + "task_toml"] = original
    if agent.get("timeout_sec") is not None:
        agent_timeout = _number(agent["timeout_sec"], "agent.timeout_sec")
        metadata[META + "agent_timeout_sec"] = f"{agent_timeout:g}"
        notes.append(f"agent timeout {agent_timeout:g}s recorded in metadata")
    if docker_image:
        metadata[META + "docker_image"] = docker_image
    if config.get("artifacts"):
        notes.append("artifacts are recorded in metadata, not collected")
    if config.get("source"):
        metadata[META + "source"] = str(config["source"])

    timeout = _number(verifier.get("timeout_sec", 600.0), "verifier.timeout_sec")
    if timeout <= 0:
        raise Refused("verifier.timeout_sec", "must be positive")
    data: dict[str, Any] = {
        "name": name,
        "input_context": {"problem_statement": instruction},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": VERIFIER_NAME,
                    "weight": 1.0,
                    "scorer": {
                        "type": "bash_script_scorer",
                        "bash_script": verifier_script(name, tests_dir, verifier_env),
                    },
                }
            ]
        },
        "environment_parameters": env_params,
        "metadata": metadata,
        "scorer_timeout_sec": math.ceil(timeout),
    }
    if reference is not None:
        data["reference_output"] = reference
    try:
        scenario = validate_scenario(data)
    except DocumentError as error:
        first = error.problems[0]
        raise Refused(first.path or "task", first.reason) from None
    return ImportedTask(directory, scenario, build, notes)


# --------------------------------------------------------------------------- export


def export_task(scenario: Scenario, target: Path, *, context_tar: bytes | None) -> None:
    """Write ``scenario`` as a Harbor task directory in ``target`` (made if missing).

    ``context_tar``: the environment's build context (the blueprint's), when there is one.
    Raises Refused when the scenario has no Harbor verifier (it was not made from a task).
    """
    functions = scenario.scorers
    script = None
    if len(functions) == 1 and functions[0].scorer.type == "bash_script_scorer":
        script = functions[0].scorer.bash_script  # type: ignore[union-attr]
    tests = read_payload(script or "", TESTS_VAR)
    if tests is None:
        raise Refused(
            "scoring_contract",
            "a Harbor task needs the verifier an import made (one bash_script_scorer carrying"
            " tests/); this scenario has none",
        )
    metadata = dict(scenario.metadata or {})
    base: dict[str, Any] = {}
    if META + "task_toml" in metadata:
        base = tomllib.loads(metadata[META + "task_toml"])
    original = dict(base)
    base.setdefault("schema_version", "1.4")
    # metadata: the original typed values when unchanged, the scenario's strings otherwise
    old_meta = original.get("metadata", {}) if isinstance(original.get("metadata"), dict) else {}
    new_meta: dict[str, Any] = {}
    for key, value in metadata.items():
        if key.startswith(META):
            continue
        if key in old_meta and (
            old_meta[key] == value
            or (not isinstance(old_meta[key], str) and json.dumps(old_meta[key]) == value)
        ):
            new_meta[key] = old_meta[key]
        elif key in ("description", "keywords") and key not in old_meta:
            continue  # taken from [task]; written back there
        else:
            new_meta[key] = value
    if new_meta:
        base["metadata"] = new_meta
    else:
        base.pop("metadata", None)
    # what sandbench may have changed: timeouts, size, network, workdir
    verifier = dict(base.get("verifier", {}))
    if math.ceil(float(verifier.get("timeout_sec", 600.0))) != scenario.timeout_sec:
        verifier["timeout_sec"] = float(scenario.timeout_sec)
    if verifier:
        base["verifier"] = verifier
    environment = dict(base.get("environment", {}))
    launch = scenario.launch
    try:
        before = load_config_launch(original)
    except Refused:
        before = None
    now = (
        launch.resource_size_request,
        launch.custom_cpu_cores,
        launch.custom_gb_memory,
        launch.custom_disk_size,
    )
    if before != now and (launch.resource_size_request is not None or before is not None):
        for key in ("cpus", "memory_mb", "storage_mb", "memory", "storage"):
            environment.pop(key, None)
        resources = scenario.resources
        environment["cpus"] = (
            resources.cpu if resources.cpu != int(resources.cpu) else int(resources.cpu)
        )
        environment["memory_mb"] = resources.memory_gib * 1024
        environment["storage_mb"] = resources.disk_gib * 1024
    no_network = launch.network_policy_id == "none"
    was_no_network = environment.get("network_mode") == "no-network" or (
        environment.get("allow_internet") is False and "network_mode" not in environment
    )
    if no_network != was_no_network:
        environment.pop("allow_internet", None)
        environment["network_mode"] = "no-network" if no_network else "public"
    env_params = scenario.environment_parameters
    if env_params and env_params.working_directory:
        environment["workdir"] = env_params.working_directory
    if environment:
        base["environment"] = environment
    if META + "agent_timeout_sec" in metadata:
        agent = dict(base.get("agent", {}))
        agent_timeout = float(metadata[META + "agent_timeout_sec"])
        if float(agent.get("timeout_sec", -1)) != agent_timeout:
            agent["timeout_sec"] = agent_timeout
        base["agent"] = agent
    target.mkdir(parents=True, exist_ok=True)
    (target / "task.toml").write_text(
        original_text(metadata, base, original) or tomli_w.dumps(base), encoding="utf-8"
    )
    (target / "instruction.md").write_text(
        scenario.input_context.problem_statement, encoding="utf-8"
    )
    _write_tar(target / "tests", tests)
    solution = read_payload(scenario.reference_output or "", SOLUTION_VAR)
    if solution is not None:
        _write_tar(target / "solution", solution)
    elif scenario.reference_output:
        (target / "solution").mkdir(exist_ok=True)
        script_path = target / "solution" / "solve.sh"
        script_path.write_text(scenario.reference_output, encoding="utf-8")
        script_path.chmod(0o755)
    if context_tar is not None and not environment.get("docker_image"):
        _write_tar(target / "environment", context_tar)


def original_text(metadata: dict[str, str], base: dict[str, Any], original: dict[str, Any]) -> str:
    """The task.toml as it was imported, when nothing in it changed (comments kept)."""
    text = metadata.get(META + "task_toml")
    if text is not None and base == {**{"schema_version": "1.4"}, **original}:
        return text
    return ""


def load_config_launch(config: dict[str, Any]) -> tuple[Any, ...] | None:
    environment = config.get("environment", {}) or {}
    memory_mb = environment.get("memory_mb")
    if memory_mb is None and "memory" in environment:
        memory_mb = _size_mb(environment["memory"], "environment.memory")
    storage_mb = environment.get("storage_mb")
    if storage_mb is None and "storage" in environment:
        storage_mb = _size_mb(environment["storage"], "environment.storage")
    choice = choose_size(environment.get("cpus"), memory_mb, storage_mb, prefix="")
    if choice is None:
        return None
    from sandbench.model.resources import ResourceSize

    custom = choice.size == ResourceSize.CUSTOM_SIZE
    return (
        choice.size,
        choice.cpu if custom else None,
        choice.memory_gib if custom else None,
        choice.disk_gib if custom else None,
    )


def _write_tar(directory: Path, data: bytes) -> None:
    modes = modes_of_tar(data)
    for rel, content in files_of_tar(data).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(modes.get(rel, 0o644) & 0o777)
