"""A minimal JSON-over-HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Callable

Transport = Callable[[str, float], "tuple[int, bytes]"]


class HTTPError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def urllib_transport(url: str, timeout: float) -> tuple[int, bytes]:
    """Default transport: GET ``url`` with urllib, return (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Client:
    """GET JSON documents from ``base_url``."""

    def __init__(
        self,
        base_url: str,
        transport: Transport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport or urllib_transport
        self.timeout = timeout

    def get_json(self, path: str) -> Any:
        """GET ``path`` and decode the JSON body; raise HTTPError on 4xx/5xx."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        status, body = self.transport(url, self.timeout)
        if status >= 400:
            raise HTTPError(status, body)
        return json.loads(body)
