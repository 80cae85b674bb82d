"""Figures of the report, one function each, PNG + SVG, one color per codec in every figure.

Every function accepts empty input (or None) and then draws a figure that says there is
nothing to show. Files carry no dates or software versions, so the same data give the same
bytes.

A figure is laid out once and drawn once per format (``_save``): no tight-bbox pass that
draws it again. ``figure_key`` names what a figure shows (its function, its data, the code
and libraries that draw it), so that a report with a cache keeps its figures there
(``from_cache`` / ``to_cache``) and draws only those whose data changed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL  # noqa: E402
from matplotlib.backends.backend_svg import RendererSVG  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402

from ..codecs import ENCODERS  # noqa: E402
from ..core.hashing import file_sha256  # noqa: E402
from ..core.metric_table import METRIC_INFO  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "codecsweep"  # fixed ids inside the SVG files
#: The PNG's resolution, and that of the SVG's raster parts (the scatter figures' dots).
DPI, SVG_RASTER_DPI = 110, 100
#: Cache entries of figures (``to_cache``): the PNG and the SVG of one figure.
CACHE_KIND = "figure"

#: Colors for codecs that declare none (``Encoder.color``), picked by a hash of the name (stable across runs).
EXTRA_COLORS = ["#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]
MARKERS = {"rgb": "o", "gray": "s"}


#: The (dataset, model) the figure being drawn shows (``for_pair``): its title's label and
#: its file name's suffix.
_PAIR = {"label": "", "suffix": ""}


def for_pair(draw, label: str, suffix: str, *args) -> pathlib.Path | None:
    """``draw(*args)`` with ``label`` in the figure's title and ``suffix`` after its file name."""
    _PAIR.update(label=label, suffix=suffix)
    try:
        return draw(*args)
    finally:
        _PAIR.update(label="", suffix="")


def codec_color(encoder: str) -> str:
    """The encoder's own color (the same in every figure), else one picked by its name."""
    color = ENCODERS[encoder].color if encoder in ENCODERS else None
    return color or EXTRA_COLORS[int(hashlib.sha256(encoder.encode()).hexdigest(), 16) % len(EXTRA_COLORS)]


def codec_label(encoder: str) -> str:
    """The encoder's display name (``Encoder.label``); an encoder the registry does not know, by its name."""
    return ENCODERS[encoder].label or encoder if encoder in ENCODERS else encoder


def _symlog(ax, axis: str = "y") -> None:
    """Symmetric log scale (rank differences) with plain tick labels: -10, -1, 0, 1."""
    getattr(ax, f"set_{axis}scale")("symlog", linthresh=1)
    getattr(ax, f"{axis}axis").set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _scale_label(s: float) -> str:
    return f"scale 1/{round(1 / s)}" if s < 1 else "scale 1"


