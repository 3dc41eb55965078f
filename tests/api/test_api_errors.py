"""Errors and retries as Runloop's clients expect them, against a real `sandbench serve`.

Clients retry 408, 409, 429 and 5xx (Harbor a hundred times), so a permanent problem must
be a 4xx that names what is wrong, any 409 must say ``x-should-retry: false``, and a create
retried with the same ``x-request-id`` must not make a second object or run twice.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.podman


def sdk_for(api_server: Any, **kwargs: Any) -> Any:
    from runloop_api_client import RunloopSDK

    return RunloopSDK(base_url=api_server.base_url, bearer_token=api_server.token, **kwargs)


def devbox_count(api_server: Any) -> int:
    with api_server.http() as http:
        answer = http.get("/v1/devboxes", params={"limit": 100})
        assert answer.status_code == 200
        return len(answer.json()["devboxes"])


def test_a_wrong_token_is_401(api_server: Any) -> None:
    import httpx
    from runloop_api_client import AuthenticationError, RunloopSDK

    wrong = RunloopSDK(base_url=api_server.base_url, bearer_token="sbk_not_the_token")
    with pytest.raises(AuthenticationError):
        wrong.api.devboxes.list()
    with pytest.raises(AuthenticationError):
        wrong.api.devboxes.create()
    with pytest.raises(AuthenticationError):
        wrong.api.objects.create(name="x", content_type="text")
    with httpx.Client(base_url=api_server.base_url, timeout=30) as bare:
        assert bare.get("/v1/devboxes").status_code == 401
        assert bare.get("/v1/blueprints").status_code == 401
        assert bare.get("/v1/secrets").status_code == 401
    assert devbox_count(api_server) == 0


def test_an_unknown_devbox_is_404(api_server: Any) -> None:
    from runloop_api_client import NotFoundError

    sdk = sdk_for(api_server)
    missing = "dbx_doesnotexist0000000"
    with pytest.raises(NotFoundError, match=missing):
        sdk.api.devboxes.retrieve(missing)
    with pytest.raises(NotFoundError):
        sdk.api.devboxes.execute_async(missing, command="true")
    with pytest.raises(NotFoundError):
        sdk.api.devboxes.shutdown(missing)
    with pytest.raises(NotFoundError):
        sdk.api.devboxes.read_file_contents(missing, file_path="/etc/hostname")
    with api_server.http() as http:
        waited = http.post(
            f"/v1/devboxes/{missing}/wait_for_status",
            json={"statuses": ["running"], "timeout_seconds": 1},
        )
        assert waited.status_code == 404  # not a 408: there is nothing to wait for


@pytest.mark.parametrize(
    ("launch", "field"),
    [
        ({"resource_size_request": "HUGE"}, "resource_size_request"),
        (
            {"resource_size_request": "CUSTOM_SIZE", "custom_cpu_cores": 3, "custom_gb_memory": 6},
            "custom_cpu_cores",
        ),
        ({"architecture": "sparc"}, "architecture"),
        ({"keep_alive_time_seconds": "soon"}, "keep_alive_time_seconds"),
    ],
)
def test_a_bad_launch_parameter_is_400_naming_it_and_creates_nothing(
    api_server: Any, launch: dict[str, Any], field: str
) -> None:
    from runloop_api_client import BadRequestError

    sdk = sdk_for(api_server)
    with pytest.raises(BadRequestError) as refused:
        sdk.api.devboxes.create(launch_parameters=launch)
    assert f"launch_parameters.{field}" in str(refused.value)
    with pytest.raises(BadRequestError, match=field):
        sdk.api.devboxes.create_and_await_running(launch_parameters=launch)
    assert devbox_count(api_server) == 0


def test_a_conflict_says_do_not_retry(api_server: Any) -> None:
    with api_server.http() as http:
        first = http.post("/v1/secrets", json={"name": "TWICE_MADE", "value": "one"})
        assert first.status_code == 200, first.text
        second = http.post("/v1/secrets", json={"name": "TWICE_MADE", "value": "two"})
        assert second.status_code == 409
        assert second.headers["x-should-retry"] == "false"
        assert "TWICE_MADE" in second.json()["message"]

        policy = {"name": "dup-policy", "allow_all": True}
        assert http.post("/v1/network-policies", json=policy).status_code == 200
        again = http.post("/v1/network-policies", json=policy)
        assert again.status_code == 409
        assert again.headers["x-should-retry"] == "false"


def test_the_sdk_gives_up_on_a_conflict_at_once(api_server: Any) -> None:
    import httpx
    from runloop_api_client import ConflictError

    sent: list[httpx.Request] = []
    client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=30)
    sdk = sdk_for(api_server, http_client=client, max_retries=5)
    sdk.api.secrets.create(name="ONCE_ONLY", value="v")
    with pytest.raises(ConflictError):
        sdk.api.secrets.create(name="ONCE_ONLY", value="v")
    assert len([r for r in sent if r.url.path == "/v1/secrets"]) == 2  # no retries


def test_a_retried_devbox_create_makes_one_devbox(api_server: Any) -> None:
    key = f"stainless-python-retry-{uuid.uuid4()}"
    body = {"name": "only-one", "environment_variables": {"A": "1"}}
    with api_server.http() as http:
        first = http.post("/v1/devboxes", json=body, headers={"x-request-id": key})
        second = http.post("/v1/devboxes", json=body, headers={"x-request-id": key})
        assert first.status_code == 200, first.text
        assert second.status_code == 200, second.text
        assert first.json()["id"] == second.json()["id"]
        listed = http.get("/v1/devboxes").json()
        assert [d["id"] for d in listed["devboxes"]] == [first.json()["id"]]

        # another key is another devbox
        other = http.post("/v1/devboxes", json=body, headers={"x-request-id": key + "-b"})
        assert other.status_code == 200
        assert other.json()["id"] != first.json()["id"]
    assert devbox_count(api_server) == 2


def test_a_retried_execute_async_runs_the_command_once(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    key = f"stainless-python-retry-{uuid.uuid4()}"
    command = "echo ran >> /tmp/runs.txt"
    with api_server.http() as http:
        url = f"/v1/devboxes/{devbox.id}/execute_async"
        first = http.post(url, json={"command": command}, headers={"x-request-id": key})
        second = http.post(url, json={"command": command}, headers={"x-request-id": key})
        assert first.status_code == 200 and second.status_code == 200
        execution_id = first.json()["execution_id"]
        assert second.json()["execution_id"] == execution_id
    done = sdk.api.devboxes.executions.await_completed(execution_id, devbox_id=devbox.id)
    assert done.exit_status == 0

    assert devbox.file.read(file_path="/tmp/runs.txt") == "ran\n"
    runs = [e for e in devbox.logs().logs if e.cmd == command and e.exit_code is not None]
    assert len(runs) == 1

    # without the same key, the same command is a new execution
    sdk.api.devboxes.execute_async(devbox.id, command=command)
    sdk.api.devboxes.execute_async(devbox.id, command=command)
    assert len({e.cmd_id for e in devbox.logs().logs if e.cmd == command}) == 3


def test_a_shut_down_devbox_refuses_work_with_a_4xx_and_shuts_down_again_fine(
    api_server: Any,
) -> None:
    sdk = sdk_for(api_server)
    devbox = sdk.devbox.create()
    devbox.shutdown()
    with api_server.http() as http:
        base = f"/v1/devboxes/{devbox.id}"
        refused = {
            "suspend": http.post(f"{base}/suspend"),
            "resume": http.post(f"{base}/resume"),
            "execute_async": http.post(f"{base}/execute_async", json={"command": "true"}),
            "write_file_contents": http.post(
                f"{base}/write_file_contents", json={"file_path": "/tmp/x", "contents": "x"}
            ),
            "read_file_contents": http.post(
                f"{base}/read_file_contents", json={"file_path": "/etc/hostname"}
            ),
            "download_file": http.post(f"{base}/download_file", json={"path": "/etc/hostname"}),
            "upload_file": http.post(
                f"{base}/upload_file", data={"path": "/tmp/y"}, files={"file": ("y", b"y")}
            ),
            "snapshot_disk_async": http.post(f"{base}/snapshot_disk_async"),
        }
        for action, answer in refused.items():
            assert answer.status_code == 400, (action, answer.status_code, answer.text)
            assert "shutdown" in answer.json()["message"], (action, answer.text)
        # a retried shutdown (Harbor retries it) is not an error
        again = http.post(f"{base}/shutdown")
        assert again.status_code == 200
        assert again.json()["status"] == "shutdown"
