"""The ``nonsite`` command. The one module allowed to import every package (it wires them together)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tqdm import tqdm

from detectors.attributes.annotate import AttributeAnnotator
from detectors.base import Detector, DetectorError, Image
from detectors.config import NanoDetConfig
from detectors.images import ImageReadError, expand_image_args, read_bgr
from detectors.registry import create_detector
from evidence.api_login import PasswordLogin
from evidence.outbox import DeliveryReport, HttpTransport, Outbox, OutboxError, Owns
from evidence.signing import ManifestSigner
from evidence.store import EvidenceStoreError
from pipeline import (
    audit_commands,
    db_commands,
    model_commands,
    run_processes,
    serve_workers,
    training_commands,
    user_commands,
)
from pipeline.assemble import JsonlEventWriter, build_parts
from pipeline.config import ApiConfig, ConfigError, NonsiteConfig, config_sha256, load_config
from pipeline.evaluation import LabelError
from pipeline.evidence_stage import EventSink
from pipeline.malloc_arenas import limit_malloc_arenas
from pipeline.metrics import PipelineMetrics
from pipeline.preflight import preflight
from pipeline.reload import Reloader
from pipeline.runtime import CameraHealth, CameraParts, Runtime
from pipeline.service import ApiHealthSink, HealthReporter, OutboxPusher
from pipeline.shared_models import SharedModels
from pipeline.sources.base import SourceError
from pipeline.supervisor import ChildrenFailing

if TYPE_CHECKING:
    from pipeline.evaluation import Label

logger = logging.getLogger("nonsite")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO_ROOT / "samples" / "config.yaml"
EXIT_USAGE = 2


class CliError(Exception):
    """Printed as ``error: …`` with exit status 2, never as a traceback."""


def _detector_for(config: NonsiteConfig | None) -> Detector:
    return create_detector(config.detector if config else NanoDetConfig())


# ---------------------------------------------------------------- check-config
def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    _refuse_on_preflight(args.file, config, inputs_must_be_readable=True)
    rules = ", ".join(f"{r.name} ({r.kind.value})" for r in config.rules) or "none"
    print(f"{args.file}: OK — {len(config.cameras)} camera(s), {len(config.rules)} rule(s): {rules}")
    return 0


def _refuse_on_preflight(
    path: Path, config: NonsiteConfig, *, check_inputs: bool = True, inputs_must_be_readable: bool = False
) -> None:
    """Print the warnings; raise with every error (frame sizes, storage, database, model files). An input that
    cannot be read is an error for check-config; a run warns and goes on with the other cameras."""
    found = preflight(config, check_inputs=check_inputs)
    errors = found.errors + (found.unreadable_inputs if inputs_must_be_readable else [])
    for warning in found.warnings + ([] if inputs_must_be_readable else found.unreadable_inputs):
        print(f"warning: {warning}", file=sys.stderr)
    if errors:
        raise ConfigError(path, errors)


# ---------------------------------------------------------------- detect
def _each_image(paths: list[Path]) -> Iterator[tuple[Path, Image | None]]:
    """Every image named (folders expanded); unreadable ones are reported on stderr and yield None."""
    for path in expand_image_args(paths):
        try:
            yield path, read_bgr(path)
        except ImageReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            yield path, None


def _per_image(
    paths: list[Path],
    key: str,
    analyse: Callable[[Image], list[dict[str, Any]]],
    describe: Callable[[dict[str, Any]], str],
    as_json: bool,
) -> int:
    """Run ``analyse`` on every image and print its rows; exit status 1 when some image could not be read."""
    failures = 0
    for path, image in _each_image(paths):
        if image is None:
            failures += 1
            continue
        rows = analyse(image)
        if as_json:
            print(json.dumps({"image": str(path), key: rows}, ensure_ascii=False))
        else:
            print(f"{path}: {len(rows)} {key}")
            for row in rows:
                print(f"  {describe(row)}")
    return 1 if failures else 0


def cmd_detect(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    detector = _detector_for(config)
    annotator = None if args.no_attributes else AttributeAnnotator()

    def analyse(image: Image) -> list[dict[str, Any]]:
        detections = detector.detect(image)
        return (annotator.annotate(image, detections) if annotator else detections).to_records()

    return _per_image(
        args.images,
        "detections",
        analyse,
        lambda r: f"{r['label']:<14} {r['confidence']:.2f}  {r['box']}  {_brief(r['attributes'])}".rstrip(),
        args.json,
    )


def _brief(attributes: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in attributes.items() if not k.endswith(("_confidence", "_score")))


# ---------------------------------------------------------------- plates
def cmd_plates(args: argparse.Namespace) -> int:
    from detectors.plates.reader import PlateReader

    reader = PlateReader(min_confidence=args.min_confidence)
    return _per_image(
        args.images,
        "plates",
        lambda image: [r.to_record() for r in reader.read(image)],
        lambda r: f"{r['text']:<10} {r['color']:<12} rows={r['rows']} conf={r['confidence']:.2f} box={r['box']}",
        args.json,
    )


# ---------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    from detectors.plates.reader import PlateReader
    from pipeline import evaluation

    labels = evaluation.load_labels(args.folder)
    if not labels:
        raise CliError(
            f"{args.folder}: no labels found (no labels.csv under it, or only empty ones; "
            "format: file,class,x1,y1,x2,y2)"
        )
    detectors = [_detector_for(load_config(path)) for path in args.config] if args.config else [_detector_for(None)]
    plates = PlateReader()
    annotator = AttributeAnnotator()
    # One report per detector (backend); plates and attributes do not depend on it and go in the first.
    reports = [evaluation.Report() for _ in detectors]
    report = reports[0]
    for file, rows in tqdm(sorted(evaluation.by_file(labels).items()), desc="eval", unit="image", disable=None):
        image = read_bgr(args.folder / file)
        for detector, scored in zip(detectors, reports, strict=True):
            start = time.perf_counter()
            detections = detector.detect(image)
            scored.latency_ms["detect"].append((time.perf_counter() - start) * 1000)
            evaluation.score_detections(scored, rows, detections)
        if any(evaluation.is_plate(row) for row in rows):
            start = time.perf_counter()
            reads = plates.read(image)
            report.latency_ms["plates"].append((time.perf_counter() - start) * 1000)
            evaluation.score_plates(report, rows, [(r.box, r.text) for r in reads])
        if any(evaluation.expected_attributes(row) for row in rows):
            start = time.perf_counter()
            evaluation.score_attributes(report, rows, _on_labelled_box(annotator, image))
            report.latency_ms["attributes"].append((time.perf_counter() - start) * 1000)
    summaries: dict[str, dict[str, Any]] = {}
    for number, (detector, scored) in enumerate(zip(detectors, reports, strict=True), 1):
        key = (
            detector.info.model_id if detector.info.model_id not in summaries else f"{detector.info.model_id} #{number}"
        )
        summaries[key] = evaluation.summarise(scored)
    if args.json:
        only = len(summaries) == 1
        print(json.dumps(next(iter(summaries.values())) if only else summaries, ensure_ascii=False, indent=2))
        return 0
    for model_id, summary in summaries.items():
        print(f"== detector {model_id} ==" if len(summaries) > 1 else f"detector {model_id}")
        print(evaluation.format_summary(summary))
    return 0


def _on_labelled_box(annotator: AttributeAnnotator, image: Image) -> Callable[[Label], dict[str, Any]]:
    """The attribute classifiers applied to a label's own box (so the detector's misses do not count)."""

    def classify(label: Label) -> dict[str, Any]:
        detector_label = "truck" if label.cls.startswith("truck_") else "bicycle"
        return annotator.attributes_for(image, detector_label, label.box or (0.0, 0.0, 0.0, 0.0))

    return classify


# ---------------------------------------------------------------- run
@dataclass(frozen=True)
class RunSummary:
    health: dict[str, CameraHealth]
    stage_ms: dict[str, dict[str, float]]  # per camera: milliseconds per analysed frame, by stage
    failures: list[str]


def _run_cameras(
    config: NonsiteConfig,
    config_path: Path,
    camera_ids: list[str],
    source: Path | None,
    events_out: IO[str] | None,
    outbox: Outbox,
    push: bool = True,
    shard: run_processes.Shard | None = None,
) -> RunSummary:
    """Run every camera at once to the end of its input (live cameras until Ctrl-C or SIGTERM). A camera that
    cannot be opened, or whose input fails part-way, is reported and the others still run; everything sealed
    before a failure is in the outbox. With ``push``, violations go to the API as they are sealed and each
    camera's health every few seconds; with ``metrics.enabled``, Prometheus scrapes ``/metrics``."""
    models = SharedModels(_detector_for(config), threads=config.detector.threads)  # one set for every camera
    digest = config_sha256(config_path)
    cameras, failures = [], []
    sinks: list[EventSink] = [JsonlEventWriter(events_out)] if events_out is not None else []
    for camera_id in camera_ids:
        try:
            parts = build_parts(config, camera_id, models, digest, outbox, source)
        except SourceError as exc:
            print(f"error: camera {camera_id}: {exc}", file=sys.stderr)
            failures.append(camera_id)
            continue
        parts.sinks.extend(sinks)
        cameras.append(parts)
    bars = {
        parts.source.camera_id: tqdm(
            total=parts.source.total_frames,
            desc=parts.source.camera_id,
            unit="frame",
            position=i,
            disable=True if shard else None,  # several processes' bars would overwrite each other
        )
        for i, parts in enumerate(cameras)
    }
    runtime = Runtime(cameras, models.detector, on_analysed=lambda camera_id: _tick(bars, camera_id))
    # Every camera of the file and no --source: SIGHUP re-reads the file (cameras added, removed, changed).
    # A process of --processes N reloads its share of the file.
    reloadable = source is None and camera_ids == [c.id for c in config.cameras]

    def build(new_config: NonsiteConfig, camera_id: str) -> CameraParts:
        parts = build_parts(new_config, camera_id, models, config_sha256(config_path), outbox)
        parts.sinks.extend(sinks)
        return parts

    view = shard.view if shard else lambda new: new
    reloader = Reloader(config_path, config, runtime, build, view) if reloadable else None
    try:
        with _beside_the_cameras(config, runtime, outbox, push, shard), _reload_on_sighup(reloader) as between:
            # A process of --processes N whose cameras a reload all moved away waits for the next reload.
            emptied = (lambda: reloader is not None and not reloader.config.cameras) if shard else None
            health = runtime.run(between, emptied)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the runtime has stopped every camera and sealed what was open
        health = runtime.health()
        print("\nstopped: open violations ended and sealed; undelivered ones stay in the outbox", file=sys.stderr)
    finally:
        for bar in bars.values():
            bar.close()
    for camera_id, state in health.items():
        if state.error:
            print(f"error: camera {camera_id}: {state.error} (violations sealed before it are kept)", file=sys.stderr)
            failures.append(camera_id)
        print(f"{camera_id}: {state.analysed} frames analysed, {state.violations} violation(s)")
        for problem in state.problems:
            print(f"warning: {camera_id}: {problem}")
    stage_ms = {camera_id: times.per_frame_ms() for camera_id, times in runtime.stage_times().items()}
    return RunSummary(health=health, stage_ms=stage_ms, failures=failures)


