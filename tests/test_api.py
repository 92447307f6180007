"""API: idempotent ticket creation, listing, detail, confirm/reject and their 404/409/422 paths, evidence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from evidence.store import ContentStore
from evidence.types import ArtifactKind, EventState
from tests.conftest import key_header, make_event, violation_payload

KEY = key_header(violation_payload())
ENDED = "2026-11-23T09:00:04+00:00"
DECISION = {"reason": "goods on the pavement, shop owner present"}


def file_ticket(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tickets", json=violation_payload(**overrides), headers=KEY)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_is_idempotent(client: TestClient) -> None:
    first = file_ticket(client)
    again = client.post("/api/v1/tickets", json=violation_payload(), headers=KEY)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert client.get("/api/v1/tickets").json()["total"] == 1
    assert first["status"] == "pending_review"


def test_a_key_that_does_not_name_its_event_is_422(client: TestClient) -> None:
    for payload in (violation_payload(key="another-key-123"), violation_payload(revision=3)):
        response = client.post("/api/v1/tickets", json=payload, headers=key_header(payload))
        assert response.status_code == 422, payload
    assert client.get("/api/v1/tickets").json()["total"] == 0


def test_malformed_violation_is_422(client: TestClient) -> None:
    assert client.post("/api/v1/tickets", json=violation_payload(kind="parking"), headers=KEY).status_code == 422
    assert client.post("/api/v1/tickets", json=violation_payload(box=[1, 2]), headers=KEY).status_code == 422
    assert (
        client.post(
            "/api/v1/tickets", json={k: v for k, v in violation_payload().items() if k != "key"}, headers=KEY
        ).status_code
        == 422
    )
    assert client.post("/api/v1/tickets", content=b"not json", headers=KEY).status_code == 422


def test_list_filters(client: TestClient) -> None:
    file_ticket(client)
    second = violation_payload("22222222-2222-3333-4444-555555555555", kind="shared_bike_misparked", camera="cam-2")
    assert client.post("/api/v1/tickets", json=second, headers=key_header(second)).status_code == 201
    assert client.get("/api/v1/tickets", params={"kind": "shared_bike_misparked"}).json()["total"] == 1
    assert client.get("/api/v1/tickets", params={"camera": "cam-1"}).json()["items"][0]["camera"] == "cam-1"
    assert client.get("/api/v1/tickets", params={"status": "confirmed"}).json()["total"] == 0
    assert client.get("/api/v1/tickets", params={"status": "maybe"}).status_code == 422
    assert client.get("/api/v1/tickets", params={"limit": 0}).status_code == 422


def test_confirm_records_the_signed_in_officer_reason_time_and_second_decision_is_409(client: TestClient) -> None:
    ticket = file_ticket(client)
    response = client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "confirmed"
    (decision,) = body["decisions"]
    assert (decision["action"], decision["actor"], decision["actor_role"], decision["reason"]) == (
        "confirm",
        "officer",
        "officer",
        DECISION["reason"],
    )
    assert decision["decided_at"]
    second = client.post(f"/api/v1/tickets/{ticket['id']}/reject", json=DECISION)
    assert second.status_code == 409
    assert "already confirmed" in second.json()["detail"]
    assert len(client.get(f"/api/v1/tickets/{ticket['id']}").json()["decisions"]) == 1


def test_reject(client: TestClient) -> None:
    ticket = file_ticket(client)
    body = client.post(f"/api/v1/tickets/{ticket['id']}/reject", json={**DECISION, "reason": "false alarm"}).json()
    assert body["status"] == "rejected"
    assert body["decisions"][0]["reason"] == "false alarm"


def test_a_decision_needs_a_reason_and_refuses_fields_the_server_owns(client: TestClient) -> None:
    ticket = file_ticket(client)
    url = f"/api/v1/tickets/{ticket['id']}/confirm"
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"reason": ""}).status_code == 422
    for owned in ({"actor": "someone-else"}, {"status": "confirmed"}, {"decided_by": "x"}, {"sha256": "0" * 64}):
        response = client.post(url, json={**DECISION, **owned})
        assert response.status_code == 422, owned
    assert client.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "pending_review"


def test_unknown_ticket_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/tickets/999").status_code == 404
    assert client.post("/api/v1/tickets/999/confirm", json=DECISION).status_code == 404
    assert client.get(f"/api/v1/tickets/999/evidence/{'a' * 64}").status_code == 404


def test_evidence_download_checks_the_hash(client: TestClient, api_settings: Settings) -> None:
    store = ContentStore(api_settings.evidence_dir)
    record = store.put(b"\xff\xd8 a jpeg", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    ticket = file_ticket(client, evidence=[record.to_dict()])
    url = f"/api/v1/tickets/{ticket['id']}/evidence/{record.sha256}"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(response.content).hexdigest() == response.headers["x-content-sha256"] == record.sha256
    assert client.get(f"/api/v1/tickets/{ticket['id']}/evidence/{'b' * 64}").status_code == 404
    path = store.path_for(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    tampered = client.get(url)
    assert tampered.status_code == 409
    assert "altered" in tampered.json()["detail"]


def test_officer_page_is_served(client: TestClient) -> None:
    page = client.get("/officer")
    assert page.status_code == 200
    assert "违法线索审核" in page.text
    assert client.get("/static/officer.js").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"track_id": 2**70}, "track_id"),
        ({"track_id": -1}, "track_id"),
        ({"start_s": float("nan")}, "start_s"),
        ({"end_s": float("inf")}, "end_s"),
        ({"start_s": 9.0, "end_s": 1.0}, "end_s"),
        ({"box": [0, 0, 1e300, 4]}, "box"),
        ({"camera": " "}, "camera"),
        ({"camera": "x" * 500}, "camera"),
        ({"captured_at": "2026-11-23T09:00:00"}, "captured_at"),  # no UTC offset: ambiguous by 8 hours
        ({"schema_version": 2}, "schema_version"),
        ({"attributes": {"note": "x" * 20_000}}, "attributes"),
        ({"plate": "x" * 100}, "plate"),
        ({"extra_field": "y"}, "extra_field"),
    ],
)
def test_malformed_violation_fields_are_422_naming_the_field(client: TestClient, overrides, where) -> None:
    payload = violation_payload(**overrides)
    response = client.post(
        "/api/v1/tickets",
        content=json.dumps(payload, allow_nan=True),
        headers={**key_header(payload), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert any(where in map(str, error["loc"]) for error in response.json()["detail"]), response.json()


def test_a_huge_body_is_refused_before_it_is_stored(client: TestClient) -> None:
    payload = violation_payload(attributes={"blob": "x" * 3_000_000})
    response = client.post("/api/v1/tickets", json=payload, headers=KEY)
    assert response.status_code == 413
    assert client.get("/api/v1/tickets").json()["total"] == 0


@pytest.mark.parametrize(
    "url", [f"/api/v1/tickets/{2**63}", "/api/v1/tickets/0", f"/api/v1/tickets?offset={2**63}", "/api/v1/tickets/-1"]
)
def test_out_of_range_numbers_are_422_not_500(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 422


def test_a_reason_of_spaces_is_no_decision(client: TestClient) -> None:
    ticket = file_ticket(client)
    url = f"/api/v1/tickets/{ticket['id']}/confirm"
    assert client.post(url, json={"reason": "   \t  "}).status_code == 422
    body = client.post(url, json={"reason": "  goods on the pavement "}).json()
    assert (body["decisions"][0]["actor"], body["decisions"][0]["reason"]) == ("officer", "goods on the pavement")


def test_decided_at_and_created_at_carry_their_utc_offset(client: TestClient) -> None:
    ticket = file_ticket(client)
    body = client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION).json()
    for stamp in (body["decisions"][0]["decided_at"], body["created_at"], body["events"][0]["received_at"]):
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0), stamp


def test_evidence_that_fails_its_hash_cannot_be_confirmed(client: TestClient, api_settings: Settings) -> None:
    store = ContentStore(api_settings.evidence_dir)
    record = store.put(b"\xff\xd8 a jpeg", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    ticket = file_ticket(client, evidence=[record.to_dict()])
    report = client.get(f"/api/v1/tickets/{ticket['id']}/integrity").json()
    assert report == {"ok": True, "checked": 1, "problems": []}
    path = store.path_for(record.sha256)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    report = client.get(f"/api/v1/tickets/{ticket['id']}/integrity").json()
    assert report["ok"] is False and "altered" in report["problems"][0]
    refused = client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION)
    assert refused.status_code == 409 and "integrity check" in refused.json()["detail"]
    assert client.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "pending_review"
    rejected = client.post(f"/api/v1/tickets/{ticket['id']}/reject", json={**DECISION, "reason": "evidence altered"})
    assert rejected.status_code == 200  # rejecting stays possible: no penalty rests on it


def test_update_and_end_are_applied_in_order_and_replays_change_nothing(client: TestClient) -> None:
    start = make_event().to_dict()
    update = make_event(state=EventState.UPDATE, revision=1, plate="粤B12345", end_s=7.0).to_dict()
    end = make_event(state=EventState.END, revision=2, plate="粤B12345", end_s=9.0, ended_at=ENDED).to_dict()
    early = client.post("/api/v1/tickets", json=end, headers=key_header(end))
    assert early.status_code == 404, "an end before its start is not filed yet: the outbox retries it"
    assert client.post("/api/v1/tickets", json=start, headers=key_header(start)).status_code == 201
    for record in (end, update, end):  # the update arrives late, the end twice
        assert client.post("/api/v1/tickets", json=record, headers=key_header(record)).status_code == 200
    ticket = client.get("/api/v1/tickets").json()["items"][0]
    assert (ticket["state"], ticket["revision"], ticket["end_s"], ticket["ended_at"]) == ("ended", 2, 9.0, ENDED)
    assert ticket["violation"]["plate"] == "粤B12345"
    assert [(e["state"], e["applied"]) for e in ticket["events"]] == [("start", True), ("end", True), ("update", False)]


@pytest.mark.parametrize("fields", [{"camera": "other"}, {"rule": "other-rule"}])
def test_an_end_that_contradicts_its_ticket_is_refused(client, fields) -> None:

    start = make_event().to_dict()
    assert client.post("/api/v1/tickets", json=start, headers=key_header(start)).status_code == 201
    end = make_event(state=EventState.END, revision=1, **fields).to_dict()
    response = client.post("/api/v1/tickets", json=end, headers=key_header(end))
    assert response.status_code == 409 and "its ticket is" in response.json()["detail"]


def test_a_huge_chunked_body_is_413_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the body arrives in pieces
        yield b'{"attributes": {"blob": "'
        for _ in range(40):
            yield b"x" * 65_536
        yield b'"}}'

    response = client.post("/api/v1/tickets", content=chunks(), headers={"Content-Type": "application/json", **KEY})
    assert response.status_code == 413


def test_events_after_a_decision_are_kept_but_change_nothing(client: TestClient) -> None:
    ticket = file_ticket(client)
    client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION)
    end = make_event(state=EventState.END, revision=1, plate="粤B99999", end_s=8.0, ended_at=ENDED).to_dict()
    response = client.post("/api/v1/tickets", json=end, headers=key_header(end))
    assert response.status_code == 200 and response.headers["x-nonsite-outcome"] == "after_decision"
    body = client.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert body["violation"]["plate"] is None and body["state"] == "open" and body["revision"] == 0
    assert [(e["state"], e["applied"]) for e in body["events"]] == [("start", True), ("end", False)]


def test_a_clip_that_arrives_after_the_decision_is_attached_but_the_record_stays(
    client: TestClient, api_settings: Settings
) -> None:
    """A live camera's ticket is filed with its stills; the officer may decide before the clip's update comes.
    The update changes nothing the officer decided on, but its clip joins the ticket's evidence."""
    ticket = file_ticket(client)
    client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION)
    clip = ContentStore(api_settings.evidence_dir).put(
        b"\x00\x00\x00\x18ftypmp42 a clip", kind=ArtifactKind.ORIGINAL_CLIP, media_type="video/mp4"
    )
    update = make_event(state=EventState.UPDATE, revision=1, plate="粤B99999", evidence=(clip,)).to_dict()
    response = client.post("/api/v1/tickets", json=update, headers=key_header(update))
    assert response.status_code == 200 and response.headers["x-nonsite-outcome"] == "after_decision"
    body = client.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert body["violation"]["plate"] is None and body["revision"] == 0 and body["status"] == "confirmed"
    assert [a["sha256"] for a in body["artifacts"]] == [clip.sha256]


