"""Shared fixtures and factories."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from detectors.paths import models_dir
from evidence.types import EventState, TimeSource, ViolationEvent, ViolationKind
from pipeline.types import Track, TrackAttributes

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


def key_header(payload: dict[str, Any]) -> dict[str, str]:
    return {"Idempotency-Key": str(payload["key"])}


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        evidence_dir=tmp_path / "evidence",
        trusted_keys_dir=tmp_path / "keys",
    )


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
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
    settings = Settings(
        database_url=f"sqlite:///{root / 'api.db'}", evidence_dir=root / "evidence", trusted_keys_dir=root / "keys"
    )
    with LiveServer(settings) as live:
        config = write_sample_config(root, api_url=live.url)
        events_path = root / "events.jsonl"
        code = main(["run", "--config", str(config), "--events-out", str(events_path)])
        events = [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
        yield {"code": code, "events": events, "root": root, "url": live.url, "config": config}


pytest_plugins = ["tests.rtsp_fixtures"]  # the real RTSP server fixture (rtsp_server)