@contextlib.contextmanager
def _beside_the_cameras(
    config: NonsiteConfig, runtime: Runtime, outbox: Outbox, push: bool, shard: run_processes.Shard | None = None
) -> Iterator[None]:
    """The outbox pusher (of the shard's cameras, if given), the health reporter and the metrics server, for as
    long as the cameras run."""
    owns = shard.owns if shard else None
    metrics = PipelineMetrics() if config.metrics.enabled else None
    loops: list[OutboxPusher | HealthReporter] = []
    if metrics is not None:
        metrics.watch(runtime, outbox if shard is None or shard.index == 0 else None)
        try:
            metrics.serve(config.metrics.host, config.metrics.port)
        except OSError as exc:
            raise CliError(
                f"cannot serve metrics on {config.metrics.host}:{config.metrics.port}: {exc.strerror or exc} "
                "(is the port in use? change metrics.port)"
            ) from exc
        print(f"metrics: http://{config.metrics.host}:{config.metrics.port}/metrics", file=sys.stderr)
    if push:
        api = config.api
        login = _api_login(api)  # one sign-in for both loops
        loops.append(
            OutboxPusher(
                outbox,
                HttpTransport(api.url, api.timeout_s, auth=login),
                api.push_interval_s,
                on_delivered=metrics.delivered if metrics else None,
                owns=owns,
            )
        )
        sink = ApiHealthSink(api.url, api.timeout_s, auth=login)
        loops.append(HealthReporter(runtime, sink, api.health_interval_s, api.snapshot_interval_s))
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        if metrics is not None:
            metrics.close()


