"""The one YAML config file: pydantic models, ``extra="forbid"``, errors with YAML path and line."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from shapely import Polygon
from shapely.validation import explain_validity

from detectors.attributes.truck_cover import CoverState
from detectors.coco import LARGE_VEHICLES, TWO_WHEELERS
from detectors.config import DetectorConfig, NanoDetConfig
from evidence.types import ViolationKind
from pipeline.sources.stream_url import StreamUrl, parse_stream_url


class ConfigError(ValueError):
    """The config file is unreadable or invalid; ``problems`` lists one line per error."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))
        self.path = path
        self.problems = problems


class _Section(BaseModel):
    # hide_input_in_errors: a validation error chained into a traceback must not carry a camera URL's password.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, values: Any) -> Any:
        # YAML `true` would otherwise pass as the number 1 (fps: true, min_pile: yes).
        if isinstance(values, dict):
            for name, field in cls.model_fields.items():
                number = field.annotation in (int, float, int | None, float | None)
                if number and isinstance(values.get(name), bool):
                    raise ValueError(f"{name}: a number is needed, got {values[name]!r}")
        return values


class InputRole(StrEnum):
    DETECT = "detect"  # analysed (ideally the low-resolution sub-stream)
    RECORD = "record"  # evidence clips are cut from this stream's packets (the main stream)


class InputConfig(_Section):
    path: Path | None = Field(None, description="Video file or folder of images (relative to the config file).")
    url: SecretStr | None = Field(
        None,
        description="Camera stream URL, rtsp:// or rtsps:// only (credentials are never logged or shown); "
        "a password may hold @ : . as typed, / ? # percent-encoded.",
    )
    roles: list[InputRole] = Field(default_factory=lambda: [InputRole.DETECT, InputRole.RECORD], min_length=1)
    start_time: datetime | None = Field(
        None, description="Wall time of the file's first frame (ISO-8601 with offset); default: container metadata."
    )

    @model_validator(mode="after")
    def _one_location(self) -> InputConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        if self.url is not None:
            parse_stream_url(self.url.get_secret_value())  # StreamUrlError (a ValueError) names what is wrong
            if self.start_time is not None:
                raise ValueError("start_time is for files; a live camera's frames carry the time they arrive")
        return self

    def stream_url(self) -> StreamUrl | None:
        return parse_stream_url(self.url.get_secret_value()) if self.url is not None else None


class ZoneKind(StrEnum):
    NO_VENDING = "no_vending"
    NO_PARKING = "no_parking"
    BIKE_PARKING = "bike_parking"
    WATCHED_ROAD = "watched_road"


# Source pixels: 0 at the top-left corner, and no camera is wider or taller than this.
MAX_PIXELS = 16_384
Pixel = Annotated[float, Field(ge=0, le=MAX_PIXELS, allow_inf_nan=False)]


