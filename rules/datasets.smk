# Raw images -> the images table, one file per shard (results/images/<dataset>/shard-N.parquet).


rule materialize_default:
    output:
        DEFAULT_FILES,
    log:
        STUDY.out("logs/materialize_default.log"),
    benchmark:
        STUDY.out("results/benchmarks/materialize_default.tsv")
    conda:
        "../envs/codecsweep.yaml"
    resources:
        mem_mb=200,
        runtime=5,
    script:
        "../workflow_scripts/materialize_default.py"


rule ingest:
    input:
        dataset_inputs,
    output:
        images=STUDY.out("results/images/{dataset}/shard-{shard}.parquet"),
        rejected=STUDY.out("results/rejected/{dataset}/shard-{shard}.csv"),
    log:
        STUDY.out("logs/ingest/{dataset}/shard-{shard}.log"),
    benchmark:
        STUDY.out("results/benchmarks/ingest/{dataset}/shard-{shard}.tsv")
    conda:
        "../envs/codecsweep.yaml"
    resources:
        mem_mb=ingest_mem_mb,
        runtime=60,
    params:
        spec=lambda w: STUDY.datasets[w.dataset],
        limits=STUDY.limits,
        on_bad_image=config["on_bad_image"],
    script:
        "../workflow_scripts/ingest.py"
