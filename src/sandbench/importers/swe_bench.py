"""SWE-bench instances, in JSON (one instance or a list) or JSONL (one a line).

Both the classic schema (``repo``, ``instance_id``, ``base_commit``, ``patch``,
``test_patch``, ``problem_statement``, ``FAIL_TO_PASS``, ``PASS_TO_PASS``, ``version``,
``environment_setup_commit``, ``hints_text``, ``created_at``) and the 5.x fields (``image``,
``eval_script``, ``log_parser``, ``eval_type``).

- The environment is the repository at ``base_commit`` in ``/testbed`` (SWE-bench's path):
  with ``image``, that image (it holds the repository and its environment, as SWE-bench's
  instance images do); otherwise a blueprint from the base image whose context holds only
  ``base_commit`` fetched at depth 1 from the local clone (``--repo-dir``): the commit has
  its real id, and no later commit (the fix, the tests) is in the sandbox.
- ``patch`` is ``reference_output`` (a git diff: the runner applies it with ``git apply``).
- Two ``bash_script_scorer``s, ``fail_to_pass`` and ``pass_to_pass``, weights 0.5 and 0.5
  (``fail_to_pass`` alone, weight 1.0, when PASS_TO_PASS is empty). Each scores the fraction
  of its tests that pass, so the total is 1.0 exactly when every FAIL_TO_PASS test passes and
  every PASS_TO_PASS test still passes: SWE-bench's "resolved". ``test_patch`` reaches the
  sandbox only in the scorer: it resets the files ``test_patch`` touches to ``base_commit``,
  applies it, runs the tests, and resets them again (SWE-bench's eval script does the same).
  The tests run are the scorer's own pytest node ids (``pytest -rA``); with ``eval_script``,
  that script is run as is. The log (between SWE-bench's ``>>>>> Start Test Output`` and
  ``>>>>> End Test Output`` markers when present) is read per test by SWE-bench's parser for
  ``log_parser`` (``pytest``, the default, or ``django``): PASSED and XFAIL pass; a test not
  in the log fails.
"""

# ruff: noqa: E501  (the shell and Python embedded below keep their own line lengths)
from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sandbench.importers._common import BuildRequest, ImportedTask, Refused, slug, tar_directory
from sandbench.model.documents import DocumentError, validate_scenario
from sandbench.model.scenario import Architecture

META = "swe_bench."
WORKDIR = "/testbed"
REQUIRED = (
    "instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement",
    "FAIL_TO_PASS", "PASS_TO_PASS",
)  # fmt: skip
_OPTIONAL = (
    "version", "environment_setup_commit", "hints_text", "created_at", "difficulty",
    "image", "eval_script", "log_parser", "eval_type",
)  # fmt: skip
_RECORDED = ("repo", "instance_id", "version", "base_commit", "environment_setup_commit", "created_at")  # fmt: skip
LOG_PARSERS = {"pytest": "pytest", "parse_log_pytest": "pytest", "django": "django", "parse_log_django": "django"}  # fmt: skip
_SHA = re.compile(r"^[0-9a-f]{40}$")
_DIFF_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)
_PLAIN_FILE = re.compile(r"^(?:---|\+\+\+) (?:[ab]/)?(\S+)", re.M)

# --------------------------------------------------------------------------- reading files


def instance_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl"))
    return []


