"""``nonsite models add`` and ``nonsite models list``: the model catalog from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detectors.catalog import add_model, bundled_models, catalog_path, load_catalog


def cmd_models_add(args: argparse.Namespace) -> int:
    entry, changed = add_model(
        args.file, name=args.name, licence=args.licence, source=args.source, replace=args.replace, input_hw=args.input
    )
    verb = "registered" if changed else "already registered (unchanged)"
    h, w = entry.input_hw
    print(f"{entry.name}: {verb} — {entry.path}")
    print(f"  {len(entry.classes)} classes, input {w}x{h}, sha256 {entry.sha256}")
    print(f"  licence: {entry.licence}")
    print(f"  use it with:  detector: {{type: yolo, model: {entry.name}}}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    bundled = bundled_models()
    if args.json:
        user = {name: entry.model_dump(mode="json") for name, entry in catalog.models.items()}
        print(json.dumps({"bundled": bundled, "registered": user}, ensure_ascii=False, indent=2))
        return 0
    print("bundled (built by `make models` from registry packages, models/manifest.json):")
    for name, model in bundled.items():
        print(f"  {name:<24} {model.get('licence', '')}")
    print(f"registered ({catalog_path()}):")
    if not catalog.models:
        print("  none — register a YOLO export with: nonsite models add FILE --name NAME")
    for name, entry in sorted(catalog.models.items()):
        h, w = entry.input_hw
        state = "" if entry.path.is_file() else "  [FILE MISSING]"
        print(f"  {name:<24} {len(entry.classes):>3} classes  {w}x{h}  {entry.sha256[:12]}  {entry.path}{state}")
        print(f"  {'':<24} licence: {entry.licence}")
    return 0


def _input_size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    if not (height.isdigit() and width.isdigit()):
        raise argparse.ArgumentTypeError(f"give the input size as HEIGHTxWIDTH, e.g. 384x640, got {text!r}")
    return int(height), int(width)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="the model catalog: register YOLO exports, list what is there")
    actions = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="check a YOLO detection export (.onnx, or .pt with the ultralytics extra) and register it by name",
        description="The file is read in place (never copied or downloaded); a .pt file is exported to ONNX once "
        "into the models folder. Running it again with the same file changes nothing.",
    )
    add.add_argument("file", type=Path, metavar="FILE")
    add.add_argument("--name", help="catalog name (default: the file name without extension)")
    add.add_argument("--licence", help="licence of the weights (default: the export's own metadata)")
    add.add_argument("--source", help="where the weights came from (default: the file and its metadata)")
    add.add_argument("--replace", action="store_true", help="replace a different model registered under this name")
    add.add_argument(
        "--input",
        type=_input_size,
        metavar="HxW",
        help=".pt weights only: export at this input size, e.g. 384x640 for 16:9 camera frames (about 40 %% less "
        "detector time than 640x640 on the same frames); default: the weights' own size",
    )
    add.set_defaults(func=cmd_models_add)
    show = actions.add_parser("list", help="bundled models and registered YOLO exports")
    show.add_argument("--json", action="store_true", help="print the catalog as JSON")
    show.set_defaults(func=cmd_models_list)
