"""Data space rows in SQL shared by both stores: participants, API keys, negotiations, transfers.

State changes are compare-and-set: an update names the state it expects, so two messages
racing for one negotiation or transfer cannot both move it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from civictwin.errors import AlreadyExists
from civictwin.store.base import Store
from civictwin.store.schema import (
    dsp_negotiations,
    dsp_transfers,
    participant_keys,
    participants,
    temporal_entities,
)

Values = dict[str, Any]


def now_text() -> str:
    """Return the current UTC time in the store's sortable text form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DataspaceStore:
    """Participant, key, negotiation and transfer rows over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("the data space needs a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def _write(self) -> Connection:
        # `write` makes SQLite take its write lock at BEGIN (see SqliteStore); others ignore it.
        return self.engine.connect().execution_options(write=True)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection inside one write transaction (committed on success)."""
        with self._write() as conn, conn.begin():
            yield conn

    # -- participants --------------------------------------------------------------------
    def insert_participant(self, values: Values) -> None:
        """Store a new participant; AlreadyExists if its id is taken."""
        try:
            with self._write() as conn, conn.begin():
                if conn.execute(select(participants.c.id).where(
                        participants.c.id == values["id"])).first() is not None:
                    raise AlreadyExists(f"participant {values['id']} exists already")
                conn.execute(insert(participants).values(**values))
        except IntegrityError as exc:
            raise AlreadyExists(f"participant {values['id']} exists already") from exc

    def participant(self, participant_id: str) -> Values | None:
        """Return one participant row, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(participants).where(
                participants.c.id == participant_id)).first()
        return _plain(row)

    def participants(self) -> list[Values]:
        """Return every participant row, ordered by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(participants).order_by(participants.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def update_participant(self, participant_id: str, values: Values) -> bool:
        """Change a participant's columns; return whether it exists."""
        with self._write() as conn, conn.begin():
            done = conn.execute(update(participants).where(participants.c.id == participant_id)
                                .values(**values, modified_at=now_text()))
        return done.rowcount > 0

    def delete_participant(self, participant_id: str) -> bool:
        """Delete a participant and its keys; return whether it existed."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(participant_keys).where(
                participant_keys.c.participant_id == participant_id))
            done = conn.execute(delete(participants).where(participants.c.id == participant_id))
        return done.rowcount > 0

    # -- API keys ------------------------------------------------------------------------
    def insert_key(self, values: Values) -> None:
        """Store a new API key row (its secret hashed by the caller)."""
        with self._write() as conn, conn.begin():
            conn.execute(insert(participant_keys).values(**values))

    def key(self, key_id: str) -> Values | None:
        """Return one API key row, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(participant_keys).where(
                participant_keys.c.key_id == key_id)).first()
        return _plain(row)

    def keys(self, participant_id: str) -> list[Values]:
        """Return a participant's key rows, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(participant_keys).where(
                participant_keys.c.participant_id == participant_id)
                .order_by(participant_keys.c.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def delete_keys(self, participant_id: str, key_id: str | None = None) -> int:
        """Delete one key (or all) of a participant; return how many went."""
        stmt = delete(participant_keys).where(participant_keys.c.participant_id == participant_id)
        if key_id is not None:
            stmt = stmt.where(participant_keys.c.key_id == key_id)
        with self._write() as conn, conn.begin():
            return int(conn.execute(stmt).rowcount)

    # -- negotiations and transfers --------------------------------------------------------
    def insert_negotiation(self, values: Values, conn: Connection | None = None) -> None:
        """Store a new negotiation row (inside `conn`'s transaction if given)."""
        if conn is not None:
            conn.execute(insert(dsp_negotiations).values(**values))
            return
        with self._write() as own, own.begin():
            own.execute(insert(dsp_negotiations).values(**values))

    def negotiation(self, pid: str) -> Values | None:
        """Return the negotiation this side knows by `pid`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(dsp_negotiations).where(
                dsp_negotiations.c.pid == pid)).first()
        return _plain(row)

    def negotiation_by_agreement(self, agreement_id: str) -> Values | None:
        """Return the negotiation that reached `agreement_id`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(dsp_negotiations).where(
                dsp_negotiations.c.agreement_id == agreement_id)).first()
        return _plain(row)

    def negotiations(self, role: str | None = None) -> list[Values]:
        """Return negotiation rows (of one role), newest first."""
        stmt = select(dsp_negotiations).order_by(dsp_negotiations.c.created_at.desc())
        if role is not None:
            stmt = stmt.where(dsp_negotiations.c.role == role)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt).all()]

    def move_negotiation(self, pid: str, expected: str | None, values: Values,
                         conn: Connection | None = None) -> bool:
        """Update a negotiation if it is still in state `expected`; return whether it was."""
        stmt = update(dsp_negotiations).where(dsp_negotiations.c.pid == pid)
        if expected is not None:
            stmt = stmt.where(dsp_negotiations.c.state == expected)
        stmt = stmt.values(**values, modified_at=now_text())
        if conn is not None:
            return bool(conn.execute(stmt).rowcount)
        with self._write() as own, own.begin():
            return bool(own.execute(stmt).rowcount)

    def count_use(self, agreement_id: str) -> None:
        """Count one more use of an agreement."""
        with self._write() as conn, conn.begin():
            conn.execute(update(dsp_negotiations)
                         .where(dsp_negotiations.c.agreement_id == agreement_id)
                         .values(uses=dsp_negotiations.c.uses + 1))

    def insert_transfer(self, values: Values, conn: Connection | None = None) -> None:
        """Store a new transfer row (inside `conn`'s transaction if given)."""
        if conn is not None:
            conn.execute(insert(dsp_transfers).values(**values))
            return
        with self._write() as own, own.begin():
            own.execute(insert(dsp_transfers).values(**values))

    def transfer(self, pid: str) -> Values | None:
        """Return the transfer this side knows by `pid`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(dsp_transfers).where(dsp_transfers.c.pid == pid)).first()
        return _plain(row)

    def transfer_by_token(self, token_id: str) -> Values | None:
        """Return the provider-side transfer that issued access token `token_id`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(dsp_transfers).where(
                dsp_transfers.c.token_id == token_id)).first()
        return _plain(row)

    def transfers(self, agreement_id: str | None = None) -> list[Values]:
        """Return transfer rows (of one agreement), newest first."""
        stmt = select(dsp_transfers).order_by(dsp_transfers.c.created_at.desc())
        if agreement_id is not None:
            stmt = stmt.where(dsp_transfers.c.agreement_id == agreement_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt).all()]

    def move_transfer(self, pid: str, expected: str | None, values: Mapping[str, Any],
                      conn: Connection | None = None) -> bool:
        """Update a transfer if it is still in state `expected`; return whether it was."""
        stmt = update(dsp_transfers).where(dsp_transfers.c.pid == pid)
        if expected is not None:
            stmt = stmt.where(dsp_transfers.c.state == expected)
        stmt = stmt.values(**values, modified_at=now_text())
        if conn is not None:
            return bool(conn.execute(stmt).rowcount)
        with self._write() as own, own.begin():
            return bool(own.execute(stmt).rowcount)

    def delete_transfer(self, pid: str) -> None:
        """Forget a transfer that never reached the other side."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(dsp_transfers).where(dsp_transfers.c.pid == pid))

    def delete_negotiation(self, pid: str) -> None:
        """Forget a negotiation that never reached the other side."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(dsp_negotiations).where(dsp_negotiations.c.pid == pid))

    # -- what a dataset covers -------------------------------------------------------------
    def temporal_types(self, tenant: str, entity_id: str) -> set[str]:
        """Return the types an entity with history has (or had)."""
        stmt = select(temporal_entities.c.type).where(temporal_entities.c.tenant == tenant,
                                                      temporal_entities.c.entity_id == entity_id)
        with self.engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(stmt)}


def _plain(row: Row[Any] | None) -> Values | None:
    return dict(row._mapping) if row is not None else None
