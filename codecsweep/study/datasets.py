"""Datasets: where images come from, their ids and labels, and the ingest step.

Kinds (``datasets.<name>.kind`` in the config):
- ``sheet``: a TSV sample sheet (``image_id``, ``path`` relative to ``root``, optional
  ``label_wnid``); the embedded default dataset and ``config/datasets/rennes55.tsv`` are sheets.
- ``folder``: every file under ``root``; no labels (pseudo: the original's top-1).
- ``imagefolder``: ``root/<wnid>/<file>``; the folder name is the label.
- ``ilsvrc_val``: the ILSVRC2012 validation folder with a ground-truth file: either
  ``LOC_val_solution.csv`` (ImageId,PredictionString) or a two-column ``file<TAB>wnid`` TSV.

Every file under a folder kind's root is a row of the images table: an image, or rejected
with the reason (a text file, an SVG, a dangling link...); nothing is skipped silently. Ids
are the path relative to the root without its suffix; files whose ids would collide
(``dup.png``, ``dup.jpg``) keep their suffix in the id. Names that are not UTF-8 are stored
with ``\\xNN`` escapes (``images.path_text``). A symlink to a file is followed wherever it
points and its target recorded in ``normalization``; dangling links, loops and links to
folders are rejected rows. Ids and paths from sheets may not leave the dataset root (no
absolute paths, no ``..``); a sheet's duplicate id is a rejected row naming both lines.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import pathlib
import shutil

from ..core import schemas
from ..core.hashing import sha256_file
from ..core.labels import imagenet_classes, wnid_index
from ..storage import records
from ..storage.images import BadImage, Limits, header_pixels, load_source, path_text, shard_of

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    pass


#: Where the workflow's materialize_default rule writes the default photographs.
DEFAULT_ROOT = "data/default"

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
        # utf-8-sig: sheets saved by spreadsheet programs often start with a byte-order mark.
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as exc:
        raise DatasetError(f"sample sheet {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"sample sheet {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not rows:
        return []
    missing = {"image_id", "path"} - set(rows[0])
    if missing:
        raise DatasetError(
            f"sample sheet {path}: missing column(s) {', '.join(sorted(missing))} (has: {', '.join(rows[0])})"
        )
    return rows


def _link_problem(path: pathlib.Path) -> str | None:
    """Why a symlink cannot be read (dangling, loop, a folder); None for a link to a file.

    Policy: a link to a file is followed wherever it points (a folder of links is a common way
    to build a dataset), and ingest records the target in ``normalization``."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return f"dangling symlink (to {path_text(os.readlink(path))}): fix or remove the link"
    except (RuntimeError, OSError) as exc:  # ELOOP: a link cycle
        return f"symlink cannot be resolved ({getattr(exc, 'strerror', None) or exc}): fix or remove the link"
    if target.is_dir():
        return f"symlink to a folder ({path_text(target)}): folders are not followed; link the files instead"
    return None


