"""The start-up check: unfinished writes and damaged unregistered objects go to quarantine (never deleted), a
good unregistered object stays for its late push, and an audit log that no longer matches its checkpoints makes
the API report itself degraded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from api import audit
from api.app import create_app
from api.db import make_engine, session_factory
from evidence.audit_log import AuditMirror
from evidence.store import ContentStore
from evidence.types import ArtifactKind
from tests.conftest import add_test_users, bearer, key_header, make_event, settings_for


def test_a_clean_start_is_ok(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    body = TestClient(create_app(settings)).get("/healthz").json()
    assert body == {"status": "ok", "problems": []}


def test_leftovers_in_the_store_are_quarantined_and_recorded(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    add_test_users(settings)
    store = ContentStore(settings.evidence_dir)
    listed = store.put(b"\xff\xd8 listed", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    late = store.put(b"\xff\xd8 not pushed yet", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    damaged = store.put(b"\xff\xd8 damaged later", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    client = TestClient(create_app(settings))  # the API ran; then the pipeline died mid-write, a disk went bad
    start = make_event(evidence=(listed,)).to_dict()
    assert client.post("/api/v1/tickets", json=start, headers=key_header(start)).status_code == 201
    damaged_path = store.path_for(damaged.sha256)
    damaged_path.chmod(0o644)
    damaged_path.write_bytes(b"torn")
    unfinished = store.path_for(listed.sha256).parent / f".{'e' * 64}.abc123.tmp"
    unfinished.write_bytes(b"half a clip")

    restarted = TestClient(create_app(settings))
    health = restarted.get("/healthz").json()
    assert health["status"] == "degraded"
    assert any("an unfinished write" in p for p in health["problems"])
    assert any(damaged.sha256 in p and "unregistered" in p for p in health["problems"])
    assert len(health["problems"]) == 2
    assert store.path_for(listed.sha256).exists() and store.path_for(late.sha256).exists()
    assert not unfinished.exists() and not damaged_path.exists()
    moved = sorted(p.name for p in (settings.evidence_dir / "quarantine").rglob("*") if p.is_file())
    assert moved == sorted([unfinished.name, damaged.sha256])  # moved, not deleted
    entries = restarted.get("/api/v1/audit", params={"action": "store.reconciled"}, headers=bearer("auditor"))
    (entry,) = entries.json()["items"]
    assert (entry["actor"], entry["outcome"], len(entry["detail"]["quarantined"])) == ("system", "failed", 2)
    assert TestClient(create_app(settings)).get("/healthz").json()["status"] == "ok"  # nothing left to move


def test_an_audit_log_edited_while_the_api_was_down_is_reported_at_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    add_test_users(settings)
    client = TestClient(create_app(settings))
    client.get("/api/v1/tickets", headers=bearer("officer"))
    client.post("/api/v1/auth/token", data={"username": "officer", "password": "wrong password"})
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        audit.checkpoint(session, AuditMirror(settings.audit_dir))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(text("UPDATE audit_entries SET outcome = 'ok' WHERE action = 'auth.sign_in_failed'"))
    engine.dispose()
    health = TestClient(create_app(settings)).get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["problems"] == [
        "audit log: entry 2: altered: it no longer hashes to the leaf the signed checkpoints cover"  # 1: retention
    ]
