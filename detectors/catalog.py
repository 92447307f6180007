"""The model catalog: the models nonsite builds (``models/manifest.json``) and the ones a user registered.

A user's YOLO export is registered once with ``nonsite models add FILE --name N``: the file is checked (it
loads, it is a detection model, it names its classes) and recorded in ``<models dir>/catalog.json`` with its
classes, input size, SHA-256, licence and source. It stays where it is (weights are read in place, never
copied or downloaded); a ``.pt`` file is exported to ONNX into the models folder once, which needs the
``ultralytics`` extra. Configs then name it: ``detector: {type: yolo, model: N}``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.base import DetectorError, ModelFileMissing, ModelUnavailable, file_sha256
from detectors.config import YoloConfig
from detectors.paths import REPO_ROOT, models_dir

CATALOG_FILE = "catalog.json"
NAME_PATTERN = r"^[A-Za-z0-9][\w.-]{0,63}$"


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=NAME_PATTERN)
    path: Path
    classes: list[str]
    input_hw: tuple[int, int]
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    added_from_sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="The file given to `models add`.")
    licence: str
    source: str
    added_at: datetime


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    models: dict[str, CatalogEntry] = Field(default_factory=dict)


class ModelNotRegistered(ModelUnavailable):
    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none yet"
        super().__init__(
            f"model {name!r} is not in the catalog {catalog_path()} (registered: {listed}); "
            f"register it with: nonsite models add FILE --name {name}"
        )
        self.name = name


def catalog_path() -> Path:
    return models_dir() / CATALOG_FILE


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or catalog_path()
    if not path.exists():
        return Catalog()
    try:
        return Catalog.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise DetectorError(
            f"the model catalog {path} is damaged ({exc.__class__.__name__}); fix or remove it"
        ) from exc


def save_catalog(catalog: Catalog, path: Path | None = None) -> None:
    """Written to a temporary file and renamed, so a crash never leaves half a catalog."""
    path = path or catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as fh:
        try:
            fh.write(catalog.model_dump_json(indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        except OSError:
            os.unlink(fh.name)
            raise
    os.chmod(fh.name, 0o644)
    os.replace(fh.name, path)


def resolve_yolo(config: YoloConfig) -> tuple[Path, str]:
    """The export a yolo detector config runs and its SHA-256: its ``model_path``, or the file its catalog
    ``model`` names (refused if that file changed since it was registered)."""
    if config.model_path is not None:
        if not config.model_path.is_file():
            raise ModelFileMissing(config.model_path, "bring a YOLO ONNX export; nothing is downloaded")
        return config.model_path, file_sha256(config.model_path)
    assert config.model is not None  # the config allows exactly one of the two
    catalog = load_catalog()
    entry = catalog.models.get(config.model)
    if entry is None:
        raise ModelNotRegistered(config.model, sorted(catalog.models))
    if not entry.path.is_file():
        raise ModelFileMissing(entry.path, f"registered as {entry.name!r}; bring the file back or register again")
    sha256 = file_sha256(entry.path)
    if sha256 != entry.sha256:
        raise DetectorError(
            f"{entry.path} (model {entry.name!r}) changed since it was registered (sha256 {sha256[:12]}…, "
            f"catalog {entry.sha256[:12]}…); check where it came from, then: nonsite models add {entry.path} "
            f"--name {entry.name} --replace"
        )
    return entry.path, sha256


def add_model(
    file: Path,
    name: str | None = None,
    licence: str | None = None,
    source: str | None = None,
    replace: bool = False,
    input_hw: tuple[int, int] | None = None,
) -> tuple[CatalogEntry, bool]:
    """Checks and registers ``file``; returns the entry and whether the catalog changed (an identical entry
    is left alone, so set-up can run this every time). ``input_hw`` sets a ``.pt`` export's input size, e.g.
    (384, 640) for 16:9 frames (an ONNX export has its size already)."""
    if input_hw is not None and file.suffix != ".pt":
        raise DetectorError(f"--input applies to .pt weights (exported here); {file.name} has its input size built in")
    from detectors.plugins.yolo_onnx import inspect_export

    file = file.resolve()
    if not file.is_file():
        raise ModelFileMissing(file, "give the path of a YOLO .onnx export or .pt file")
    name = name or file.stem
    if not re.fullmatch(NAME_PATTERN, name):
        raise DetectorError(f"{name!r} cannot be a model name (letters, digits, '.', '_', '-'); pass --name")
    catalog = load_catalog()
    existing = catalog.models.get(name)
    given_sha256 = file_sha256(file)
    if existing is not None and existing.added_from_sha256 == given_sha256:
        # The same weights again: nothing to do if they are still where the catalog says (a .pt's export, or
        # this very file); otherwise register them where they are now.
        same_size = input_hw is None or tuple(existing.input_hw) == input_hw
        if (file == existing.path or file.suffix == ".pt") and _intact(existing) and same_size:
            return existing, False
    elif existing is not None and not replace:
        raise DetectorError(
            f"a different model is already registered as {name!r} ({existing.path}, sha256 "
            f"{existing.sha256[:12]}…); pick another --name or pass --replace"
        )
    onnx_file = export_pt(file, name, input_hw) if file.suffix == ".pt" else file
    export = inspect_export(onnx_file)
    entry = CatalogEntry(
        name=name,
        path=onnx_file,
        classes=list(export.labels),
        input_hw=export.input_hw,
        sha256=given_sha256 if onnx_file == file else file_sha256(onnx_file),
        added_from_sha256=given_sha256,
        licence=licence or export.metadata.get("license", "unknown (not in the export's metadata)"),
        source=source or f"{file} ({export.metadata.get('description', 'no description')})",
        added_at=datetime.now(UTC),
    )
    catalog.models[name] = entry
    save_catalog(catalog)
    return entry, True


def _intact(entry: CatalogEntry) -> bool:
    return entry.path.is_file() and file_sha256(entry.path) == entry.sha256


def export_pt(file: Path, name: str, input_hw: tuple[int, int] | None = None) -> Path:
    """Exports ultralytics weights to ONNX into the models folder (the weights file itself is not touched), at
    ``input_hw`` (height, width; multiples of 32) or the weights' own size."""
    if input_hw is not None and any(v < 32 or v % 32 for v in input_hw):
        raise DetectorError(f"an input size is two multiples of 32 (height x width), got {input_hw[0]}x{input_hw[1]}")
    from detectors.plugins.yolo_onnx import inspect_export

    target = models_dir() / "user" / f"{name}.onnx"
    try:
        from ultralytics.models import YOLO
    except ImportError as exc:
        raise DetectorError(
            f"{file} is PyTorch weights: exporting them needs the ultralytics extra "
            "(pip install 'nonsite[ultralytics]'), or register an ONNX export instead"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    # Exported beside the target (same file system, so the final rename cannot fail) and checked before it
    # replaces anything.
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        copy = Path(work) / "weights.pt"
        copy.write_bytes(file.read_bytes())
        try:
            size = {"imgsz": list(input_hw)} if input_hw is not None else {}
            exported = Path(YOLO(str(copy)).export(format="onnx", simplify=False, dynamic=False, **size))
        except Exception as exc:  # ultralytics raises many types (a .pt that is not YOLO weights, torch errors)
            raise DetectorError(f"cannot export {file} to ONNX with ultralytics: {exc}") from exc
        inspect_export(exported)
        os.replace(exported, target)
    return target


def bundled_models() -> dict[str, dict[str, str]]:
    """The models ``models/fetch_models.py`` builds, as ``models/manifest.json`` lists them."""
    manifest = REPO_ROOT / "models" / "manifest.json"
    if not manifest.is_file():
        return {}
    models: dict[str, dict[str, str]] = json.loads(manifest.read_text(encoding="utf-8"))["models"]
    return models
