#!/usr/bin/env bash
# Custom scorer type "max-line-length" for sandbench.
#
# Register it once:
#   sandbench scorers register max-line-length --script sample_scenarios/scorers/max-line-length.sh
#
# Use it in a scenario:
#   [scoring_contract.scoring_function_parameters.scorer]
#   type = "custom_scorer"
#   custom_scorer_type = "max-line-length"
#   scorer_params = { max_line_length = 88, paths = ["src"], extensions = [".py"] }
#
# Contract (as for every custom scorer): sandbench runs this script inside the
# sandbox, from the scenario's working directory, with the scenario's
# `scorer_params` as JSON in the environment variable RL_SCORER_CONTEXT. The
# last non-empty line printed on stdout is the score (`score=X`, X in [0, 1]).
# Exiting without printing a score makes the result a scorer error, not a 0.
#
# Parameters (all optional):
#   max_line_length  longest allowed line, in characters       (default 88)
#   paths            files or directories to check            (default ["."])
#   extensions       file name endings to check in directories (default [".py"])
#   forbid_noqa      count a "noqa" marker as a violation      (default false)
#
# Score: the share of checked files that have no violation. Every violation is
# printed as FILE:LINE: reason, so the run output says what to fix.
set -euo pipefail

# The base image has python3 (but not jq): let it decode the JSON parameters
# and count characters (not bytes) correctly.
exec python3 - <<'END_OF_PYTHON'
import json
import os
import sys

try:
    params = json.loads(os.environ.get("RL_SCORER_CONTEXT") or "{}")
except json.JSONDecodeError as exc:
    sys.exit(f"max-line-length: RL_SCORER_CONTEXT is not valid JSON: {exc}")
if not isinstance(params, dict):
    sys.exit("max-line-length: RL_SCORER_CONTEXT must be a JSON object")

limit = int(params.get("max_line_length", 88))
paths = params.get("paths", ["."])
extensions = tuple(params.get("extensions", [".py"]))
forbid_noqa = bool(params.get("forbid_noqa", False))
SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


def files_to_check():
    for path in paths:
        if os.path.isfile(path):
            yield path
        elif os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(names):
                    if name.endswith(extensions):
                        yield os.path.join(root, name)
        else:
            print(f"{path}: no such file or directory")


checked = clean = 0
for path in files_to_check():
    checked += 1
    violations = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if len(line) > limit:
                violations += 1
                print(f"{path}:{number}: line too long ({len(line)} > {limit})")
            if forbid_noqa and "noqa" in line:
                violations += 1
                print(f"{path}:{number}: noqa marker not allowed")
    clean += violations == 0

if checked == 0:
    sys.exit("max-line-length: no files matched; check paths and extensions")
print(f"{clean} of {checked} file(s) within {limit} characters")
print(f"score={clean / checked:.4f}")
END_OF_PYTHON
