"""Pages shaped like Runloop's list responses, read with keyset pagination.

Keyset (``WHERE (sort key) > (cursor's sort key)``) rather than OFFSET: pages stay correct
while rows are added, and the thousandth page costs what the first does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sandbench.errors import InvalidInput, NotFound

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    total_count: int
    remaining_count: int

    @property
    def last_id(self) -> str | None:
        last = self.items[-1] if self.items else None
        return getattr(last, "id", None)


@dataclass(frozen=True)
class KeysetQuery:
    """``SELECT <columns> FROM <source> WHERE <filters>`` ordered by ``sort_key``.

    ``sort_key`` is a tuple of SQL expressions ending in a unique column, all ascending or,
    with ``descending``, all descending; ``cursor`` selects the same expressions for the row
    whose id is given as ``starting_after``. Keep the expressions plain indexed columns
    (``seq DESC``, not ``-seq``): SQLite serves neither the order nor the cursor's range of
    an expression from an index, and sorts every matching row instead.
    """

    columns: str
    source: str
    sort_key: Sequence[str]
    filters: Sequence[str] = ()
    params: Sequence[Any] = ()
    # what to count over, when the filters and sort key need less than ``source`` joins in
    count_source: str | None = None
    descending: bool = False

    def _where(self, extra: str | None = None) -> str:
        parts = [*self.filters, *([extra] if extra else [])]
        return (" WHERE " + " AND ".join(f"({p})" for p in parts)) if parts else ""

    def cursor(self, conn: sqlite3.Connection, id_column: str, value: str) -> list[Any]:
        """The sort key of the row ``starting_after`` names (whether or not it matches)."""
        key = ", ".join(self.sort_key)
        row = conn.execute(
            f"SELECT {key} FROM {self.source} WHERE {id_column} = ?", [value]
        ).fetchone()
        if row is None:
            raise NotFound(f"starting_after: no item with id {value!r}")
        return list(row)

    def page(
        self,
        conn: sqlite3.Connection,
        *,
        limit: int,
        starting_after: str | None,
        item: Callable[[sqlite3.Row], T],
    ) -> Page[T]:
        """The page after the row whose id is ``starting_after``, each row made an item by
        ``item`` in the same read (call it inside one read transaction)."""
        id_column = f"{self.source.split()[1]}.id"  # "benchmarks b …" -> b.id
        cursor = self.cursor(conn, id_column, starting_after) if starting_after else None
        rows, total, remaining = self.run(conn, limit=limit, cursor=cursor)
        return Page([item(row) for row in rows], remaining > 0, total, remaining)

    def run(
        self, conn: sqlite3.Connection, *, limit: int, cursor: Sequence[Any] | None
    ) -> tuple[list[sqlite3.Row], int, int]:
        """The page after ``cursor``, the number of matching rows and how many follow the
        page; call it inside one read transaction, so the counts agree with the rows."""
        key = ", ".join(self.sort_key)
        keys = ", ".join(f"{k} AS _k{i}" for i, k in enumerate(self.sort_key))
        order = ", ".join(f"{k} DESC" for k in self.sort_key) if self.descending else key
        marks = ", ".join("?" * len(self.sort_key))
        after = f"({key}) {'<' if self.descending else '>'} ({marks})"
        params = list(self.params)
        cursor_params = list(cursor) if cursor is not None else []
        where = self._where(after if cursor is not None else None)
        rows = conn.execute(
            f"SELECT {self.columns}, {keys} FROM {self.source}{where} ORDER BY {order} LIMIT ?",
            [*params, *cursor_params, limit],
        ).fetchall()
        counted = self.count_source or self.source
        total = conn.execute(f"SELECT count(*) FROM {counted}{self._where()}", params).fetchone()[0]
        if cursor is None:  # a first page: whatever it does not hold follows it
            remaining = total - len(rows)
        elif rows:
            last = [rows[-1][f"_k{i}"] for i in range(len(self.sort_key))]
            remaining = conn.execute(
                f"SELECT count(*) FROM {counted}{self._where(after)}", [*params, *last]
            ).fetchone()[0]
        else:
            remaining = 0
        return rows, total, remaining


def where_equal(alias: str, **values: Any) -> tuple[list[str], list[Any]]:
    """Filters ``alias.column = ?`` for each value given (None or "" leaves it free)."""
    given = {column: value for column, value in values.items() if value not in (None, "")}
    return [f"{alias}.{column} = ?" for column in given], list(given.values())


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