def _save(fig, out_dir: pathlib.Path, name: str, layout: bool = True) -> pathlib.Path:
    """Write ``<name>.png`` and ``.svg``: laid out once (``layout``: tight layout, which
    leaves room for every label), then each format cropped to what the figure shows (its
    legends below the axes and titles above included), as ``bbox_inches="tight"`` would but
    measured without a draw, and drawn once."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.set_dpi(DPI)  # laid out and measured at the PNG's resolution (text sizes follow it)
    if layout:
        TightLayoutEngine().execute(fig)  # the figure keeps no layout engine: savefig does no layout draw
    name += _PAIR["suffix"]
    if _PAIR["label"]:
        sup = fig._suptitle
        if sup is not None and sup.get_text():
            sup.set_text(f"{sup.get_text()} ({_PAIR['label']})")
        else:
            fig.suptitle(_PAIR["label"], y=1.0, va="bottom")
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=DPI, bbox_inches=_tight_bbox(fig, fig.canvas.get_renderer()), metadata={"Software": None})
    fig.set_dpi(72)  # an SVG measures its text in points, unhinted: its own crop
    svg_box = _tight_bbox(fig, RendererSVG(fig.bbox.width, fig.bbox.height, io.StringIO()))
    fig.set_dpi(DPI)
    fig.savefig(
        out_dir / f"{name}.svg", dpi=SVG_RASTER_DPI, bbox_inches=svg_box, metadata={"Date": None, "Creator": None}
    )
    plt.close(fig)
    return png


def _tight_bbox(fig, renderer):
    """What ``bbox_inches="tight"`` crops to, in inches, measured with ``renderer``."""
    return fig.get_tightbbox(renderer).padded(matplotlib.rcParams["savefig.pad_inches"])


def _empty(out_dir, name: str, title: str, why: str) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.45, f"No data to show: {why}", ha="center", va="center", fontsize=11, wrap=True)
    return _save(fig, out_dir, name, layout=False)


#: Dots per scatter figure at most (an even, fixed subset beyond): more only hide each other.
SCATTER_POINTS = 4000


def _thin(df, n: int = SCATTER_POINTS):
    return df if len(df) <= n else df.iloc[np.linspace(0, len(df) - 1, n).astype(int)]


def _has(df, *cols) -> bool:
    return df is not None and len(df) > 0 and all(df[c].notna().any() for c in cols)


def _codec_scatter(ax, d, x: str, y: str, **kws) -> None:
    """seaborn's scatter of the rows with finite x and y, colored by codec (the legend is the
    figure's). seaborn is imported here, when a scatter is drawn: with scipy.stats it costs
    ~0.6 s, which a report whose figures all come from the cache does not pay."""
    import seaborn as sns

    d = d[d[x].notna() & d[y].notna() & d.encoder.notna()]
    if len(d):
        palette = {e: codec_color(e) for e in d.encoder.unique()}
        sns.scatterplot(d, x=x, y=y, hue="encoder", palette=palette, ax=ax, legend=False, **kws)


def _band_lines(ax, d, y: str, by_color: bool = True):
    """One line per codec (and color mode) against bpp (log), with its interval as a band."""
    for (encoder, color), g in d.groupby(["encoder", "color"], sort=True):
        g = g[g.bpp_mean > 0].sort_values("bpp_mean")
        if not g[y].notna().any():
            continue
        c = codec_color(encoder)
        ls = "-" if color == "rgb" else "--"
        label = codec_label(encoder) + ("" if color == "rgb" or not by_color else " (gray)")
        ax.plot(g.bpp_mean, g[y], ls, marker=MARKERS.get(color, "o"), ms=3, lw=1.3, color=c, label=label)
        if f"{y}_lo" in g:
            ax.fill_between(
                g.bpp_mean, g[f"{y}_lo"].astype(float), g[f"{y}_hi"].astype(float), color=c, alpha=0.15, lw=0
            )
    ax.set_xscale("log")


def rate_accuracy(curves, out_dir) -> pathlib.Path:
    """Top-1 accuracy (annotated images) and agreement vs bits per pixel at full scale in RGB,
    with 95% bands (ICIP 2020 style)."""
    d = None if curves is None else curves[(curves.scale == 1) & (curves.color == "rgb")]
    if not _has(d, "top1_agreement"):
        return _empty(out_dir, "rate_accuracy", "Rate–accuracy, scale 1, RGB", "no classified variant at scale 1, RGB")
    panels = [("top1_accuracy", "top-1 accuracy (annotated images)"), ("top1_agreement", "top-1 agreement")]
    panels = [p for p in panels if d[p[0]].notna().any()]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.3), squeeze=False, sharex=True)
    for ax, (y, label) in zip(axes[0], panels):
        _band_lines(ax, d, y)
        ax.set(xlabel="bits per pixel (log scale)", ylabel=label, ylim=(-0.02, 1.02), title=label)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(title="codec", fontsize=8)
    fig.suptitle("Rate–accuracy, scale 1, RGB; bands: 95% bootstrap intervals over images")
    return _save(fig, out_dir, "rate_accuracy")


def accuracy_curves(curves, out_dir) -> pathlib.Path:
    """Top-1 agreement vs bits per pixel, one panel per scale (dashed: gray), with bands."""
    if not _has(curves, "top1_agreement"):
        return _empty(out_dir, "accuracy_curves", "Top-1 agreement vs bits per pixel", "no classified variant")
    scales = sorted(curves.scale.unique(), reverse=True)
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.8), squeeze=False, sharey=True)
    for ax, scale in zip(axes[0], scales):
        _band_lines(ax, curves[curves.scale == scale], "top1_agreement")
        ax.set(title=_scale_label(scale), xlabel="bits per pixel (log)", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("top-1 agreement with the original")
    handles, labels = [], []
    for ax in axes[0]:
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            if lbl not in labels:
                handles.append(h)
                labels.append(lbl)
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(6, len(labels)),
        fontsize=9,
        frameon=False,
    )
    fig.suptitle("Top-1 agreement vs rate per scale (dashed: gray); bands: 95% bootstrap intervals over images")
    return _save(fig, out_dir, "accuracy_curves")


def compression_vs_rank(param_table, out_dir) -> pathlib.Path:
    """Mean rank difference vs mean compression ratio per parameter set (Tables 4-6 as a plot)."""
    if not _has(param_table, "cr_source_mean", "rank_diff_mean"):
        return _empty(out_dir, "compression_vs_rank", "Compression vs classification", "no parameter set")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (encoder, color), g in param_table.groupby(["encoder", "color"], sort=True):
        ax.scatter(
            g.cr_source_mean,
            g.rank_diff_mean,
            s=22,
            color=codec_color(encoder),
            marker=MARKERS.get(color, "o"),
            label=codec_label(encoder) + ("" if color == "rgb" else " (gray)"),
        )
    ax.axhline(-1, color="grey", lw=0.8, ls="--")
    ax.set(
        xscale="log",
        xlabel="mean compression ratio vs the source files (log scale)",
        ylabel="mean rank difference (negative: worse)",
        title="Compression vs classification, per parameter set",
    )
    _symlog(ax)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "compression_vs_rank", layout=False)


def metric_scatter(points, out_dir) -> pathlib.Path:
    """Every quality metric against the rank difference, one panel each, colored by codec."""
    infos = [m for m in METRIC_INFO if points is not None and m.name in points and points[m.name].notna().any()]
    if not infos:
        return _empty(out_dir, "metric_scatter", "Which metric tracks the classifier?", "no measured variant")
    points = _thin(points)
    cols = min(4, len(infos))
    rows = -(-len(infos) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), sharey=True, squeeze=False)
    for ax, m in zip(axes.flat, infos):
        _codec_scatter(ax, points, m.name, "rank_diff", s=8, alpha=0.5, linewidth=0, rasterized=True)
        ax.set_xlabel(m.label + (f" ({m.unit})" if m.unit else ""))
        _symlog(ax)
    for ax in list(axes.flat)[len(infos) :]:
        ax.axis("off")
    for ax in axes[:, 0]:  # the shared y axis is labelled where its ticks are
        ax.set_ylabel("rank difference")
    encoders = sorted(points.encoder.unique())
    handles = [plt.Line2D([], [], ls="", marker="o", color=codec_color(e), label=codec_label(e)) for e in encoders]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False)
    fig.suptitle("Which metric tracks the classifier? (each dot a variant)")
    return _save(fig, out_dir, "metric_scatter")


def ssim_thresholds(points, thresholds, out_dir) -> pathlib.Path:
    """SSIM vs rank difference per image, with each image's threshold (Rennes Fig. 6)."""
    if not _has(points, "ssim"):
        return _empty(out_dir, "ssim_thresholds", "SSIM thresholds per image", "no SSIM value (e.g. images too small)")
    d = points[points.ssim.notna()]
    images = sorted(d.image_id.unique())[:8]
    cols = min(4, len(images))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.6 * rows + 0.4), sharey=True, squeeze=False)
    t = {} if thresholds is None else dict(thresholds[thresholds.metric == "ssim"][["image_id", "threshold"]].values)
    for ax, image_id in zip(axes.flat, images):
        mine = d[d.image_id == image_id]
        for encoder, g in mine.groupby("encoder", sort=True):
            ax.scatter(g.ssim, g.rank_diff, s=10, alpha=0.6, lw=0, color=codec_color(encoder), rasterized=True)
        if image_id in t:
            ax.axvline(t[image_id], color="black", lw=0.8, ls="--")
        _symlog(ax)
        ax.set_title(str(image_id), fontsize=9)
        ax.set_xlabel("SSIM")
    for ax in list(axes.flat)[len(images) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("rank difference")
    encoders = sorted(d.encoder.unique())
    handles = [plt.Line2D([], [], ls="", marker="o", color=codec_color(e), label=codec_label(e)) for e in encoders]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False)
    fig.suptitle("SSIM vs rank difference per image (dashed: the image's threshold)")
    return _save(fig, out_dir, "ssim_thresholds")


