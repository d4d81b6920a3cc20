"""The network's tables in SQL shared by both stores: discovered catalogues, cross-city answers."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from civictwin.store.base import Store
from civictwin.store.schema import network_answers, network_catalogues


class NetworkStore:
    """Peer catalogue snapshots and saved answers over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("the network needs a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def _write(self) -> Connection:
        # `write` makes SQLite take its write lock at BEGIN (see SqliteStore); others ignore it.
        return self.engine.connect().execution_options(write=True)

    def put_catalog(self, peer: str, fetched_at: str, catalog: dict[str, Any]) -> None:
        """Keep the catalogue just discovered at a peer, replacing the one before."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(network_catalogues).where(network_catalogues.c.peer == peer))
            conn.execute(insert(network_catalogues).values(
                peer=peer, fetched_at=fetched_at, catalog=json.dumps(catalog)))

    def catalog(self, peer: str) -> tuple[str, dict[str, Any]] | None:
        """Return (fetched_at, catalogue) last discovered at a peer, or None."""
        c = network_catalogues.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.fetched_at, c.catalog).where(c.peer == peer)).first()
        return (row.fetched_at, json.loads(row.catalog)) if row is not None else None

    def put_answer(self, answer_id: str, question: str, asked_at: str,
                   answer: dict[str, Any]) -> None:
        """Save a cross-city answer."""
        with self._write() as conn, conn.begin():
            conn.execute(insert(network_answers).values(
                id=answer_id, question=question, asked_at=asked_at, answer=json.dumps(answer)))

    def answer(self, answer_id: str) -> dict[str, Any] | None:
        """Return a saved answer, or None."""
        c = network_answers.c
        with self.engine.connect() as conn:
            text = conn.execute(select(c.answer).where(c.id == answer_id)).scalar()
        return json.loads(text) if text is not None else None

    def answers(self, question: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Return saved answers (of one question), newest first."""
        c = network_answers.c
        query = select(c.answer).order_by(c.asked_at.desc(), c.id.desc()).limit(limit)
        if question is not None:
            query = query.where(c.question == question)
        with self.engine.connect() as conn:
            return [json.loads(t) for t in conn.execute(query).scalars()]
