"""Dataset kinds, sample-sheet safety, labels, and ingest's per-image outcomes."""

import csv
import pathlib

import pytest
from PIL import Image

from codecsweep.core.labels import imagenet_classes
from codecsweep.storage.images import Limits
from codecsweep.study.datasets import DatasetError, ingest, list_entries

REPO = pathlib.Path(__file__).resolve().parent.parent


def write_sheet(path, rows, header=("image_id", "path", "label_wnid")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(header)
        w.writerows(rows)
    return path


def test_rennes55_sheet_matches_the_study_appendix():
    rows = list(csv.DictReader(open(REPO / "config/datasets/rennes55.tsv"), delimiter="\t"))
    assert len(rows) == 55
    wnids, _ = imagenet_classes()
    assert all(r["label_wnid"] in wnids for r in rows)
    by_id = {r["image_id"]: r for r in rows}
    assert by_id["ILSVRC2012_val_00001358"]["label_wnid"] == "n01871265"  # tusker, rank 218
    assert by_id["ILSVRC2012_val_00001358"]["study_alexnet_rank"] == "218"
    assert by_id["ILSVRC2012_val_00001487"]["label_wnid"] == "n02115913"  # dhole (stray id fixed)
    assert sum(r["label_wnid"] == "n07742313" for r in rows) == 5  # Granny Smith


@pytest.mark.parametrize("bad", ["../outside.jpg", "/etc/passwd", "a/../../b.jpg"])
def test_sheet_paths_cannot_escape_the_root(tmp_path, bad):
    sheet = write_sheet(tmp_path / "s.tsv", [("x", bad, "")])
    with pytest.raises(DatasetError, match="must be relative and stay inside"):
        list_entries({"kind": "sheet", "root": str(tmp_path / "root"), "sheet": str(sheet)})


@pytest.mark.parametrize("bad_id", ["../x", "a/b", ".."])
def test_sheet_ids_are_plain_names(tmp_path, bad_id):
    sheet = write_sheet(tmp_path / "s.tsv", [(bad_id, "a.jpg", "")])
    with pytest.raises(DatasetError, match="invalid image_id"):
        list_entries({"kind": "sheet", "root": str(tmp_path), "sheet": str(sheet)})


def test_sheet_missing_a_column(tmp_path):
    sheet = write_sheet(tmp_path / "s.tsv", [("x", "")], header=("image_id", "label_wnid"))
    with pytest.raises(DatasetError, match=r"missing column\(s\) path"):
        list_entries({"kind": "sheet", "root": str(tmp_path), "sheet": str(sheet)})


def test_ingest_outcomes(tmp_path, small_photo):
    root = tmp_path / "imgs"
    root.mkdir()
    small_photo.save(root / "cat one.jpg")  # space in the name
    small_photo.save(root / "café.png")  # non-ASCII name
    (root / "same bytes.jpg").write_bytes((root / "cat one.jpg").read_bytes())
    (root / "empty.jpg").write_bytes(b"")
    sheet = write_sheet(
        tmp_path / "s.tsv",
        [
            ("a", "cat one.jpg", "n02123045"),
            ("b", "café.png", ""),
            ("c", "same bytes.jpg", "n02123045"),
            ("d", "empty.jpg", ""),
            ("e", "missing.jpg", ""),
            ("f", "cat one.jpg", "n99999999"),
        ],
    )
    rows = {
        r["image_id"]: r
        for r in ingest("t", {"kind": "sheet", "root": str(root), "sheet": str(sheet), "shards": 3}, Limits())
    }
    assert [rows[i]["status"] for i in "abcdef"] == ["ok", "ok", "ok", "rejected", "rejected", "rejected"]
    assert rows["a"]["label_source"] == "annotated" and rows["a"]["label_name"] == "tabby"
    assert rows["b"]["label_source"] == "pseudo" and rows["b"]["label"] is None
    assert rows["a"]["source_sha256"] == rows["c"]["source_sha256"]  # one set of artifacts
    assert (rows["a"]["width"], rows["a"]["height"]) == small_photo.size
    assert rows["d"]["error"] == "empty file (0 bytes)"
    assert rows["e"]["error"].startswith("unreadable: No such file")
    assert "not one of the 1000 ImageNet-1k WordNet ids" in rows["f"]["error"]


def test_folder_and_imagefolder_kinds(tmp_path):
    for rel in ("n02123045/x.jpg", "n07920052/y.JPEG", "n07920052/notes.txt"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        if rel.endswith("txt"):
            (tmp_path / rel).write_text("not an image")
        else:
            Image.new("RGB", (8, 8)).save(tmp_path / rel, format="JPEG")
    entries = list_entries({"kind": "imagefolder", "root": str(tmp_path)})
    # Every file is listed: the text file becomes a rejected row at ingest, never a silent skip.
    assert [(e["image_id"], e["label_wnid"]) for e in entries] == [
        ("n02123045/x", "n02123045"),
        ("n07920052/notes", "n07920052"),
        ("n07920052/y", "n07920052"),
    ]
    assert [e["label_wnid"] for e in list_entries({"kind": "folder", "root": str(tmp_path)})] == [None] * 3


def test_ilsvrc_val_with_loc_solution(tmp_path):
    for i in (1, 2):
        Image.new("RGB", (8, 8)).save(tmp_path / f"ILSVRC2012_val_0000000{i}.JPEG", format="JPEG")
    truth = tmp_path / "LOC_val_solution.csv"
    truth.write_text(
        "ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748 1 2 3 4 n01751748 5 6 7 8\n"
        "ILSVRC2012_val_00000002,n09193705 1 2 3 4\n"
    )
    entries = list_entries({"kind": "ilsvrc_val", "root": str(tmp_path), "ground_truth": str(truth)})
    assert [e["label_wnid"] for e in entries] == ["n01751748", "n09193705"]