class ZoneConfig(_Section):
    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[\w.-]+$", description="Unique within the camera.")
    kind: ZoneKind = Field(..., description="What the zone means to the rules.")
    polygon: list[tuple[Pixel, Pixel]] = Field(
        ..., min_length=3, max_length=256, description="Vertices [x, y] in source pixels (0 at the top-left)."
    )
    inertia: int = Field(2, ge=1, le=50, description="Consecutive analysed frames to count as entered or left.")

    @field_validator("polygon")
    @classmethod
    def _simple_polygon(cls, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        shape = Polygon(polygon)
        if not shape.is_valid:  # self-intersecting, or repeated points that fold the outline
            raise ValueError(
                f"the polygon is not a simple shape ({explain_validity(shape)}); list its corners in order"
            )
        if shape.area < 1.0:
            raise ValueError("the polygon has no area (its corners lie on one line)")
        return polygon


class StaticForegroundConfig(_Section):
    enabled: bool = Field(
        True, description="Find new static objects (goods, carts, tarpaulins) in no_vending zones by background model."
    )
    min_static_s: float = Field(10.0, gt=0, description="Seconds a new object must stay still before it is reported.")
    background_s: float = Field(600.0, gt=0, description="Time constant of the long-term background, in seconds.")
    settle_s: float = Field(
        2.0, gt=0, description="Time constant of the short-term background: how fast an arrival counts as still."
    )
    min_area_px: float = Field(900.0, gt=0, description="Smallest blob reported, in source pixels (30 x 30).")
    difference_threshold: float = Field(
        25.0, gt=0, le=255, description="Colour difference (0-255) between backgrounds that counts as a change."
    )
    warmup_s: float = Field(
        3.0, ge=0, description="Seconds at the start whose per-pixel median becomes the background."
    )
    work_width_px: int = Field(
        320, ge=64, le=1920, description="The zones' bounding rectangle is downscaled to at most this width first."
    )
    confidence: float = Field(0.5, ge=0, le=1, description="Score given to a static-foreground detection.")


class StreamConfig(_Section):
    """How a live camera (an ``url`` input) is read and supervised."""

    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport; TCP survives lossy links.")
    open_timeout_s: float = Field(10.0, gt=0, le=120, description="Seconds to connect and get the stream's header.")
    read_timeout_s: float = Field(5.0, gt=0, le=120, description="Seconds a read may block before it fails.")
    stall_timeout_s: float = Field(
        5.0, gt=0, le=300, description="No new frame (stream time advancing) for this long: restart the capture."
    )
    backoff_initial_s: float = Field(1.0, gt=0, le=60, description="First wait before reconnecting after a failure.")
    backoff_max_s: float = Field(30.0, gt=0, le=600, description="Longest wait between reconnect attempts.")


class CameraConfig(_Section):
    id: str = Field(..., min_length=1, pattern=r"^[\w.-]+$", description="Camera id used in events and tickets.")
    name: str = Field("", description="Human-readable location.")
    fps: float = Field(2.0, gt=0, le=30, description="Frames analysed per second of stream time.")
    inputs: list[InputConfig] = Field(..., min_length=1, max_length=2)
    zones: list[ZoneConfig] = Field(default_factory=list)
    detect_on_zone_crops: bool = Field(
        False, description="Also run the detector on each zone's bounding rectangle at native resolution."
    )
    read_plates: bool | None = Field(
        None, description="Read and vote plates on truck tracks; null = only when the camera has a muck_truck rule."
    )
    static_foreground: StaticForegroundConfig = Field(
        default_factory=StaticForegroundConfig,
        description="Static-foreground detection in no_vending zones (used when the camera has a street_stall rule).",
    )
    stream: StreamConfig = Field(default_factory=StreamConfig, description="Live cameras: timeouts and reconnects.")

    @model_validator(mode="after")
    def _roles_and_zones(self) -> CameraConfig:
        for role in InputRole:
            owners = [i for i in self.inputs if role in i.roles]
            if len(owners) != 1:
                raise ValueError(f"exactly one input must have role '{role.value}', found {len(owners)}")
        live = [i.url is not None for i in self.inputs]
        if any(live) and not all(live):
            raise ValueError("a camera's inputs are either all stream URLs or all files, not a mix")
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be unique, got {names}")
        return self

    def input_for(self, role: InputRole) -> InputConfig:
        return next(i for i in self.inputs if role in i.roles)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# The class group each rule kind watches when its config leaves `labels` empty; None: any non-traffic label.
DEFAULT_LABELS: dict[ViolationKind, frozenset[str] | None] = {
    ViolationKind.MUCK_TRUCK: LARGE_VEHICLES,
    ViolationKind.STREET_STALL: None,
    ViolationKind.SHARED_BIKE_MISPARKED: TWO_WHEELERS,
}


def _uncovered_only() -> list[CoverState]:
    return [CoverState.UNCOVERED]


class ScheduleWindow(_Section):
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: time = Field(time(0, 0), description='Local start time, "HH:MM".')
    end: time = Field(time(23, 59, 59), description='Local end time, "HH:MM"; before start means overnight.')

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        # YAML reads 700 as a number and pydantic would take it as seconds: only "HH:MM" (or a time) is a time.
        if isinstance(value, time):
            return value
        if not isinstance(value, str) or not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?", value.strip()):
            raise ValueError(f'give a local time as "HH:MM" in quotes, got {value!r}')
        return value.strip().zfill(5) if len(value.strip()) == 4 else value.strip()


class _RuleBase(_Section):
    kind: ViolationKind  # each concrete rule narrows it to its own Literal
    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[\w.-]+$")
    camera: str = Field(..., description="Camera id the rule watches.")
    zone: str = Field(..., description="Zone name on that camera (the watched area).")
    labels: list[str] | None = Field(
        None, description="Detector labels that count (a class group); null = the kind's defaults (DEFAULT_LABELS)."
    )
    min_confidence: float = Field(0.2, ge=0, le=1, description="Ignore track updates below this score.")
    min_dwell_s: float = Field(60.0, ge=0, le=86_400, description="Seconds an object must stay before it fires.")
    stationary_tolerance: float = Field(
        0.5, gt=0, le=100, description="Max anchor movement since entry, in box heights, to count as stationary."
    )
    lost_grace_s: float = Field(3.0, ge=0, le=3600, description="A lost track keeps its dwell timer this long.")
    cooldown_s: float = Field(
        600.0, ge=0, le=86_400 * 7, description="No new violation for the same object/place within this time."
    )
    schedule: list[ScheduleWindow] = Field(default_factory=lambda: [ScheduleWindow()], min_length=1)
    per: Literal["zone", "object"] | None = Field(
        None,
        description="'zone': one violation per zone per cooldown (a stall or a bike pile is one case); "
        "'object': one per tracked object. Default: zone for stalls and bikes, object for trucks.",
    )

    def watched_labels(self) -> frozenset[str] | None:
        """The labels this rule counts: its own ``labels``, else its kind's group; None = any non-traffic label."""
        return frozenset(self.labels) if self.labels is not None else DEFAULT_LABELS[self.kind]


class MuckTruckRuleConfig(_RuleBase):
    """A large vehicle on a watched road whose load is in one of ``cover_states``."""

    kind: Literal[ViolationKind.MUCK_TRUCK]
    cover_states: list[CoverState] = Field(
        default_factory=_uncovered_only, min_length=1, description="Cover states that are violations."
    )


class StreetStallRuleConfig(_RuleBase):
    """Goods, carts, tables or people staying in a no_vending zone."""

    kind: Literal[ViolationKind.STREET_STALL]


class SharedBikeRuleConfig(_RuleBase):
    """A shared bike staying in the watched (no_parking) zone outside every bike_parking zone of the camera."""

    kind: Literal[ViolationKind.SHARED_BIKE_MISPARKED]
    min_pile: int = Field(1, ge=1, le=1000, description="Bikes within pile_radius_px needed to fire.")
    pile_radius_px: float = Field(150.0, gt=0, le=10_000, description="Radius of a pile, in pixels.")
    require_shared: bool = Field(
        True,
        description="Only bikes the colour classifier calls shared (Meituan, Hellobike, Qingju) count; false "
        "counts every bike of the rule's labels.",
    )
    fallen_fires: bool = Field(True, description="A fallen bike is a violation after the dwell even below min_pile.")


RuleConfig = Annotated[MuckTruckRuleConfig | StreetStallRuleConfig | SharedBikeRuleConfig, Field(discriminator="kind")]
RULE_KIND_TAGS = frozenset(kind.value for kind in ViolationKind)
RULE_ADAPTER: TypeAdapter[RuleConfig] = TypeAdapter(RuleConfig)


def parse_rule(values: dict[str, Any]) -> RuleConfig:
    """One rule from plain values (its ``kind`` picks the model)."""
    return RULE_ADAPTER.validate_python(values)


# The zone kinds each rule kind may watch. A bike rule watches a no_parking area; the camera's bike_parking
# zones are where bikes may stand, so bikes inside them never count.
ZONE_KINDS_FOR: dict[ViolationKind, frozenset[ZoneKind]] = {
    ViolationKind.MUCK_TRUCK: frozenset({ZoneKind.WATCHED_ROAD}),
    ViolationKind.STREET_STALL: frozenset({ZoneKind.NO_VENDING}),
    ViolationKind.SHARED_BIKE_MISPARKED: frozenset({ZoneKind.NO_PARKING}),
}


class TrackerConfig(_Section):
    track_activation_threshold: float = Field(0.25, ge=0, le=1, description="Score needed to start a track.")
    high_conf_det_threshold: float = Field(
        0.5, ge=0, le=1, description="Detections above this are matched first and may start tracks (ByteTrack)."
    )
    lost_track_buffer_s: float = Field(
        3.0, gt=0, le=60, description="How long a lost track can be re-found (at most the 60 s tracks are kept)."
    )
    minimum_consecutive_frames: int = Field(2, ge=1, description="Frames before a new track gets an id.")
    minimum_iou_threshold: float = Field(0.1, ge=0, le=1)


class StorageConfig(_Section):
    evidence_dir: Path = Field(Path("var/evidence"), description="Content-addressed evidence store.")
    outbox_path: Path = Field(Path("var/outbox.sqlite"), description="Pending pushes to the API.")
    signing_key: Path = Field(
        Path("var/keys/manifest_ed25519.pem"),
        description="Ed25519 key that signs every manifest: made on first start (mode 0600) or your own; its public "
        "half is written beside it as .pub for the API and for auditors.",
    )
    pre_roll_s: float = Field(3.0, ge=0, le=60)
    post_roll_s: float = Field(3.0, ge=0, le=60)


class ApiConfig(_Section):
    url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://", description="Where the outbox pushes tickets.")
    timeout_s: float = Field(10.0, gt=0)
    username: str = Field(
        "pipeline", min_length=1, max_length=64, description="The API account the pipeline signs in as."
    )
    password_env: str = Field(
        "NONSITE_API_PASSWORD",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="The environment variable holding that account's password (never the config file).",
    )
    push_interval_s: float = Field(
        1.0, gt=0, le=60, description="While running, pending violations are pushed this often (live alerts)."
    )
    health_interval_s: float = Field(5.0, ge=1, le=300, description="Each camera's health goes to the API this often.")
    snapshot_interval_s: float = Field(
        10.0, ge=1, le=3600, description="A small JPEG of each camera's newest frame goes to the API this often."
    )


class MetricsConfig(_Section):
    """Prometheus metrics of the running pipeline (``/metrics``)."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="Address to listen on; keep it on loopback or a trusted network.")
    port: int = Field(9108, ge=1, le=65535)


class DatabaseConfig(_Section):
    url: str = Field(
        "sqlite:///var/nonsite.db",
        description="SQLAlchemy URL of the API's database (SQLite paths: relative to this file).",
    )
    audit_dir: Path = Field(
        Path("var/audit"),
        description="Outside the database: the audit log's leaf mirror and signed checkpoints (and their key). "
        "Back it up apart from the database: it is what shows an edited or truncated audit log.",
    )


class NonsiteConfig(_Section):
    cameras: list[CameraConfig] = Field(..., min_length=1)
    rules: list[RuleConfig] = Field(default_factory=list, max_length=10_000)
    detector: DetectorConfig = Field(default_factory=NanoDetConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    timezone: str = Field("Asia/Shanghai", description="Zone for schedules (IANA name).")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> NonsiteConfig:
        verify_unique_ids(self)
        verify_rule_targets(self)
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(f"no camera {camera_id!r} in config; known: {[c.id for c in self.cameras]}")


def verify_unique_ids(config: NonsiteConfig) -> None:
    for what, ids in (("camera id", [c.id for c in config.cameras]), ("rule name", [r.name for r in config.rules])):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate {what}(s): {duplicates}")


def verify_rule_targets(config: NonsiteConfig) -> None:
    zones = {c.id: {z.name: z.kind for z in c.zones} for c in config.cameras}
    for rule in config.rules:
        if rule.camera not in zones:
            raise ValueError(f"rule {rule.name!r}: unknown camera {rule.camera!r}; known: {sorted(zones)}")
        if rule.zone not in zones[rule.camera]:
            raise ValueError(f"rule {rule.name!r}: camera {rule.camera!r} has no zone {rule.zone!r}")
        allowed = ZONE_KINDS_FOR[rule.kind]
        if zones[rule.camera][rule.zone] not in allowed:
            hint = (
                " (a bike_parking zone is where bikes may park: point the rule at the no_parking area around it; "
                "the camera's bike_parking zones are left out automatically)"
                if zones[rule.camera][rule.zone] is ZoneKind.BIKE_PARKING
                else ""
            )
            raise ValueError(
                f"rule {rule.name!r} ({rule.kind.value}) watches zone {rule.zone!r} of kind "
                f"{zones[rule.camera][rule.zone].value}; it needs a zone of kind "
                f"{' or '.join(sorted(k.value for k in allowed))}{hint}"
            )


def _yaml_line(root: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest node on ``loc`` that exists in the YAML tree."""
    node, line = root, None
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def _format_errors(exc: ValidationError, root: Any) -> list[str]:
    problems = []
    for error in exc.errors():
        # Discriminated unions add the tag to the location ('detector', 'nanodet', ...): drop it for the path.
        loc = tuple(error["loc"])
        yaml_loc = tuple(
            part
            for part in loc
            if not (isinstance(part, str) and part in {"nanodet", "centernet", "ultralytics", "yolo", *RULE_KIND_TAGS})
        )
        path = (
            ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in yaml_loc).replace(".[", "[") or "(top level)"
        )
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "union_tag_invalid":  # name the tag's field and the allowed values in plain words
            field_name = error["ctx"]["discriminator"].strip("'")
            yaml_loc = (*yaml_loc, field_name)
            path = f"{path}.{field_name}" if path != "(top level)" else field_name
            message = f"unknown {field_name} {error['ctx']['tag']!r}; expected one of: {_tags(error['ctx'])}"
        elif error["type"] == "union_tag_not_found":
            message = f"{error['ctx']['discriminator'].strip(chr(39))} is required"
        elif error["type"] == "extra_forbidden":
            message = _unknown_key(loc)
        line = _yaml_line(root, yaml_loc)
        where = f"line {line}: " if line else ""
        problems.append(f"{where}{path}: {message}")
    return problems


