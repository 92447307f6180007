"""API: idempotent ticket creation, listing, detail, confirm/reject and their 404/409/422 paths, evidence."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient

from api.settings import Settings
from evidence.store import ContentStore
from evidence.types import ArtifactKind
from tests.conftest import key_header, violation_payload

KEY = key_header(violation_payload())
DECISION = {"actor": "officer-007", "reason": "goods on the pavement, shop owner present"}


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


def test_same_violation_under_another_key_is_409(client: TestClient) -> None:
    file_ticket(client)
    other = violation_payload(key="another-key-123")
    response = client.post("/api/v1/tickets", json=other, headers=key_header(other))
    assert response.status_code == 409


def test_malformed_violation_is_422(client: TestClient) -> None:
    assert client.post("/api/v1/tickets", json=violation_payload(kind="parking"), headers=KEY).status_code == 422
    assert client.post("/api/v1/tickets", json=violation_payload(box=[1, 2]), headers=KEY).status_code == 422
    assert client.post("/api/v1/tickets", json=violation_payload()).status_code == 422  # no Idempotency-Key
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


def test_confirm_records_actor_reason_time_and_second_decision_is_409(client: TestClient) -> None:
    ticket = file_ticket(client)
    response = client.post(f"/api/v1/tickets/{ticket['id']}/confirm", json=DECISION)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "confirmed"
    (decision,) = body["decisions"]
    assert (decision["action"], decision["actor"], decision["reason"]) == (
        "confirm",
        DECISION["actor"],
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


def test_decision_needs_reason_and_actor(client: TestClient) -> None:
    ticket = file_ticket(client)
    url = f"/api/v1/tickets/{ticket['id']}/confirm"
    assert client.post(url, json={"actor": "a"}).status_code == 422
    assert client.post(url, json={"actor": "a", "reason": ""}).status_code == 422
    assert client.post(url, json={"reason": "a reason"}).status_code == 422
    assert client.post(url, json={**DECISION, "extra": 1}).status_code == 422
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