def _tick(bars: dict[str, Any], camera_id: str) -> None:
    if camera_id in bars:  # a camera added by a reload has no progress bar
        bars[camera_id].update()


@contextlib.contextmanager
def _reload_on_sighup(reloader: Reloader | None) -> Iterator[Callable[[], None]]:
    """SIGHUP asks for a reload; it is applied on the main thread between the runtime's checks (never inside
    the signal handler). Without a reloader (one camera, or --source) SIGHUP is refused with a message."""
    asked = threading.Event()

    def between() -> None:
        if not asked.is_set():
            return
        asked.clear()
        if reloader is None:
            print("warning: config reload needs a run of every camera in the file (no --camera, no --source)")
            return
        try:
            plan = reloader.apply()
        except Exception:  # a bug in a reload must not end the service: said, and the cameras keep running
            logging.getLogger(__name__).exception("config reload failed; the running cameras are unchanged")
            return
        if plan is not None:
            print(
                f"config reloaded: {len(plan.added)} added, {len(plan.removed)} removed, {len(plan.changed)} restarted"
                + (f"; restart to apply {', '.join(plan.needs_restart)}" if plan.needs_restart else ""),
                file=sys.stderr,
            )

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        yield between
        return
    previous = signal.signal(signal.SIGHUP, lambda _signum, _frame: asked.set())
    if run_processes.RELOAD_ASKED.is_set():  # a process of --processes N: asked while it was starting
        asked.set()
    try:
        yield between
    finally:
        signal.signal(signal.SIGHUP, previous)


