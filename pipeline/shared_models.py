"""The models of one process, loaded once and shared by every camera (detector, plate reader, cover head),
and the provenance block that names each of them on every violation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import metadata

from detectors.attributes.truck_cover import HEAD_MODEL_ID, CoverClassifier
from detectors.base import Detector
from detectors.plates.reader import PlateReader
from evidence.types import ModelRef, Provenance


def software_version() -> str:
    try:
        return metadata.version("nonsite")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@dataclass
class SharedModels:
    """One instance per process. Plate and cover models load on first use (not every config needs them)."""

    detector: Detector
    threads: int = 2
    _plates: PlateReader | None = field(default=None, init=False, repr=False)
    _cover: CoverClassifier | None = field(default=None, init=False, repr=False)

    @property
    def plates(self) -> PlateReader:
        if self._plates is None:
            self._plates = PlateReader(threads=self.threads)
        return self._plates

    @property
    def cover(self) -> CoverClassifier:
        if self._cover is None:
            self._cover = CoverClassifier()
        return self._cover

    def provenance(self, config_sha256: str, *, plates: bool, cover: bool, parameters: dict[str, object]) -> Provenance:
        """What decides a camera's violations: the config's bytes, each model in use, their parameters."""
        info = self.detector.info
        models = [ModelRef("detector", info.model_id, info.sha256)]
        if plates:
            reader = self.plates
            models.append(ModelRef("plate_detector", reader.detector_id, reader.detector.sha256))
            models.append(ModelRef("plate_recognizer", reader.recognizer_id, reader.recognizer.sha256))
        if cover:
            models.append(ModelRef("cover_head", HEAD_MODEL_ID, self.cover.head.sha256))
        return Provenance(
            software_version=software_version(),
            config_sha256=config_sha256,
            models=tuple(models),
            parameters=parameters,
        )


def step_parameters(step: object | None) -> dict[str, object]:
    """A step's public dataclass fields (its parameters), JSON-ready; nothing for an absent step."""
    if step is None or not dataclasses.is_dataclass(step):
        return {}
    return {
        f.name: getattr(step, f.name)
        for f in dataclasses.fields(step)
        if not f.name.startswith("_") and isinstance(getattr(step, f.name), int | float | str | bool)
    }
