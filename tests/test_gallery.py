"""The variant gallery (reports/gallery.html) from a tiny real cache, built twice: the same
bytes; and figures drawn for every model of a two-model study, titles naming the pair."""

import hashlib
import pathlib
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from benchmarks.report_benchmark import synthetic_study
from codecsweep.codecs import get_encoder
from codecsweep.report.build import build_report
from codecsweep.storage.cache import Cache
from tests.test_report import REPO, write_fixture

SQL = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))


def gallery_study(d: pathlib.Path) -> tuple[dict, pathlib.Path]:
    """The report's hand-made fixture (tests/test_report.py) with real sources (PNGs) and every
    variant really encoded into a cache: (files, cache_dir)."""
    d.mkdir(parents=True, exist_ok=True)
    files = write_fixture(d)
    rng = np.random.default_rng(0)
    images = pq.read_table(files["images"][0]).to_pylist()
    sources = {}
    for img in images:
        if img["status"] == "ok":
            path = d / f"{img['image_id']}.png"
            pixels = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
            pixels[:50] //= 3  # some structure to compress
            Image.fromarray(pixels).save(path)
            sources[img["dataset"], img["image_id"]] = Image.open(path).convert("RGB")
            img["source_path"] = str(path)
    pq.write_table(pa.Table.from_pylist(images, schema=pq.read_schema(files["images"][0])), files["images"][0])
    variants = pq.read_table(files["variants"][0]).to_pylist()
    with Cache(d / "cache") as cache:
        for v in variants:
            enc = get_encoder(v["encoder"])
            src = sources[v["dataset"], v["image_id"]]
            small = src.resize((round(100 * v["scale"]),) * 2)
            data = enc.encode(small, v["param"])
            v["artifact_sha256"] = cache.put(
                "artifact", hashlib.sha256(repr(sorted(v.items())).encode()).hexdigest(), data
            )
    pq.write_table(pa.Table.from_pylist(variants, schema=pq.read_schema(files["variants"][0])), files["variants"][0])
    return files, d / "cache"


def _tree(out: pathlib.Path) -> dict:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted([out / "gallery.html", out / "index.html", *(out / "gallery").iterdir()])
    }


def test_gallery_is_byte_reproducible_and_complete(tmp_path):
    files, cache = gallery_study(tmp_path / "in")
    out = tmp_path / "a"
    build_report(files, SQL, out_dir=out, cache_dir=cache)
    build_report(files, SQL, out_dir=tmp_path / "b", cache_dir=cache)
    first, second = _tree(out), _tree(tmp_path / "b")
    assert first.keys() == second.keys()
    assert first["gallery.html"] == second["gallery.html"]
    assert all(first[k] == second[k] for k in first if k.startswith("gallery/")), "thumbnails differ"
    page = first["gallery.html"].decode()
    srcs = re.findall(r"<img src='([^']+)'", page)
    assert srcs and all((out / s).is_file() for s in srcs)
    assert "not available" not in page
    for s in set(srcs):
        with Image.open(out / s) as im:
            assert im.format == "JPEG" and max(im.size) == 160 and not im.info.get("exif")
    assert "href='gallery.html'" in first["index.html"].decode()
    # d: jpeg and hevc; d2: jpeg; each with its headline setting and the strip across its curve
    assert page.count("<h2>") == 3 and page.count("across the curve") == 3
    assert "headline setting: scale 1 rgb q=" in page
    assert "rank change" in page and "→" in page


def test_without_the_cache_index_says_why(tmp_path):
    files = write_fixture(tmp_path)
    build_report(files, SQL, out_dir=tmp_path / "out")
    assert "No variant gallery: the report was built without the cache" in (tmp_path / "out/index.html").read_text()
    assert not (tmp_path / "out/gallery.html").exists()


def _second_model(files: dict, d: pathlib.Path) -> dict:
    """The same study classified by a second model (its ranks shifted, so its curves differ)."""
    out = dict(files)
    for key in ("predictions", "originals"):
        t = pq.read_table(files[key][0])
        other = t.set_column(t.schema.get_field_index("model"), "model", pa.array(["othernet"] * len(t)))
        if key == "predictions":
            i = other.schema.get_field_index("rank_diff")
            other = other.set_column(i, "rank_diff", pc.subtract(other["rank_diff"], 1).cast(pa.int32()))
        path = d / f"{key}-two.parquet"
        pq.write_table(pa.concat_tables([t, other]), path)
        out[key] = [str(path)]
    return out


def test_every_model_gets_its_figures_named_by_title(tmp_path):
    files = _second_model(synthetic_study(tmp_path / "in", 12, encoders=("jpeg", "webp")), tmp_path)
    r = build_report(files, SQL, out_dir=tmp_path / "out")
    names = {p.name for p in (tmp_path / "out/figures").glob("*.png")}
    for model in ("synthnet", "othernet"):
        for fig in ("compression_vs_rank", "rate_accuracy", "accuracy_curves", "bd_rate", "metric_scatter"):
            assert f"{fig}__syn__{model}.png" in names, (fig, model, sorted(names))
            svg = (tmp_path / "out/figures" / f"{fig}__syn__{model}.svg").read_text()
            assert f"model {model}, dataset syn" in svg, (fig, model)
    captions = [cap for s in r.sections for _, cap, *_ in s["figures"]]
    assert any("(model othernet, dataset syn)" in c for c in captions)
    assert not any(n.startswith("rate_accuracy.") for n in names)  # no unlabelled set beside them