def overfitting(points, image_id, out_dir) -> pathlib.Path:
    """Rank difference vs compression ratio for one image whose rank improves (Rennes Fig. 7)."""
    d = None if points is None or image_id is None else points[points.image_id == image_id]
    if not _has(d, "rank_diff"):
        return _empty(out_dir, "overfitting", "Rank improvements under compression", "no image's rank improved")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    lw = 0.08 * np.sqrt(18)  # seaborn's scatter: a thin white edge for dots of size 18
    _codec_scatter(ax, d, "rank_diff", "cr_raw", s=18, linewidth=lw)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set(
        yscale="log",
        xlabel="rank difference (positive: compression helped)",
        ylabel="compression ratio vs raw (log scale)",
        title=f"Rank improvements under compression: {image_id}",
    )
    _symlog(ax, "x")
    style = {"ls": "", "marker": "o", "markersize": np.sqrt(18), "markeredgecolor": "w", "markeredgewidth": lw}
    encoders = list(pd.unique(d.encoder.dropna()))
    handles = [plt.Line2D([], [], color=codec_color(e), markerfacecolor=codec_color(e), **style) for e in encoders]
    ax.legend(handles, [codec_label(e) for e in encoders], title="codec", fontsize=8)
    return _save(fig, out_dir, "overfitting", layout=False)