def _api_login(api: ApiConfig) -> PasswordLogin | None:
    """The pipeline's sign-in to the API: ``api.username`` with the password in ``api.password_env``."""
    password = os.environ.get(api.password_env)
    if not password:
        logger.warning(
            "%s is not set: the API will refuse the pipeline's pushes as %r until it is (violations wait in the "
            "outbox; `nonsite users add %s --role pipeline` makes the account)",
            api.password_env,
            api.username,
            api.username,
        )
        return None
    return PasswordLogin(api.username, password)


def _push(outbox: Outbox, config: NonsiteConfig, deadline_s: float, owns: Owns | None = None) -> DeliveryReport:
    transport = HttpTransport(config.api.url, config.api.timeout_s, auth=_api_login(config.api))
    report = outbox.drain(transport, deadline_s=deadline_s, owns=owns)
    if report.pending:
        print(
            f"{report.pending} violation(s) wait in the outbox ({outbox.path}): the API at {config.api.url} "
            "did not accept them yet. They are kept; push later with: nonsite outbox push --config FILE"
        )
    if report.rejected:
        print(f"{report.rejected} violation(s) were refused by the API (kept in {outbox.path}, see last_error)")
    return report


def cmd_run(args: argparse.Namespace) -> int:
    try:
        shard = run_processes.Shard(*_shard(args.shard)) if args.shard else None
    except (run_processes.AssignmentError, ValueError) as exc:
        raise CliError(f"--shard: {exc}") from exc
    config = load_config(args.config)
    if shard is None:  # a process of --processes N: its supervisor checked the config
        _refuse_on_preflight(args.config, config, check_inputs=args.source is None)
    if args.source is not None and args.camera is None:
        raise CliError("--source needs --camera: say which camera's zones and rules apply to it")
    if args.source is not None and not args.source.exists():
        raise CliError(f"source not found: {args.source}")
    if args.processes > 1:
        return _run_processes(args, config)
    limit_malloc_arenas()  # this process analyses: before its cameras' threads start
    if shard is not None:
        config = shard.view(config)
    camera_ids = [args.camera] if args.camera else [c.id for c in config.cameras]
    for camera_id in camera_ids:
        try:
            config.camera(camera_id)
        except KeyError as exc:
            raise CliError(exc.args[0]) from exc
    outbox = Outbox(config.storage.outbox_path)
    with _open_events(args.events_out) as events_out:
        summary = _run_cameras(
            config, args.config, camera_ids, args.source, events_out, outbox, not args.no_push, shard
        )
    _print_stage_costs(summary)
    if not args.no_push:
        report = _push(outbox, config, args.push_deadline, shard.owns if shard else None)
        print(f"outbox: {report.delivered} delivered, {report.pending} pending, {report.rejected} refused")
    if summary.failures:
        print(f"error: {len(summary.failures)} camera(s) failed: {', '.join(summary.failures)}", file=sys.stderr)
        return run_processes.EXIT_CAMERA_FAILED if shard else EXIT_USAGE
    return 0


