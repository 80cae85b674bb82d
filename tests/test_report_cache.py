"""An incremental report: each figure is drawn once per format (no tight-bbox pass drawing it
again, and still cropped like one: legends below the axes and titles above inside), and with a
cache a rebuilt report copies the figures and gallery thumbnails whose data did not change
(the same bytes) and draws those whose data did."""

from __future__ import annotations

import io
import pathlib
import re

import matplotlib.figure
import numpy as np
import pandas as pd
from PIL import Image

from codecsweep.report import figures, gallery
from codecsweep.report.build import build_report
from tests.test_gallery import gallery_study
from tests.test_report import REPO, write_fixture

SQL = sorted(str(p) for p in (REPO / "reports/sql").glob("*.sql"))


def _curves() -> pd.DataFrame:
    """The table ``curves`` of two codecs at two scales, RGB and gray, six settings each."""
    rows = []
    for encoder in ("jpeg", "hevc"):
        for scale in (1.0, 0.5):
            for color in ("rgb", "gray"):
                for k in range(6):
                    agree = min(1.0, 0.2 + 0.15 * k)
                    rows.append(
                        {
                            "encoder": encoder,
                            "scale": scale,
                            "color": color,
                            "bpp_mean": 0.05 * 1.8**k * scale,
                            "top1_agreement": agree,
                            "top1_agreement_lo": agree - 0.1,
                            "top1_agreement_hi": min(1.0, agree + 0.1),
                        }
                    )
    return pd.DataFrame(rows)


def test_a_figure_is_drawn_once_per_format_and_cropped_like_a_tight_bbox(tmp_path, monkeypatch):
    """accuracy_curves (its legend below the axes, its title above and wider than the figure,
    the pair's label added): one draw for the PNG, one for the SVG, and each as large as
    matplotlib's own ``bbox_inches="tight"`` makes it (nothing clipped)."""
    draws, kept = [], []
    original_draw = matplotlib.figure.Figure.draw

    def draw(self, renderer):
        draws.append(type(renderer).__name__)
        return original_draw(self, renderer)

    monkeypatch.setattr(matplotlib.figure.Figure, "draw", draw)
    monkeypatch.setattr(figures.plt, "close", kept.append)  # keep the figure, to save it again below
    png = figures.for_pair(figures.accuracy_curves, "model m, dataset d", "__d__m", _curves(), tmp_path)
    assert draws == ["RendererAgg", "MixedModeRenderer"]  # the PNG's and the SVG's
    (fig,) = kept
    tight_png, tight_svg = io.BytesIO(), io.StringIO()
    fig.savefig(tight_png, dpi=figures.DPI, bbox_inches="tight")
    fig.savefig(tight_svg, format="svg", bbox_inches="tight")
    with Image.open(png) as ours, Image.open(tight_png) as tight:
        assert abs(ours.width - tight.width) <= 2 and abs(ours.height - tight.height) <= 2, (ours.size, tight.size)
        pixels = np.asarray(ours.convert("L"))
    assert pixels.min() < 128  # something drawn, and the pad around it is the background
    assert (pixels[:3] == 255).all() and (pixels[-3:] == 255).all()
    assert (pixels[:, :3] == 255).all() and (pixels[:, -3:] == 255).all()
    size = re.compile(r'<svg[^>]* width="([\d.]+)pt" height="([\d.]+)pt"')
    ours = [float(v) for v in size.search(png.with_suffix(".svg").read_text()).groups()]
    tight = [float(v) for v in size.search(tight_svg.getvalue()).groups()]
    assert np.allclose(ours, tight, atol=1.5), (ours, tight)


def test_figure_key_is_the_data_and_code_not_the_objects():
    curves = _curves()
    key = figures.figure_key(figures.accuracy_curves, (curves,))
    assert key == figures.figure_key(figures.accuracy_curves, (curves.copy(),))
    assert key == figures.figure_key(figures.accuracy_curves, (curves.set_index(curves.index + 7),))  # row labels
    changed = curves.assign(top1_agreement=curves.top1_agreement.where(curves.index != 3, 0.5))
    assert key != figures.figure_key(figures.accuracy_curves, (changed,))
    assert key != figures.figure_key(figures.accuracy_curves, (curves.iloc[::-1],))  # the order is drawn
    assert key != figures.figure_key(figures.rate_accuracy, (curves,))
    assert figures.figure_key(lambda d, out: None, (curves,)) is None  # no stable name: drawn, not cached


def _figures(out: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "figures").iterdir())}


def test_a_rebuilt_report_copies_its_figures_from_the_cache(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in2").mkdir()
    files = write_fixture(tmp_path / "in")
    cache = tmp_path / "cache"
    first = build_report(files, SQL, out_dir=tmp_path / "a", cache_dir=cache)
    second = build_report(files, SQL, out_dir=tmp_path / "b", cache_dir=cache, figure_workers=1)
    plain = build_report(files, SQL, out_dir=tmp_path / "c")  # no cache: every figure drawn
    n = len(_figures(tmp_path / "a")) // 2
    assert n > 10 and first.figure_counts == {"drawn": n, "cached": 0}
    assert second.figure_counts == {"drawn": 0, "cached": n} and plain.figure_counts == first.figure_counts
    assert _figures(tmp_path / "a") == _figures(tmp_path / "b") == _figures(tmp_path / "c")
    for name in ("index.html", "summary.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # One image less: the figures that show it are drawn again, the others copied.
    fewer = write_fixture(tmp_path / "in2", only=["A", "C", "Z"])
    third = build_report(fewer, SQL, out_dir=tmp_path / "d", cache_dir=cache, figure_workers=1)
    assert third.figure_counts["drawn"] > 0 and third.figure_counts["cached"] > 0
    assert sum(third.figure_counts.values()) == len(_figures(tmp_path / "d")) // 2
    same = {k: v for k, v in _figures(tmp_path / "d").items() if "__d2__" in k}  # dataset d2 has no image B
    assert same and all(_figures(tmp_path / "a")[k] == v for k, v in same.items())


def test_a_rebuilt_gallery_decodes_nothing(tmp_path, monkeypatch):
    """The thumbnails come from the cache the second time (no variant decoded, no source
    read), the same bytes."""
    files, cache = gallery_study(tmp_path / "in")
    build_report(files, SQL, out_dir=tmp_path / "a", cache_dir=cache)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(gallery, "load_source", no_decoding)
    monkeypatch.setattr(gallery.Image.Image, "resize", no_decoding)
    build_report(files, SQL, out_dir=tmp_path / "b", cache_dir=cache)
    page = (tmp_path / "b/gallery.html").read_text()
    assert "not available" not in page and page == (tmp_path / "a/gallery.html").read_text()
    thumbs = sorted(p.name for p in (tmp_path / "a/gallery").iterdir())
    assert thumbs and thumbs == sorted(p.name for p in (tmp_path / "b/gallery").iterdir())
    for name in thumbs:
        assert (tmp_path / "a/gallery" / name).read_bytes() == (tmp_path / "b/gallery" / name).read_bytes()
