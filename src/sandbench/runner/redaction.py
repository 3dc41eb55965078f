"""Redact secret values from streamed output, even when a value is split across chunks."""

from __future__ import annotations

from collections.abc import Callable

from sandbench.secrets import redactor

HOLD_LIMIT = 64 * 1024


class RedactingStream:
    """Line-buffered: whole lines are redacted and released; a partial line waits for its
    end (or, past 64 KiB, is released except a tail that could hold a secret's start)."""

    def __init__(self, secrets: list[str]) -> None:
        self._redact: Callable[[str], str] = redactor(secrets)
        self._longest = max((len(s) for s in secrets if s), default=0)
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._longest:
            return text
        self._held += text
        cut = self._held.rfind("\n") + 1
        if cut == 0 and len(self._held) > HOLD_LIMIT:
            # Redact first, then keep back what could still be the start of a secret.
            redacted = self._redact(self._held)
            keep = self._longest - 1
            self._held = redacted[-keep:] if keep else ""
            return redacted[: len(redacted) - keep] if keep else redacted
        ready, self._held = self._held[:cut], self._held[cut:]
        return self._redact(ready)

    def flush(self) -> str:
        ready, self._held = self._held, ""
        return self._redact(ready)
