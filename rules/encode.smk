# Images of one shard -> every grid variant of one encoder, bytes in the cache.


rule encode:
    input:
        unpack(encoder_inputs),  # what the encoder is built with (e.g. jpeg_mo: its sensitivity map)
        images=STUDY.out("results/images/{dataset}/shard-{shard}.parquet"),
    output:
        variants=STUDY.out("results/variants/{dataset}/{encoder}/shard-{shard}.parquet"),
        stats=STUDY.out("results/runstats/encode/{dataset}/{encoder}/shard-{shard}.parquet"),
    log:
        STUDY.out("logs/encode/{dataset}/{encoder}/shard-{shard}.log"),
    benchmark:
        STUDY.out("results/benchmarks/encode/{dataset}/{encoder}/shard-{shard}.tsv")
    priority: shard_priority("encode")
    conda:
        "../envs/codecsweep.yaml"
    threads: 1
    resources:
        mem_mb=shard_mem_mb("encode"),
        runtime=240,
    params:
        grid=lambda w: STUDY.encoder_grid(w.encoder),
        scales=STUDY.scales,
        colors=STUDY.colors,
        cache_dir=STUDY.cache_dir,
        limits=STUDY.limits,
    script:
        "../workflow_scripts/encode.py"
