# All Parquet tables -> DuckDB queries (reports/sql/) -> CSV + Markdown tables.
import pathlib



rule report:
    input:
        images=expand("results/images/{dataset}.parquet", dataset=DATASETS),
        variants=per_shard("results/variants/{dataset}/{encoder}/shard-{shard}.parquet", encoder=STUDY.encoders),
        originals=per_shard("results/predictions/{dataset}/{model}/original/shard-{shard}.parquet", model=STUDY.models),
        predictions=per_shard(
            "results/predictions/{dataset}/{model}/{encoder}/shard-{shard}.parquet",
            model=STUDY.models,
            encoder=STUDY.encoders,
        ),
        metrics=per_shard("results/metrics/{dataset}/{encoder}/shard-{shard}.parquet", encoder=STUDY.encoders),
        sql=sorted(str(p) for p in pathlib.Path("reports/sql").glob("*.sql")),
    output:
        summary=report("reports/summary.md", category="Summary"),
        tables=directory("reports/tables"),
        rejected="reports/rejected.csv",
    params:
        results="results",
    conda:
        "../envs/codecsweep.yaml"
    log:
        "logs/report.log",
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/report.py"
