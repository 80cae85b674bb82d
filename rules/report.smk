# All Parquet tables -> DuckDB queries (reports/sql/), fits, figures -> reports/.


rule report:
    input:
        images=per_shard("results/images/{dataset}/shard-{shard}.parquet"),
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
        index=report("reports/index.html", caption="../report/index.rst", category="Summary", labels={"page": "report"}),
        summary="reports/summary.md",
        tables=directory("reports/tables"),
        figures=report(
            directory("reports/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        rejected="reports/rejected.csv",
    log:
        "logs/report.log",
    conda:
        "../envs/codecsweep.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/report.py"