def _run_processes(args: argparse.Namespace, config: NonsiteConfig) -> int:
    """``--processes N``: the cameras spread over N analysis processes (see pipeline/run_processes.py)."""
    for flag, given in (("--camera", args.camera), ("--source", args.source), ("--events-out", args.events_out)):
        if given is not None:
            raise CliError(f"{flag} runs in one process: leave out --processes")
    processes = min(args.processes, len(config.cameras))
    if processes < args.processes:
        print(f"{len(config.cameras)} camera(s): running {processes} analysis processes", file=sys.stderr)
    if config.metrics.enabled:  # process K serves metrics on metrics.port + K: all must be free before any starts
        host, first = config.metrics.host, config.metrics.port
        if first + processes - 1 > 65535:
            raise CliError(
                f"--processes {processes} needs metrics ports {first}-{first + processes - 1}: lower metrics.port"
            )
        for port in range(first, first + processes):
            try:
                serve_workers.bound_socket(host, port, shared=False).close()
            except OSError as exc:
                raise CliError(
                    f"--processes {processes} serves metrics on {host}:{first}-{first + processes - 1}, but port "
                    f"{port} is taken: {exc.strerror or exc} (change metrics.port)"
                ) from exc
    ManifestSigner.load_or_create(config.storage.signing_key)  # made once here, not raced for by the processes
    child_args = ["--push-deadline", str(args.push_deadline)] + (["--no-push"] if args.no_push else [])
    try:
        return run_processes.run(args.config, config, processes, child_args)
    except ChildrenFailing as exc:
        raise CliError(str(exc)) from exc


def _shard(text: str) -> tuple[Path, int]:
    index, _, path = text.partition(":")
    return Path(path), int(index)


@contextlib.contextmanager
def _open_events(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write the events file {path}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def _print_stage_costs(summary: RunSummary) -> None:
    for camera_id, stages in summary.stage_ms.items():
        costs = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stages.items())
        print(f"{camera_id}: per analysed frame (ms): {costs}")


# ---------------------------------------------------------------- outbox
def cmd_outbox_push(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report = _push(Outbox(config.storage.outbox_path), config, args.deadline)
    print(f"outbox: {report.delivered} delivered, {report.pending} pending, {report.rejected} refused")
    return 0 if not report.pending else 1


# ---------------------------------------------------------------- serve / demo
def _api_settings(args: argparse.Namespace, config: NonsiteConfig | None, development: bool = False) -> Any:
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        return Settings.from_env(
            database_url=args.database_url or (config.database.url if config else None),
            evidence_dir=args.evidence_dir or (config.storage.evidence_dir if config else None),
            trusted_keys_dir=config.storage.signing_key.parent if config else None,
            audit_dir=config.database.audit_dir if config else None,
            timezone=config.timezone if config else None,
            development=development or getattr(args, "development", False) or None,
        )
    except ValidationError as exc:
        raise CliError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from exc


DEMO_USERS = (  # development only: printed by the demo, never for a bureau's server
    ("officer", "officer", "officer-demo"),
    ("auditor", "auditor", "auditor-demo"),
    ("operator", "operator", "operator-demo"),
    ("admin", "admin", "admin-demo-1"),
)


def _demo_users(settings: Any, api: ApiConfig) -> None:
    """The demo's accounts (created, or their demo passwords put back), and the pipeline's own, whose random
    password the demo's pushes use."""
    import secrets

    from sqlalchemy import select

    from api import accounts, audit
    from api.db import make_engine, session_factory
    from api.models import User

    pipeline_password = secrets.token_urlsafe(24)
    os.environ[api.password_env] = pipeline_password
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        for name, role, password in (*DEMO_USERS, (api.username, "pipeline", pipeline_password)):
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                accounts.add_user(
                    session, username=name, password=password, role=accounts.Role(role), by=audit.Actor.shell()
                )
            else:
                user.password_hash, user.role, user.disabled = accounts.hash_password(password), role, False
                session.commit()
    engine.dispose()


def _upgrade_schema(url: str) -> None:
    from api.db import make_engine, migrate

    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _uvicorn_server(settings: Any, host: str, port: int) -> Any:
    import uvicorn
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.app import create_app
    from api.db import SchemaOutOfDate

    try:
        socket.getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise CliError(f"cannot listen on {host!r}: not an address of this machine ({exc})") from exc
    shown = make_url(settings.database_url).render_as_string(hide_password=True)  # never print a password
    try:
        app = create_app(settings)
    except SchemaOutOfDate as exc:
        raise CliError(f"{shown}: {exc}") from exc
    except ModuleNotFoundError as exc:
        raise CliError(f"the database {shown!r} needs a driver that is not installed: {exc.name}") from exc
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).replace(settings.database_url, shown)
        raise CliError(f"cannot open the database {shown!r}: {type(exc).__name__}: {reason}") from exc
    # Open alert streams (SSE) never end by themselves: on Ctrl-C they are closed after a short grace.
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3))