def _tags(ctx: dict[str, Any]) -> str:
    text = str(ctx.get("expected_tags", ""))
    return ", ".join(part.split(":")[-1].strip(" '>") for part in text.split(", ")) or text


RULE_MODELS: dict[str, type[BaseModel]] = {
    ViolationKind.MUCK_TRUCK.value: MuckTruckRuleConfig,
    ViolationKind.STREET_STALL.value: StreetStallRuleConfig,
    ViolationKind.SHARED_BIKE_MISPARKED.value: SharedBikeRuleConfig,
}


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    """Say where a key that one rule kind refuses does belong, when another kind has it."""
    key, kind = loc[-1], next((p for p in loc if isinstance(p, str) and p in RULE_MODELS), None)
    owners = [name for name, model in RULE_MODELS.items() if key in model.model_fields and name != kind]
    if kind is not None and owners:
        return f"not a key of {kind} rules ({key} belongs to {' and '.join(owners)} rules)"
    return "unknown key (check spelling; see samples/config.yaml for the allowed keys)"


def _resolve_paths(config: NonsiteConfig, base: Path) -> NonsiteConfig:
    """Relative paths in the file are relative to the file, not to the working directory."""
    for camera in config.cameras:
        for source in camera.inputs:
            if source.path is not None and not source.path.is_absolute():
                source.path = base / source.path
    for key in ("model_path", "weights"):  # only paths written in the file (defaults are the models folder's)
        value = getattr(config.detector, key, None)
        if key in config.detector.model_fields_set and isinstance(value, Path) and not value.is_absolute():
            setattr(config.detector, key, base / value)
    for name in ("evidence_dir", "outbox_path", "signing_key"):
        value = getattr(config.storage, name)
        if not value.is_absolute():
            setattr(config.storage, name, base / value)
    if not config.database.audit_dir.is_absolute():
        config.database.audit_dir = base / config.database.audit_dir
    sqlite_prefix = "sqlite:///"
    database = config.database.url.removeprefix(sqlite_prefix)
    if config.database.url.startswith(sqlite_prefix) and database != ":memory:" and not database.startswith("/"):
        config.database.url = f"{sqlite_prefix}{(base / database).resolve()}"
    return config


def load_config(path: Path) -> NonsiteConfig:
    """Parse and validate a config file; raise :class:`ConfigError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError as exc:
        raise ConfigError(path, ["is a folder, not a config file"]) from exc
    except OSError as exc:
        raise ConfigError(path, [f"cannot read file: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"not a text file (UTF-8 YAML expected; byte {exc.start} is not UTF-8)"]) from exc
    if "\x00" in text:
        raise ConfigError(path, ["not a text file (it holds NUL bytes); a config is UTF-8 YAML"])
    try:
        root = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(root, dict):
        raise ConfigError(path, ["the file must hold a mapping with at least a 'cameras' key"])
    try:
        config = NonsiteConfig.model_validate(_plain(root))
    except ValidationError as exc:
        raise ConfigError(path, _format_errors(exc, root)) from exc
    return _resolve_paths(config, path.resolve().parent)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def config_sha256(path: Path) -> str:
    """Hash of the config file's bytes, recorded on every violation."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
