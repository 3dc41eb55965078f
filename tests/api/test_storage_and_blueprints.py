"""Storage objects, blueprints and list paging through the real Runloop SDK (1.32.0)
against a real `sandbench serve`.

The SDK uploads and downloads object bytes with bare requests to server-made URLs (no
Authorization header), so those URLs are signed; blueprints build from a Dockerfile and an
uploaded build context; lists page by ``starting_after`` until ``has_more`` is false.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

pytestmark = pytest.mark.podman

BASE_IMAGE = "localhost/sandbench-base:latest"


class Recorder:
    """Every request a client sends, seen through httpx's event hooks."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self]}, timeout=httpx.Timeout(60, connect=5))

    def sent(self, method: str, path_part: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and path_part in r.url.path]


def sdk_for(api_server: Any, http_client: httpx.Client | None = None, **kwargs: Any) -> Any:
    from runloop_api_client import RunloopSDK

    return RunloopSDK(
        base_url=api_server.base_url,
        bearer_token=api_server.token,
        http_client=http_client,
        **kwargs,
    )


def until(check: Any, *, deadline_s: float, what: str) -> Any:
    """Poll ``check`` (a request to the server) until it answers something truthy."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {deadline_s} s"
        time.sleep(0.2)  # between polls of the server: there is no event to wait on


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


# ---------------------------------------------------------------------------- objects


def test_objects_from_text_and_bytes_round_trip(api_server: Any) -> None:
    from runloop_api_client import NotFoundError

    recorder = Recorder()
    sdk = sdk_for(api_server, recorder.client())
    text = sdk.storage_object.upload_from_text(
        "hello, object\nsecond line ✓\n", name="greeting.txt", metadata={"kind": "greeting"}
    )
    payload = bytes(range(256)) * 100
    blob = sdk.storage_object.upload_from_bytes(payload, name="blob.bin", content_type="binary")

    # the bytes went by bare PUTs to the upload URLs, without the bearer token
    puts = recorder.sent("PUT", "/upload")
    assert len(puts) == 2
    assert all("authorization" not in r.headers for r in puts)
    assert all(r.url.path.startswith("/objects/") for r in puts)

    info = text.refresh()
    assert info.state == "READ_ONLY"
    assert info.content_type == "text"
    assert info.name == "greeting.txt"
    assert info.metadata == {"kind": "greeting"}
    assert info.size_bytes == len("hello, object\nsecond line ✓\n".encode())
    assert sdk.api.objects.retrieve(blob.id).size_bytes == len(payload)

    assert text.download_as_text() == "hello, object\nsecond line ✓\n"
    assert blob.download_as_bytes() == payload
    downloads = recorder.sent("GET", "/download")
    assert [r for r in downloads if r.url.path.startswith("/objects/")]
    assert all(
        "authorization" not in r.headers for r in downloads if r.url.path.startswith("/objects/")
    )

    listed = sdk.api.objects.list(name="greeting.txt").objects
    assert [o.id for o in listed] == [text.id]
    everything = {o.id for o in sdk.api.objects.list().objects}
    assert {text.id, blob.id} <= everything

    deleted = text.delete()
    assert deleted.state == "DELETED"
    with pytest.raises(NotFoundError):
        text.refresh()
    assert text.id not in {o.id for o in sdk.api.objects.list().objects}
    assert sdk.api.objects.list(name="greeting.txt").objects == []


def test_object_transfer_urls_need_a_right_and_current_signature(api_server: Any) -> None:
    sdk = sdk_for(api_server)
    created = sdk.api.objects.create(name="signed.txt", content_type="text")
    assert created.state == "UPLOADING"
    url = created.upload_url
    assert url

    with httpx.Client(timeout=30) as bare:
        assert bare.put(with_query(url, signature="0" * 64), content=b"evil").status_code == 401
        later = str(int(time.time()) + 86400)
        assert bare.put(with_query(url, expires=later), content=b"evil").status_code == 401
        unsigned = urlunsplit(urlsplit(url)._replace(query=""))
        assert bare.put(unsigned, content=b"evil").status_code == 401
        # another object's signature does not open this one
        other = sdk.api.objects.create(name="other.txt", content_type="text").upload_url
        parts = dict(parse_qsl(urlsplit(other).query))
        assert bare.put(with_query(url, **parts), content=b"evil").status_code == 401

        # rightly signed, but for a time already past
        from sandbench.api.auth import _signature

        past = int(time.time()) - 5
        stale = with_query(
            url,
            expires=str(past),
            signature=_signature(api_server.token, "upload", created.id, past),
        )
        answer = bare.put(stale, content=b"late")
        assert answer.status_code == 401
        assert "expired" in answer.text

        assert bare.put(url, content=b"genuine").status_code == 200
        sdk.api.objects.complete(created.id)

        link = sdk.api.objects.download(created.id, duration_seconds=1).download_url
        first = bare.get(link)
        assert first.status_code == 200
        assert first.content == b"genuine"
        assert bare.get(with_query(link, signature="f" * 64)).status_code == 401
        # the same URL stops working once its second has passed
        expired = until(
            lambda: (answer := bare.get(link)).status_code == 401 and answer,
            deadline_s=10,
            what="the download URL expiring",
        )
        assert "expired" in expired.text


def test_an_object_not_completed_has_nothing_to_download(api_server: Any) -> None:
    from runloop_api_client import ConflictError

    sdk = sdk_for(api_server, max_retries=0)
    pending = sdk.api.objects.create(name="pending.txt", content_type="text")
    with pytest.raises(ConflictError, match="UPLOADING"):
        sdk.api.objects.download(pending.id)
    with api_server.http() as http:
        answer = http.get(f"/v1/objects/{pending.id}/download")
        assert answer.status_code == 409
        assert answer.headers["x-should-retry"] == "false"
    with httpx.Client(timeout=30) as bare:  # uploaded but not completed: still nothing
        assert bare.put(pending.upload_url, content=b"half").status_code == 200
    with pytest.raises(ConflictError):
        sdk.api.objects.download(pending.id)
    sdk.api.objects.complete(pending.id)
    assert sdk.storage_object.from_id(pending.id).download_as_bytes() == b"half"


def test_an_object_with_a_ttl_expires(api_server: Any) -> None:
    from runloop_api_client import NotFoundError

    sdk = sdk_for(api_server)
    short = sdk.storage_object.upload_from_text(
        "fleeting", name="ttl.txt", ttl=timedelta(seconds=2)
    )
    kept = sdk.storage_object.upload_from_text("lasting", name="kept.txt")
    info = short.refresh()
    assert info.delete_after_time_ms is not None
    assert 1000 <= info.delete_after_time_ms - info.create_time_ms <= 2000
    assert short.download_as_text() == "fleeting"

    def gone() -> bool:
        try:
            short.refresh()
        except NotFoundError:
            return True
        return False

    until(gone, deadline_s=15, what="the object expiring")
    assert short.id not in {o.id for o in sdk.api.objects.list().objects}
    assert kept.refresh().state == "READ_ONLY"


# ---------------------------------------------------------------------------- paging


def test_lists_page_seven_at_a_time_without_gaps_or_duplicates(api_server: Any) -> None:
    maker = sdk_for(api_server)
    made = [
        maker.api.network_policies.create(name=f"page-policy-{i:02d}", allow_all=True).id
        for i in range(25)
    ]
    assert len(set(made)) == 25

    recorder = Recorder()
    sdk = sdk_for(api_server, recorder.client())
    seen = [policy.id for policy in sdk.api.network_policies.list(limit=7)]
    assert len(seen) == 25
    assert len(set(seen)) == 25
    assert set(seen) == set(made)
    assert seen == made  # oldest first, as made

    pages = recorder.sent("GET", "/v1/network-policies")
    assert len(pages) == 4
    assert [p.url.params.get("limit") for p in pages] == ["7"] * 4
    cursors = [p.url.params.get("starting_after") for p in pages]
    assert cursors == [None, seen[6], seen[13], seen[20]]

    first = sdk.api.network_policies.list(limit=7)
    assert len(first.network_policies) == 7
    assert first.has_more is True
    assert first.total_count == 25


# ---------------------------------------------------------------------------- blueprints


def context_dir(tmp_path: Path, hello: str) -> Path:
    directory = tmp_path / "build-context"
    directory.mkdir()
    (directory / "hello.txt").write_text(hello)
    return directory


@pytest.mark.slow
def test_a_blueprint_builds_from_an_uploaded_context_and_is_reused(
    api_server: Any, tmp_path: Path
) -> None:
    sdk = sdk_for(api_server)
    hello = f"hello from the build context {uuid.uuid4().hex}\n"
    context = sdk.storage_object.upload_from_dir(
        context_dir(tmp_path, hello), name="hello-context.tar.gz"
    )
    assert context.refresh().content_type == "tgz"
    name = f"hello-blueprint-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {BASE_IMAGE}\nCOPY hello.txt /hello.txt\n"

    blueprint = sdk.blueprint.create(
        name=name, dockerfile=dockerfile, build_context=context.as_build_context()
    )
    info = blueprint.get_info()
    assert info.status == "build_complete"
    assert info.name == name
    assert info.parameters.dockerfile == dockerfile
    assert info.build_finish_time_ms is not None
    log_lines = blueprint.logs().logs
    assert log_lines
    assert any("COPY" in (line.message or "") for line in log_lines)

    by_id = sdk.devbox.create_from_blueprint_id(blueprint.id)
    assert by_id.file.read(file_path="/hello.txt") == hello
    assert by_id.get_info().blueprint_id == blueprint.id
    by_name = sdk.devbox.create_from_blueprint_name(name)
    assert by_name.cmd.exec("cat /hello.txt").stdout() == hello

    # the same name and content again: the same blueprint, complete at once, not rebuilt
    again = sdk.api.blueprints.create(
        name=name, dockerfile=dockerfile, build_context={"object_id": context.id, "type": "object"}
    )
    assert again.id == blueprint.id
    assert again.status == "build_complete"
    assert again.build_finish_time_ms == info.build_finish_time_ms
    assert len(blueprint.logs().logs) == len(log_lines)

    listed = sdk.api.blueprints.list(name=name).blueprints
    assert [b.id for b in listed] == [blueprint.id]
    assert listed[0].status == "build_complete"
    assert sdk.api.blueprints.list(name="no-such-blueprint").blueprints == []
    assert sdk.api.blueprints.list_public(name=name).blueprints == []


@pytest.mark.slow
def test_a_dockerfile_that_fails_ends_the_blueprint_failed(api_server: Any) -> None:
    from runloop_api_client import RunloopError

    sdk = sdk_for(api_server)
    name = f"failing-blueprint-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {BASE_IMAGE}\nRUN echo about to fail {uuid.uuid4().hex} && false\n"
    with pytest.raises(RunloopError):
        sdk.blueprint.create(name=name, dockerfile=dockerfile)

    listed = sdk.api.blueprints.list(name=name).blueprints
    assert len(listed) == 1
    failed = listed[0]
    assert failed.status == "failed"
    assert failed.failure_reason == "build_failed"
    messages = "\n".join(line.message for line in sdk.api.blueprints.logs(failed.id).logs)
    assert "about to fail" in messages
