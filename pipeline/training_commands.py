"""``nonsite training export``: officers' decisions on tickets become labelled training data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import load_config


def cmd_training_export(args: argparse.Namespace) -> int:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, session_factory
    from api.training_export import export_reviewed
    from evidence.store import ContentStore

    config = load_config(args.config) if args.config else None
    url = args.database_url or (config.database.url if config else None)
    evidence_dir = args.evidence_dir or (config.storage.evidence_dir if config else None)
    if url is None or evidence_dir is None:
        print("error: give --config, or both --database-url and --evidence-dir", file=sys.stderr)
        return 2
    if not evidence_dir.is_dir():
        print(f"error: no evidence store at {evidence_dir} (the folder the pipeline seals into)", file=sys.stderr)
        return 2
    try:
        engine = make_engine(url)
        if not inspect(engine).has_table("tickets"):
            print(
                f"error: {url} has no tickets (is it the API's database? create it with `nonsite db upgrade`)",
                file=sys.stderr,
            )
            return 2
        with session_factory(engine)() as session:
            report = export_reviewed(session, ContentStore(evidence_dir), args.out)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the database {url}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the export to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{report.rows} reviewed tickets exported to {args.out / 'reviewed'}")
    for cls, count in sorted(report.classes.items()):
        print(f"  {cls:<26} {count}")
    for why, count in sorted(report.skipped.items()):
        print(f"  skipped {count}: {why}")
    print(f"train the cover head on them:  python models/train_truck_cover.py --data ../shared/data --data {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("training", help="turn officers' decisions into training data")
    actions = p.add_subparsers(dest="training_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write the key frames and boxes of confirmed and rejected tickets as a labelled folder",
        description="Each decided ticket becomes a labelled box on its sealed key frame, in the format of "
        "../shared/data (labels.csv): a confirmation labels it as the violation's object (e.g. "
        "truck_loaded_uncovered), a rejection as review_rejected_<kind>. Rerunning rewrites the labels from the "
        "database as it is now. The folder holds personal data: keep it under the evidence's access rules.",
    )
    export.add_argument("--config", type=Path, help="take database URL and evidence folder from this config")
    export.add_argument("--database-url", help="SQLAlchemy URL of the API's database")
    export.add_argument("--evidence-dir", type=Path, help="the evidence store folder")
    export.add_argument("--out", type=Path, required=True, help="folder to write (its reviewed/ subfolder)")
    export.set_defaults(func=cmd_training_export)
