"""``reports/gallery.html``: what the headline settings look like. Per (dataset, model) and
codec, the headline setting (the study's rule, as in the table ``headline``) and the next
more compressed setting of its curve (same scale and color), each as rows of thumbnails:
the original beside the decoded variant for the images whose true-class rank moved most and
one that did not move, labelled with both top-1 class names, the rank change and the bpp;
and one strip per codec: one image across its curve, from the best quality to the worst.

The variants come from the cache by artifact hash, the originals from their source files.
Thumbnails are JPEGs (``THUMB`` px on the long side, quality 85, no metadata) in
``gallery/``, named by the hash of what they show, so the page and its files are the same
bytes for the same data. Each is kept in the cache too (``thumbnail``, keyed by what it
shows and what makes it: the decoder's version, Pillow's, this module's code), so that the
next report decodes only the variants it did not show before."""

from __future__ import annotations

import functools
import html
import io
import logging
import pathlib

import pandas as pd
import PIL
from PIL import Image

from ..codecs import get_encoder
from ..core.hashing import file_sha256
from ..core.keys import make_key
from ..core.labels import imagenet_classes
from ..storage.cache import Cache, CacheWriteError
from ..storage.images import load_source

log = logging.getLogger("codecsweep")

#: Thumbnails' long side (px) and JPEG quality.
THUMB = 160
QUALITY = 85
#: Images per setting: the ones whose rank moved most, then one that did not move.
MOVED = 3
STYLE = (
    "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
    ".row{display:flex;flex-wrap:wrap;gap:12px;margin:0.5em 0}figure{margin:0;font-size:11px;max-width:340px}"
    "figure img{margin-right:4px;vertical-align:top}.strip figure{max-width:170px}.missing{color:#a00}</style>"
)

# The headline setting per (dataset, model, encoder), as the table "headline" chooses it.
HEADLINE_SQL = """
SELECT dataset, model, encoder,
       arg_max(scale, (cr_source_mean, param_index, param)) FILTER (rank_diff_mean >= -1) AS scale,
       arg_max(color, (cr_source_mean, param_index, param)) FILTER (rank_diff_mean >= -1) AS color,
       arg_max(param, (cr_source_mean, param_index, param)) FILTER (rank_diff_mean >= -1) AS param
FROM param_sets GROUP BY ALL ORDER BY ALL"""
SETS_SQL = """
SELECT dataset, model, encoder, scale, color, param, param_index, cr_source_mean, bpp_mean
FROM param_sets ORDER BY dataset, model, encoder, scale DESC, color DESC, cr_source_mean, param_index, param"""
VARIANTS_SQL = """
SELECT p.dataset, p.model, p.image_id, v.encoder, v.scale, v.color, v.param, v.artifact_sha256, v.bpp,
       p.top1, p.rank_diff, o.top1 AS original_top1, i.source_path, i.source_sha256
FROM predictions p
JOIN variants v USING (dataset, image_id, encoder, scale, color, param)
JOIN images i USING (dataset, image_id)
JOIN originals o USING (dataset, model, image_id)
WHERE p.encoder IS NOT NULL AND p.status = 'ok' AND v.status = 'ok' AND i.status = 'ok'
ORDER BY ALL"""


def build_gallery(con, cache: Cache, out_dir: pathlib.Path) -> pathlib.Path:
    """Write ``out_dir/gallery.html`` and ``out_dir/gallery/*.jpg``; returns the page's path.
    Needs the view ``param_sets`` (reports/sql/10_param_table.sql)."""
    out_dir = pathlib.Path(out_dir)
    thumbs = _Thumbs(cache, out_dir / "gallery")
    variants = con.execute(VARIANTS_SQL).df()
    sets = con.execute(SETS_SQL).df()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>codecsweep variant gallery</title>",
        STYLE + "</head><body><h1>codecsweep variant gallery</h1>",
        "<p><a href='index.html'>Back to the report</a>. Per codec: its headline setting (the study's rule: the "
        "largest mean compression with mean rank loss within 1) and the next more compressed setting of the same "
        f"curve; original (left) and variant (right), {THUMB} px thumbnails. Rank change: original true-class rank "
        "minus the variant's (negative: the variant ranks the true class lower).</p>",
    ]
    for row in con.execute(HEADLINE_SQL).df().itertuples(index=False):
        parts += _codec_section(row, sets, variants, thumbs)
    parts.append("</body></html>")
    thumbs.prune()
    page = out_dir / "gallery.html"
    page.write_text("\n".join(parts))
    return page


def _codec_section(row, sets: pd.DataFrame, variants: pd.DataFrame, thumbs: _Thumbs) -> list[str]:
    title = f"{row.encoder} ({row.model} on {row.dataset})"
    out = [f"<h2>{html.escape(title)}</h2>"]
    if pd.isna(row.param):
        return out + ["<p>No setting keeps the mean rank loss within 1: no headline setting to show.</p>"]
    curve = sets[
        (sets.dataset == row.dataset)
        & (sets.model == row.model)
        & (sets.encoder == row.encoder)
        & (sets.scale == row.scale)
        & (sets.color == row.color)
    ].reset_index(drop=True)
    at = int(curve.index[curve.param == row.param][0])
    mine = variants[(variants.dataset == row.dataset) & (variants.model == row.model)]
    mine = mine[(mine.encoder == row.encoder) & (mine.scale == row.scale) & (mine.color == row.color)]
    for k, what in ((at, "headline setting"), (at + 1, "next more compressed")):
        if k >= len(curve):
            out.append(f"<p>No more compressed setting than the headline on this curve ({_setting(row)}).</p>")
            continue
        s = curve.iloc[k]
        out.append(f"<h3>{what}: {html.escape(_setting(s))}, mean cr_source {s.cr_source_mean:.2f}</h3>")
        out.append("<div class='row'>" + "".join(_pair(v, thumbs) for v in _chosen(mine[mine.param == s.param])))
        out[-1] += "</div>"
    out.append(_strip(mine, curve, thumbs))
    return out


