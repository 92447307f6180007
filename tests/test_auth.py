"""Accounts and roles: sign-in, token tampering, the role × route matrix from the OpenAPI document, other
cameras' tickets (BOLA), the cookie only for reads, the pipeline's own sign-in, settings and the CLI."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import tokens
from api.app import create_app
from api.settings import Settings
from evidence.api_login import PasswordLogin
from evidence.outbox import HttpTransport
from evidence.store import ContentStore
from evidence.types import ArtifactKind
from pipeline.cli import main
from tests.conftest import (
    PASSWORDS,
    TEST_SECRET,
    add_test_users,
    bearer,
    key_header,
    make_event,
    settings_for,
    violation_payload,
)
from tests.test_channels import channel, report

ROLES = ("operator", "officer", "legal_reviewer", "auditor", "admin", "pipeline")
READERS = {"officer", "legal_reviewer", "auditor"}
WATCHERS = {"operator", "officer", "legal_reviewer", "auditor"}
# Who may call each route: written out here, independently of api/deps.py. Every route of the OpenAPI
# document must be listed (a new route fails the matrix until someone decides who may call it).
MATRIX: dict[tuple[str, str], set[str] | None] = {  # None: public
    ("post", "/api/v1/tickets"): {"pipeline"},
    ("get", "/api/v1/tickets"): READERS,
    ("get", "/api/v1/tickets/{ticket_id}"): READERS,
    ("get", "/api/v1/tickets/{ticket_id}/integrity"): READERS,
    ("post", "/api/v1/tickets/{ticket_id}/confirm"): {"officer"},
    ("post", "/api/v1/tickets/{ticket_id}/reject"): {"officer"},
    ("get", "/api/v1/tickets/{ticket_id}/evidence/{sha256}"): WATCHERS,
    ("post", "/api/v1/tickets/{ticket_id}/evidence/{sha256}/delete"): {"legal_reviewer"},
    ("put", "/api/v1/channels"): {"pipeline"},
    ("get", "/api/v1/channels"): WATCHERS,
    ("put", "/api/v1/channels/{camera_id}/snapshot"): {"pipeline"},
    ("get", "/api/v1/channels/{camera_id}/snapshot"): WATCHERS,
    ("get", "/api/v1/alerts"): WATCHERS,
    ("get", "/api/v1/alerts/stream"): WATCHERS,
    ("get", "/api/v1/stats/today"): WATCHERS,
    ("get", "/api/v1/keys"): None,
    ("post", "/api/v1/auth/token"): None,
    ("get", "/api/v1/auth/me"): set(ROLES),
    ("post", "/api/v1/auth/logout"): None,
    ("get", "/api/v1/users"): {"admin"},
    ("post", "/api/v1/users"): {"admin"},
    ("post", "/api/v1/users/{username}/disable"): {"admin"},
    ("post", "/api/v1/users/{username}/enable"): {"admin"},
    ("get", "/api/v1/audit"): {"legal_reviewer", "auditor"},
    ("get", "/api/v1/audit/checkpoint"): {"legal_reviewer", "auditor"},
    ("get", "/api/v1/audit/verify"): {"legal_reviewer", "auditor"},
    ("get", "/api/v1/tickets/{ticket_id}/audit"): {"legal_reviewer", "auditor"},
    ("get", "/api/v1/tickets/{ticket_id}/export"): {"legal_reviewer", "auditor"},
    ("get", "/api/v1/tickets/{ticket_id}/verification"): {"legal_reviewer", "auditor"},
    ("get", "/healthz"): None,
}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """An API with a ticket and a channel on camera cam-1, and officer_b who sees only cameras b-*."""
    settings = settings_for(tmp_path)
    add_test_users(settings, officer_b=["b-*"])
    store = ContentStore(settings.evidence_dir)
    snapshot = store.put(b"\xff\xd8 jpeg", kind=ArtifactKind.SNAPSHOT, media_type="image/jpeg")
    client = TestClient(create_app(settings))
    start = make_event(evidence=(snapshot,)).to_dict()
    ticket = client.post("/api/v1/tickets", json=start, headers=key_header(start)).json()
    assert client.put("/api/v1/channels", json=report(channel("cam-1")), headers=bearer("pipeline")).status_code == 204
    jpeg = {"Content-Type": "image/jpeg", **bearer("pipeline")}
    assert client.put("/api/v1/channels/cam-1/snapshot", content=b"\xff\xd8\xff jpeg", headers=jpeg).status_code == 204
    return {"client": client, "settings": settings, "ticket": ticket, "sha256": snapshot.sha256}


def _call(client: TestClient, method: str, path: str, world: dict[str, Any], headers: dict[str, str]) -> int:
    url = path.format(ticket_id=world["ticket"]["id"], sha256=world["sha256"], camera_id="cam-1", username="auditor")
    if path.endswith("/stream"):
        with client.stream(method.upper(), url, headers=headers) as response:
            return int(response.status_code)  # a stream that opened runs for ever: its status is enough
    body: dict[str, Any] = {}
    if path.endswith(("/confirm", "/reject", "/delete")):
        body = {"json": {"reason": "checked on the video"}}
    elif path == "/api/v1/users" and method == "post":
        body = {"json": {"username": "newcomer", "password": "a long password", "role": "auditor"}}
    elif path == "/api/v1/auth/token":
        body = {"data": {"username": "auditor", "password": PASSWORDS["auditor"]}}
    elif path == "/api/v1/tickets" and method == "post":
        payload = violation_payload("99999999-2222-3333-4444-555555555555")
        body, headers = {"json": payload}, {**headers, "Idempotency-Key": payload["key"]}
    return int(client.request(method.upper(), url, headers=headers, **body).status_code)


def test_every_route_is_in_the_matrix(world: dict[str, Any]) -> None:
    document = world["client"].get("/openapi.json").json()
    routes = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes == set(MATRIX), "classify every new route in MATRIX (and remove gone ones)"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_role_may_call_only_its_routes(world: dict[str, Any], route: tuple[str, str]) -> None:
    method, path = route
    allowed = MATRIX[route]
    if allowed is not None:
        assert _call(world["client"], method, path, world, {}) == 401, "not signed in"
    for role in ROLES:
        status = _call(world["client"], method, path, world, bearer(role))
        if allowed is None or role in allowed:
            assert status not in (401, 403), (role, status)
        else:
            assert status == 403, (role, status)


def test_an_officer_of_other_cameras_sees_nothing_of_cam_1(world: dict[str, Any]) -> None:
    client, ticket = world["client"], world["ticket"]
    other = bearer("officer_b")
    for url in (
        f"/api/v1/tickets/{ticket['id']}",
        f"/api/v1/tickets/{ticket['id']}/integrity",
        f"/api/v1/tickets/{ticket['id']}/evidence/{world['sha256']}",
        "/api/v1/channels/cam-1/snapshot",
    ):
        assert client.get(url, headers=other).status_code == 404, url
        assert client.get(url, headers=bearer("officer")).status_code == 200, url
    for action in ("confirm", "reject"):
        response = client.post(f"/api/v1/tickets/{ticket['id']}/{action}", json={"reason": "x" * 5}, headers=other)
        assert response.status_code == 404
    assert client.get("/api/v1/tickets", headers=other).json() == {"total": 0, "items": []}
    assert client.get("/api/v1/alerts", headers=other).json() == []
    assert client.get("/api/v1/channels", headers=other).json()["items"] == []
    assert client.get("/api/v1/stats/today", headers=other).json()["total"] == 0
    assert client.get("/api/v1/stats/today", headers=bearer("officer")).json()["total"] == 1
    assert client.get(f"/api/v1/tickets/{ticket['id']}").status_code == 401
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer("officer")).json()["status"] == "pending_review"


def _forged(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            tokens.issue("officer", TEST_SECRET, 60, now=datetime.now(UTC) - timedelta(hours=1)), id="expired"
        ),
        pytest.param(tokens.issue("officer", "another server's secret, long enough!!", 900), id="wrong-key"),
        pytest.param(
            _forged(
                {"sub": "officer", "iss": "nonsite", "iat": 0, "exp": 4_000_000_000}, {"alg": "none", "typ": "JWT"}
            ),
            id="alg-none",
        ),
        pytest.param(
            jwt.encode({"sub": "officer", "exp": 4_000_000_000, "iat": 0}, TEST_SECRET, algorithm="HS256"),
            id="no-issuer",
        ),
        pytest.param(
            jwt.encode(
                {"sub": "admin", "iss": "nonsite", "exp": 4_000_000_000, "iat": 0},
                TEST_SECRET,
                algorithm="HS384",
            ),
            id="other-algorithm",
        ),
        pytest.param("not.a.token", id="garbage"),
    ],
)
def test_a_tampered_or_expired_token_is_401(world: dict[str, Any], token: str) -> None:
    response = world["client"].get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_an_edited_claim_breaks_the_signature(world: dict[str, Any]) -> None:
    header, claims, signature = bearer("auditor")["Authorization"].removeprefix("Bearer ").split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps(decoded | {"sub": "officer"}).encode()).rstrip(b"=").decode()
    response = world["client"].post(
        f"/api/v1/tickets/{world['ticket']['id']}/confirm",
        json={"reason": "pretending"},
        headers={"Authorization": f"Bearer {header}.{edited}.{signature}"},
    )
    assert response.status_code == 401


def test_sign_in_gives_a_token_and_a_read_only_cookie(world: dict[str, Any]) -> None:
    client = world["client"]
    response = client.post("/api/v1/auth/token", data={"username": "officer", "password": PASSWORDS["officer"]})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["user"]["role"] == "officer"
    assert tokens.subject(body["access_token"], TEST_SECRET) == "officer"
    assert client.get("/api/v1/auth/me").json()["username"] == "officer"  # the cookie, on a read
    url = f"/api/v1/tickets/{world['ticket']['id']}/confirm"
    assert client.post(url, json={"reason": "through the cookie"}).status_code == 401, "no change by cookie"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.post(url, json={"reason": "with the header"}, headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_wrong_passwords_are_limited_per_user_and_address(world: dict[str, Any]) -> None:
    client = world["client"]
    for _ in range(5):
        assert client.post("/api/v1/auth/token", data={"username": "auditor", "password": "guess"}).status_code == 401
    refused = client.post("/api/v1/auth/token", data={"username": "auditor", "password": PASSWORDS["auditor"]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    other = client.post("/api/v1/auth/token", data={"username": "officer", "password": PASSWORDS["officer"]})
    assert other.status_code == 200, "another user name is not locked out"
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "whatever1234"})
    assert unknown.status_code == 401


def test_the_sign_in_limit_holds_across_workers_and_restarts_and_its_window_moves(world: dict[str, Any]) -> None:
    """The failures are counted from the audit log: a second app on the same database (another worker, or the
    server started again) sees them; they stop counting a minute after each was made."""
    from datetime import timedelta

    from api import sign_in_limit
    from api.models import utcnow

    first = world["client"]
    for _ in range(3):
        assert first.post("/api/v1/auth/token", data={"username": "auditor", "password": "guess"}).status_code == 401
    second = TestClient(create_app(world["settings"]))  # another worker, or the same server after a restart
    for _ in range(2):
        assert second.post("/api/v1/auth/token", data={"username": "auditor", "password": "guess"}).status_code == 401
    for client in (first, second):
        refused = client.post("/api/v1/auth/token", data={"username": "auditor", "password": PASSWORDS["auditor"]})
        assert refused.status_code == 429 and "more than 5 a minute" in refused.json()["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    with create_app(world["settings"]).state.sessions() as session:
        now = utcnow()
        assert sign_in_limit.check(session, "auditor", "testclient", 5, now) is not None
        assert sign_in_limit.check(session, "auditor", "testclient", 6, now) is None, "five failures, six allowed"
        assert sign_in_limit.check(session, "auditor", "10.0.0.9", 5, now) is None, "another address"
        assert sign_in_limit.check(session, "officer", "testclient", 5, now) is None, "another user name"
        later = sign_in_limit.check(session, "auditor", "testclient", 5, now + timedelta(seconds=30))
        assert later is not None and later.retry_after_s <= 30  # the oldest of the five leaves the window first
        assert sign_in_limit.check(session, "auditor", "testclient", 5, now + timedelta(seconds=61)) is None


def test_a_burst_of_guesses_sent_at_once_is_limited_like_guesses_sent_one_by_one(world: dict[str, Any]) -> None:
    """Twenty wrong passwords at the same moment: five are tried, the rest wait their turn and are refused."""
    from concurrent.futures import ThreadPoolExecutor

    client = world["client"]
    guess = {"username": "auditor", "password": "guess"}
    with ThreadPoolExecutor(20) as pool:
        codes = sorted(pool.map(lambda _: client.post("/api/v1/auth/token", data=guess).status_code, range(20)))
    assert codes == [401] * 5 + [429] * 15


def test_a_disabled_user_is_refused_at_once_and_their_decisions_keep_their_name(world: dict[str, Any]) -> None:
    client, ticket = world["client"], world["ticket"]
    officer = bearer("officer")
    url = f"/api/v1/tickets/{ticket['id']}/reject"
    assert client.post(url, json={"reason": "a parked car, not a stall"}, headers=officer).status_code == 200
    admin = bearer("admin")
    assert client.post("/api/v1/users/officer/disable", headers=admin).json()["disabled"] is True
    assert client.get("/api/v1/tickets", headers=officer).status_code == 401, "the old token stops working"
    assert client.post("/api/v1/users/admin/disable", headers=admin).status_code == 409
    assert client.post("/api/v1/users/nobody/disable", headers=admin).status_code == 404
    decision = client.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer("auditor")).json()["decisions"][0]
    assert (decision["actor"], decision["actor_role"]) == ("officer", "officer")
    created = client.post(
        "/api/v1/users",
        json={"username": "officer2", "password": "ten chars!", "role": "officer", "cameras": ["cam-*"]},
        headers=admin,
    )
    assert created.status_code == 201 and created.json()["cameras"] == ["cam-*"]
    assert (
        client.post("/api/v1/users", json=created.json() | {"password": "ten chars!"}, headers=admin).status_code == 422
    )
    names = [u["username"] for u in client.get("/api/v1/users", headers=admin).json()]
    assert "officer2" in names and all("password" not in u for u in client.get("/api/v1/users", headers=admin).json())


def test_the_pipeline_signs_in_and_signs_in_again_when_its_token_is_refused(world: dict[str, Any]) -> None:
    login = PasswordLogin("pipeline", PASSWORDS["pipeline"])
    client = world["client"]
    client.auth = login
    transport = HttpTransport("http://testserver", client=client)
    payload = violation_payload("77777777-2222-3333-4444-555555555555")
    assert transport.send(payload["key"], payload) == 201
    login._token = tokens.issue("pipeline", TEST_SECRET, 60, now=datetime.now(UTC) - timedelta(hours=1))  # expired
    again = violation_payload("88888888-2222-3333-4444-555555555555")
    assert transport.send(again["key"], again) == 201
    wrong = PasswordLogin("pipeline", "not its password")
    client.auth = wrong
    late = violation_payload("66666666-2222-3333-4444-555555555555")
    assert transport.send(late["key"], late) == 401, "refused, so the outbox keeps it for later"


def test_settings_refuse_a_missing_or_weak_secret_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jwt_secret is missing"):
        Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(ValidationError, match="at least 32 random characters"):
        Settings(jwt_secret="changeme")
    with pytest.raises(ValidationError, match="at least 32 random characters"):
        Settings(jwt_secret="a" * 40)
    first, second = Settings(development=True), Settings(development=True)
    assert len(first.secret) >= 32 and first.secret != second.secret, "a random secret per start"


def test_serve_without_a_secret_says_how_to_set_one(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.delenv("NONSITE_JWT_SECRET", raising=False)
    monkeypatch.delenv("NONSITE_DEVELOPMENT", raising=False)
    assert main(["serve", "--port", "8999"]) == 2
    assert "NONSITE_JWT_SECRET" in capsys.readouterr().err


def test_users_cli_adds_lists_and_disables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    settings = settings_for(tmp_path)
    url = settings.database_url
    monkeypatch.setenv("OFFICER_PASSWORD", "a good long password")
    args = ["--database-url", url, "--password-env", "OFFICER_PASSWORD"]
    assert main(["users", "add", "wang.wei", "--role", "officer", "--cameras", "xh-*", "xh2-01", *args]) == 0
    assert main(["users", "add", "wang.wei", "--role", "officer", *args]) == 2
    assert "exists already" in capsys.readouterr().err
    monkeypatch.setenv("SHORT", "short")
    assert main(["users", "add", "li", "--role", "auditor", "--database-url", url, "--password-env", "SHORT"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert main(["users", "disable", "wang.wei", "--database-url", url]) == 0
    assert main(["users", "list", "--database-url", url]) == 0
    listing = capsys.readouterr().out
    assert "wang.wei" in listing and "disabled" in listing and "xh-*, xh2-01" in listing
    assert main(["users", "disable", "nobody", "--database-url", url]) == 2
    with TestClient(create_app(settings)) as client:
        form = {"username": "wang.wei", "password": "a good long password"}
        assert client.post("/api/v1/auth/token", data=form).status_code == 401, "disabled"
        assert main(["users", "enable", "wang.wei", "--database-url", url]) == 0
        assert client.post("/api/v1/auth/token", data=form).json()["user"]["cameras"] == ["xh-*", "xh2-01"]


def test_the_demo_makes_its_accounts_and_puts_them_back_on_a_rerun(tmp_path: Path, monkeypatch: Any) -> None:
    from pipeline.cli import DEMO_USERS, _demo_users
    from pipeline.config import ApiConfig

    settings = settings_for(tmp_path)
    monkeypatch.setenv("NONSITE_API_PASSWORD", "before the demo")  # the demo sets it; put back after the test
    with TestClient(create_app(settings)) as client:
        passwords = []
        for _ in range(2):  # a rerun of the demo on its own database
            _demo_users(settings, ApiConfig())
            passwords.append(os.environ["NONSITE_API_PASSWORD"])
            for name, role, password in DEMO_USERS:
                signed_in = client.post("/api/v1/auth/token", data={"username": name, "password": password})
                assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == role
            form = {"username": "pipeline", "password": passwords[-1]}
            assert client.post("/api/v1/auth/token", data=form).json()["user"]["role"] == "pipeline"
        assert passwords[0] != passwords[1], "a random pipeline password per run"
        stale = client.post("/api/v1/auth/token", data={"username": "pipeline", "password": passwords[0]})
        assert stale.status_code == 401
