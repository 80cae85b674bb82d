# jpeg_mo's inputs: the calibration split of a dataset, and the classifier's DCT sensitivity map
# on its calibration images (codecsweep/sensitivity.py). Built only when jpeg_mo is an encoder.
rule calibration_split:
    input:
        images=all_shards(STUDY.out("results/images/{dataset}/shard-{shard}.parquet")),
    output:
        split=STUDY.out("results/splits/{dataset}.parquet"),
    log:
        STUDY.out("logs/calibration_split/{dataset}.log"),
    benchmark:
        STUDY.out("results/benchmarks/calibration_split/{dataset}.tsv")
    conda:
        "../envs/codecsweep.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        buckets=SENSITIVITY["calibration_buckets"],
    script:
        "../workflow_scripts/sensitivity.py"


rule sensitivity:
    input:
        images=all_shards(STUDY.out("results/images/{dataset}/shard-{shard}.parquet")),
        split=STUDY.out("results/splits/{dataset}.parquet"),
    output:
        map=STUDY.out("results/sensitivity/{dataset}/{sens_model}.json"),
    log:
        STUDY.out("logs/sensitivity/{dataset}/{sens_model}.log"),
    benchmark:
        STUDY.out("results/benchmarks/sensitivity/{dataset}/{sens_model}.tsv")
    wildcard_constraints:
        sens_model=SENSITIVITY_MODEL,
    conda:
        "../envs/codecsweep.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1,
    params:
        cache_dir=STUDY.cache_dir,
        max_images=SENSITIVITY["max_images"],
        limits=STUDY.limits,
    script:
        "../workflow_scripts/sensitivity.py"
