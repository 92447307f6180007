"""Detector configuration: one pydantic model per backend, picked by its ``type`` key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.paths import default_model_path


class DetectorConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    confidence: float = Field(0.3, ge=0.0, le=1.0, description="Minimum score a detection needs to be kept.")
    nms_iou: float = Field(0.5, gt=0.0, le=1.0, description="IoU above which overlapping boxes of one class merge.")
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Model label -> label the rules use (e.g. {'lorry': 'truck'})."
    )
    keep_labels: list[str] | None = Field(
        None, description="Keep only these labels (after class_map); null keeps everything."
    )
    threads: int = Field(2, ge=1, le=64, description="CPU threads for one inference.")


class NanoDetConfig(DetectorConfigBase):
    """The bundled offline COCO-80 NanoDet (416x416), converted to ONNX by ``models/fetch_models.py``."""

    type: Literal["nanodet"] = "nanodet"
    model_path: Path = Field(default_factory=lambda: default_model_path("nanodet-coco.onnx"), description="ONNX file.")


class CenterNetConfig(DetectorConfigBase):
    """The bundled offline COCO-80 MobileNetV3-CenterNet (512x512), converted like NanoDet."""

    type: Literal["centernet"] = "centernet"
    model_path: Path = Field(
        default_factory=lambda: default_model_path("centernet-coco.onnx"), description="ONNX file."
    )


class UltralyticsConfig(DetectorConfigBase):
    """Ultralytics YOLO with user-supplied weights (.pt, or an ONNX / OpenVINO export)."""

    type: Literal["ultralytics"] = "ultralytics"
    weights: Path = Field(..., description="Weights file or OpenVINO export folder; never downloaded.")
    imgsz: int | tuple[int, int] = Field(640, description="Inference size (square int or [h, w]).")
    device: str = Field("cpu", description="Torch device, e.g. 'cpu' or 'cuda:0'.")


class YoloConfig(DetectorConfigBase):
    """An ultralytics YOLO ONNX export (detection) run on OpenVINO or ONNX Runtime, no PyTorch needed; weights the
    user brings, registered once with ``nonsite models add`` and named here by ``model``."""

    type: Literal["yolo"] = "yolo"
    model: str | None = Field(
        None, min_length=1, max_length=64, description="Name in the model catalog (nonsite models list)."
    )
    model_path: Path | None = Field(None, description="Or the .onnx export itself; never downloaded.")
    runtime: Literal["openvino", "onnxruntime"] = Field(
        "openvino", description="Inference engine: OpenVINO runs YOLO about twice as fast as ONNX Runtime on CPU."
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16 (OpenVINO, CPUs with AVX512-BF16 or AMX) ran 1.46-1.65x faster with the same precision "
        "and recall on the development data; fp32 gives the same detections on every CPU.",
    )
    max_batch: int = Field(
        1, ge=1, le=32, description="Images (frames, zone crops) per inference; >1 frees the export's batch axis."
    )
    fallback: Literal["nanodet"] | None = Field(
        None,
        description="When the model is not registered or its file is gone, run the embedded NanoDet instead "
        "(with a warning: it finds almost no trucks). Null: refuse to start.",
    )

    @model_validator(mode="after")
    def _one_model(self) -> YoloConfig:
        if (self.model is None) == (self.model_path is None):
            raise ValueError("give exactly one of `model` (a catalog name) and `model_path` (an .onnx file)")
        if self.precision == "bf16" and self.runtime != "openvino":
            raise ValueError("precision bf16 needs runtime: openvino (ONNX Runtime runs these exports in fp32)")
        return self


DetectorConfig = Annotated[
    NanoDetConfig | CenterNetConfig | UltralyticsConfig | YoloConfig, Field(discriminator="type")
]
