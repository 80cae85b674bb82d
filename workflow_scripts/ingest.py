"""Validate, hash and label every image of one shard of a dataset; list the rejected ones."""

import sys

sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
import csv
import logging

from codecsweep.core import schemas
from codecsweep.pipeline import setup_logging
from codecsweep.storage import records
from codecsweep.study.datasets import ingest

setup_logging(snakemake.log[0])
log = logging.getLogger("codecsweep")
name = snakemake.wildcards.dataset
rows = ingest(name, snakemake.params.spec, snakemake.params.limits, shard=int(snakemake.wildcards.shard))
rejected = [r for r in rows if r["status"] != "ok"]
with open(snakemake.output.rejected, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["dataset", "image_id", "source_path", "reason"])
    writer.writerows([r["dataset"], r["image_id"], r["source_path"], r["error"]] for r in rejected)
log.info("%s: %d images, %d usable, %d rejected", name, len(rows), len(rows) - len(rejected), len(rejected))
if rejected:
    log.warning("REJECTED %d image(s) of %s, listed in %s", len(rejected), name, snakemake.output.rejected)
    if snakemake.params.on_bad_image == "fail":
        message = (
            f"on_bad_image=fail: {len(rejected)} bad image(s), first: "
            f"{rejected[0]['source_path']}: {rejected[0]['error']}"
        )
        log.error(message)
        raise SystemExit(message)
records.write(rows, schemas.IMAGES, snakemake.output.images)