def oracle(table, out_dir) -> pathlib.Path:
    """Mean bpp of the per-image oracle against the best fixed setting, per encoder, with intervals."""
    if not _has(table, "oracle_bpp"):
        return _empty(out_dir, "oracle", "Per-image oracle vs best fixed setting", "no classified variant")
    crits = [c for c in ("top-1 kept", "rank loss <= 1") if c in set(table.criterion)]
    fig, axes = plt.subplots(
        1, len(crits), figsize=(6.2 * len(crits), 0.5 * table.encoder.nunique() + 1.8), squeeze=False, sharey=True
    )
    for ax, crit in zip(axes[0], crits):
        d = table[table.criterion == crit].reset_index(drop=True)
        y = np.arange(len(d))
        for i, row in d.iterrows():
            color = codec_color(row.encoder) if row.encoder != "(any)" else "black"
            for value, lo, hi, marker, off in (
                (row.oracle_bpp, row.oracle_bpp_lo, row.oracle_bpp_hi, "o", -0.12),
                (row.fixed_bpp, row.fixed_bpp_lo, row.fixed_bpp_hi, "D", 0.12),
            ):
                if np.isfinite(value):
                    err = [[max(value - lo, 0)], [max(hi - value, 0)]] if np.isfinite(lo) else None
                    ax.errorbar([value], [i + off], xerr=err, fmt=marker, color=color, ms=7, capsize=3)
        ax.set_yticks(y, [codec_label(e) if e != "(any)" else "any codec" for e in d.encoder])
        ax.set(xscale="log", xlabel="mean bits per pixel (log)", title=f"criterion: {crit}")
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    handles = [
        plt.Line2D([], [], ls="", marker="o", color="black", label="oracle (per image)"),
        plt.Line2D([], [], ls="", marker="D", color="black", label="best fixed setting"),
    ]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    fig.suptitle("Choosing the setting per image vs one fixed setting (95% bootstrap intervals)")
    return _save(fig, out_dir, "oracle")


def bd_rate(table, out_dir) -> pathlib.Path:
    """BD-rate against JPEG per codec and scale, with intervals, one panel per measure."""
    if not _has(table, "bitrate_change"):
        return _empty(out_dir, "bd_rate", "BD-rate against JPEG", "no codec curve overlaps JPEG's (or no JPEG)")
    measures = [
        m for m in ("top-1 accuracy", "top-1 agreement") if table[table.at_equal == m].bitrate_change.notna().any()
    ]
    fig, axes = plt.subplots(1, len(measures), figsize=(6 * len(measures), 4), squeeze=False, sharey=True)
    scales = sorted(table.scale.unique(), reverse=True)
    encoders = sorted(table.encoder.unique())
    for ax, measure in zip(axes[0], measures):
        d = table[table.at_equal == measure]
        for k, e in enumerate(encoders):
            g = d[d.encoder == e].set_index("scale")
            xs, ys, lo, hi = [], [], [], []
            for i, s in enumerate(scales):
                if s in g.index and np.isfinite(g.loc[s, "bitrate_change"]):
                    row = g.loc[s]
                    xs.append(i + (k - (len(encoders) - 1) / 2) * 0.12)
                    ys.append(100 * row.bitrate_change)
                    lo.append(
                        100 * max(row.bitrate_change - row.bitrate_change_lo, 0)
                        if np.isfinite(row.bitrate_change_lo)
                        else 0
                    )
                    hi.append(
                        100 * max(row.bitrate_change_hi - row.bitrate_change, 0)
                        if np.isfinite(row.bitrate_change_hi)
                        else 0
                    )
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color=codec_color(e), capsize=3, label=codec_label(e))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(scales)), [_scale_label(s) for s in scales])
        ax.set(title=f"at equal {measure}", ylabel="bits vs JPEG (%; negative = fewer)")
        ax.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=8, title="codec")
    fig.suptitle("BD-rate against JPEG (RGB), 95% bootstrap intervals over images")
    return _save(fig, out_dir, "bd_rate")


