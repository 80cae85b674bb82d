"""Datasets: where images come from, their ids and labels, and the ingest step.

Kinds (``datasets.<name>.kind`` in the config):
- ``sheet``: a TSV sample sheet (``image_id``, ``path`` relative to ``root``, optional
  ``label_wnid``); the embedded default dataset and ``config/datasets/rennes55.tsv`` are sheets.
- ``folder``: every image file under ``root``; no labels (pseudo: the original's top-1).
- ``imagefolder``: ``root/<wnid>/<file>``; the folder name is the label.
- ``ilsvrc_val``: the ILSVRC2012 validation folder with a ground-truth file: either
  ``LOC_val_solution.csv`` (ImageId,PredictionString) or a two-column ``file<TAB>wnid`` TSV.

Ids and paths from sheets may not leave the dataset root (no absolute paths, no ``..``).
"""

from __future__ import annotations

import csv
import logging
import pathlib
import shutil

from . import records
from .cache import sha256_file
from .images import BadImage, Limits, load_source, shard_of
from .models import imagenet_classes, wnid_index

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".gif"}
log = logging.getLogger(__name__)


class DatasetError(ValueError):
    pass


#: The embedded default photographs: (image_id, package, file inside the package's data).
DEFAULT_SOURCES = {
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
}


def materialize_default(dest_dir: str | pathlib.Path) -> list[pathlib.Path]:
    """Copy the default photographs out of the installed packages into ``dest_dir``."""
    import importlib.util

    dest_dir = pathlib.Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for image_id, (package, rel) in DEFAULT_SOURCES.items():
        src = pathlib.Path(importlib.util.find_spec(package).origin).parent / rel
        dest = dest_dir / f"{image_id}{src.suffix}"
        shutil.copyfile(src, dest)
        written.append(dest)
    return written


def _safe_relative(root: pathlib.Path, rel: str, where: str) -> pathlib.Path:
    p = pathlib.PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts:
        raise DatasetError(f"{where}: path {rel!r} must be relative and stay inside {root}")
    return root / p


def _read_sheet(path: pathlib.Path) -> list[dict]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as exc:
        raise DatasetError(f"sample sheet {path}: {exc.strerror}") from exc
    if not rows:
        return []
    missing = {"image_id", "path"} - set(rows[0])
    if missing:
        raise DatasetError(
            f"sample sheet {path}: missing column(s) {', '.join(sorted(missing))} (has: {', '.join(rows[0])})"
        )
    return rows


def list_entries(spec: dict) -> list[dict]:
    """(image_id, path, label_wnid) of every image a dataset config names, sorted by id."""
    root = pathlib.Path(spec["root"])
    kind = spec["kind"]
    entries = []
    if kind == "sheet":
        sheet = pathlib.Path(spec["sheet"])
        for n, row in enumerate(_read_sheet(sheet), start=2):
            where = f"{sheet}:{n}"
            image_id = (row["image_id"] or "").strip()
            if not image_id or "/" in image_id or image_id in (".", ".."):
                raise DatasetError(f"{where}: invalid image_id {image_id!r}")
            entries.append(
                {
                    "image_id": image_id,
                    "path": _safe_relative(root, row["path"].strip(), where),
                    "label_wnid": (row.get("label_wnid") or "").strip() or None,
                }
            )
    elif kind in ("folder", "imagefolder"):
        if not root.is_dir():
            raise DatasetError(f"dataset root {root} is not a folder")
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                rel = path.relative_to(root)
                wnid = rel.parts[0] if kind == "imagefolder" and len(rel.parts) > 1 else None
                entries.append({"image_id": str(rel.with_suffix("")), "path": path, "label_wnid": wnid})
    elif kind == "ilsvrc_val":
        truth = _read_ilsvrc_truth(pathlib.Path(spec["ground_truth"]))
        for path in sorted(root.glob("ILSVRC2012_val_*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                entries.append({"image_id": path.stem, "path": path, "label_wnid": truth.get(path.stem)})
    else:
        raise DatasetError(f"unknown dataset kind {kind!r}")
    ids = [e["image_id"] for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DatasetError(f"duplicate image ids in dataset: {', '.join(dupes[:5])}")
    return sorted(entries, key=lambda e: e["image_id"])


def _read_ilsvrc_truth(path: pathlib.Path) -> dict[str, str]:
    text = path.read_text()
    if text.startswith("ImageId,PredictionString"):
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(text.splitlines())}
    return {pathlib.Path(a).stem: b for a, b in (line.split("\t")[:2] for line in text.splitlines() if line)}


def ingest(name: str, spec: dict, limits: Limits) -> list[dict]:
    """One images-table row per source: validated, hashed, labeled. Bad ones get status
    ``rejected`` and the reason; they never stop the others."""
    _, names = imagenet_classes()
    rows = []
    for e in list_entries(spec):
        path = e["path"]
        row = records.new_row(
            records.IMAGES,
            dataset=name,
            image_id=e["image_id"],
            source_path=str(path),
            shard=shard_of(e["image_id"], spec["shards"]),
            label_wnid=e["label_wnid"],
            status="ok",
            label_source="annotated" if e["label_wnid"] else "pseudo",
        )
        try:
            if e["label_wnid"]:
                row["label"] = wnid_index(e["label_wnid"])
                row["label_name"] = names[row["label"]]
            image, normalization = load_source(path, limits)
            row.update(
                width=image.width,
                height=image.height,
                normalization=normalization,
                source_bytes=path.stat().st_size,
                source_sha256=sha256_file(path),
            )
        except (BadImage, KeyError, OSError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) else str(exc)
            if isinstance(exc, OSError) and not isinstance(exc, BadImage):
                reason = f"unreadable: {exc.strerror or exc}"
            row.update(status="rejected", error=reason)
            log.warning("rejected %s (%s): %s", e["image_id"], path, reason)
        rows.append(row)
    return rows
