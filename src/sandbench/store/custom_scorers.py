"""Custom scorers: bash scripts registered under a ``custom_scorer_type`` name."""

from __future__ import annotations

from sandbench.errors import Conflict, NotFound
from sandbench.model.custom_scorer import CustomScorerDefinition
from sandbench.model.ids import new_id
from sandbench.store.database import Database, now_ms


class CustomScorerStore(Database):
    def register_custom_scorer(self, type_: str, bash_script: str) -> CustomScorerDefinition:
        """Register or replace the script for ``type_``."""
        CustomScorerDefinition(  # validates the name before anything is written
            id="sco_check",
            type=type_,
            bash_script=bash_script,
            create_time_ms=0,
            update_time_ms=0,
        )
        stamp = now_ms()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO custom_scorers (id, type, bash_script, create_time_ms,"
                " update_time_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(type) DO UPDATE SET"
                " bash_script = excluded.bash_script, update_time_ms = excluded.update_time_ms",
                [new_id("custom_scorer"), type_, bash_script, stamp, stamp],
            )
        return self.get_custom_scorer(type_)

    def get_custom_scorer(self, type_: str) -> CustomScorerDefinition:
        row = self.conn.execute(
            "SELECT * FROM custom_scorers WHERE type = ? OR id = ?", [type_, type_]
        ).fetchone()
        if row is None:
            raise NotFound(
                f"no custom scorer {type_!r}; register it with"
                f" `sandbench scorers register {type_} --script FILE`"
            )
        return CustomScorerDefinition(**dict(row))

    def list_custom_scorers(self) -> list[CustomScorerDefinition]:
        rows = self.conn.execute("SELECT * FROM custom_scorers ORDER BY type").fetchall()
        return [CustomScorerDefinition(**dict(r)) for r in rows]

    def create_custom_scorer(self, type_: str, bash_script: str) -> CustomScorerDefinition:
        """A new custom scorer type; a type that exists already is a conflict."""
        if self.conn.execute("SELECT 1 FROM custom_scorers WHERE type = ?", [type_]).fetchone():
            raise Conflict(f"a custom scorer of type {type_!r} exists; update it instead")
        return self.register_custom_scorer(type_, bash_script)

    def update_custom_scorer(
        self, ref: str, type_: str, bash_script: str
    ) -> CustomScorerDefinition:
        current = self.get_custom_scorer(ref)
        CustomScorerDefinition(**{**current.model_dump(), "type": type_})  # checks the name
        with self.write() as conn:
            if (
                type_ != current.type
                and conn.execute("SELECT 1 FROM custom_scorers WHERE type = ?", [type_]).fetchone()
            ):
                raise Conflict(f"a custom scorer of type {type_!r} exists already")
            conn.execute(
                "UPDATE custom_scorers SET type = ?, bash_script = ?, update_time_ms = ?"
                " WHERE id = ?",
                [type_, bash_script, now_ms(), current.id],
            )
        return self.get_custom_scorer(current.id)