def cmd_serve(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    settings = _api_settings(args, config)
    server = _uvicorn_server(settings, args.host, args.port)  # checks address, database and schema first
    print(
        f"nonsite API on http://{args.host}:{args.port} with {args.workers} worker(s)  "
        "(officer page: /officer, operations centre: /ops, auditor page: /audit, API docs: /docs)"
    )
    if args.workers == 1:
        server.run()
        return 0
    server.config.app.state.engine.dispose()  # each worker builds its own app from the same settings
    try:
        serve_workers.bound_socket(args.host, args.port, shared=False).close()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    try:
        serve_workers.serve(settings, args.host, args.port, args.workers)
    except ChildrenFailing as exc:
        raise CliError(str(exc)) from exc
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    config_path: Path = args.config
    config = load_config(config_path)
    missing = [str(i.path) for c in config.cameras for i in c.inputs if i.path is not None and not i.path.exists()]
    if missing:
        raise CliError(
            "the demo footage is missing: " + ", ".join(missing) + "\n  The sample config reads the clips in "
            "../shared/data/videos beside the repository. To use your own footage, copy samples/config.yaml, "
            "point each camera's `inputs[].path` at your video files, draw the zones in source pixels, then run:\n"
            "    nonsite demo --config my-config.yaml"
        )
    _refuse_on_preflight(config_path, config)
    host, port = "127.0.0.1", args.port
    config.api.url = f"http://{host}:{port}"
    settings = _api_settings(args, config, development=True)
    _upgrade_schema(settings.database_url)  # the demo sets everything up; a bureau runs `nonsite db upgrade`
    server = _uvicorn_server(settings, host, port)
    _demo_users(settings, config.api)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    if not server.started:
        raise CliError(f"the API did not start on {host}:{port} (is the port in use? try --port)")
    outbox = Outbox(config.storage.outbox_path)
    with _open_events(args.events_out) as events_out:
        summary = _run_cameras(config, config_path, [c.id for c in config.cameras], None, events_out, outbox)
    _print_stage_costs(summary)
    report = _push(outbox, config, deadline_s=30)
    filed = sum(state.violations for state in summary.health.values())
    print(f"\n{filed} violation(s) found; {report.delivered} event(s) delivered to the API (starts, updates, ends).")
    print(f"Officer page: http://{host}:{port}/officer   Operations centre: http://{host}:{port}/ops")
    print(f"Auditor page: http://{host}:{port}/audit   (replay and verify a case; sign in as the auditor)")
    print(f"API docs: http://{host}:{port}/docs")
    print("Demo sign-ins (development mode only): " + ", ".join(f"{n} / {p} ({r})" for n, r, p in DEMO_USERS))
    if args.exit_after_run:
        server.should_exit = True
        thread.join(timeout=10)
        return 0
    print("Press Ctrl-C to stop.")
    try:
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(timeout=10)
    return 0


# ---------------------------------------------------------------- parser
def _port(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is a whole number from 1 to 65535, got {text!r}")
    return value


def _processes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"processes is a whole number from 1 to 64, got {text!r}")
    return int(text)


def _workers(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"workers is a whole number from 1 to 64, got {text!r}")
    return value


def _bounded(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type for a finite number in [low, high]; ``what`` names it in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{what}, got {text!r}")
        return value

    return parse


_seconds = _bounded(0.0, math.inf, "seconds must be a finite number >= 0")
_fraction = _bounded(0.0, 1.0, "a confidence is a number from 0 to 1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nonsite",
        description="Non-site enforcement video analytics: footage → AI-flagged violations → sealed evidence → "
        "tickets that officers confirm or reject.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check-config", help="validate a config file; print each error with its YAML path and line")
    p.add_argument("file", type=Path, help="YAML config (see samples/config.yaml)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("detect", help="run the detector on images and print what it finds")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument("--config", type=Path, help="take the detector settings from this config")
    p.add_argument(
        "--no-attributes",
        action="store_true",
        help="skip the attribute classifiers (truck cover; bicycle shared/brand/fallen)",
    )
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("plates", help="find and read licence plates in images (or folders of images)")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument(
        "--min-confidence",
        type=_fraction,
        default=0.6,
        help="below this a plate is reported as 'unreadable', never guessed (default 0.6)",
    )
    p.set_defaults(func=cmd_plates)

    p = sub.add_parser("eval", help="score detector and plate reader on a labelled folder (../shared/data format)")
    p.add_argument("folder", type=Path, help="root holding */labels.csv (e.g. ../shared/data)")
    p.add_argument(
        "--config",
        type=Path,
        action="append",
        help="take the detector settings from this config; give it several times to score each backend in one run",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (one object per detector if several)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("run", help="process the configured sources to completion and file the violations")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--camera", help="only this camera id")
    p.add_argument("--source", type=Path, help="video file or image folder to use instead of the camera's inputs")
    p.add_argument("--events-out", type=Path, help="append one JSON line per violation event to this file")
    p.add_argument(
        "--processes",
        type=_processes,
        default=1,
        help="spread the cameras over N analysis processes (1-64, default 1): one process keeps up to about one "
        "core's worth of cameras; process K serves metrics on metrics.port + K",
    )
    p.add_argument("--shard", help=argparse.SUPPRESS)  # INDEX:FILE, given by --processes to each of its processes
    p.add_argument("--no-push", action="store_true", help="leave violations in the outbox; do not contact the API")
    p.add_argument("--push-deadline", type=_seconds, default=15.0, help="seconds to keep retrying the API (default 15)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="start the API and the officer web page")
    p.add_argument("--config", type=Path, help="take database URL and evidence folder from this config")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///var/nonsite.db)")
    p.add_argument("--evidence-dir", type=Path, help="evidence store folder (default var/evidence)")
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes sharing the port (default 1; one per core for many officers at once: "
        "see the README's 'The API under load')",
    )
    p.add_argument(
        "--development",
        action="store_true",
        help="allow a missing NONSITE_JWT_SECRET (a random one per start: tokens end with the server); never in "
        "production",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("outbox", help="violations waiting for the API")
    outbox_sub = p.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    push = outbox_sub.add_parser("push", help="retry delivering pending violations to the API")
    push.add_argument("--config", type=Path, required=True)
    push.add_argument("--deadline", type=_seconds, default=30.0, help="seconds to keep retrying (default 30)")
    push.set_defaults(func=cmd_outbox_push)

    p = sub.add_parser("demo", help="run the whole chain on the sample clips, then serve the officer page")
    p.add_argument("--config", type=Path, default=SAMPLE_CONFIG, help="default: samples/config.yaml")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--database-url", help="SQLAlchemy URL (default: the config's database.url)")
    p.add_argument("--evidence-dir", type=Path, help="default: the config's storage.evidence_dir")
    p.add_argument("--events-out", type=Path, help="append violation events as JSON lines to this file")
    p.add_argument("--exit-after-run", action="store_true", help="stop the API once tickets are filed (for scripts)")
    p.set_defaults(func=cmd_demo)
    model_commands.add_parser(sub)
    training_commands.add_parser(sub)
    user_commands.add_parser(sub)
    audit_commands.add_parsers(sub)
    db_commands.add_parser(sub)
    return parser


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (systemd, docker stop) stops like Ctrl-C: cameras close, open violations end and are sealed, and
    what is not yet delivered stays in the outbox for the next start. Once it has come, further SIGTERMs are
    ignored until the process exits, so a second one cannot cut the sealing or the summary short."""
    fired = False

    def interrupt(_signum: int, _frame: object) -> None:
        nonlocal fired
        fired = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if not fired:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        with _stop_on_sigterm():
            code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"error: invalid config {exc}", file=sys.stderr)
    except (CliError, SourceError, DetectorError, ImageReadError, OutboxError, EvidenceStoreError, LabelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
