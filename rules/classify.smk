# Originals and variants -> predictions of each model. Jobs ask for one GPU (`gpu=1`) so a
# cluster profile can place them on GPU nodes; locally the resource is not limited, and a
# job uses CUDA when torch sees it, else the CPU with the job's threads.


rule classify_originals:
    input:
        images="results/images/{dataset}.parquet",
    output:
        predictions="results/predictions/{dataset}/{model}/original/shard-{shard}.parquet",
        stats="results/runstats/classify/{dataset}/{model}/original/shard-{shard}.parquet",
    log:
        "logs/classify/{dataset}/{model}/original/shard-{shard}.log",
    conda:
        "../envs/codecsweep.yaml"
    threads: 2
    resources:
        mem_mb=shard_mem_mb("classify"),
        runtime=60,
        gpu=1,
    params:
        cache_dir=STUDY.cache_dir,
        batch_size=config["batch_size"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/classify.py"


rule classify_variants:
    input:
        images="results/images/{dataset}.parquet",
        variants="results/variants/{dataset}/{encoder}/shard-{shard}.parquet",
        originals="results/predictions/{dataset}/{model}/original/shard-{shard}.parquet",
    output:
        predictions="results/predictions/{dataset}/{model}/{encoder}/shard-{shard}.parquet",
        stats="results/runstats/classify/{dataset}/{model}/{encoder}/shard-{shard}.parquet",
    log:
        "logs/classify/{dataset}/{model}/{encoder}/shard-{shard}.log",
    conda:
        "../envs/codecsweep.yaml"
    threads: 2
    resources:
        mem_mb=shard_mem_mb("classify"),
        runtime=240,
        gpu=1,
    params:
        cache_dir=STUDY.cache_dir,
        batch_size=config["batch_size"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/classify.py"
