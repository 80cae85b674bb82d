# Originals and variants -> predictions of every model, and the variants' quality metrics.
# One job per (shard, encoder) does all of it in one pass per variant: decode once, classify
# with every model (the dfd features come from the same forward pass), measure against the
# source. Jobs ask for one GPU (`gpu=1`) so a cluster profile can place them on GPU nodes.
# On a CPU machine a job has one thread (more single-threaded jobs side by side beat fewer
# wide ones); with CUDA, gpu.jobs_per_device jobs per GPU share the cores (NETWORK_THREADS,
# rules/common.smk): the threads decode the next batch while the GPU computes the current one.
# `runtime` (config): auto runs the models in ONNX Runtime on a CPU, in PyTorch with CUDA.


rule classify_originals:
    input:
        images=STUDY.out("results/images/{dataset}/shard-{shard}.parquet"),
    output:
        predictions=expand(
            STUDY.out("results/predictions/{{dataset}}/{model}/original/shard-{{shard}}.parquet"), model=STUDY.models
        ),
        stats=STUDY.out("results/runstats/classify/{dataset}/original/shard-{shard}.parquet"),
    log:
        STUDY.out("logs/classify/{dataset}/original/shard-{shard}.log"),
    benchmark:
        STUDY.out("results/benchmarks/classify/{dataset}/original/shard-{shard}.tsv")
    priority: shard_priority("classify")
    conda:
        "../envs/codecsweep.yaml"
    threads: NETWORK_THREADS
    resources:
        mem_mb=shard_mem_mb("classify"),
        runtime=60,
        gpu=1,
    params:
        cache_dir=STUDY.cache_dir,
        models=STUDY.models,
        batch_size=config["batch_size"],
        runtime=config["runtime"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/classify_originals.py"


rule analyze:
    input:
        unpack(encoder_inputs),  # to encode a damaged artifact again, as the encode job did
        images=STUDY.out("results/images/{dataset}/shard-{shard}.parquet"),
        variants=STUDY.out("results/variants/{dataset}/{encoder}/shard-{shard}.parquet"),
        originals=rules.classify_originals.output.predictions,
    output:
        predictions=expand(
            STUDY.out("results/predictions/{{dataset}}/{model}/{{encoder}}/shard-{{shard}}.parquet"),
            model=STUDY.models,
        ),
        metrics=STUDY.out("results/metrics/{dataset}/{encoder}/shard-{shard}.parquet"),
        stats=STUDY.out("results/runstats/analyze/{dataset}/{encoder}/shard-{shard}.parquet"),
    log:
        STUDY.out("logs/analyze/{dataset}/{encoder}/shard-{shard}.log"),
    benchmark:
        STUDY.out("results/benchmarks/analyze/{dataset}/{encoder}/shard-{shard}.tsv")
    priority: shard_priority("analyze")
    conda:
        "../envs/codecsweep.yaml"
    threads: NETWORK_THREADS
    resources:
        mem_mb=shard_mem_mb("analyze"),
        runtime=240,
        gpu=1,
    params:
        cache_dir=STUDY.cache_dir,
        models=STUDY.models,
        batch_size=config["batch_size"],
        runtime=config["runtime"],
        jobs_per_device=config["gpu"]["jobs_per_device"],
        metric_options=config["metrics"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/analyze.py"
