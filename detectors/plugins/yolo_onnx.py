"""Ultralytics YOLO ONNX exports on ONNX Runtime or OpenVINO (``runtime``), with no PyTorch at run time.

Two output layouts, told apart by shape:

- ``[1, 4 + classes, anchors]`` (YOLO11-style): centre x, centre y, width, height in input pixels, then one
  score per class; boxes are kept above the confidence and suppressed per class (NMS);
- ``[1, detections, 6]`` (end-to-end exports, e.g. YOLO26 with ``end2end``): x1, y1, x2, y2, score, class,
  already suppressed.

The input is letterboxed as ultralytics does it (scale to fit, pad with grey 114 centred, RGB, 0-1), and boxes
are mapped back exactly through the same scale and offsets. Class names come from the export's metadata.

``max_batch`` > 1 runs several images per inference, on a copy of the graph whose batch axis is freed
(``detectors/onnx_batch.py``); ``precision: bf16`` asks OpenVINO for bf16 arithmetic on CPUs that have it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx

from detectors.base import DetectorError, Image, ModelFileMissing, ModelInfo, check_image
from detectors.config import YoloConfig
from detectors.onnx_batch import FixedBatch, tensor_dims, with_batch_axis
from detectors.onnx_session import cpu_session
from detectors.postprocess import finish
from detectors.types import Detections

PAD_VALUE = 114
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Letterbox:
    """How one image was fitted into the model's input: ``input = image * scale + (left, top)``."""

    scale: float
    left: int
    top: int

    def to_image(self, xyxy: FloatArray) -> FloatArray:
        offset = np.array([self.left, self.top, self.left, self.top], np.float32)
        return ((xyxy - offset) / self.scale).astype(np.float32)


def letterbox(image: Image, input_hw: tuple[int, int]) -> tuple[Image, Letterbox]:
    """Scale ``image`` to fit ``input_hw`` keeping its aspect, centred on grey padding (ultralytics' rounding)."""
    h, w = image.shape[:2]
    in_h, in_w = input_hw
    scale = min(in_h / h, in_w / w)
    new_w, new_h = round(w * scale), round(h * scale)
    pad_w, pad_h = (in_w - new_w) / 2, (in_h - new_h) / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if (new_w, new_h) != (w, h) else image
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return np.asarray(padded, dtype=np.uint8), Letterbox(scale=scale, left=left, top=top)


def model_names(metadata: dict[str, str], path: object) -> tuple[str, ...]:
    """Class names from an ultralytics export's metadata (``names``: ``{0: 'person', …}``)."""
    if metadata.get("task", "detect") != "detect":
        raise DetectorError(f"{path} is a YOLO {metadata['task']} model; nonsite needs a detection model")
    try:
        names = ast.literal_eval(metadata["names"])
    except (KeyError, ValueError, SyntaxError) as exc:
        raise DetectorError(f"{path} has no class names in its metadata: export it with ultralytics") from exc
    if not isinstance(names, dict) or not names:
        raise DetectorError(f"{path}: the class names in its metadata are not a mapping of index to name")
    return tuple(str(names[i]) for i in sorted(names))


@dataclass(frozen=True)
class YoloExport:
    """What an ultralytics detection export declares, read from the file alone (no runtime needed)."""

    path: Path
    labels: tuple[str, ...]
    input_hw: tuple[int, int]
    layout: str  # ANCHORS or END_TO_END
    metadata: dict[str, str]


def inspect_export(path: Path) -> YoloExport:
    """Reads and checks an export: one image input, one detection output, class names in its metadata."""
    if not path.is_file():
        raise ModelFileMissing(path, YOLO_HINT)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError (and others) for a file that is not ONNX
        raise DetectorError(f"{path} is not a readable ONNX model ({type(exc).__name__}); re-export it") from exc
    metadata = {p.key: p.value for p in model.metadata_props}
    initialisers = {t.name for t in model.graph.initializer}
    inputs = [tensor_dims(i) for i in model.graph.input if i.name not in initialisers]
    outputs = [tensor_dims(o) for o in model.graph.output]
    if metadata.get("task", "detect") != "detect":
        raise DetectorError(f"{path} is a YOLO {metadata['task']} model; nonsite needs a detection model")
    if len(inputs) != 1 or len(outputs) != 1:
        raise DetectorError(
            f"{path}: {len(inputs)} inputs and {len(outputs)} outputs; a YOLO detection export has one of each "
            "(a segmentation or pose model has more)"
        )
    shape = inputs[0]
    height, width = shape[2:] if len(shape) == 4 else (None, None)
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise DetectorError(f"{path}: input shape {shape} is not [batch, 3, height, width]")
    labels = model_names(metadata, path)
    layout = _layout(outputs[0], len(labels), path)
    return YoloExport(path, labels, (height, width), layout, metadata)


Run = Callable[[FloatArray], FloatArray]  # blob (n, 3, h, w) → the single output (n, …)


