"""The model catalog: `nonsite models add` checks and registers YOLO exports, configs name them, and a missing
model either stops the run with the reason or (``fallback: nanodet``) runs the weak embedded model with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError
from detectors.catalog import ModelNotRegistered, load_catalog
from detectors.config import YoloConfig
from detectors.paths import MODELS_ENV
from detectors.registry import create_detector
from pipeline.cli import main
from tests.test_yolo_onnx import MODELS, _tiny_model

THREE = "{0: 'a', 1: 'b', 2: 'c'}"


@pytest.fixture
def models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nanodet_path: Path) -> Path:
    """An empty models folder (with the embedded NanoDet, which a fallback needs)."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / nanodet_path.name).symlink_to(nanodet_path)
    monkeypatch.setenv(MODELS_ENV, str(folder))
    return folder


def test_models_add_checks_records_and_is_idempotent(tmp_path: Path, models_folder: Path, capsys) -> None:
    tiny = _tiny_model(tmp_path / "tiny.onnx", [1, 7, 100], THREE)
    assert main(["models", "add", str(tiny), "--name", "tiny", "--licence", "MIT"]) == 0
    assert "tiny: registered" in capsys.readouterr().out
    entry = load_catalog().models["tiny"]
    assert (entry.classes, entry.input_hw, entry.licence, entry.path) == (["a", "b", "c"], (64, 64), "MIT", tiny)
    assert main(["models", "add", str(tiny), "--name", "tiny", "--licence", "MIT"]) == 0
    assert "already registered (unchanged)" in capsys.readouterr().out
    other = _tiny_model(tmp_path / "other.onnx", [1, 300, 6], THREE)
    assert main(["models", "add", str(other), "--name", "tiny"]) == 2
    assert "a different model is already registered as 'tiny'" in capsys.readouterr().err
    assert load_catalog().models["tiny"].path == tiny  # refused: nothing changed
    assert main(["models", "add", str(other), "--name", "tiny", "--replace"]) == 0
    assert load_catalog().models["tiny"].path == other
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["registered"]["tiny"]["classes"] == ["a", "b", "c"] and "nanodet-coco.onnx" in listed["bundled"]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: _tiny_model(p, [1, 7, 100], THREE, task="segment"), "YOLO segment model"),
        (lambda p: p.write_bytes(b"\x08\x07 not protobuf" * 20) and p, "not a readable ONNX model"),
        (lambda p: _tiny_model(p, [1, 84, 100], THREE), "fits neither"),
        (lambda p: p.with_name("absent.onnx"), "model file not found"),
    ],
)
def test_models_add_refuses_what_is_not_a_detection_export(tmp_path, models_folder, capsys, make, expected) -> None:
    path = make(tmp_path / "bad.onnx")
    assert main(["models", "add", str(path), "--name", "bad"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err
    assert load_catalog().models == {}


def test_a_config_names_a_registered_model_and_a_changed_file_is_refused(tmp_path: Path, models_folder: Path) -> None:
    tiny = _tiny_model(tmp_path / "tiny.onnx", [1, 7, 100], THREE)
    assert main(["models", "add", str(tiny), "--name", "tiny"]) == 0
    detector = create_detector(YoloConfig(model="tiny", runtime="onnxruntime"))
    assert detector.info.labels == ("a", "b", "c") and detector.info.model_id == "yolo-tiny-onnxruntime"
    _tiny_model(tiny, [1, 300, 6], THREE)  # the file is swapped for another model after registration
    with pytest.raises(DetectorError, match="changed since it was registered"):
        create_detector(YoloConfig(model="tiny"))
    with pytest.raises(ModelNotRegistered, match="registered: tiny"):
        create_detector(YoloConfig(model="yolo-nowhere"))


def test_a_missing_model_falls_back_to_nanodet_only_when_asked(models_folder: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        detector = create_detector(YoloConfig(model="yolo-nowhere", fallback="nanodet", confidence=0.2))
    assert detector.info.model_id.startswith("nanodet")
    assert "detection will be weak" in caplog.text and "nonsite models add" in caplog.text
    with pytest.raises(ModelNotRegistered):
        create_detector(YoloConfig(model="yolo-nowhere"))


def test_a_corrupt_model_is_never_replaced_by_the_fallback(tmp_path: Path, models_folder: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 not protobuf" * 20)
    with pytest.raises(DetectorError, match="not a readable ONNX model"):
        create_detector(YoloConfig(model_path=broken, fallback="nanodet"))


def test_a_config_gives_exactly_one_model() -> None:
    with pytest.raises(ValueError, match="exactly one of `model`"):
        YoloConfig()
    with pytest.raises(ValueError, match="exactly one of `model`"):
        YoloConfig(model="a", model_path=Path("b.onnx"))


@pytest.mark.skipif(not (MODELS / "yolo11n.pt").is_file(), reason="../shared/models/yolo11n.pt not found")
def test_pt_weights_are_exported_once_into_the_models_folder(models_folder: Path) -> None:
    pytest.importorskip("ultralytics")
    assert main(["models", "add", str(MODELS / "yolo11n.pt"), "--name", "y11"]) == 0
    entry = load_catalog().models["y11"]
    assert entry.path == models_folder / "user" / "y11.onnx" and len(entry.classes) == 80
    assert entry.input_hw == (640, 640) and "AGPL" in entry.licence
    exported = entry.path.stat().st_mtime_ns
    assert main(["models", "add", str(MODELS / "yolo11n.pt"), "--name", "y11"]) == 0
    assert entry.path.stat().st_mtime_ns == exported  # the same weights are not exported again


@pytest.mark.skipif(not (MODELS / "yolo11n.pt").is_file(), reason="../shared/models/yolo11n.pt not found")
def test_pt_weights_export_at_a_rectangular_input_for_16_9_frames(models_folder: Path, capsys) -> None:
    pytest.importorskip("ultralytics")
    from detectors.config import YoloConfig
    from detectors.registry import create_detector

    assert main(["models", "add", str(MODELS / "yolo11n.pt"), "--name", "y11-wide", "--input", "384x640"]) == 0
    entry = load_catalog().models["y11-wide"]
    assert entry.input_hw == (384, 640) and "input 640x384" in capsys.readouterr().out
    detector = create_detector(YoloConfig(model="y11-wide", confidence=0.25))
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[100:300, 200:420] = 255  # whatever it finds, boxes come back in the frame's own pixels
    (found,) = detector.detect_batch([frame])
    assert all(0 <= x <= 640 and 0 <= y <= 360 for x1, y1, x2, y2 in found.xyxy for x, y in ((x1, y1), (x2, y2)))
    assert main(["models", "add", str(MODELS / "yolo11n.pt"), "--name", "y11-odd", "--input", "300x640"]) == 2
    assert "multiples of 32" in capsys.readouterr().err
    assert main(["models", "add", str(MODELS / "yolo11n_640.onnx"), "--name", "x", "--input", "384x640"]) == 2
    assert "applies to .pt weights" in capsys.readouterr().err


def test_a_file_name_that_cannot_be_a_model_name_asks_for_one(tmp_path: Path, models_folder: Path, capsys) -> None:
    odd = _tiny_model(tmp_path / "best (1).onnx", [1, 7, 100], THREE)
    assert main(["models", "add", str(odd)]) == 2
    assert "cannot be a model name" in capsys.readouterr().err and load_catalog().models == {}
    moved = tmp_path / "moved.onnx"
    odd.rename(moved)
    assert main(["models", "add", str(moved), "--name", "tiny"]) == 0
    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(moved.read_bytes())
    moved.unlink()  # the same weights, now at another path: registered again without --replace
    assert main(["models", "add", str(elsewhere), "--name", "tiny"]) == 0
    assert load_catalog().models["tiny"].path == elsewhere
