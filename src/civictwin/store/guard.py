"""Statement time limits: PostgreSQL's `statement_timeout`, and the same bound on SQLite.

SQLite has no statement timeout, so every connection gets a progress handler that interrupts
a statement running past its deadline, and its own REGEXP function built on the `regex`
module, which takes a timeout: Python's `re` cannot be interrupted once it backtracks, and a
progress handler only runs between the virtual machine's steps, not inside a function call.
The deadline starts when a statement is sent and is cleared at commit and rollback, so ending
a long transaction is never interrupted. Either way the caller gets QueryTimeout, not a hang.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from typing import Any

import regex  # type: ignore[import-untyped]
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from civictwin.errors import QueryTimeout

PROGRESS_STEPS = 1000
"""SQLite virtual machine steps between two looks at the clock (microseconds of work)."""


class StatementGuard:
    """The statement time limit of one store (None: no limit)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seconds: float | None = None

    def timeout_error(self) -> QueryTimeout:
        """Return the error a statement that ran out of time raises."""
        return QueryTimeout(f"the query ran longer than statement_timeout_seconds "
                            f"({self.seconds:g} s) and was cancelled; narrow it (fewer "
                            "entities, a simpler regular expression)")


def set_statement_timeout(store: Any, seconds: float | None) -> None:
    """Limit how long one statement of `store` may run (None or 0: no limit)."""
    guard: StatementGuard | None = getattr(store, "statement_guard", None)
    if guard is None:
        return
    wanted = seconds or None
    if guard.seconds != wanted:
        guard.seconds = wanted
        guard.engine.dispose()  # PostgreSQL sets the limit per connection, when it connects


def guard_postgres(engine: Engine) -> StatementGuard:
    """Give a PostgreSQL engine a statement timeout; turn its cancellations into QueryTimeout."""
    guard = StatementGuard(engine)

    @event.listens_for(engine, "connect")
    def _limit(dbapi_conn: Any, _record: Any) -> None:
        milliseconds = int((guard.seconds or 0) * 1000)
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {milliseconds}")  # an int, not user text
        dbapi_conn.commit()

    @event.listens_for(engine, "handle_error")
    def _cancelled(context: ExceptionContext) -> None:
        if getattr(context.original_exception, "sqlstate", None) == "57014":  # query_canceled
            raise guard.timeout_error() from context.original_exception

    return guard


class _Deadline:
    """One SQLite connection's running statement deadline."""

    def __init__(self, guard: StatementGuard) -> None:
        self.guard = guard
        self.at: float | None = None
        self.expired = False

    def start(self) -> None:
        self.expired = False
        seconds = self.guard.seconds
        self.at = time.monotonic() + seconds if seconds else None

    def clear(self) -> None:
        self.at = None

    def progress(self) -> int:
        if self.at is not None and time.monotonic() > self.at:
            self.expired = True
            return 1  # SQLite interrupts the statement
        return 0

    def regexp(self, pattern: str, text: str | None) -> bool | None:
        if text is None:
            return None
        timeout = None if self.at is None else max(self.at - time.monotonic(), 0.001)
        try:
            return _compile(pattern).search(text, timeout=timeout, concurrent=True) is not None
        except TimeoutError:
            self.expired = True
            raise


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error:
        return re.compile(pattern)  # `re` syntax `regex` reads differently; validated by `re`


def guard_sqlite(engine: Engine) -> StatementGuard:
    """Give a SQLite engine statement deadlines and a REGEXP that honours them."""
    guard = StatementGuard(engine)

    @event.listens_for(engine, "connect")
    def _install(dbapi_conn: Any, record: Any) -> None:
        deadline = _Deadline(guard)
        record.info["deadline"] = deadline
        dbapi_conn.set_progress_handler(deadline.progress, PROGRESS_STEPS)
        dbapi_conn.create_function("regexp", 2, deadline.regexp, deterministic=True)

    def _deadline(conn: Any) -> _Deadline | None:
        found = conn.info.get("deadline") if conn is not None else None
        return found if isinstance(found, _Deadline) else None

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, *_args: Any) -> None:
        if (deadline := _deadline(conn)) is not None:
            deadline.start()

    def _end(conn: Any) -> None:
        if (deadline := _deadline(conn)) is not None:
            deadline.clear()

    def _returned(_dbapi: Any, record: Any) -> None:
        found = record.info.get("deadline") if record is not None else None
        if isinstance(found, _Deadline):
            found.clear()

    def _reset(dbapi: Any, record: Any, _reset_state: Any) -> None:
        _returned(dbapi, record)

    event.listen(engine, "commit", _end)
    event.listen(engine, "rollback", _end)
    event.listen(engine.pool, "checkin", _returned)
    event.listen(engine.pool, "reset", _reset)

    @event.listens_for(engine, "handle_error")
    def _interrupted(context: ExceptionContext) -> None:
        deadline = _deadline(context.connection)
        original = context.original_exception
        if deadline is not None and deadline.expired and isinstance(original, sqlite3.Error):
            deadline.expired = False
            raise guard.timeout_error() from original

    return guard
