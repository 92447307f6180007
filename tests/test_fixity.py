"""Fixity: a scheduled re-hash of every stored object flags exactly the item whose bytes changed or went
missing (an audit entry, the ticket's mark, an alert on the stream, degraded health), once; tombstoned
(deleted by a legal reviewer) objects are not missing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api import fixity
from api.app import create_app
from api.db import make_engine, session_factory
from api.settings import Settings
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EvidenceRecord
from pipeline.cli import main
from tests.conftest import LiveServer, add_test_users, bearer, key_header, make_event, settings_for
from tests.test_channels import sse_events

OTHER_ID = "99999999-8888-7777-6666-555555555555"


def _file_two_tickets(client: TestClient, store: ContentStore) -> tuple[EvidenceRecord, EvidenceRecord]:
    """Ticket 1 with a clip and a snapshot, ticket 2 with its own clip."""
    clip = store.put(
        b"\x00\x00\x00\x18ftypmp42 first clip" * 50, kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4"
    )
    snapshot = store.put(b"\xff\xd8 first snapshot", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    other = store.put(
        b"\x00\x00\x00\x18ftypmp42 other clip" * 50, kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4"
    )
    for event in (make_event(evidence=(clip, snapshot)), make_event(OTHER_ID, evidence=(other,))):
        payload = event.to_dict()
        assert client.post("/api/v1/tickets", json=payload, headers=key_header(payload)).status_code == 201
    return clip, other


def _flip_a_byte(store: ContentStore, sha256: str, at: int = 100) -> None:
    path = store.path_for(sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, TestClient, ContentStore]:
    settings = settings_for(tmp_path)
    add_test_users(settings)
    return settings, TestClient(create_app(settings)), ContentStore(settings.evidence_dir)


def test_a_flipped_byte_flags_exactly_that_item_once(setup: tuple[Settings, TestClient, ContentStore]) -> None:
    settings, client, store = setup
    clip, other = _file_two_tickets(client, store)
    sessions = session_factory(make_engine(settings.database_url))
    with sessions() as session:
        assert fixity.check(session, store).ok
    _flip_a_byte(store, clip.sha256)

    with sessions() as session:
        run = fixity.check(session, store)
    assert run.objects == 3 and len(run.new_failures) == 1
    assert (
        run.new_failures[0].startswith(f"ticket 1: original_clip {clip.sha256[:12]}")
        and "altered" in run.new_failures[0]
    )
    first, second = (client.get(f"/api/v1/tickets/{n}", headers=bearer("auditor")).json() for n in (1, 2))
    assert first["integrity_failed_at"] is not None and second["integrity_failed_at"] is None
    failed = client.get("/api/v1/audit", params={"action": "fixity.failed"}, headers=bearer("auditor")).json()
    (entry,) = failed["items"]
    assert entry["object"] == f"ticket/1/evidence/{clip.sha256}" and entry["outcome"] == "failed"
    assert entry["actor"] == "system" and entry["detail"]["kind"] == "original_clip"
    health = client.get("/healthz").json()
    assert (
        health["status"] == "degraded" and "fixity: evidence of 1 ticket(s) is missing or altered" in health["problems"]
    )

    with sessions() as session:  # found again: not recorded twice
        again = fixity.check(session, store)
    assert again.new_failures == [] and again.known_failures == 1 and not again.ok
    assert (
        len(client.get("/api/v1/audit", params={"action": "fixity.failed"}, headers=bearer("auditor")).json()["items"])
        == 1
    )
    checked = client.get("/api/v1/audit", params={"action": "fixity.checked"}, headers=bearer("auditor")).json()
    assert [e["outcome"] for e in checked["items"]] == ["failed", "failed", "ok"]  # newest first
    assert store.path_for(other.sha256).exists()


def test_a_missing_object_is_named_and_the_cli_exits_1(
    setup: tuple[Settings, TestClient, ContentStore], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, client, store = setup
    _, other = _file_two_tickets(client, store)
    paths = ["--database-url", settings.database_url, "--evidence-dir", str(settings.evidence_dir)]
    assert main(["fixity", *paths]) == 0
    assert "3 object(s)" in capsys.readouterr().out
    store.path_for(other.sha256).unlink()
    assert main(["fixity", *paths]) == 1
    out = capsys.readouterr().out
    assert f"NEW  ticket 2: original_clip {other.sha256[:12]}…: missing from the evidence store" in out
    assert "FIXITY FAILED" in out
    entries = client.get("/api/v1/audit", params={"action": "fixity.checked"}, headers=bearer("auditor")).json()
    assert entries["items"][0]["actor"].startswith("shell:")  # newest first


def test_the_schedule_runs_at_start_then_waits_its_interval_across_restarts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"fixity_interval_s": 3600})
    add_test_users(settings)
    auditor = bearer("auditor")

    quarantine = settings.evidence_dir / "quarantine" / "20260801T000000Z"
    quarantine.mkdir(parents=True)
    expired, recent = quarantine / "expired", quarantine / "recent"
    for leftover in (expired, recent):
        leftover.write_bytes(b"a leftover")
    hundred_days_ago = time.time() - 100 * 86_400  # the retention is 90 days
    os.utime(expired, (hundred_days_ago, hundred_days_ago))

    def runs(client: TestClient) -> int:
        return len(client.get("/api/v1/audit", params={"action": "fixity.checked"}, headers=auditor).json()["items"])

    with TestClient(create_app(settings)) as client:  # the lifespan starts the schedule: it never ran, so now
        deadline = time.monotonic() + 10
        while runs(client) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runs(client) == 1
        deadline = time.monotonic() + 10
        while expired.exists() and time.monotonic() < deadline:  # retention follows each run
            time.sleep(0.05)
        assert not expired.exists() and recent.exists()
    with TestClient(create_app(settings)) as client:  # restarted within the hour: not again
        time.sleep(0.5)
        assert runs(client) == 1


def test_the_alert_stream_sends_an_integrity_event(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"alert_poll_s": 0.1})
    store = ContentStore(settings.evidence_dir)
    with LiveServer(settings) as live:
        clip = store.put(
            b"\x00\x00\x00\x18ftypmp42 a clip" * 40, kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4"
        )
        payload = make_event(evidence=(clip,)).to_dict()
        httpx.post(f"{live.url}/api/v1/tickets", json=payload, headers=key_header(payload)).raise_for_status()
        sessions = session_factory(make_engine(settings.database_url))

        def break_and_check() -> None:
            time.sleep(0.3)
            _flip_a_byte(store, clip.sha256)
            with sessions() as session:
                fixity.check(session, store)

        checker = threading.Thread(target=break_and_check)
        headers = bearer("operator")
        with httpx.stream("GET", f"{live.url}/api/v1/alerts/stream", headers=headers, timeout=10) as response:
            for event in sse_events(response):
                if event.get("event") == "ready":
                    checker.start()
                if event.get("event") == "integrity":
                    break
        checker.join()
    assert '"ticket_id":1' in event["data"].replace(" ", "") and clip.sha256 in event["data"]
    assert "id" not in event  # Last-Event-ID stays the ticket cursor


def test_a_legal_reviewer_deletes_evidence_with_a_reason_and_a_tombstone_stays(
    setup: tuple[Settings, TestClient, ContentStore],
) -> None:
    settings, client, store = setup
    _, other = _file_two_tickets(client, store)
    url = f"/api/v1/tickets/2/evidence/{other.sha256}"
    reviewer = bearer("legal_reviewer")
    assert (
        client.post(f"{url}/delete", json={"reason": "court order 2026-11"}, headers=bearer("officer")).status_code
        == 403
    )
    assert client.post(f"{url}/delete", json={"reason": "too short"}, headers=reviewer).status_code == 422
    forged = {"reason": "court order 2026-11", "deleted_by": "somebody else"}
    assert client.post(f"{url}/delete", json=forged, headers=reviewer).status_code == 422

    deleted = client.post(f"{url}/delete", json={"reason": "court order 2026-11"}, headers=reviewer)
    assert deleted.status_code == 200
    assert (deleted.json()["deleted_by"], deleted.json()["kind"]) == ("legal_reviewer", "original_clip")
    assert not store.path_for(other.sha256).exists()
    gone = client.get(url, headers=bearer("officer"))
    assert gone.status_code == 410 and "court order 2026-11" in gone.json()["detail"]
    report = client.get("/api/v1/tickets/2/integrity", headers=bearer("officer")).json()
    assert not report["ok"] and "deleted" in report["problems"][0] and "legal_reviewer" in report["problems"][0]
    assert client.get("/api/v1/tickets/2", headers=bearer("auditor")).json()["tombstones"][0]["reason"] == (
        "court order 2026-11"
    )
    again = client.post(f"{url}/delete", json={"reason": "court order 2026-11"}, headers=reviewer)
    assert again.status_code == 409 and "already deleted" in again.json()["detail"]
    (entry,) = client.get("/api/v1/audit", params={"action": "evidence.deleted"}, headers=bearer("auditor")).json()[
        "items"
    ]
    assert entry["object"] == f"ticket/2/evidence/{other.sha256}" and entry["detail"]["reason"] == "court order 2026-11"
    with session_factory(make_engine(settings.database_url))() as session:
        assert fixity.check(session, store).ok  # deleted on purpose, with a tombstone: not missing


def test_the_thresholds_come_from_the_environment_and_bad_ones_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NONSITE_DISK_RESERVE_MB", "64")
    monkeypatch.setenv("NONSITE_FIXITY_INTERVAL_S", "0")
    settings = Settings.from_env(development=True)
    assert (settings.disk_reserve_mb, settings.fixity_interval_s) == (64, 0)
    monkeypatch.setenv("NONSITE_DISK_LOW_MB", "lots")
    with pytest.raises(ValueError, match="disk_low_mb"):
        Settings.from_env(development=True)
