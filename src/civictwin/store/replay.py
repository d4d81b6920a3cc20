"""Signed tokens seen before: each (issuer, jti) is accepted once until the token expires."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from civictwin.store.schema import token_replays


def first_use(engine: Engine, issuer: str, jti: str, expires_at: float, now: float) -> bool:
    """Record a token's (issuer, jti); return False if it was recorded before (a replay)."""
    try:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(delete(token_replays).where(token_replays.c.expires_at < now))
            conn.execute(insert(token_replays).values(issuer=issuer, jti=jti,
                                                      expires_at=expires_at))
    except IntegrityError:
        return False
    return True
