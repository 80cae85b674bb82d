"""The summary's comparisons, read from the finished tables: codec against codec and model
against model from the same resamples (codec_pairs, bd_rate_pairs, model_dependence), what
changes between the two rate bases (headline_bases), and the replication's verdicts
(replication). ``prose.answer`` places them."""

from __future__ import annotations

import math

import pandas as pd

from .figures import codec_label
from .numbers import fmt
from .tables.pairs import oriented

#: A paired comparison is decided for one side when it is ahead in at least this share of resamples.
DECIDED = 0.95
#: The criteria of codec_pairs whose changes between the bases the summary states.
COMPARED = ("study rule", "robust rule", "accuracy −1 pt", "agreement −1 pt")
#: How the summary names the replication's statistics.
STATISTICS = {
    "rank_diff_mean": "rank-difference mean",
    "rank_diff_median": "rank-difference median",
    "rank_diff_std": "rank-difference std dev",
    "cr_mean": "compression-ratio mean",
    "cr_median": "compression-ratio median",
    "cr_std": "compression-ratio std dev",
    "rank_mean": "true-class rank mean",
    "rank_median": "true-class rank median",
    "rank_std": "true-class rank std dev",
}
BASIS_WORDS = {"bytes": "the whole file", "payload_bytes": "the codec's own bits"}


def pct(p) -> str:
    """A share of resamples as the summary prints it: '97%', '99.9%' (not 100% unless all)."""
    if p is None or not math.isfinite(p):
        return "—"
    text = f"{100 * p:.0f}"
    if text in ("0", "100") and 0 < p < 1:
        text = f"{100 * p:.1f}"
    return text + "%"


def _rows(tables, name: str, **where) -> pd.DataFrame:
    t = tables.get(name)
    if t is None or not len(t):
        return pd.DataFrame()
    for k, v in where.items():
        t = t[t[k] == v]
    return t


def pair_lines(tables, dataset: str, model: str, codecs: int) -> list[str]:
    """The codecs compared pair by pair, from the same resamples: the study rule's headline ratio
    and the BD-rate's sign at equal top-1 agreement (scale 1, RGB), on the whole file."""
    pairs = _rows(tables, "codec_pairs", dataset=dataset, model=model, basis="bytes", criterion="study rule")
    if not len(pairs):
        if codecs < 2:
            return []
        return ["", "Paired codec comparisons need at least 5 images (the codec_pairs table is left out)."]
    parts = []
    for _, row in pairs.iterrows():
        first, second, p, r, lo, hi = oriented(row)
        if r is not None and math.isfinite(r):
            parts.append(
                f"{codec_label(first)} keeps the classifier at higher compression than {codec_label(second)} in "
                f"{pct(p)} of resamples ({_ties(row)}ratio {fmt(r, lo, hi, '×')})"
            )
    lines = ["", "Paired, from the same resamples (the study's rule, the whole file): " + "; ".join(parts) + "."]
    bd = _rows(tables, "bd_rate_pairs", dataset=dataset, model=model, basis="bytes", at_equal="top-1 agreement")
    bd = bd[bd.scale == 1.0] if len(bd) else bd
    parts = [_bd_part(row) for _, row in bd.iterrows()]
    parts = [p for p in parts if p]
    if parts:
        lines += ["", "At equal top-1 agreement (BD-rate, scale 1, RGB): " + "; ".join(parts) + "."]
    return lines


def _ties(row) -> str:
    """'ties in 40%; ' where both sides are equal in some resamples (the same setting chosen)."""
    a, b = row["p_a_higher"], row["p_b_higher"]
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or a + b > 0.995:
        return ""
    return f"ties in {pct(round(1 - a - b, 3))}; "


def bd_oriented(row) -> tuple[str, str, float, float, float, float] | None:
    """(fewer bits, more bits, P(first needs fewer), its bitrate change against the second, lo, hi)
    of a bd_rate_pairs row; None where undefined."""
    x, lo, hi = row["bitrate_change"], row["bitrate_change_lo"], row["bitrate_change_hi"]
    if x is None or not math.isfinite(x):
        return None
    if x <= 0:
        return row["a"], row["b"], row["p_a_fewer_bits"], x, lo, hi
    p = row["p_a_fewer_bits"]
    flip = [None if v is None or not math.isfinite(v) else 1 / (1 + v) - 1 for v in (x, hi, lo)]
    return row["b"], row["a"], None if p is None else round(1 - p, 3), *flip


