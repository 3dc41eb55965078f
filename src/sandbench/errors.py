"""Errors reported to people: a message and an exit code, never a traceback."""

from __future__ import annotations


class SandbenchError(Exception):
    exit_code = 1


class NotFound(SandbenchError):
    pass


class Conflict(SandbenchError):
    pass


class Stale(Conflict):
    """A change made against a version that is no longer the current one."""


class InvalidInput(SandbenchError):
    """Bad input from a file or the command line (exit code 2)."""

    exit_code = 2
