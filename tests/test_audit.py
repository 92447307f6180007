"""The audit log: every action recorded with who and how it ended, the database refusing edits, signed
checkpoints outside it, and each way of going around the database (edit, delete, truncate, rewritten mirror,
forged checkpoint) named with its position."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from api import audit
from api.app import create_app
from api.db import make_engine, migrate, session_factory
from api.settings import Settings
from evidence import checkpoints, merkle
from evidence.audit_log import AuditMirror, entry_leaf
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EventState
from tests.conftest import PASSWORDS, add_test_users, bearer, key_header, make_event, settings_for

REASON = {"reason": "checked on the video: stall on the pavement"}


@pytest.fixture
def case(tmp_path: Path) -> dict[str, Any]:
    """A ticket with a snapshot, filed by the pipeline; an officer has viewed it, opened the snapshot and
    confirmed it; a second confirm was refused; someone mistyped a password; an admin added and disabled a user."""
    settings = settings_for(tmp_path)
    add_test_users(settings)
    snapshot = ContentStore(settings.evidence_dir).put(
        b"\xff\xd8 jpeg", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg"
    )
    client = TestClient(create_app(settings))
    start = make_event(evidence=(snapshot,)).to_dict()
    ticket = client.post("/api/v1/tickets", json=start, headers=key_header(start)).json()
    officer = bearer("officer")
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=officer).status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket['id']}/evidence/{snapshot.sha256}", headers=officer).status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=REASON, headers=officer).status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket['id']}/reject", json=REASON, headers=officer).status_code == 409
    wrong = {"username": "officer", "password": "not the password"}
    assert client.post("/api/v1/auth/token", data=wrong).status_code == 401
    admin = bearer("admin")
    newcomer = {"username": "newcomer", "password": "a long password", "role": "auditor"}
    assert client.post("/api/v1/users", json=newcomer, headers=admin).status_code == 201
    assert client.post("/api/v1/users/newcomer/disable", headers=admin).status_code == 200
    return {"client": client, "settings": settings, "ticket": ticket, "sha256": snapshot.sha256, "start": start}


def _entries(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params=params | {"limit": 200}, headers=bearer("auditor"))
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))  # oldest first


def test_every_action_is_recorded_with_actor_role_object_and_outcome(case: dict[str, Any]) -> None:
    ticket_id = case["ticket"]["id"]
    rows = [
        (e["action"], e["actor"], e["role"], e["object"], e["outcome"])
        for e in _entries(case["client"], ticket_id=ticket_id)
    ]
    assert rows == [
        ("ticket.created", "pipeline", "pipeline", f"ticket/{ticket_id}", "ok"),
        ("ticket.viewed", "officer", "officer", f"ticket/{ticket_id}", "ok"),
        ("evidence.downloaded", "officer", "officer", f"ticket/{ticket_id}/evidence/{case['sha256']}", "ok"),
        ("ticket.confirmed", "officer", "officer", f"ticket/{ticket_id}", "ok"),
        ("ticket.rejected", "officer", "officer", f"ticket/{ticket_id}", "refused"),
    ]
    confirmed, refused = _entries(case["client"], ticket_id=ticket_id)[3:]
    assert confirmed["detail"]["reason"] == REASON["reason"]
    assert "already confirmed" in refused["detail"]["refused"]
    others = [
        (e["action"], e["actor"], e["object"], e["outcome"]) for e in _entries(case["client"]) if not e["ticket_id"]
    ]
    assert ("auth.sign_in_failed", "officer", "user/officer", "refused") in others
    assert ("user.added", "admin", "user/newcomer", "ok") in others
    assert ("user.disabled", "admin", "user/newcomer", "ok") in others
    seqs = [e["seq"] for e in _entries(case["client"])]
    assert seqs == list(range(1, len(seqs) + 1))  # numbered without gaps


def test_a_refused_change_leaves_no_entry_of_its_own(case: dict[str, Any]) -> None:
    client = case["client"]
    before = len(_entries(client))
    contradicting = make_event(state=EventState.END, revision=1, camera="other").to_dict()
    assert client.post("/api/v1/tickets", json=contradicting, headers=key_header(contradicting)).status_code == 409
    replay = case["start"]
    assert client.post("/api/v1/tickets", json=replay, headers=key_header(replay)).headers["X-Nonsite-Outcome"] == (
        "replayed"  # a replayed key: nothing happened
    )
    assert len(_entries(client)) == before
    end = make_event(state=EventState.END, revision=1).to_dict()
    assert client.post("/api/v1/tickets", json=end, headers=key_header(end)).status_code == 200
    (event,) = _entries(client)[before:]
    assert (event["action"], event["detail"]["applied"], event["detail"]["state"]) == ("ticket.event", False, "end")


def test_the_database_refuses_to_update_or_delete_entries_and_decisions(case: dict[str, Any]) -> None:
    engine = make_engine(case["settings"].database_url)
    for statement in (
        "UPDATE audit_entries SET actor = 'someone else'",
        "DELETE FROM audit_entries WHERE seq = 1",
        "UPDATE decisions SET reason = 'edited'",
        "DELETE FROM decisions",
    ):
        with engine.connect() as connection, pytest.raises(DatabaseError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:  # nothing changed
        assert connection.scalar(text("SELECT actor FROM audit_entries WHERE action = 'ticket.created'")) == "pipeline"
        assert connection.scalar(text("SELECT count(*) FROM decisions")) == 1
    engine.dispose()


def _tamper(settings: Settings, *statements: str) -> None:
    """What someone with the database's files or its superuser can do: switch the triggers off, then edit."""
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            for trigger in ("audit_entries_no_update", "audit_entries_no_delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def _verify(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/audit/verify", headers=bearer("auditor"))
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _checkpoint(settings: Settings) -> checkpoints.Checkpoint:
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        signed = audit.checkpoint(session, AuditMirror(settings.audit_dir))
    engine.dispose()
    return signed