def _bd_part(row) -> str | None:
    o = bd_oriented(row)
    if o is None:
        return None
    first, second, p, x, lo, hi = o
    return (
        f"{codec_label(first)} needs fewer bits than {codec_label(second)} in {pct(p)} of resamples "
        f"({fmt(x, lo, hi, pct=True, sign='+')})"
    )


def basis_lines(tables, dataset: str, model: str) -> list[str]:
    """What the whole file counts beyond the codec's bits, the study rule on both bases, and
    which paired comparisons change between the bases."""
    hb = _rows(tables, "headline_bases", dataset=dataset, model=model)
    if not len(hb):
        return []
    whole, own = hb[hb.basis == "bytes"], hb[hb.basis == "payload_bytes"].set_index("encoder")
    overhead = "; ".join(
        f"{codec_label(r.encoder)} {r.overhead_min:.0f}–{r.overhead_max:.0f} bytes a file "
        f"({100 * r.overhead_share:.0f}% of the median file)"
        for r in whole.itertuples()
    )
    rule = "; ".join(
        f"{codec_label(r.encoder)} {fmt(own.loc[r.encoder].study_rule, own.loc[r.encoder].study_rule_lo, own.loc[r.encoder].study_rule_hi, '×')} "
        f"(whole file {fmt(r.study_rule, r.study_rule_lo, r.study_rule_hi, '×')})"
        for r in whole.itertuples()
        if r.encoder in own.index
    )
    lines = [
        "",
        "Two rate bases: beyond the codec's own bits (`payload_bytes`), the whole file (`bytes`, every other "
        f"table's rate) counts container, headers and markers: {overhead}. By the study's rule on the codec's own "
        f"bits: {rule}.",
    ]
    return lines + _change_lines(tables, dataset, model)


def _change_lines(tables, dataset: str, model: str) -> list[str]:
    changes = []
    pairs = _rows(tables, "codec_pairs", dataset=dataset, model=model)
    for (criterion, _a, _b), d in pairs.groupby(["criterion", "a", "b"], sort=False) if len(pairs) else []:
        if criterion not in COMPARED or set(d.basis) != {"bytes", "payload_bytes"}:
            continue
        found = {row["basis"]: oriented(row) for _, row in d.iterrows()}
        changes += _changed(criterion, found, "×")
    bd = _rows(tables, "bd_rate_pairs", dataset=dataset, model=model)
    bd = bd[bd.scale == 1.0] if len(bd) else bd
    for (measure, _a, _b), d in bd.groupby(["at_equal", "a", "b"], sort=False) if len(bd) else []:
        found = {row["basis"]: bd_oriented(row) for _, row in d.iterrows()}
        if set(found) == {"bytes", "payload_bytes"} and None not in found.values():
            changes += _changed(f"BD-rate at equal {measure} (scale 1, RGB)", found, "")
    if not len(pairs):
        return []
    if not changes:
        return [
            "",
            "No paired codec comparison changes between the two bases (the leader on the sample, and whether it "
            f"leads in ≥ {pct(DECIDED)} of resamples; criteria {', '.join(COMPARED)} and the BD-rates at scale 1).",
        ]
    return [
        "",
        "Paired codec comparisons that change between the two bases (the leader on the sample; decided: "
        f"ahead in ≥ {pct(DECIDED)} of resamples): " + "; ".join(changes) + ".",
    ]


