"""The Parquet tables of the output contract: one schema per table.

Columns and units are documented in docs/columns.md; the metric columns come from the metric
table (``core.metric_table``), so adding a metric adds its column here.
"""

from __future__ import annotations

import pyarrow as pa

from .metric_table import METRIC_NAMES

IMAGES = pa.schema(
    [
        ("dataset", pa.string()),
        ("image_id", pa.string()),
        ("source_sha256", pa.string()),
        ("source_path", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("source_bytes", pa.int64()),
        ("label", pa.int32()),
        ("label_wnid", pa.string()),
        ("label_name", pa.string()),
        ("label_source", pa.string()),
        ("shard", pa.int32()),
        ("normalization", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

VARIANTS = pa.schema(
    [
        ("dataset", pa.string()),
        ("image_id", pa.string()),
        ("source_sha256", pa.string()),
        ("encoder", pa.string()),
        ("codec_version", pa.string()),
        ("scale", pa.float64()),
        ("color", pa.string()),
        ("param", pa.string()),
        ("param_index", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("artifact_sha256", pa.string()),
        ("bytes", pa.int64()),
        ("payload_bytes", pa.int64()),
        ("duplicate_of", pa.string()),
        ("bpp", pa.float64()),
        ("cr_raw", pa.float64()),
        ("cr_source", pa.float64()),
        ("encode_ms", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

PREDICTIONS = pa.schema(
    [
        ("dataset", pa.string()),
        ("image_id", pa.string()),
        ("model", pa.string()),
        ("runtime", pa.string()),
        ("encoder", pa.string()),
        ("scale", pa.float64()),
        ("color", pa.string()),
        ("param", pa.string()),
        ("artifact_sha256", pa.string()),
        ("label_source", pa.string()),
        ("true_class", pa.int32()),
        ("true_rank", pa.int32()),
        ("true_prob", pa.float64()),
        ("top1", pa.int32()),
        ("top1_prob", pa.float64()),
        ("top5", pa.list_(pa.int32())),
        ("original_rank", pa.int32()),
        ("rank_diff", pa.int32()),
        ("top1_agrees", pa.bool_()),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

METRICS = pa.schema(
    [
        ("dataset", pa.string()),
        ("image_id", pa.string()),
        ("encoder", pa.string()),
        ("scale", pa.float64()),
        ("color", pa.string()),
        ("param", pa.string()),
        ("artifact_sha256", pa.string()),
        ("source_sha256", pa.string()),
        *((name, pa.float64()) for name in METRIC_NAMES),
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

RUNSTATS = pa.schema(
    [
        ("stage", pa.string()),
        ("dataset", pa.string()),
        ("shard", pa.int32()),
        ("encoder", pa.string()),
        ("model", pa.string()),
        ("items", pa.int64()),
        ("computed", pa.int64()),
        ("served", pa.int64()),
        ("corrupt", pa.int64()),
        ("failed", pa.int64()),
        ("wall_s", pa.float64()),
    ]
)

#: ``results/splits/<dataset>.parquet``: which images calibrate jpeg_mo (the rest are held out).
SPLITS = pa.schema([("dataset", pa.string()), ("image_id", pa.string()), ("calibration", pa.bool_())])
