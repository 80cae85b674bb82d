# All Parquet tables -> DuckDB queries (reports/sql/), fits, figures -> reports/.


rule report:
    input:
        images=per_shard(STUDY.out("results/images/{dataset}/shard-{shard}.parquet")),
        variants=per_shard(
            STUDY.out("results/variants/{dataset}/{encoder}/shard-{shard}.parquet"), encoder=STUDY.encoders
        ),
        originals=per_shard(
            STUDY.out("results/predictions/{dataset}/{model}/original/shard-{shard}.parquet"), model=STUDY.models
        ),
        predictions=per_shard(
            STUDY.out("results/predictions/{dataset}/{model}/{encoder}/shard-{shard}.parquet"),
            model=STUDY.models,
            encoder=STUDY.encoders,
        ),
        metrics=per_shard(
            STUDY.out("results/metrics/{dataset}/{encoder}/shard-{shard}.parquet"), encoder=STUDY.encoders
        ),
        # an encoder tuned on calibration images: the report rests on the images it was not tuned on
        splits=(expand(STUDY.out("results/splits/{dataset}.parquet"), dataset=DATASETS) if STUDY.holds_out else []),
        sql=sorted(str(p) for p in pathlib.Path("reports/sql").glob("*.sql")),
    output:
        index=report(
            STUDY.out("reports/index.html"),
            caption="../report/index.rst",
            category="Summary",
            labels={"page": "report"},
        ),
        summary=STUDY.out("reports/summary.md"),
        tables=directory(STUDY.out("reports/tables")),
        figures=report(
            directory(STUDY.out("reports/figures")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        rejected=STUDY.out("reports/rejected.csv"),
        gallery=STUDY.out("reports/gallery.html"),
        thumbnails=directory(STUDY.out("reports/gallery")),
    log:
        STUDY.out("logs/report.log"),
    benchmark:
        STUDY.out("results/benchmarks/report.tsv")
    conda:
        "../envs/codecsweep.yaml"
    threads: 2  # one process draws the figures while the other computes the tables
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cache_dir=STUDY.cache_dir,  # the variants' files (the gallery); figures and thumbnails of earlier reports
    script:
        "../workflow_scripts/report.py"
