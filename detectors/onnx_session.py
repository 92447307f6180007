"""Opening ONNX Runtime sessions with clear errors for missing or broken model files."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from detectors.base import DetectorError, ModelFileMissing, file_sha256

FETCH_HINT = (
    "in a checkout run `make models`; for an installed package run `python models/fetch_models.py --out DIR` "
    "from the source tree once and set NONSITE_MODELS_DIR=DIR"
)


def open_session(path: Path, threads: int, hint: str = FETCH_HINT) -> tuple[ort.InferenceSession, str]:
    """A CPU inference session for ``path`` and the file's SHA-256."""
    if not path.is_file():
        raise ModelFileMissing(path, hint)
    return cpu_session(str(path), threads, path), file_sha256(path)


def cpu_session(model: str | bytes, threads: int, name: object) -> ort.InferenceSession:
    """A CPU session for a model file (``str``) or serialised model (``bytes``); ``name`` is used in errors."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Several sessions (detector, plate detector, recogniser) take turns on few cores: threads that spin
    # after a run would steal the next session's CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
        raise DetectorError(f"cannot load ONNX model {name}: {exc}") from exc
