# Raw images -> the images table (results/images/<dataset>.parquet).
import pathlib

from codecsweep.datasets import DEFAULT_SOURCES, IMAGE_SUFFIXES

DEFAULT_ROOT = "data/default"


def dataset_inputs(wildcards):
    """What ingest depends on: the sample sheet / ground truth and the image files, so that
    adding an image reruns ingest (the cache then keeps the rest of the rerun cheap)."""
    spec = STUDY.datasets[wildcards.dataset]
    root = pathlib.Path(spec["root"])
    if spec["kind"] in ("folder", "imagefolder"):
        return sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    files = [spec.get("sheet") or spec["ground_truth"]]
    if spec["root"] == DEFAULT_ROOT:  # made by materialize_default
        files += [f"{DEFAULT_ROOT}/{name}{pathlib.Path(rel).suffix}" for name, (_, rel) in DEFAULT_SOURCES.items()]
    return files


rule materialize_default:
    output:
        [f"{DEFAULT_ROOT}/{name}{pathlib.Path(rel).suffix}" for name, (_, rel) in DEFAULT_SOURCES.items()],
    conda:
        "../envs/codecsweep.yaml"
    log:
        "logs/materialize_default.log",
    resources:
        mem_mb=200,
        runtime=5,
    script:
        "../workflow_scripts/materialize_default.py"


rule ingest:
    input:
        dataset_inputs,
    output:
        images="results/images/{dataset}.parquet",
        rejected="results/rejected/{dataset}.csv",
    params:
        spec=lambda w: STUDY.datasets[w.dataset],
        limits=STUDY.limits,
        on_bad_image=config["on_bad_image"],
    conda:
        "../envs/codecsweep.yaml"
    log:
        "logs/ingest/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=60,
    script:
        "../workflow_scripts/ingest.py"