# --- The figure cache: what a figure shows, by a key; its files, by that key ---------------


def figure_key(draw, args: tuple) -> str | None:
    """The sha256 of everything a figure's files depend on: the drawing function (its name, its
    module's source and this module's, the (dataset, model) ``for_pair`` gives it), the data of
    its arguments (their values and order; a frame's row labels are not drawn and not part of
    it), the versions of the libraries that draw and write it, matplotlib's settings, the
    codecs' colors and labels and the metrics' labels. None for an argument of a kind it does
    not read (the figure is then simply drawn)."""
    h = hashlib.sha256()
    try:
        h.update(json.dumps(_described(draw)).encode())
        for value in args:
            _digest(h, value)
    except (TypeError, ValueError, KeyError):
        return None
    h.update(_environment())
    return h.hexdigest()


def _described(draw) -> list:
    if isinstance(draw, functools.partial):
        args = [_described(a) if callable(a) else _plain(a) for a in draw.args]
        return ["partial", _described(draw.func), args, sorted((k, _plain(v)) for k, v in draw.keywords.items())]
    module, name = getattr(draw, "__module__", None), getattr(draw, "__qualname__", None)
    if not module or not name or "<" in name:  # a lambda or a local function: no stable name
        raise TypeError(f"cannot name {draw!r}")
    return [module, name, _source_digest(module)]


def _plain(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(type(value).__name__)


def _digest(h, value) -> None:
    """Feed ``value`` (None, a number, text, a frame, or a tuple or list of them) to ``h``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.DataFrame):
        h.update(json.dumps(["frame", [[str(c), str(t)] for c, t in value.dtypes.items()], len(value)]).encode())
        h.update(pd.util.hash_pandas_object(value, index=False).to_numpy().tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(json.dumps(["sequence", len(value)]).encode())
        for v in value:
            _digest(h, v)
    else:
        h.update(json.dumps(["value", type(value).__name__, _plain(value)]).encode())


@functools.cache
def _source_digest(module: str) -> str:
    return file_sha256(sys.modules[module].__file__)


def _environment() -> bytes:
    return json.dumps(
        {
            "figures": _source_digest(__name__),
            "libraries": [matplotlib.__version__, np.__version__, pd.__version__, PIL.__version__],
            "rc": sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()),
            "codecs": sorted((n, e.label, e.color) for n, e in ENCODERS.items()),
            "metrics": [repr(m) for m in METRIC_INFO],
        }
    ).encode()


def from_cache(cache, key: str, out_dir) -> pathlib.Path | None:
    """Write the figure stored under ``key`` (``to_cache``) into ``out_dir``: its PNG's path, or
    None (not stored, or an entry that is not a figure's)."""
    entry = cache.get(CACHE_KIND, key)
    if entry is None:
        return None
    name, size = entry.meta.get("name"), entry.meta.get("png_bytes")
    if not isinstance(name, str) or pathlib.Path(name).name != name or not isinstance(size, int):
        return None
    if not 0 < size < len(entry.data):
        return None
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    png.write_bytes(entry.data[:size])
    png.with_suffix(".svg").write_bytes(entry.data[size:])
    return png


def to_cache(cache, key: str, png: pathlib.Path) -> None:
    """Store a drawn figure (its PNG and the SVG beside it) under ``key``."""
    png = pathlib.Path(png)
    data = png.read_bytes()
    cache.put(CACHE_KIND, key, data + png.with_suffix(".svg").read_bytes(), {"name": png.stem, "png_bytes": len(data)})