def instances(path: Path) -> list[tuple[Path, str, dict[str, Any] | Refused]]:
    """Every instance in a file: (its source, the prefix naming it in a problem, the instance
    or why it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [(path, "", Refused("", f"cannot read: {error}"))]
    out: list[tuple[Path, str, dict[str, Any] | Refused]] = []
    stripped = text.lstrip()
    if path.suffix != ".jsonl" and stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            if path.suffix == ".json":
                return [(path, "", Refused("", f"invalid JSON: {error}"))]
        else:
            if isinstance(data, dict):
                return [(path, "", data)]
            if isinstance(data, list):
                for index, item in enumerate(data):
                    entry = item if isinstance(item, dict) else Refused("", "must be an object")
                    out.append((Path(f"{path}#{index + 1}"), f"[{index}].", entry))
                return out
            return [(path, "", Refused("", "must be an instance object or a list of them"))]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        prefix = f"line {number}."
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            out.append((path, prefix, Refused("", f"invalid JSON: {error}")))
            continue
        entry = item if isinstance(item, dict) else Refused("", "must be an object")
        out.append((Path(f"{path}#{number}"), prefix, entry))
    return out


# --------------------------------------------------------------------------- fields


def _string(data: dict[str, Any], key: str, *, empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise Refused(key, "missing or empty" if value in (None, "") else "must be a string")
    return value


def _tests(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise Refused(key, "must be a list of test ids (or that list JSON-encoded)") from None
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise Refused(key, "must be a list of test ids (or that list JSON-encoded)")
    return value


def test_files(diff: str) -> list[str]:
    """The files a diff touches (both sides of a rename), in order."""
    found: list[str] = []
    pairs = _DIFF_FILE.findall(diff)
    names = [n for pair in pairs for n in pair] if pairs else _PLAIN_FILE.findall(diff)
    for name in names:
        if name != "dev/null" and name != "/dev/null" and name not in found:
            found.append(name)
    return found


def find_clone(repo_dir: Path | None, repo: str) -> Path | None:
    """The clone of ``owner/name`` in ``repo_dir``: ``owner/name``, ``owner__name`` or
    ``name``, whichever is a git repository."""
    if repo_dir is None:
        return None
    owner, _, name = repo.partition("/")
    for candidate in (repo_dir / owner / name, repo_dir / f"{owner}__{name}", repo_dir / name):
        if (candidate / ".git").exists() or (candidate / "HEAD").is_file():
            return candidate
    return None


def _git(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=600
    )


def repository_context(clone: Path, base_commit: str, from_image: str) -> bytes:
    """A build context: a Dockerfile and ``repo/`` holding the objects of ``base_commit``
    alone (fetched at depth 1), checked out at ``/testbed`` by the build."""
    if _git("cat-file", "-e", f"{base_commit}^{{commit}}", cwd=clone).returncode != 0:
        raise Refused("base_commit", f"{base_commit} is not a commit of the clone {clone}")
    with tempfile.TemporaryDirectory(prefix="sandbench-swe-") as scratch:
        root = Path(scratch)
        bare = root / "repo"
        made = _git("init", "-q", "--bare", str(bare), cwd=root)
        # loose objects (never a pack, whose delta search may differ run to run): the
        # same commit gives the same context, built once
        loose = ("-c", "fetch.unpackLimit=2147483647", "-c", "transfer.unpackLimit=2147483647")
        fetched = made.returncode == 0 and _git(
            *loose, "fetch", "-q", "--depth", "1", f"file://{clone.resolve()}", base_commit,
            cwd=bare,
        )  # fmt: skip
        if not fetched or fetched.returncode != 0:
            error = (fetched or made).stderr.strip()
            raise Refused("base_commit", f"cannot fetch {base_commit} from {clone}: {error}")
        context = root / "context"
        for path in sorted((bare / "objects").rglob("*")):
            if path.is_file():
                target = context / "repo" / path.relative_to(bare)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        (context / "repo" / "shallow").write_text(f"{base_commit}\n")
        dockerfile = (
            f"FROM {from_image}\n"
            f"COPY repo/ /tmp/sandbench-repo/\n"
            f"RUN set -e; mkdir -p {WORKDIR}; cd {WORKDIR}; git init -q;"
            " cp -R /tmp/sandbench-repo/objects/. .git/objects/;"
            " cp /tmp/sandbench-repo/shallow .git/shallow;"
            f" git reset -q --hard {base_commit}; rm -rf /tmp/sandbench-repo;"
            f" git config --system --add safe.directory {WORKDIR}\n"
            f"WORKDIR {WORKDIR}\n"
        )
        return tar_directory(context, extra={"Dockerfile": dockerfile.encode()})


# --------------------------------------------------------------------------- scorers

PARSER = r"""
import base64, json, re, sys
log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
tests = json.loads(base64.b64decode(sys.argv[2]))
parser, scorer = sys.argv[3], sys.argv[4]
start, end = ">>>>> Start Test Output", ">>>>> End Test Output"
if start in log:
    log = log.split(start, 1)[1].split(end, 1)[0]
status = {}
if parser == "pytest":  # SWE-bench's parse_log_pytest
    for line in log.split("\n"):
        if line.startswith(("FAILED", "PASSED", "SKIPPED", "ERROR", "XFAIL")):
            if line.startswith("FAILED"):
                line = line.replace(" - ", " ")
            parts = line.split()
            if len(parts) > 1:
                status[parts[1]] = parts[0]
