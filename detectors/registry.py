"""Creates the configured detector; backends are imported only when chosen."""

from __future__ import annotations

import importlib
import logging

from detectors.base import Detector, DetectorError, ModelUnavailable
from detectors.config import CenterNetConfig, DetectorConfigBase, NanoDetConfig, UltralyticsConfig, YoloConfig

logger = logging.getLogger(__name__)

_PLUGINS: dict[str, str] = {
    "nanodet": "detectors.plugins.nanodet",
    "centernet": "detectors.plugins.centernet",
    "ultralytics": "detectors.plugins.ultralytics_yolo",
    "yolo": "detectors.plugins.yolo_onnx",
}
WEAK_FALLBACK = "falling back to the embedded NanoDet: detection will be weak (it finds almost no trucks)"


def create_detector(config: NanoDetConfig | CenterNetConfig | UltralyticsConfig | YoloConfig) -> Detector:
    """Instantiate the backend named by ``config.type``; a yolo config with ``fallback: nanodet`` whose model is
    not there runs NanoDet instead, with a warning."""
    try:
        return _create(config)
    except ModelUnavailable as exc:
        if not (isinstance(config, YoloConfig) and config.fallback):
            raise
        logger.warning("detector: %s; %s", exc, WEAK_FALLBACK)
        return _create(fallback_config(config))


def fallback_config(config: YoloConfig) -> NanoDetConfig:
    """NanoDet with the yolo config's shared settings (confidence, NMS, class map, threads)."""
    shared = config.model_dump(include=set(DetectorConfigBase.model_fields))
    return NanoDetConfig.model_validate(shared)


def _create(config: NanoDetConfig | CenterNetConfig | UltralyticsConfig | YoloConfig) -> Detector:
    module_name = _PLUGINS.get(config.type)
    if module_name is None:
        raise DetectorError(f"unknown detector type {config.type!r}; known: {sorted(_PLUGINS)}")
    module = importlib.import_module(module_name)
    detector: Detector = module.create(config)
    return detector