def test_an_intact_log_verifies_against_its_signed_checkpoint(case: dict[str, Any]) -> None:
    signed = _checkpoint(case["settings"])
    report = _verify(case["client"])
    assert report["ok"] is True and report["findings"] == []
    assert report["checkpointed"] == signed.size == report["entries"]
    assert report["key_id"] == signed.key_id
    newest = case["client"].get("/api/v1/audit/checkpoint", headers=bearer("auditor")).json()
    assert checkpoints.verify(json.dumps(newest).encode()).size >= signed.size


@pytest.mark.parametrize(
    ("statements", "position", "words"),
    [
        pytest.param(["UPDATE audit_entries SET detail = '{}' WHERE seq = 4"], 4, "altered", id="edited-row"),
        pytest.param(["UPDATE audit_entries SET actor = 'auditor' WHERE seq = 2"], 2, "altered", id="edited-actor"),
        pytest.param(["DELETE FROM audit_entries WHERE seq = 3"], 3, "deleted", id="deleted-row"),
        pytest.param(["DELETE FROM audit_entries WHERE seq >= 6"], 6, "truncated", id="truncated"),
    ],
)
def test_an_edit_around_the_database_is_named_with_its_position(
    case: dict[str, Any], statements: list[str], position: int, words: str
) -> None:
    _checkpoint(case["settings"])
    _tamper(case["settings"], *statements)
    report = _verify(case["client"])
    assert report["ok"] is False
    assert report["findings"][0]["position"] == position and words in report["findings"][0]["problem"]


def test_a_recomputed_mirror_or_a_forged_checkpoint_is_caught(case: dict[str, Any]) -> None:
    settings = case["settings"]
    _checkpoint(settings)
    mirror = AuditMirror(settings.audit_dir)
    # Edit entry 4 and write its new leaf into the mirror too: the signed root no longer matches the mirror.
    _tamper(settings, "UPDATE audit_entries SET outcome = 'refused' WHERE seq = 4")
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        edited = session.scalar(text("SELECT seq FROM audit_entries WHERE outcome = 'refused' AND seq = 4"))
        assert edited == 4
        from api.models import AuditEntry

        row = session.query(AuditEntry).filter_by(seq=4).one()
        leaves = mirror.leaves()
        leaves[3] = entry_leaf(row.as_entry())
    engine.dispose()
    mirror.leaves_path.write_bytes(b"".join(leaves))
    problems = [f["problem"] for f in _verify(case["client"])["findings"]]
    assert any("mirror was rewritten" in p for p in problems), problems
    # A checkpoint line edited to the recomputed root: its signature fails.
    lines = mirror.checkpoints_path.read_bytes().splitlines()
    forged = json.loads(lines[-1]) | {"root": merkle.prefix_roots(leaves, [len(leaves)])[len(leaves)].hex()}
    mirror.checkpoints_path.write_bytes(b"\n".join([*lines[:-1], json.dumps(forged).encode()]) + b"\n")
    problems = [f["problem"] for f in _verify(case["client"])["findings"]]
    assert any("signature does not hold" in p for p in problems), problems


def test_a_gap_after_the_last_checkpoint_is_named(case: dict[str, Any]) -> None:
    signed = _checkpoint(case["settings"])
    client = case["client"]
    for _ in range(3):  # three views after the checkpoint
        client.get(f"/api/v1/tickets/{case['ticket']['id']}", headers=bearer("officer"))
    _tamper(case["settings"], f"DELETE FROM audit_entries WHERE seq = {signed.size + 2}")
    findings = _verify(client)["findings"]
    assert [(f["position"], "gap" in f["problem"]) for f in findings] == [(signed.size + 2, True)]


