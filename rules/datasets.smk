# Raw images -> the images table (results/images/<dataset>.parquet).

rule materialize_default:
    output:
        DEFAULT_FILES,
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