def _graph(path: Path, max_batch: int) -> str | bytes:
    """The export as the runtime should read it: the file itself, or (for batches) a copy with a free batch axis."""
    if max_batch == 1:
        return str(path)
    try:
        serialised: bytes = with_batch_axis(onnx.load(str(path))).SerializeToString()
        return serialised
    except FixedBatch as exc:
        raise DetectorError(
            f"{path} cannot take batches ({exc}): set max_batch: 1, or re-export it with ultralytics dynamic=True"
        ) from exc
    except Exception as exc:  # onnx shape inference raises its own types for graphs it cannot follow
        raise DetectorError(
            f"{path}: cannot free its batch axis ({type(exc).__name__}: {exc}); set max_batch: 1"
        ) from exc


def _onnxruntime(config: YoloConfig, path: Path) -> Run:
    session = cpu_session(_graph(path, config.max_batch), config.threads, path)
    name = session.get_inputs()[0].name

    def run(blob: FloatArray) -> FloatArray:
        return np.asarray(session.run(None, {name: blob})[0], np.float32)

    return run


OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def _openvino(config: YoloConfig, path: Path) -> Run:
    import openvino

    core = openvino.Core()
    if config.precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise DetectorError("precision bf16: this CPU has no bf16 support (AVX512-BF16 or AMX); use fp32")
    settings = {
        "INFERENCE_NUM_THREADS": config.threads,
        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[config.precision],
    }
    try:
        model = core.read_model(_graph(path, config.max_batch))
        if config.max_batch > 1:
            model.reshape([-1, *model.inputs[0].partial_shape[1:]])
        compiled = core.compile_model(model, "CPU", settings)
    except Exception as exc:  # OpenVINO raises its own types for graphs it cannot compile
        raise DetectorError(f"cannot load ONNX model {path} with OpenVINO: {exc}") from exc
    output = compiled.output(0)

    def run(blob: FloatArray) -> FloatArray:
        return np.asarray(compiled(blob)[output], np.float32)

    return run


RUNTIMES: dict[str, Callable[[YoloConfig, Path], Run]] = {
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
}


class YoloOnnxDetector:
    """Runs up to ``config.max_batch`` images per inference (frames and zone crops of any size: each is
    letterboxed on its own).

    ``path`` is the export to run (``config.model_path``, or the file ``config.model`` names in the catalog) and
    ``sha256`` its hash, recorded on every violation.
    """

    def __init__(self, config: YoloConfig, path: Path, sha256: str) -> None:
        self.config = config
        export = inspect_export(path)
        self.input_hw = export.input_hw
        self._layout = export.layout
        self._run = RUNTIMES[config.runtime](config, path)
        precision = "" if config.precision == "fp32" else f"-{config.precision}"
        model_id = f"yolo-{config.model or path.stem}-{config.runtime}{precision}"
        self.info = ModelInfo(model_id=model_id, sha256=sha256, labels=export.labels)

    def detect(self, image: Image) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        found: list[Detections] = []
        step = self.config.max_batch
        for start in range(0, len(images), step):
            found.extend(self._detect_chunk(images[start : start + step]))
        return found

    def _detect_chunk(self, images: Sequence[Image]) -> list[Detections]:
        fitted, boxes = [], []
        for image in images:
            check_image(image)
            padded, box = letterbox(image, self.input_hw)
            fitted.append(padded[:, :, ::-1].transpose(2, 0, 1))
            boxes.append(box)
        blob = np.ascontiguousarray(np.stack(fitted), dtype=np.float32) / 255.0
        outputs = self._run(blob)
        found = []
        for image, box, output in zip(images, boxes, outputs, strict=True):
            h, w = image.shape[:2]
            xyxy, scores, classes, suppressed = decode(output, self._layout)
            found.append(
                finish(box.to_image(xyxy), scores, classes, self.info.labels, self.config, (w, h), not suppressed)
            )
        return found


YOLO_HINT = "bring a YOLO ONNX export (e.g. ../shared/models/yolo11n_640.onnx); nothing is downloaded"
ANCHORS, END_TO_END = "anchors", "end_to_end"


def _layout(shape: list[int | str | None], classes: int, path: object) -> str:
    dims = [d for d in shape[1:] if isinstance(d, int)]
    if len(dims) == 2 and dims[0] == 4 + classes:
        return ANCHORS
    if len(dims) == 2 and dims[1] == 6:
        return END_TO_END
    raise DetectorError(
        f"{path}: output shape {shape} fits neither [1, 4 + {classes} classes, anchors] nor [1, detections, 6]"
    )


def decode(output: FloatArray, layout: str) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64], bool]:
    """Boxes (xyxy in input pixels), scores, class ids, and whether they are already suppressed."""
    if layout == END_TO_END:
        return output[:, :4], output[:, 4], output[:, 5].astype(np.int64), True
    scores_all = output[4:].T  # (anchors, classes)
    classes = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(classes)), classes]
    cx, cy, bw, bh = output[:4]
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    return xyxy, scores.astype(np.float32), classes.astype(np.int64), False


def create(config: YoloConfig) -> YoloOnnxDetector:
    from detectors.catalog import resolve_yolo

    return YoloOnnxDetector(config, *resolve_yolo(config))