else:  # SWE-bench's parse_log_django
    for line in log.split("\n"):
        line = line.strip()
        if line.endswith((" ... ok", " ... OK", " ...  OK")):
            status[line.rsplit(" ... ", 1)[0].strip()] = "PASSED"
        elif " ... skipped" in line:
            status[line.split(" ... skipped")[0]] = "SKIPPED"
        elif line.endswith(" ... FAIL"):
            status[line.rsplit(" ... FAIL", 1)[0]] = "FAILED"
        elif line.endswith(" ... ERROR"):
            status[line.rsplit(" ... ERROR", 1)[0]] = "ERROR"
        elif line.startswith(("FAIL:", "ERROR:")) and len(line.split()) > 1:
            status[line.split(None, 1)[1].strip()] = line.split(":")[0].replace("FAIL", "FAILED")
passed = [t for t in tests if status.get(t) in ("PASSED", "XFAIL")]
for test in tests:
    print(f"[sandbench] {scorer}: {status.get(test, 'not in the log')}: {test}", file=sys.stderr)
print(f"[sandbench] {scorer}: {len(passed)} of {len(tests)} passed", file=sys.stderr)
print(f"{len(passed) / len(tests):.6g}" if tests else "1")
"""


def _b64(text: str) -> str:
    encoded = base64.b64encode(text.encode()).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def scorer_script(
    instance_id: str,
    scorer: str,
    tests: list[str],
    *,
    base_commit: str,
    test_patch: str,
    eval_script: str | None,
    parser: str,
) -> str:
    if eval_script is not None:
        run = (
            'printf %s "$EVAL_B64" | base64 -d > "$WORK/eval.sh"\n'
            'bash "$WORK/eval.sh" > "$WORK/test.log" 2>&1\n'
            'echo "[sandbench] eval_script exited $?" >&2\n'
        )
        data = f"EVAL_B64='{_b64(eval_script)}'\n"
    else:
        ids = " ".join("'" + t.replace("'", "'\\''") + "'" for t in tests)
        run = (
            "reset_tests\n"
            'printf %s "$TEST_PATCH_B64" | base64 -d > "$WORK/test.patch"\n'
            'if ! git apply -v "$WORK/test.patch" > "$WORK/apply.log" 2>&1; then\n'
            '  cat "$WORK/apply.log" >&2; echo "[sandbench] test_patch did not apply: unresolved" >&2\n'
            "  reset_tests; echo 0; exit 0\nfi\n"
            "if command -v pytest >/dev/null; then PYTEST=pytest; else PYTEST='python3 -m pytest'; fi\n"
            "{ echo '>>>>> Start Test Output'; $PYTEST -rA -p no:cacheprovider " + ids + "; "
            "echo '>>>>> End Test Output'; } > \"$WORK/test.log\" 2>&1\n"
            "reset_tests\n"
        )
        files = "\n".join(test_files(test_patch))
        data = f"TEST_PATCH_B64='{_b64(test_patch)}'\nTEST_FILES_B64='{_b64(files)}'\n"
    return (
        "#!/bin/bash\n"
        f"# sandbench: SWE-bench {instance_id}, {scorer}: test_patch is applied only now,\n"
        "# the tests run, and SWE-bench's log parser reads each test's status.\n"
        f"cd {WORKDIR} || {{ echo 'sandbench: no repository at {WORKDIR}'; exit 3; }}\n"
        f"BASE={base_commit}\n" + data + f"TESTS_B64='{_b64(json.dumps(tests))}'\n"
        "WORK=$(mktemp -d)\n"
        "reset_tests() {\n"
        '  printf %s "$TEST_FILES_B64" | base64 -d | while IFS= read -r f || [ -n "$f" ]; do\n'
        '    [ -n "$f" ] || continue\n'
        '    if git cat-file -e "$BASE:$f" 2>/dev/null; then git checkout -q "$BASE" -- "$f"; else rm -f -- "$f"; fi\n'
        "  done\n"
        "}\n"
        + run
        + 'cat "$WORK/test.log" >&2\n'
        + f'python3 - "$WORK/test.log" "$(printf %s "$TESTS_B64" | tr -d \'\\n\')" {parser} {scorer} <<\'SANDBENCH_PARSER\'\n'
        + PARSER.lstrip("\n")
        + "SANDBENCH_PARSER\n"
    )


# --------------------------------------------------------------------------- mapping


def load_instance(
    data: dict[str, Any],
    source: Path,
    *,
    repo_dir: Path | None = None,
    architecture: Architecture = Architecture.X86_64,
    base_image: str | None = None,
) -> ImportedTask:
    """Map one instance. Raises Refused (field, reason)."""
    for key in data:
        if key not in REQUIRED and key not in _OPTIONAL:
            raise Refused(key, "not a field of a SWE-bench instance")
    instance_id = _string(data, "instance_id")
    repo = _string(data, "repo")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise Refused("repo", f"{repo!r} is not owner/name")
    base_commit = _string(data, "base_commit")
    if not _SHA.match(base_commit):
        raise Refused("base_commit", f"{base_commit!r} is not a full commit id (40 hex digits)")
    patch = _string(data, "patch")
    if not patch.lstrip().startswith(("diff --git ", "--- ")):
        raise Refused("patch", "not a git diff")
    test_patch = _string(data, "test_patch")
    if not test_files(test_patch):
        raise Refused("test_patch", "not a git diff (no file in it)")
    problem = _string(data, "problem_statement")
    fail_to_pass = _tests(data, "FAIL_TO_PASS")
    if not fail_to_pass:
        raise Refused("FAIL_TO_PASS", "empty: nothing would separate a fix from no fix")
    pass_to_pass = _tests(data, "PASS_TO_PASS")
    for key in ("version", "environment_setup_commit", "hints_text", "created_at", "difficulty",
                "image", "eval_script", "eval_type"):  # fmt: skip
        if data.get(key) is not None and not isinstance(data[key], str | int | float):
            raise Refused(key, "must be a string")
    raw_parser = data.get("log_parser") or "pytest"
    parser = LOG_PARSERS.get(str(raw_parser))
    if parser is None:
        known = ", ".join(sorted(LOG_PARSERS))
        raise Refused("log_parser", f"{raw_parser!r} is not a parser sandbench maps ({known})")
    eval_script = data.get("eval_script") or None
    if parser != "pytest" and eval_script is None:
        raise Refused(
            "log_parser", f"{raw_parser!r} needs an eval_script (only pytest's command is known)"
        )
    notes: list[str] = []
    image = data.get("image") or None
    name = slug(instance_id)
    blueprint = f"swe-{name}"
    if image is not None:
        dockerfile = f"FROM {image}\nWORKDIR {WORKDIR}\n".encode()
        with tempfile.TemporaryDirectory(prefix="sandbench-swe-") as empty:
            context = tar_directory(Path(empty), extra={"Dockerfile": dockerfile})
    else:
        clone = find_clone(repo_dir, repo)
        if clone is None:
            where = f"in {repo_dir}" if repo_dir is not None else "(no --repo-dir)"
            raise Refused("repo", f"no local clone of {repo} {where} and no image")
        if base_image is None:
            from sandbench import config

            base_image = config.load().default_image
        context = repository_context(clone, base_commit, base_image)
        notes.append(
            f"{repo} at {base_commit[:12]} from {clone} on {base_image}: nothing is installed"
            " (environment_setup_commit is recorded, not used)"
        )
    if data.get("eval_type") is not None:
        notes.append(f"eval_type {data['eval_type']!r} recorded in metadata, not interpreted")
    scripts = {
        scorer: scorer_script(
            instance_id, scorer, tests, base_commit=base_commit, test_patch=test_patch,
            eval_script=eval_script, parser=parser,
        )
        for scorer, tests in (("fail_to_pass", fail_to_pass), ("pass_to_pass", pass_to_pass))
        if tests or scorer == "fail_to_pass"
    }  # fmt: skip
    weight = 1.0 / len(scripts)
    metadata: dict[str, str] = {META + "format": "swe-bench"}
    for key in (*_RECORDED, "hints_text", "image", "log_parser", "eval_type"):
        if data.get(key) not in (None, ""):
            metadata[META + key] = str(data[key])
    if data.get("difficulty") not in (None, ""):
        metadata["difficulty"] = str(data["difficulty"])
    launch: dict[str, Any] = {}
    if architecture != Architecture.X86_64:
        launch["architecture"] = architecture.value
    env_params: dict[str, Any] = {"blueprint_id": blueprint, "working_directory": WORKDIR}
    if launch:
        env_params["launch_parameters"] = launch
    scenario_data: dict[str, Any] = {
        "name": name,
        "input_context": {"problem_statement": problem},
        "scoring_contract": {
            "scoring_function_parameters": [
                {
                    "name": scorer,
                    "weight": weight,
                    "scorer": {"type": "bash_script_scorer", "bash_script": script},
                }
                for scorer, script in scripts.items()
            ]
        },
        "environment_parameters": env_params,
        "reference_output": patch,
        "metadata": metadata,
        "scorer_timeout_sec": 1800,
    }
    try:
        scenario = validate_scenario(scenario_data)
    except DocumentError as error:
        first = error.problems[0]
        raise Refused(first.path or "instance", first.reason) from None
    return ImportedTask(source, scenario, BuildRequest(blueprint, context, architecture), notes)
