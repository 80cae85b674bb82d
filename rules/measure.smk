# Variants of one shard and encoder -> quality metrics against their sources.


rule measure:
    input:
        images="results/images/{dataset}.parquet",
        variants="results/variants/{dataset}/{encoder}/shard-{shard}.parquet",
    output:
        metrics="results/metrics/{dataset}/{encoder}/shard-{shard}.parquet",
        stats="results/runstats/measure/{dataset}/{encoder}/shard-{shard}.parquet",
    log:
        "logs/measure/{dataset}/{encoder}/shard-{shard}.log",
    conda:
        "../envs/codecsweep.yaml"
    threads: 1
    resources:
        mem_mb=shard_mem_mb("measure"),
        runtime=240,
    params:
        cache_dir=STUDY.cache_dir,
        dfd_model=config["metrics"]["dfd_model"],
        lpips_net=config["metrics"]["lpips_net"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/measure.py"
