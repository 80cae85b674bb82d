"""Seaborn figures of the report, one function each, PNG + SVG, one color per codec."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

#: The same color for a codec in every figure (the Rennes figures' JPEG green, JPEG 2000
#: violet, BPG orange).
CODEC_COLORS = {
    "jpeg": "#2ca02c",
    "jpeg2000": "#9467bd",
    "hevc": "#ff7f0e",
    "webp": "#1f77b4",
    "avif": "#d62728",
    "jpegxl": "#8c564b",
}
CODEC_LABELS = {
    "jpeg": "JPEG",
    "jpeg2000": "JPEG 2000",
    "hevc": "HEVC (BPG)",
    "webp": "WebP",
    "avif": "AVIF",
    "jpegxl": "JPEG XL",
}


def _palette(encoders):
    return {e: CODEC_COLORS.get(e, "#7f7f7f") for e in encoders}


def _save(fig, out_dir: pathlib.Path, name: str) -> pathlib.Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out_dir / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return png


def _legend_labels(ax):
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [CODEC_LABELS.get(lbl, lbl) for lbl in labels], title="codec", fontsize=8)


def rate_accuracy(curves, out_dir) -> pathlib.Path:
    """Top-1 agreement vs bits per pixel, every codec at full scale in RGB (ICIP 2020 style)."""
    d = curves[(curves.scale == 1) & (curves.color == "rgb")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(
        d,
        x="bpp_mean",
        y="top1_agreement",
        hue="encoder",
        palette=_palette(d.encoder.unique()),
        marker="o",
        ax=ax,
        errorbar=None,
        estimator=None,
        sort=True,
    )
    ax.set(
        xscale="log",
        xlabel="bits per pixel (log scale)",
        ylabel="top-1 agreement with the original",
        title="Rate–accuracy, scale 1, RGB",
        ylim=(-0.02, 1.02),
    )
    _legend_labels(ax)
    return _save(fig, pathlib.Path(out_dir), "rate_accuracy")


def accuracy_curves(curves, out_dir) -> pathlib.Path:
    """Top-1 agreement vs the grid position of the quality parameter, per codec and scale."""
    d = curves.assign(scale_label=curves.scale.map(lambda s: f"1/{round(1 / s)}" if s < 1 else "1"))
    g = sns.relplot(
        d,
        x="param_index",
        y="top1_agreement",
        hue="encoder",
        style="color",
        col="scale_label",
        kind="line",
        marker="o",
        palette=_palette(d.encoder.unique()),
        height=3.2,
        aspect=0.9,
        errorbar=None,
        facet_kws={"sharey": True},
    )
    g.set_axis_labels("quality parameter (grid position, more compressed → less)", "top-1 agreement")
    g.set_titles("scale {col_name}")
    return _save(g.figure, pathlib.Path(out_dir), "accuracy_curves")


def compression_vs_rank(param_table, out_dir) -> pathlib.Path:
    """Mean rank difference vs mean compression ratio per parameter set (Tables 4-6 as a plot)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.scatterplot(
        param_table,
        x="cr_raw_mean",
        y="rank_diff_mean",
        hue="encoder",
        style="color",
        palette=_palette(param_table.encoder.unique()),
        ax=ax,
        s=30,
    )
    ax.axhline(-1, color="grey", lw=0.8, ls="--")
    ax.set(
        xscale="log",
        xlabel="mean compression ratio vs raw 24-bit pixels (log scale)",
        ylabel="mean rank difference (negative: worse)",
        title="Compression vs classification, per parameter set",
    )
    ax.set_yscale("symlog", linthresh=1)
    return _save(fig, pathlib.Path(out_dir), "compression_vs_rank")


def metric_scatter(points, out_dir) -> pathlib.Path:
    """Every quality metric against the rank difference, one panel each, colored by codec."""
    metrics = [m for m in ("psnr", "ssim", "ms_ssim", "lpips", "dfd") if points[m].notna().any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.4), sharey=True, squeeze=False)
    units = {"psnr": "PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "lpips": "LPIPS", "dfd": "dfd"}
    for ax, m in zip(axes[0], metrics):
        sns.scatterplot(
            points,
            x=m,
            y="rank_diff",
            hue="encoder",
            palette=_palette(points.encoder.unique()),
            s=8,
            alpha=0.5,
            linewidth=0,
            ax=ax,
            legend=ax is axes[0][-1],
        )
        ax.set(xlabel=units[m], ylabel="rank difference")
        ax.set_yscale("symlog", linthresh=1)
    _legend_labels(axes[0][-1])
    fig.suptitle("Which metric tracks the classifier? (each dot a variant)")
    return _save(fig, pathlib.Path(out_dir), "metric_scatter")


def ssim_thresholds(points, thresholds, out_dir) -> pathlib.Path:
    """SSIM vs rank difference per image, with each image's threshold (Rennes Fig. 6)."""
    images = sorted(points.image_id.unique())[:8]
    d = points[points.image_id.isin(images)]
    g = sns.relplot(
        d,
        x="ssim",
        y="rank_diff",
        hue="encoder",
        col="image_id",
        col_wrap=4,
        height=2.6,
        palette=_palette(d.encoder.unique()),
        s=12,
        alpha=0.6,
        linewidth=0,
    )
    t = thresholds[(thresholds.metric == "ssim")].set_index("image_id").threshold
    for image_id, ax in g.axes_dict.items():
        if image_id in t.index:
            ax.axvline(t[image_id], color="black", lw=0.8, ls="--")
        ax.set_yscale("symlog", linthresh=1)
    g.set_axis_labels("SSIM", "rank difference")
    g.set_titles("{col_name}")
    return _save(g.figure, pathlib.Path(out_dir), "ssim_thresholds")


def overfitting(points, image_id, out_dir) -> pathlib.Path:
    """Rank difference vs compression ratio for one image whose rank improves (Rennes Fig. 7)."""
    d = points[points.image_id == image_id]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(d, x="rank_diff", y="cr_raw", hue="encoder", palette=_palette(d.encoder.unique()), ax=ax, s=18)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set(
        yscale="log",
        xlabel="rank difference (positive: compression helped)",
        ylabel="compression ratio vs raw (log scale)",
        title=f"Rank improvements under compression: {image_id}",
    )
    ax.set_xscale("symlog", linthresh=1)
    _legend_labels(ax)
    return _save(fig, pathlib.Path(out_dir), "overfitting")