def _changed(what: str, found: dict, unit: str) -> list[str]:
    """The comparison on both bases in words when its leader or decidedness differs, else nothing."""
    (w1, _, p1, *_), (w2, _, p2, *_) = found["bytes"], found["payload_bytes"]
    if w1 == w2 and (p1 is not None and p1 >= DECIDED) == (p2 is not None and p2 >= DECIDED):
        return []
    words = []
    for basis in ("bytes", "payload_bytes"):
        first, second, p, x, lo, hi = found[basis]
        number = fmt(x, lo, hi, "×") if unit else fmt(x, lo, hi, pct=True, sign="+")
        decided = "decided" if p is not None and p >= DECIDED else "undecided"
        words.append(
            f"on {BASIS_WORDS[basis]}, {codec_label(first)} ahead of {codec_label(second)} in {pct(p)} of "
            f"resamples ({number}; {decided})"
        )
    return [f"{what}: " + ", ".join(words)]


def replication_lines(tables, dataset: str, model: str, n: int) -> list[str]:
    """How many of the study's numbers the run reproduces, what differs, the largest departures."""
    t = _rows(tables, "replication", dataset=dataset, model=model)
    if not len(t):
        return []
    counts = t.verdict.value_counts()
    judged = t[t.verdict.isin(["inside", "above", "below"])]
    ratios = judged[judged.statistic.str.startswith("cr_")]
    worst = judged.sort_values(["departure", "study_table", "setting"], ascending=[False, True, True]).head(3)
    named = "; ".join(_departure(r) for r in worst.itertuples() if r.departure and r.departure > 0)
    other = ", ".join(f"{counts[v]} {v}" for v in ("not run", "partial grid") if v in counts)
    return [
        "",
        f"Replication of the study's Tables 4–7 (the replication table): {counts.get('inside', 0)} of the study's "
        f"{len(t)} numbers lie inside our 95% intervals, {counts.get('above', 0)} above and "
        f"{counts.get('below', 0)} below" + (f" ({other})" if other else "") + ". This run is not the study's "
        f"set-up: {model} on {n} images of {dataset} (the study: Caffe's AlexNet, bvlc_alexnet, on 55 ILSVRC2012 "
        "validation images), so a verdict compares numbers, not set-ups. Compression ratios count against the "
        "source files, whose format sets their scale (the study's: ILSVRC JPEGs), on the basis closest to the "
        f"study's files: {_bases_used(t)}; "
        f"{(ratios.verdict == 'below').sum()} of the study's {len(ratios)} judged ratios lie below ours, "
        f"{(ratios.verdict == 'above').sum()} above. Largest departures: {named or 'none'}.",
    ]


def _bases_used(t: pd.DataFrame) -> str:
    hevc = set(t[t.encoder == "hevc"].basis.dropna())
    text = "the whole file for JPEG and JPEG 2000 (JFIF files and J2K codestreams, as the study's)"
    if "payload_bytes" in hevc:
        return (
            text
            + ", the codec's own bits for HEVC (a BPG file adds a few tens of bytes to them, our HEIF file hundreds)"
        )
    return text + ", and for HEVC too (no payload sizes: its HEIF container counts, hundreds of bytes a BPG file lacks)"


def _departure(r) -> str:
    table = {4: "JPEG", 5: "JPEG 2000", 6: "BPG"}.get(r.study_table, "")
    where = f"Table {r.study_table} {table} {r.setting}".replace("  ", " ")
    text = f"{where} {STATISTICS.get(r.statistic, r.statistic)}: study {r.study:g}, ours {fmt(r.ours, r.ours_lo, r.ours_hi)}"
    return text + (" (a misprint, probably: see the table's note)" if isinstance(r.note, str) and r.note else "")


def model_lines(tables, dataset: str) -> list[str]:
    """The models compared per codec by the study's rule, from the same resamples."""
    t = _rows(tables, "model_dependence", dataset=dataset, criterion="study rule")
    parts = []
    for _, row in t.iterrows():
        first, second, p, r, lo, hi = oriented(row)
        if r is None or not math.isfinite(r):
            continue
        parts.append(
            f"with {codec_label(row.encoder)}, {first} tolerates more compression than {second} in {pct(p)} of "
            f"resamples ({_ties(row)}ratio {fmt(r, lo, hi, '×')})"
        )
    if not parts:
        return []
    return ["", f"Model dependence ({dataset}; the study's rule, the whole file): " + "; ".join(parts) + "."]
