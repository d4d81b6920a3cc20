"""Participants on both stores: registration, status, API keys stored only as hashes."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from civictwin.cli import app
from civictwin.dataspace.participants import Participants
from civictwin.errors import AlreadyExists, BadRequestData, ResourceNotFound
from civictwin.store import Store
from civictwin.store.schema import participant_keys


def _id() -> str:
    return f"urn:civictwin:participant:{uuid.uuid4().hex[:10]}"


def test_a_participant_is_registered_changed_and_removed(store: Store, tenant: str) -> None:
    participants = Participants(store)
    pid = _id()
    added = participants.add(pid, "Lumen Water", {"provider", "consumer"}, tenant, "utility")
    assert participants.get(pid) == added
    assert added.roles == {"provider", "consumer"} and added.active and not added.operator
    assert added.may_use(tenant) and not added.may_use("other")
    assert participants.set_status(pid, "suspended").status == "suspended"
    assert not participants.get(pid).active
    with pytest.raises(AlreadyExists):
        participants.add(pid, "Again", {"consumer"}, tenant)
    participants.remove(pid)
    with pytest.raises(ResourceNotFound):
        participants.get(pid)


@pytest.mark.parametrize(("roles", "kind", "tenant", "problem"), [
    (set(), "ngo", "", "at least one role"),
    ({"admin"}, "ngo", "", "unknown role 'admin'"),
    ({"consumer"}, "club", "", "unknown kind 'club'"),
    ({"consumer"}, "ngo", "bad tenant!", "not a valid tenant"),
])
def test_bad_participants_are_refused_and_nothing_is_stored(
        store: Store, roles: set[str], kind: str, tenant: str, problem: str) -> None:
    participants = Participants(store)
    pid = _id()
    with pytest.raises(BadRequestData, match=problem):
        participants.add(pid, "NGO", roles, tenant, kind)
    assert participants.find(pid) is None


def test_an_api_key_is_shown_once_and_kept_as_a_hash(store: Store) -> None:
    participants = Participants(store)
    pid = participants.add(_id(), "Mobility operator", {"consumer"}, "", "mobility").id
    issued = participants.issue_key(pid, "laptop")
    assert issued.key.startswith("ctk_") and participants.by_api_key(issued.key).id == pid
    secret = issued.key.partition(".")[2]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        stored = conn.execute(select(participant_keys.c.secret_hash).where(
            participant_keys.c.key_id == issued.key_id)).scalar_one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest() and secret not in stored
    assert participants.by_api_key(issued.key[:-1] + "x") is None
    assert participants.by_api_key("ctk_nothing.here") is None
    assert participants.revoke_keys(pid, issued.key_id) == 1
    assert participants.by_api_key(issued.key) is None


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_the_admin_cli_manages_participants(tmp_path: Path) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'twin.db'}"]
    added = _cli("participants", "add", "energy-dept", "--name", "Energy department",
                 "--role", "provider", "--tenant", "energy", "--kind", "department", "--key", *db)
    assert added.exit_code == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("ctk_") and key not in added.stderr
    listed = _cli("participants", "list", "--json", *db)
    assert '"id": "energy-dept"' in listed.stdout and key not in listed.stdout
    assert _cli("participants", "suspend", "energy-dept", *db).exit_code == 0
    assert '"status": "suspended"' in _cli("participants", "list", "--json", *db).stdout
    again = _cli("participants", "add", "energy-dept", "--name", "x", "--role", "provider", *db)
    assert again.exit_code != 0 and again.stderr.count("\n") == 1
    assert "exists already" in again.stderr
    bad = _cli("participants", "add", "x", "--name", "x", "--role", "boss", *db)
    assert bad.exit_code != 0 and "unknown role 'boss'" in bad.stderr
    assert _cli("participants", "key", "energy-dept", *db).stdout.startswith("ctk_")
    assert _cli("participants", "remove", "energy-dept", *db).exit_code == 0
    gone = _cli("participants", "remove", "energy-dept", *db)
    assert gone.exit_code != 0 and "no participant energy-dept" in gone.stderr