def test_a_truncated_mirror_is_caught(case: dict[str, Any]) -> None:
    settings = case["settings"]
    _checkpoint(settings)
    mirror = AuditMirror(settings.audit_dir)
    mirror.leaves_path.write_bytes(mirror.leaves_path.read_bytes()[: 32 * 3])
    problems = [f["problem"] for f in _verify(case["client"])["findings"]]
    assert any("mirror was truncated" in p for p in problems), problems


def test_a_case_timeline_comes_with_inclusion_proofs_in_the_signed_tree(case: dict[str, Any]) -> None:
    response = case["client"].get(f"/api/v1/tickets/{case['ticket']['id']}/audit", headers=bearer("auditor"))
    assert response.status_code == 200, response.text
    body = response.json()
    signed = checkpoints.verify(json.dumps(body["checkpoint"]).encode())
    assert [p["entry"]["action"] for p in body["entries"]][:2] == ["ticket.created", "ticket.viewed"]
    for proven in body["entries"]:
        entry = proven["entry"]
        proof = [bytes.fromhex(h) for h in proven["proof"]]
        merkle.verify_inclusion(entry["seq"] - 1, signed.size, entry_leaf(entry), proof, signed.root)
    edited = body["entries"][0]["entry"] | {"actor": "someone else"}
    with pytest.raises(merkle.ProofError):
        first = body["entries"][0]
        merkle.verify_inclusion(
            0, signed.size, entry_leaf(edited), [bytes.fromhex(h) for h in first["proof"]], signed.root
        )


def test_checkpoints_grow_only_when_the_log_does_and_each_extends_the_last(case: dict[str, Any]) -> None:
    settings = case["settings"]
    first = _checkpoint(settings)
    assert _checkpoint(settings).document == first.document  # nothing new: the same checkpoint
    case["client"].get(f"/api/v1/tickets/{case['ticket']['id']}", headers=bearer("officer"))
    second = _checkpoint(settings)
    assert second.size == first.size + 1
    leaves = AuditMirror(settings.audit_dir).leaves()
    proof = merkle.consistency_proof(first.size, leaves[: second.size])
    merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)


def test_the_api_signs_checkpoints_while_it_runs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, audit_checkpoint_s=0.05)
    add_test_users(settings)
    with TestClient(create_app(settings)) as client:  # the lifespan runs the checkpointer
        client.post("/api/v1/auth/token", data={"username": "auditor", "password": PASSWORDS["auditor"]})
        mirror = AuditMirror(settings.audit_dir)
        for _ in range(100):
            if mirror.leaves():
                break
            threading.Event().wait(0.05)
    # The retention policy the first start found, the sign-in: checkpointed (and again at shutdown, nothing new).
    assert len(mirror.leaves()) == 2
    assert checkpoints.verify(mirror.checkpoint_documents()[-1]).size == 2


def test_a_worker_without_the_jobs_signs_a_checkpoint_of_its_own_last_entries_at_shutdown(tmp_path: Path) -> None:
    """With ``serve --workers N`` the worker that runs the checkpoints may stop before another one has written its
    last entries: that worker's shutdown signs a checkpoint after them."""
    from api.app import _held

    settings = settings_for(tmp_path)
    add_test_users(settings)
    # The jobs belong to another worker (whose last checkpoint came before this one's entries).
    with _held(settings.audit_dir / ".jobs.lock", wait=True), TestClient(create_app(settings)) as client:
        ok = client.post("/api/v1/auth/token", data={"username": "auditor", "password": PASSWORDS["auditor"]})
        assert ok.status_code == 200
        assert AuditMirror(settings.audit_dir).checkpoint_documents() == []  # no checkpointer in this worker
    latest = checkpoints.verify(AuditMirror(settings.audit_dir).checkpoint_documents()[-1])
    assert latest.size == 2  # the retention policy this start found, the sign-in
    with session_factory(make_engine(settings.database_url))() as session:
        check = audit.verify(session, AuditMirror(settings.audit_dir))
    assert check.ok and check.entries == latest.size, check.findings


def test_a_user_added_from_the_shell_is_recorded_under_the_shell_account(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    migrate(engine)  # `nonsite db upgrade`
    command = [sys.executable, "-m", "pipeline.cli", "users", "add", "clerk", "--role", "auditor"]
    result = subprocess.run(
        [*command, "--database-url", url, "--password-stdin"], input="a long password\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    with engine.connect() as connection:
        actor, role, action = connection.execute(text("SELECT actor, role, action FROM audit_entries")).one()
    engine.dispose()
    assert actor.startswith("shell:") and role == "shell" and action == "user.added"


def test_prefix_roots_match_the_recursive_definition() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(70)]
    sizes = [0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 70]
    roots = merkle.prefix_roots(leaves, sizes)
    assert roots == {n: merkle.root(leaves[:n]) for n in sizes}
    with pytest.raises(merkle.ProofError):
        merkle.prefix_roots(leaves, [71])
