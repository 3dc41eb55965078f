"""Prefixed, time-ordered identifiers, shaped like Runloop's (``scn_…``).

Time-ordered so that ids sort by creation, which keeps store pages stable.
"""

from __future__ import annotations

import os
import threading
import time

PREFIXES = {
    "scenario": "scn",
    "scenario_run": "scr",
    "benchmark": "bmd",
    "benchmark_run": "bmr",
    "custom_scorer": "sco",
    "sandbox": "dbx",
    "snapshot": "snp",
    "blueprint": "bpt",
    "scorer_result": "srs",
    "execution": "exe",
    "storage_object": "obj",
    "network_policy": "npo",
    "secret": "sec",
}

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last = (0, 0)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(kind: str) -> str:
    """A new id for ``kind`` (a key of PREFIXES): prefix, 10 chars of ms time, 10 random."""
    global _last
    prefix = PREFIXES[kind]
    with _lock:
        now = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(7), "big") >> 6  # 50 bits
        last_ms, last_rand = _last
        if now <= last_ms:  # same millisecond (or clock went back): stay monotonic
            now, rand = last_ms, last_rand + 1
        _last = (now, rand)
    return f"{prefix}_{_encode(now, 10)}{_encode(rand, 10)}"


def has_prefix(value: str, kind: str) -> bool:
    return value.startswith(PREFIXES[kind] + "_")
