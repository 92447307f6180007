"""Shared fixtures and factories."""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import accounts, tokens
from api.app import create_app
from api.db import make_engine, migrate, session_factory
from api.models import User
from api.settings import Settings
from detectors.paths import models_dir
from evidence.types import EventState, TimeSource, ViolationEvent, ViolationKind
from pipeline.types import Track, TrackAttributes
from tests import postgres

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
VIDEOS = DATA / "videos"
CLIP_25 = VIDEOS / "captaineven_mcmot_test_25.mp4"
CLIP_27 = VIDEOS / "captaineven_mcmot_test_27.mp4"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real footage not found at {DATA} (../shared/data)")


@pytest.fixture(scope="session")
def nanodet_path() -> Path:
    path = models_dir() / "nanodet-coco.onnx"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make models` (the test command builds it)")
    return path


def make_track(
    track_id: int = 1,
    label: str = "chair",
    box: tuple[float, float, float, float] = (100, 100, 150, 200),
    confidence: float = 0.5,
    **attributes: Any,
) -> Track:
    return Track(
        track_id=track_id,
        label=label,
        box=box,
        confidence=confidence,
        first_seen_s=0.0,
        last_seen_s=0.0,
        attributes=TrackAttributes(**attributes),
    )


VIOLATION_ID = "11111111-2222-3333-4444-555555555555"


def make_event(
    violation_id: str = VIOLATION_ID, state: EventState = EventState.START, revision: int = 0, **fields: Any
) -> ViolationEvent:
    values: dict[str, Any] = {
        "id": violation_id,
        "kind": ViolationKind.STREET_STALL,
        "state": state,
        "revision": revision,
        "camera": "cam-1",
        "zone": "shopfront",
        "rule": "no-vending",
        "track_id": 7,
        "label": "chair",
        "start_s": 1.0,
        "end_s": 5.0,
        "box": (10.0, 20.0, 110.0, 220.0),
        "captured_at": datetime(2026, 11, 23, 9, 0, tzinfo=UTC).isoformat(),
        "time_source": TimeSource.CONFIG,
        "key_frame_pts_s": 5.0,
    }
    values.update(fields)
    return ViolationEvent(**values)


def violation_payload(violation_id: str = VIOLATION_ID, **overrides: Any) -> dict[str, Any]:
    """A start as the outbox pushes it; ``overrides`` replace wire fields (to make it malformed, say)."""
    payload = make_event(violation_id).to_dict()
    payload.update(overrides)
    return payload


# One account per role, named after it (the pipeline's signs in with NONSITE_API_PASSWORD, as `nonsite run` does).
TEST_SECRET = secrets.token_urlsafe(32)
PASSWORDS = {role.value: f"{role.value}-test-password" for role in accounts.Role}
os.environ["NONSITE_API_PASSWORD"] = PASSWORDS["pipeline"]


@functools.cache
def _password_hash(password: str) -> str:  # argon2 is slow on purpose: once per password per session
    return accounts.hash_password(password)


def add_test_users(settings: Settings, **cameras: list[str]) -> None:
    """An account per role (user name = role), each seeing every camera unless ``cameras`` says otherwise;
    more officers with ``name=[patterns]`` (e.g. ``officer_b=["b-*"]``)."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    with session_factory(engine)() as session:
        if session.scalar(select(func.count()).select_from(User)):  # a copy of a database that has them
            return
        for role in accounts.Role:
            session.add(
                User(
                    username=role.value,
                    password_hash=_password_hash(PASSWORDS[role.value]),
                    role=role.value,
                    cameras=cameras.pop(role.value, ["*"]),
                )
            )
        for name, patterns in cameras.items():
            session.add(
                User(
                    username=name, password_hash=_password_hash(PASSWORDS["officer"]), role="officer", cameras=patterns
                )
            )
        session.commit()
    engine.dispose()


def bearer(username: str) -> dict[str, str]:
    """The header of a fresh token for this user (the test settings' secret)."""
    return {"Authorization": f"Bearer {tokens.issue(username, TEST_SECRET, 86_400)}"}


def key_header(payload: dict[str, Any]) -> dict[str, str]:
    """What the outbox sends with an event: its idempotency key, signed in as the pipeline."""
    return {"Idempotency-Key": str(payload["key"]), **bearer("pipeline")}


def settings_for(root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": postgres.server().new_database() if postgres.wanted() else f"sqlite:///{root / 'api.db'}",
        "evidence_dir": root / "evidence",
        "trusted_keys_dir": root / "keys",
        "audit_dir": root / "audit",
        "jwt_secret": TEST_SECRET,
        "fixity_interval_s": 0,  # tests that need the schedule set it; others keep their audit logs exact
        "disk_low_mb": 0,  # a nearly full CI disk must not change unrelated tests; tests/test_disk.py sets them
        "disk_reserve_mb": 0,
    }
    settings = Settings(**(values | overrides))
    if "database_url" not in overrides:  # the deployment's own step, as `nonsite db upgrade` does it
        upgrade(settings)
    return settings


def upgrade(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """The API, signed in as an officer who sees every camera (``bearer(role)`` for the others)."""
    add_test_users(api_settings)
    with TestClient(create_app(api_settings), headers=bearer("officer")) as test_client:
        yield test_client


def write_sample_config(root: Path, api_url: str | None = None, fps: float | None = None) -> Path:
    """The sample config with footage read in place and storage, outbox and database under ``root``."""
    text = (REPO / "samples" / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("../../shared/data/videos/", f"{VIDEOS}/").replace("../var/", f"{root}/")
    if api_url is not None:
        text = text.replace("http://127.0.0.1:8000", api_url)
    if fps is not None:
        text, count = re.subn(r"(?m)^(    fps:) \S+", rf"\1 {fps}", text)
        assert count == 2, "the sample config should have one fps line per camera"
    path = root / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def labelled_boxes(image_name: str, cls: str) -> list[tuple[float, float, float, float]]:
    """Boxes of class ``cls`` labelled on ``image_name`` in the ../shared/data label files."""
    from pipeline.evaluation import load_labels

    return [
        label.box for label in load_labels(DATA) if label.file.endswith(image_name) and label.cls == cls and label.box
    ]


@pytest.fixture
def sample_config(tmp_path: Path) -> Path:
    """The sample config with storage and database moved into a temporary folder."""
    return write_sample_config(tmp_path)


@pytest.fixture
def corrupt_video(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return path


@pytest.fixture
def truncated_video(tmp_path: Path) -> Path:
    if not CLIP_27.is_file():
        pytest.skip(f"{CLIP_27} not found")
    path = tmp_path / "truncated.mp4"
    shutil.copyfile(CLIP_27, path)
    with path.open("r+b") as fh:
        fh.truncate(200_000)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real API under uvicorn on a loopback port, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import threading

        import uvicorn

        add_test_users(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                timeout_graceful_shutdown=3,  # open alert streams never end by themselves
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole chain once per session: both real clips → `nonsite run` → outbox → live API."""
    import json

    from pipeline.cli import main

    if not DATA.is_dir():
        pytest.skip(f"real footage not found at {DATA}")
    root = tmp_path_factory.mktemp("chain")
    settings = settings_for(root)
    with LiveServer(settings) as live:
        config = write_sample_config(root, api_url=live.url)
        events_path = root / "events.jsonl"
        code = main(["run", "--config", str(config), "--events-out", str(events_path)])
        events = [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
        yield {"code": code, "events": events, "root": root, "url": live.url, "config": config}


pytest_plugins = ["tests.rtsp_fixtures"]  # the real RTSP server fixture (rtsp_server)
