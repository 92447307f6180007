"""Creates the configured detector; backends are imported only when chosen."""

from __future__ import annotations

import importlib

from detectors.base import Detector, DetectorError
from detectors.config import CenterNetConfig, NanoDetConfig, UltralyticsConfig, YoloConfig

_PLUGINS: dict[str, str] = {
    "nanodet": "detectors.plugins.nanodet",
    "centernet": "detectors.plugins.centernet",
    "ultralytics": "detectors.plugins.ultralytics_yolo",
    "yolo": "detectors.plugins.yolo_onnx",
}


def create_detector(config: NanoDetConfig | CenterNetConfig | UltralyticsConfig | YoloConfig) -> Detector:
    """Instantiate the backend named by ``config.type``."""
    module_name = _PLUGINS.get(config.type)
    if module_name is None:
        raise DetectorError(f"unknown detector type {config.type!r}; known: {sorted(_PLUGINS)}")
    module = importlib.import_module(module_name)
    detector: Detector = module.create(config)
    return detector