def test_signed_manifests_are_checked_and_the_trusted_keys_published(
    client: TestClient, api_settings: Settings
) -> None:
    from evidence.manifest import canonical_bytes
    from evidence.signing import ManifestSigner, public_key_b64

    store = ContentStore(api_settings.evidence_dir)
    signer = ManifestSigner.load_or_create(api_settings.trusted_keys_dir / "pipeline.pem")
    snapshot = store.put(b"\xff\xd8 the key frame", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    other_still = store.put(b"\xff\xd8 another frame", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")

    def sealed(violation_id: str, signed_bytes: bytes | None = None) -> list[dict[str, Any]]:
        """A snapshot, the manifest listing it, and a signature (over ``signed_bytes`` when given)."""
        document = {"violation": {"id": violation_id}, "artifacts": [snapshot.to_dict()], "manifest_version": 2}
        manifest_bytes = canonical_bytes(document)
        manifest = store.put(manifest_bytes, kind=ArtifactKind.MANIFEST, media_type="application/json")
        signature = store.put(
            signer.sign(manifest_bytes if signed_bytes is None else signed_bytes),
            kind=ArtifactKind.MANIFEST_SIGNATURE,
            media_type="application/json",
            parent_sha256=manifest.sha256,
        )
        return [snapshot.to_dict(), manifest.to_dict(), signature.to_dict()]

    def filed(violation_id: str, evidence: list[dict[str, Any]]) -> dict[str, Any]:
        payload = violation_payload(violation_id, evidence=evidence)
        response = client.post("/api/v1/tickets", json=payload, headers=key_header(payload))
        assert response.status_code == 201, response.text
        report: dict[str, Any] = client.get(f"/api/v1/tickets/{response.json()['id']}/integrity").json()
        return report | {"id": response.json()["id"]}

    ids = [f"5d0c2c1e-0000-4000-8000-0000000000f{i}" for i in range(6)]
    good = filed(ids[0], sealed(ids[0]))
    assert good["ok"] is True, good
    keys = client.get("/api/v1/keys").json()
    assert keys[0] == {
        "purpose": "manifest",
        "key_id": signer.key_id,
        "algorithm": "Ed25519",
        "public_key": public_key_b64(signer.public_key),
    }
    assert [k["purpose"] for k in keys] == ["manifest", "audit_checkpoint"]
    # Each way the database could be edited around intact files gets its own named problem.
    forged = filed(ids[1], sealed(ids[1], signed_bytes=b'{"swapped":1}'))  # signed over other bytes
    assert forged["ok"] is False and "different manifest" in forged["problems"][0]
    assert client.post(f"/api/v1/tickets/{forged['id']}/confirm", json=DECISION).status_code == 409
    borrowed = filed(ids[2], sealed(ids[0]))  # another case's signed manifest attached to this ticket
    assert any("signed for another violation" in p for p in borrowed["problems"]), borrowed
    added = filed(ids[3], [*sealed(ids[3]), other_still.to_dict()])  # a still no signed manifest lists
    assert added["problems"] == [f"snapshot {other_still.sha256[:12]}… is not listed in any signed manifest"]
    unsigned = filed(ids[4], sealed(ids[4])[:2])  # the signature row dropped
    assert len(unsigned["problems"]) == 1 and "is not signed by a trusted key" in unsigned["problems"][0]
    # The pipeline's key no longer trusted (its .pub removed): the good ticket's signature is not trusted either.
    (api_settings.trusted_keys_dir / "pipeline.pub").unlink()
    report = client.get(f"/api/v1/tickets/{good['id']}/integrity").json()
    assert report["ok"] is False and "not a trusted key" in report["problems"][0]
    assert [k["purpose"] for k in client.get("/api/v1/keys").json()] == ["audit_checkpoint"]


def test_two_events_racing_in_with_the_same_new_clip_attach_it_once(api_settings: Settings) -> None:
    """The clip's update and the end carry the same new clip; the second to commit read the ticket before the
    first did (its list of known artifacts is stale). Its insert of the clip must not fail the request."""
    from api import crud
    from api.audit import Actor
    from api.db import make_engine, migrate, session_factory
    from evidence.wire import ViolationWire

    PIPELINE = Actor("pipeline", "pipeline")
    engine = make_engine(api_settings.database_url)
    migrate(engine)
    sessions = session_factory(engine)
    clip = {
        "kind": "original_clip",
        "sha256": "c" * 64,
        "storage_key": "c" * 64,
        "bytes": 10,
        "media_type": "video/mp4",
    }
    steps: list[dict[str, Any]] = [
        {},
        {"key": f"{make_event().id}:1:update", "state": "update", "revision": 1, "evidence": [clip]},
        {"key": f"{make_event().id}:2:end", "state": "end", "revision": 2, "evidence": [clip]},
    ]
    start, update, end = (ViolationWire.model_validate(violation_payload(**fields)) for fields in steps)
    with sessions() as first, sessions() as second:
        crud.apply_event(first, key=start.key, record=start, sender=PIPELINE)
        stale = crud.get_by_violation_id(second, violation_id=start.id)
        assert stale is not None and stale.artifacts == []  # read before the clip arrived
        crud.apply_event(first, key=update.key, record=update, sender=PIPELINE)
        ticket, outcome = crud.apply_event(second, key=end.key, record=end, sender=PIPELINE)
        assert outcome is crud.Outcome.APPLIED and ticket.state == "ended"
        assert [a.sha256 for a in ticket.artifacts] == ["c" * 64]
    engine.dispose()