def _folder_files(root: pathlib.Path, recursive: bool) -> list[pathlib.Path]:
    """Every entry that is not a real folder: files, links (also to folders), fifos..."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        here = pathlib.Path(dirpath)
        found += [here / n for n in filenames]
        found += [here / n for n in dirnames if (here / n).is_symlink()]
        if not recursive:
            break
    return sorted(found)


def _dedupe(entries: list[dict], root: pathlib.Path) -> list[dict]:
    """Files whose ids collide (``dup.png``, ``dup.jpg``) take their file name as id; if even
    those collide, the later file is rejected naming the first."""
    by_id: dict[str, list[dict]] = {}
    for e in entries:
        by_id.setdefault(e["image_id"], []).append(e)
    out, seen = [], {}
    for group in by_id.values():
        for e in group:
            if len(group) > 1:
                e = dict(e, image_id=path_text(e["path"].relative_to(root).as_posix()))
            if e["image_id"] in seen:
                first = seen[e["image_id"]]["path"]
                e = dict(
                    e,
                    image_id=f"{e['image_id']} (duplicate of {path_text(first)})",
                    problem=f"duplicate image id {e['image_id']!r}: also {path_text(first)}; rename one of them",
                )
            seen.setdefault(e["image_id"], e)
            out.append(e)
    return out


def list_entries(spec: dict) -> list[dict]:
    """(image_id, path, label_wnid, problem) of every file a dataset names, sorted by id.

    ``folder``/``imagefolder`` list every file under the root and ``ilsvrc_val`` every file
    in the root but the ground truth: what is not a readable image becomes a rejected row,
    never a silent skip. ``problem`` is a reason known before opening the file (a dangling
    link, a duplicate id) or None."""
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
                    "path": _safe_relative(root, (row["path"] or "").strip(), where),
                    "label_wnid": (row.get("label_wnid") or "").strip() or None,
                    "problem": None,
                    "line": n,
                }
            )
        seen: dict[str, dict] = {}
        for e in entries:
            if e["image_id"] in seen:
                first = seen[e["image_id"]]
                e["problem"] = (
                    f"duplicate image_id {e['image_id']!r} in {sheet} (line {first['line']}: {first['path']}; "
                    f"line {e['line']}: {e['path']}): give each row its own id"
                )
                e["image_id"] = f"{e['image_id']} (duplicate, line {e['line']})"
            else:
                seen[e["image_id"]] = e
    elif kind in ("folder", "imagefolder", "ilsvrc_val"):
        if not root.is_dir():
            raise DatasetError(f"dataset root {root} is not a folder")
        truth = _read_ilsvrc_truth(pathlib.Path(spec["ground_truth"])) if kind == "ilsvrc_val" else {}
        skip = {pathlib.Path(spec["ground_truth"]).resolve()} if kind == "ilsvrc_val" else set()
        for path in _folder_files(root, recursive=kind != "ilsvrc_val"):
            if skip and not path.is_symlink() and path.resolve() in skip:
                continue
            rel = path.relative_to(root)
            if kind == "ilsvrc_val":
                wnid = truth.get(path.stem)
            else:
                wnid = rel.parts[0] if kind == "imagefolder" and len(rel.parts) > 1 else None
            entries.append(
                {
                    "image_id": path_text(rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()),
                    "path": path,
                    "label_wnid": wnid,
                    "problem": None,
                }
            )
        entries = _dedupe(entries, root)
    else:
        raise DatasetError(f"unknown dataset kind {kind!r}")
    for e in entries:
        if e["problem"] is None and e["path"].is_symlink():
            e["problem"] = _link_problem(e["path"])
    return sorted(entries, key=lambda e: e["image_id"])


def manifest_path(dataset: str, shard: int | str) -> str:
    return f"results/manifests/{dataset}/shard-{shard}.jsonl"


def manifests(spec: dict, stat_files: bool = True) -> list[str]:
    """What each shard's ingest depends on, cheaply, one text per shard: every listed file's
    id, path, label, size, mtime and ctime (JSON lines). The workflow rewrites
    ``results/manifests/<dataset>/shard-N.jsonl`` only when its text changes, and that shard's
    ingest depends on it: an added, removed, relabelled or replaced image (same path, new
    bytes) reruns its own shard only, and file names never become Snakemake paths."""
    lines: list[list[str]] = [[] for _ in range(spec["shards"])]
    for e in list_entries(spec):
        rec = {"id": e["image_id"], "path": path_text(e["path"]), "label": e["label_wnid"], "problem": e["problem"]}
        if stat_files:
            try:
                st = e["path"].stat()
                rec.update(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, ino=st.st_ino)
            except OSError as exc:
                rec["error"] = exc.strerror or str(exc)
        lines[shard_of(e["image_id"], spec["shards"])].append(json.dumps(rec, sort_keys=True))
    return ["".join(line + "\n" for line in shard) for shard in lines]


def largest_listed_pixels(manifest: str | os.PathLike, limits: Limits) -> int:
    """The largest width × height of the files a shard's manifest lists, from their headers
    (``images.header_pixels``: nothing decoded; files over ``limits``, unreadable or listed with
    a problem count 0, as ingest rejects them before decoding): what the shard's ingest job holds
    in memory, known when the DAG is built, before any images table exists."""
    largest = 0
    for line in pathlib.Path(manifest).read_text().splitlines():
        rec = json.loads(line)
        if not rec.get("problem") and not rec.get("error"):
            largest = max(largest, header_pixels(rec["path"], limits))
    return largest


def write_if_changed(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it (its mtime then stays)."""
    path = pathlib.Path(path)
    try:
        if path.read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def _read_ilsvrc_truth(path: pathlib.Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8-sig")
    if text.startswith("ImageId,PredictionString"):
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(text.splitlines())}
    return {pathlib.Path(a).stem: b for a, b in (line.split("\t")[:2] for line in text.splitlines() if line)}


def ingest(name: str, spec: dict, limits: Limits, shard: int | None = None) -> list[dict]:
    """One images-table row per listed file (of one shard, if given): validated, hashed,
    labeled. Bad ones get status ``rejected`` and the reason, whatever a decoder raised on them
    (only ``MemoryError`` stops the job); they never stop the others."""
    _, names = imagenet_classes()
    rows = []
    for e in list_entries(spec):
        if shard is not None and shard_of(e["image_id"], spec["shards"]) != shard:
            continue
        path = e["path"]
        row = records.new_row(
            schemas.IMAGES,
            dataset=name,
            image_id=e["image_id"],
            source_path=path_text(path),
            shard=shard_of(e["image_id"], spec["shards"]),
            label_wnid=e["label_wnid"],
            status="ok",
            label_source="annotated" if e["label_wnid"] else "pseudo",
        )
        try:
            if e["problem"]:
                raise BadImage(e["problem"])
            if e["label_wnid"]:
                row["label"] = wnid_index(e["label_wnid"])
                row["label_name"] = names[row["label"]]
            image, normalization = load_source(path, limits)
            if path.is_symlink():
                normalization = "; ".join(x for x in (f"symlink to {path_text(path.resolve())}", normalization) if x)
            row.update(
                width=image.width,
                height=image.height,
                normalization=normalization,
                source_bytes=path.stat().st_size,
                source_sha256=sha256_file(path),
            )
        except MemoryError:  # the job's memory, not the file: the job fails (and says so)
            raise
        except Exception as exc:  # one file never stops the shard: whatever went wrong is its row
            reason = _rejection(exc)
            row.update(status="rejected", error=reason)
            log.warning("rejected %s (%s): %s", row["image_id"], row["source_path"], reason)
        rows.append(row)
    return rows


def _rejection(exc: Exception) -> str:
    """The reason a file is rejected, from what stopped it (load_source's ``BadImage`` says it
    itself; a decoder's or the file system's failure is named with its message)."""
    if isinstance(exc, BadImage):
        return str(exc)
    if isinstance(exc, KeyError):  # an unknown label
        return str(exc.args[0])
    if isinstance(exc, OSError):
        return f"unreadable: {exc.strerror or exc}"
    return f"cannot read ({type(exc).__name__}: {exc})"
