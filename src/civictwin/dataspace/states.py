"""The one shape of the protocol's state machines: which side's message moves which state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civictwin.errors import InvalidStateTransition
from civictwin.store import Store

PROVIDER = "provider"
CONSUMER = "consumer"
EITHER = "either"


@dataclass(frozen=True)
class Move:
    """A message, the side that may send it, and the states it moves (None: a new process)."""

    message: str
    sender: str
    moves: dict[str | None, str]


class Machine:
    """A protocol state machine: exactly the listed moves, any other is refused."""

    def __init__(self, what: str, moves: list[Move]) -> None:
        self.what = what
        self.moves: dict[str, list[Move]] = {}
        for move in moves:
            self.moves.setdefault(move.message, []).append(move)

    def next_state(self, pid: str | None, state: str | None, message: str, sender: str) -> str:
        """Return the state `message` from `sender` leads to; InvalidStateTransition if none."""
        moves = self.moves.get(message)
        if not moves:
            raise InvalidStateTransition(f"{message} is not a {self.what} message")
        mine = [m for m in moves if m.sender in (EITHER, sender)]
        if not mine:
            raise InvalidStateTransition(f"only the {moves[0].sender} sends {message}; "
                                         f"the {sender} may not")
        for move in mine:
            if state in move.moves:
                return move.moves[state]
        allowed = ", ".join(s or "(new)" for m in mine for s in m.moves)
        raise InvalidStateTransition(
            f"{self.what} {pid} is {state}; {message} from the {sender} applies only when it "
            f"is {allowed}", state=state)

def record(conn: Any, store: Store, tenant: str, actor: str, action: str, subject: str,
           detail: dict[str, Any]) -> None:
    """Record a protocol step in the audit log, inside the caller's transaction."""
    from civictwin.dataspace.audit import AuditLog

    AuditLog(store).record_in(conn, tenant, actor, action, subject, detail)
