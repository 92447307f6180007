"""Detectors: the offline model on real frames, the JSON CLI, clear errors, label mapping."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError, ModelFileMissing
from detectors.config import NanoDetConfig, UltralyticsConfig
from detectors.images import read_bgr
from detectors.postprocess import finish
from detectors.registry import create_detector
from detectors.types import Detections
from pipeline.cli import main
from tests.conftest import DATA, REPO, needs_data

FRAME_25 = DATA / "street_scenes" / "images" / "mcmot_test_25_frame0000.jpg"


def read_frame() -> np.ndarray:
    return read_bgr(FRAME_25)


def test_detections_validate_their_shapes() -> None:
    with pytest.raises(ValueError, match=r"xyxy must be \(n, 4\), got \(3,\)"):
        Detections(
            xyxy=np.zeros(3, np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            label=np.zeros(0, dtype=object),
        )
    with pytest.raises(ValueError, match=r"confidence must be \(2,\)"):
        Detections(
            xyxy=np.zeros((2, 4), np.float32),
            confidence=np.zeros(1, np.float32),
            class_id=np.zeros(2, np.int64),
            label=np.array(["a", "b"], dtype=object),
        )


def test_finish_filters_suppresses_clips_and_maps_labels() -> None:
    config = NanoDetConfig(confidence=0.3, nms_iou=0.5, class_map={"lorry": "truck"}, keep_labels=["truck"])
    xyxy = np.array([[0, 0, 100, 100], [2, 2, 101, 99], [50, 50, 900, 90], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.6, 0.2], np.float32)
    classes = np.array([0, 0, 0, 1], np.int64)
    out = finish(xyxy, scores, classes, ("lorry", "cat"), config, image_wh=(640, 480))
    assert list(out.label) == ["truck", "truck"]  # duplicate suppressed, low score and unkept label dropped
    assert out.confidence.tolist() == pytest.approx([0.9, 0.6])
    assert out.xyxy[1].tolist() == [50, 50, 640, 90]  # clipped to the image


@needs_data
def test_nanodet_finds_the_parked_cars_in_a_real_frame(nanodet_path: Path) -> None:
    detector = create_detector(NanoDetConfig(model_path=nanodet_path, confidence=0.3))
    detections = detector.detect(read_frame())
    assert detector.info.model_id == "nanodet-coco80-416"
    assert len(detector.info.sha256) == 64
    cars = detections.select(detections.label == "car")
    assert len(cars) >= 3
    # The white car at the bottom right of the frame (by eye: about 1200-1870 x 720-1080).
    assert any(x1 > 1100 and y1 > 650 and x2 > 1750 for x1, y1, x2, _ in cars.xyxy)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ModelFileMissing,
        match=r"model file not found: .*absent.onnx \(in a checkout run `make models`.*NONSITE_MODELS_DIR",
    ):
        create_detector(NanoDetConfig(model_path=tmp_path / "absent.onnx"))


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load ONNX model"):
        create_detector(NanoDetConfig(model_path=broken))


def test_ultralytics_missing_weights_never_downloads(tmp_path: Path) -> None:
    # "yolov8n.pt" is a name ultralytics would fetch from the internet; we refuse before it can.
    with pytest.raises(ModelFileMissing, match="never downloaded"):
        create_detector(UltralyticsConfig(weights=tmp_path / "yolov8n.pt"))


@needs_data
def test_detect_cli_json(nanodet_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    code = main(["detect", str(FRAME_25), str(not_image), str(tmp_path / "missing.jpg"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    (line,) = out.splitlines()
    row = json.loads(line)
    assert row["image"] == str(FRAME_25)
    first = row["detections"][0]
    assert set(first) == {"label", "confidence", "box", "attributes"}
    assert len(first["box"]) == 4 and 0 < first["confidence"] <= 1
    assert f"{not_image}: not a readable image" in err
    assert "missing.jpg: file not found" in err


def test_set_up_refuses_a_model_file_whose_hash_differs_from_the_manifest(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fetch_models", REPO / "models" / "fetch_models.py")
    assert spec is not None and spec.loader is not None
    fetch_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_models)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not the model the manifest names")
    with pytest.raises(SystemExit, match=r"models/manifest\.json says"):
        fetch_models._refuse_unexpected("model.onnx", model, "0" * 64)
    assert not model.exists()
    model.write_bytes(b"right")
    fetch_models._refuse_unexpected("model.onnx", model, hashlib.sha256(b"right").hexdigest())
    assert model.exists()