def _chosen(d: pd.DataFrame) -> list:
    """The MOVED images whose rank moved most (ties by image id), then the first that did not move."""
    d = d.assign(moved=d.rank_diff.abs()).sort_values(["moved", "image_id"], ascending=[False, True])
    moved = d[d.moved > 0].head(MOVED)
    still = d[d.moved == 0].sort_values("image_id").head(1)
    return list(pd.concat([moved, still]).itertuples(index=False))


def _strip(mine: pd.DataFrame, curve: pd.DataFrame, thumbs: _Thumbs) -> str:
    """One image (the first by id) across the curve, from the best quality (most bits) to the worst."""
    if not len(mine):
        return ""
    image = sorted(mine.image_id)[0]
    d = mine[mine.image_id == image].sort_values(["bpp", "param"], ascending=[False, True])
    cells = [_figure(thumbs.original(d.iloc[0]), "original")]
    for v in d.itertuples(index=False):
        cells.append(_figure(thumbs.variant(v), f"q={v.param}, {v.bpp:.3f} bpp, rank change {v.rank_diff:+d}"))
    return (
        f"<h3>{html.escape(str(image))} across the curve (scale {mine.scale.iloc[0]:g}, {mine.color.iloc[0]})</h3>"
        "<div class='row strip'>" + "".join(cells) + "</div>"
    )


def _pair(v, thumbs: _Thumbs) -> str:
    names = _class_names()
    label = f"{v.image_id}: {names(v.original_top1)} → {names(v.top1)}; rank change {v.rank_diff:+d}; {v.bpp:.3f} bpp"
    return (
        f"<figure>{_img(thumbs.original(v), 'original')}{_img(thumbs.variant(v), 'variant')}"
        f"<figcaption>{html.escape(label)}</figcaption></figure>"
    )


def _figure(src: str | None, caption: str) -> str:
    return f"<figure>{_img(src, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _img(src: str | None, alt: str) -> str:
    if src is None:
        return f"<span class='missing'>({html.escape(alt)} not available)</span>"
    return f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>"


def _setting(s) -> str:
    return f"scale {s.scale:g} {s.color} q={s.param}"


def _class_names():
    _, names = imagenet_classes()
    return lambda i: names[int(i)] if pd.notna(i) and 0 <= int(i) < len(names) else f"class {i}"


class _Thumbs:
    """Thumbnails written once each, by the hash of what they show (``gallery/<hash>.jpg``),
    and kept in the cache under a key of what they show and what makes them."""

    def __init__(self, cache: Cache, folder: pathlib.Path):
        self.cache, self.folder = cache, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.written: dict[str, str | None] = {}

    def variant(self, v) -> str | None:
        if not isinstance(v.artifact_sha256, str):  # no file recorded for it: shown as missing
            return None

        def image():
            return get_encoder(v.encoder).decode(self.cache.read_blob(v.artifact_sha256))

        made_by = ["variant", v.artifact_sha256, v.encoder, _decoder_version(v.encoder)]
        return self._thumb(f"v-{v.artifact_sha256[:20]}", image, made_by)

    def original(self, v) -> str | None:
        made_by = ["original", v.source_sha256 if isinstance(v.source_sha256, str) else None]
        return self._thumb(f"o-{str(v.source_sha256)[:20]}", lambda: load_source(v.source_path)[0], made_by)

    def _thumb(self, name: str, image, made_by: list) -> str | None:
        if name not in self.written:
            key = None if None in made_by else _thumb_key(made_by)
            entry = None if key is None else self.cache.get(THUMB_KIND, key)
            if entry is not None:
                data = entry.data
            else:
                try:
                    data = _thumbnail(image())
                except Exception:  # an artifact gone from the cache, a source moved: shown as missing
                    self.written[name] = None
                    return None
                self._keep(key, data)
            (self.folder / f"{name}.jpg").write_bytes(data)
            self.written[name] = f"gallery/{name}.jpg"
        return self.written[name]

    def _keep(self, key: str | None, data: bytes) -> None:
        if key is None:
            return
        try:
            self.cache.put(THUMB_KIND, key, data)
        except CacheWriteError as exc:  # the page does not need it: the next report decodes again
            log.warning("gallery thumbnail not cached: %s", exc)

    def prune(self) -> None:
        """Remove thumbnails of an earlier build that this page does not show."""
        keep = {f"{n}.jpg" for n, src in self.written.items() if src}
        for p in sorted(self.folder.glob("*.jpg")):
            if p.name not in keep:
                p.unlink()


#: Cache entries of thumbnails (``_Thumbs``).
THUMB_KIND = "thumbnail"


def _thumbnail(im: Image.Image) -> bytes:
    """A JPEG of ``im``, ``THUMB`` px on its long side (a downscaled variant as large too)."""
    im = im.convert("RGB")
    f = THUMB / max(im.size)
    im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=QUALITY, optimize=False, progressive=False)
    return buf.getvalue()


def _thumb_key(made_by: list) -> str:
    """The cache key of a thumbnail: what it shows, its size and quality, Pillow's version and this module's code."""
    return make_key(
        THUMB_KIND, made_by=made_by, size=THUMB, quality=QUALITY, pillow=PIL.__version__, code=file_sha256(__file__)
    )


@functools.cache
def _decoder_version(encoder: str) -> str | None:
    """The version of the codec that decodes ``encoder``'s variants; None (no caching) if it cannot say."""
    try:
        return get_encoder(encoder).version()
    except Exception:
        return None
