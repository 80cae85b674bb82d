"""Run the report queries (reports/sql/) over this run's Parquet files; fits, figures, HTML.

Everything happens under ``__main__``: the figure workers are spawned processes, which run
this file again (as ``__mp_main__``, without Snakemake's ``snakemake`` object)."""

import pathlib
import sys


def main(snakemake) -> None:
    sys.path.insert(0, snakemake.scriptdir + "/..")  # the package, also inside --sdm conda envs
    from codecsweep.pipeline import setup_logging
    from codecsweep.report.build import build_report

    setup_logging(snakemake.log[0])
    build_report(
        {t: list(snakemake.input[t]) for t in ("images", "variants", "originals", "predictions", "metrics", "splits")},
        sql_files=list(snakemake.input.sql),
        out_dir=pathlib.Path(snakemake.output.summary).parent,  # reports/, or runs/<run>/reports/
        summary=snakemake.output.summary,
        index_html=snakemake.output.index,
        rejected=snakemake.output.rejected,
        figure_workers=snakemake.threads - 1,  # figures drawn beside the tables
        cache_dir=snakemake.params.cache_dir,  # the gallery's images (reports/gallery.html)
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (defined by Snakemake's preamble)
