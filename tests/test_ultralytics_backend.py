"""The ultralytics backend with user-supplied weights: here a YOLOv8n built from its YAML (random weights,
nothing downloaded), saved as .pt and loaded through our adapter like a user's trained file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors.config import UltralyticsConfig
from detectors.registry import create_detector

ultralytics = pytest.importorskip("ultralytics", reason="install the extra: pip install -e '.[ultralytics]'")


@pytest.fixture(scope="module")
def user_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "bureau-yolo.pt"
    ultralytics.YOLO("yolov8n.yaml").save(str(path))
    return path


def test_adapter_translates_results_and_maps_labels(user_weights: Path) -> None:
    # Untrained weights score everything near zero: a tiny threshold makes the adapter's output non-empty.
    config = UltralyticsConfig(
        weights=user_weights, confidence=1e-4, imgsz=320, class_map={str(i): "truck" for i in range(80)}
    )
    detector = create_detector(config)
    assert detector.info.model_id == "ultralytics-bureau-yolo"
    assert len(detector.info.sha256) == 64 and len(detector.info.labels) == 80
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    detections = detector.detect(image)
    assert len(detections) > 0
    assert set(detections.label) == {"truck"}
    assert np.all(detections.confidence >= 1e-4)
    assert np.all(np.diff(detections.confidence) <= 0), "sorted by score"
    assert np.all(detections.xyxy[:, [0, 2]] <= 640) and np.all(detections.xyxy[:, [1, 3]] <= 360)


def test_unreadable_weights_are_a_clear_error(tmp_path: Path) -> None:
    from detectors.base import DetectorError

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorError, match="as ultralytics YOLO weights"):
        create_detector(UltralyticsConfig(weights=broken))
