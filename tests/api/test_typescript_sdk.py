"""Runloop's TypeScript SDK (tests/js, @runloop/api-client 1.32.0) against `sandbench serve`.

The SDK keeps its default transport: on Node.js that is HTTP/2 over node:http2 since
1.25, which for an http:// base URL means cleartext HTTP/2 with prior knowledge (no
Upgrade, no fallback to HTTP/1.1). So this test also checks that the server speaks h2c.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
from typing import Any

from tests.conftest import ROOT
from tests.engine_support import need

JS_DIR = ROOT / "tests" / "js"
SDK_VERSION = "1.32.0"
PAGE = 7  # the limit list_scenarios.mjs asks for
COUNT = 25  # 7 + 7 + 7 + 4: four pages


def require_node_sdk() -> None:
    need(shutil.which("node") is not None, "node is not on PATH")
    package = JS_DIR / "node_modules" / "@runloop" / "api-client" / "package.json"
    need(package.is_file(), f"{package.relative_to(ROOT)} is missing (npm ci in tests/js)")
    version = json.loads(package.read_text()).get("version")
    need(version == SDK_VERSION, f"@runloop/api-client is {version}, not {SDK_VERSION}")


def python_client(api_server: Any) -> Any:
    try:
        from runloop_api_client import Runloop
    except ImportError:
        need(False, "runloop-api-client (the Python SDK) is not installed in .venv")
    # no retries: the first failing request is the one reported
    return Runloop(base_url=api_server.base_url, bearer_token=api_server.token, max_retries=0)


def scorers() -> dict[str, Any]:
    return {
        "scoring_function_parameters": [
            {
                "name": "ok",
                "weight": 1.0,
                "scorer": {"type": "command_scorer", "command": "true"},
            }
        ]
    }


def list_through_node(api_server: Any) -> dict[str, Any]:
    env = {**api_server.client_env(), "RUNLOOP_MAX_RETRIES": "0"}
    result = subprocess.run(
        ["node", "list_scenarios.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    assert result.returncode == 0, (
        f"list_scenarios.mjs exited {result.returncode}\nstderr: {result.stderr}\n"
        f"requests: {json.dumps(report.get('http'), indent=1)}"
    )
    return report


def test_typescript_sdk_auto_paginates_scenarios(api_server: Any) -> None:
    require_node_sdk()
    client = python_client(api_server)

    before = [s.id for s in client.scenarios.list(limit=PAGE)]
    created = [
        client.scenarios.create(
            name=f"ts-sdk-{n:02d}",
            input_context={"problem_statement": f"TypeScript SDK listing, scenario {n}."},
            scoring_contract=scorers(),
        ).id
        for n in range(COUNT)
    ]
    assert len(set(created)) == COUNT, created
    # the server's order, as the Python SDK pages through it
    expected = [s.id for s in client.scenarios.list(limit=PAGE)]
    assert sorted(set(expected) - set(before)) == sorted(created), expected

    report = list_through_node(api_server)
    ids = report["ids"]
    requests = json.dumps(report["http"], indent=1)
    assert report["transport"] == "http2", report  # the SDK's default, not forced by us
    assert report["sdk"] == SDK_VERSION
    assert len(ids) == len(set(ids)), f"duplicates across pages: {ids}\n{requests}"
    assert ids == expected, f"TypeScript SDK saw {ids}\nPython SDK saw {expected}\n{requests}"
    if not before:
        assert ids in (created, created[::-1]), f"not in creation order either way: {ids}"
    assert report["pages"] == math.ceil(len(expected) / PAGE), report["page_queries"]
    if not before:
        assert report["pages"] == 4
    # each next page asks for what follows the previous page's last item
    cursors = [q.get("starting_after") for q in report["page_queries"]]
    assert cursors == [None, *ids[PAGE - 1 :: PAGE]][: report["pages"]], cursors
    assert all(r.get("status") == 200 for r in report["http"]), requests
    assert len(report["http"]) == report["pages"], f"retries happened: {requests}"


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_list_script_fails_cleanly_without_a_server() -> None:
    require_node_sdk()
    env = {
        **os.environ,
        "RUNLOOP_BASE_URL": f"http://127.0.0.1:{unused_port()}",  # nothing listens there
        "RUNLOOP_API_KEY": "test",
        "RUNLOOP_MAX_RETRIES": "0",
    }
    result = subprocess.run(
        ["node", "list_scenarios.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result
    assert "Connection error" in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ids"] == [] and "error" in report
