"""Bearer-token auth for every /v1 route, and signed URLs for object transfers.

The token is made on first start and kept 0600 in the config directory; ``--token`` or
``SANDBENCH_API_TOKEN`` override it. Object upload and download URLs carry their own
signature and expiry, since the SDK sends those requests without the Authorization header.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from fastapi import Request

from sandbench import paths
from sandbench.api.errors import ApiError

TOKEN_ENV = "SANDBENCH_API_TOKEN"


def token_path() -> Path:
    return paths.config_dir() / "api-token"


def load_token(given: str | None = None) -> tuple[str, str]:
    """(token, where it came from): ``--token``, the environment, or the token file
    (made on first use)."""
    if given:
        return given, "--token"
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], TOKEN_ENV
    path = token_path()
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored, str(path)
    token = "sbk_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    path.chmod(0o600)
    return token, str(path)


def require_token(request: Request) -> None:
    expected: str = request.app.state.context.token
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), expected):
        raise ApiError(401, "missing or wrong API token (Authorization: Bearer TOKEN)")


def _signature(token: str, action: str, object_id: str, expires: int) -> str:
    key = hashlib.sha256(("objects:" + token).encode()).digest()
    message = f"{action}:{object_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_url(request: Request, action: str, object_id: str, seconds: int) -> str:
    token: str = request.app.state.context.token
    expires = int(time.time()) + seconds
    signature = _signature(token, action, object_id, expires)
    base = str(request.base_url).rstrip("/")
    return f"{base}/objects/{object_id}/{action}?expires={expires}&signature={signature}"


def check_signature(request: Request, action: str, object_id: str) -> None:
    token: str = request.app.state.context.token
    try:
        expires = int(request.query_params.get("expires", ""))
    except ValueError:
        raise ApiError(401, "this object URL is not signed") from None
    given = request.query_params.get("signature", "")
    if not hmac.compare_digest(given, _signature(token, action, object_id, expires)):
        raise ApiError(401, "this object URL's signature is wrong")
    if expires < time.time():
        raise ApiError(401, "this object URL has expired; ask for a new one", retry=False)
