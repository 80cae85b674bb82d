"""The `codecsweep` command on real data: subprocesses of `python -m codecsweep` (the same `main` as the
console script), real Parquet files, a real cache, real Snakemake (a dry run; one real run marked slow)."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import tomllib

import duckdb
import pandas as pd
import pytest
import yaml

from codecsweep import cli
from codecsweep.pipeline import JobStats, Progress
from tests.workflow import tiny_photo

REPO = pathlib.Path(__file__).resolve().parent.parent


def codecsweep(*args, cwd=REPO, env=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "codecsweep", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"codecsweep {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture
def two_images(tmp_path) -> pathlib.Path:
    """A folder of 2 small real photographs (160 px wide), outside any project."""
    folder = tmp_path / "my photos"
    folder.mkdir()
    for name in ("chelsea", "coffee"):
        im = tiny_photo(name)
        im.resize((160, round(im.height * 160 / im.width))).save(folder / f"{name}.png")
    return folder


# -- entry point, --version ---------------------------------------------------------------------


def test_console_script_and_python_m_are_the_same_command():
    """The installed console script and ``python -m codecsweep`` answer alike, usage errors included."""
    script = pathlib.Path(sys.executable).with_name("codecsweep")
    assert script.is_file(), "the console script is declared in pyproject.toml and installed with the package"
    for args in (["--version"], ["list", "grids"], ["list", "nothing"]):
        via_script = subprocess.run([str(script), *args], cwd=REPO, capture_output=True, text=True)
        via_module = codecsweep(*args, check=False)
        assert (via_script.returncode, via_script.stdout) == (via_module.returncode, via_module.stdout), args
        assert via_script.stderr.replace("codecsweep", "") == via_module.stderr.replace("codecsweep", "")
    assert codecsweep("list", "nothing", check=False).returncode == 2


def test_version_is_the_packages():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    out = codecsweep("--version").stdout
    assert out.startswith(f"codecsweep {version} ")


# -- list ----------------------------------------------------------------------------------------


def test_list_encoders_gives_each_codec_library_version_and_its_grids():
    from codecsweep.codecs import ENCODERS, get_encoder

    lines = codecsweep("list", "encoders").stdout.splitlines()
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == set(ENCODERS)
    for name in ENCODERS:
        if name.startswith("cai_"):  # learned codecs: weights absent here, the listing says what is missing
            assert "unavailable: weights missing" in rows[name]
            continue
        assert get_encoder(name).version() in rows[name]
    assert "rennes2017 (18), smoke (3)" in rows["jpeg"] and "modern (18), smoke (3)" in rows["webp"]
    assert rows["jpeg"].rstrip().endswith("yes") and not rows["webp"].rstrip().endswith("yes")  # config defaults


def test_list_models_says_where_weights_are_looked_for(tmp_path):
    torch_home = tmp_path / "torch"
    out = codecsweep("list", "models", env={"TORCH_HOME": str(torch_home)}).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in ("alexnet", "resnet50")}
    assert "MISSING" in rows["alexnet"] and str(torch_home / "hub/checkpoints/alexnet-owt-7be5be79.pth") in out
    assert "lpips column will be null" in out
    # A file where it is looked for is reported present (and LPIPS then has its backbone).
    (torch_home / "hub/checkpoints").mkdir(parents=True)
    (torch_home / "hub/checkpoints/alexnet-owt-7be5be79.pth").write_bytes(b"x")
    out = codecsweep("list", "models", env={"TORCH_HOME": str(torch_home)}).stdout
    alex = next(line for line in out.splitlines() if line.startswith("alexnet "))
    assert "present" in alex and "alex) needs the alexnet weights above: present." in out
    lite0 = next(line for line in out.splitlines() if line.startswith("efficientnet_lite0 "))
    assert "present" in lite0 and "efficientnet-lite0" in lite0


def test_list_grids_counts_variants_per_image():
    out = codecsweep("list", "grids").stdout
    rennes = next(line for line in out.splitlines() if line.startswith("rennes2017"))
    assert "1 0.5 0.25 0.125" in rennes and "jpeg 18 (144 variants)" in rennes  # 4 scales x 2 colors x 18


# -- sql -----------------------------------------------------------------------------------------


@pytest.fixture
def results(tmp_path) -> pathlib.Path:
    """A tiny results/ folder: 2 images, 2 JPEG variants each, their predictions and metrics."""
    r = tmp_path / "results"
    for sub in ("images", "variants/d/jpeg", "predictions/d/m/original", "predictions/d/m/jpeg", "metrics/d/jpeg"):
        (r / sub).mkdir(parents=True)
    pd.DataFrame({"dataset": ["d", "d"], "image_id": ["a", "b"], "status": ["ok", "ok"]}).to_parquet(
        r / "images/d.parquet"
    )
    variants = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "image_id": ["a", "a", "b", "b"],
            "encoder": ["jpeg"] * 4,
            "param": ["10", "50", "10", "50"],
            "bytes": [1000, 3000, 2000, 5000],
        }
    )
    variants.to_parquet(r / "variants/d/jpeg/shard-0.parquet")
    pd.DataFrame({"image_id": ["a", "b"], "encoder": [None, None], "true_rank": [0, 2]}).to_parquet(
        r / "predictions/d/m/original/shard-0.parquet"
    )
    pd.DataFrame({"image_id": ["a", "a", "b", "b"], "encoder": ["jpeg"] * 4, "true_rank": [3, 0, 9, 2]}).to_parquet(
        r / "predictions/d/m/jpeg/shard-0.parquet"
    )
    variants.assign(psnr=[25.0, 31.0, 27.0, 35.0]).to_parquet(r / "metrics/d/jpeg/shard-0.parquet")
    return r


def test_sql_runs_a_file_over_the_results_views(tmp_path, results):
    query = tmp_path / "q.sql"
    query.write_text(
        "-- mean PSNR and bytes per parameter\n"
        "SELECT param, avg(psnr) AS psnr, sum(bytes) AS bytes FROM metrics GROUP BY param ORDER BY param;\n"
    )
    out = codecsweep("sql", query, "--results", results, "--csv").stdout
    assert out.splitlines() == ["param,psnr,bytes", "10,26.0,3000", "50,33.0,8000"]  # (25+27)/2, (31+35)/2
    table = codecsweep("sql", query, "--results", results).stdout.splitlines()
    assert table[0].split() == ["param", "psnr", "bytes"] and table[2].split() == ["10", "26", "3000"]
    assert table[-1] == "(2 rows)"
    # predictions holds originals and variants together, as in the report
    count = tmp_path / "n.sql"
    count.write_text("SELECT count(*) AS n, count(*) FILTER (encoder IS NULL) AS originals FROM predictions")
    assert codecsweep("sql", count, "--results", results, "--csv").stdout.splitlines()[1] == "6,2"


def test_sql_defines_the_views_of_earlier_numbered_files(tmp_path, results):
    """reports/sql files are read in order: 30_x.sql may use a view that 10_y.sql defines."""
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "10_sizes.sql").write_text(
        "CREATE OR REPLACE VIEW sizes AS SELECT image_id, max(bytes) AS biggest FROM variants GROUP BY ALL;\n"
        "SELECT * FROM sizes;\n"
    )
    (folder / "30_uses_sizes.sql").write_text("SELECT sum(biggest) AS total FROM sizes")
    out = codecsweep("sql", folder / "30_uses_sizes.sql", "--results", results, "--csv").stdout
    assert out.splitlines() == ["total", "8000"]  # 3000 + 5000


def test_sql_errors_name_the_file_and_what_is_missing(tmp_path, results):
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT * FROM nowhere")
    proc = codecsweep("sql", bad, "--results", results, check=False)
    assert proc.returncode == 2 and str(bad) in proc.stderr and "nowhere" in proc.stderr
    proc = codecsweep("sql", bad, "--results", tmp_path / "none", check=False)
    assert proc.returncode == 2 and "results folder" in proc.stderr and "does not exist" in proc.stderr


def test_sql_finds_the_views_a_report_query_needs():
    statements = cli._earlier_views(REPO / "reports/sql/30_headline.sql")
    assert any("VIEW param_sets" in s for s in statements)  # from 10_param_table.sql, its only CREATE
    assert not any(s.lstrip().upper().startswith("SELECT") for s in statements)


# -- cache ---------------------------------------------------------------------------------------


def test_human_bytes():
    assert [cli.human_bytes(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_cache_stats_uses_the_configured_cache_elsewhere(tmp_path):
    from codecsweep.core.keys import make_key
    from codecsweep.storage.cache import Cache

    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config/config.yaml").write_text(yaml.safe_dump({"cache_dir": "../shared-cache"}))
    cache_dir = tmp_path / "shared-cache"  # relative to the project, as Snakemake runs there
    cache = Cache(cache_dir)
    cache.put("artifact", make_key("artifact", x=1), b"a" * 3000)
    cache.put("artifact", make_key("artifact", x=2), b"b" * 2000)
    cache.close()
    expected = cache.stats()

    proc = codecsweep("cache", "stats", cwd=project)
    assert f"cache: {cache_dir} (cache_dir of" in proc.stderr
    got = json.loads(proc.stdout)
    assert {k: v for k, v in got.items() if not k.endswith("_h")} == expected
    readable = {k: v for k, v in got.items() if k.endswith("_h")}
    assert readable and all(v == cli.human_bytes(got[k[:-2]]) for k, v in readable.items())
    assert not (project / ".cache").exists()  # nothing created where the command ran

    # From another folder: --configfile names the config, its project's cache is used.
    other = tmp_path / "elsewhere"
    other.mkdir()
    proc = codecsweep("cache", "stats", "--configfile", project / "config/config.yaml", cwd=other)
    assert json.loads(proc.stdout) == got
    # Without a config there, a clear error, and no empty cache is made.
    proc = codecsweep("cache", "stats", cwd=other, check=False)
    assert proc.returncode == 2 and "pass --configfile FILE or --cache-dir DIR" in proc.stderr
    assert list(other.iterdir()) == []


def test_cache_of_a_config_that_was_never_run_is_an_error(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text("cache_dir: /nonexistent/cache\n")
    proc = codecsweep("cache", "verify", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "/nonexistent/cache" in proc.stderr and "does not exist" in proc.stderr


# -- run -----------------------------------------------------------------------------------------


def test_run_dry_run_from_another_folder(tmp_path, two_images):
    project = tmp_path / "study"
    project.mkdir()
    args = ("run", two_images, "--encoders", "jpeg,webp", "--grid", "smoke", "--dry-run")
    proc = codecsweep(*args, cwd=project)
    # The workflow was copied here and Snakemake planned the study of the folder.
    assert (project / "Snakefile").is_file() and (project / "reports/sql/10_param_table.sql").is_file()
    assert "2 image(s)" in proc.stdout and "dataset 'my_photos'" in proc.stdout
    plan = proc.stdout + proc.stderr
    for job, n in (("ingest", 1), ("encode", 2), ("classify_originals", 1), ("analyze", 2), ("report", 1)):
        assert any(line.split() == [job, str(n)] for line in plan.splitlines()), job
    configs = list((project / ".codecsweep").glob("run-*.yaml"))
    assert len(configs) == 1
    config = yaml.safe_load(configs[0].read_text())
    assert config["datasets"] == [{"name": "my_photos", "kind": "folder", "root": str(two_images), "shards": 1}]
    assert config["encoders"] == ["jpeg", "webp"] and config["grids"] == ["config/grids/smoke.yaml"]
    assert config["metrics"] == yaml.safe_load((REPO / "config/config.yaml").read_text())["metrics"]  # defaults
    # A dry run computes nothing (only the file manifest that ingest depends on is written).
    assert [p.name for p in (project / "results").iterdir()] == ["manifests"]
    # The same options give the same config file; other options another one.
    codecsweep(*args, cwd=project)
    assert list((project / ".codecsweep").glob("run-*.yaml")) == configs
    codecsweep("run", two_images, "--encoders", "jpeg", "--grid", "smoke", "--dry-run", cwd=project)
    assert len(list((project / ".codecsweep").glob("run-*.yaml"))) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("run", "{tmp}/missing"), "images folder {tmp}/missing does not exist"),
        (("run", "{imgs}", "--encoders", "jpg"), "--encoders: unknown encoder 'jpg'; known: avif, cai_"),
        (("run", "{imgs}", "--models", "resnet"), "--models: unknown model 'resnet'; known: alexnet"),
        (
            ("run", "{imgs}", "--grid", "huge"),
            "--grid huge: no such grid (known: learned, machine_jpeg, modern, rennes2017, smoke)",
        ),
        (("run", "{imgs}", "--encoders", "webp", "--grid", "rennes2017"), "encoders: 'webp' has no grid"),
        (("run", "{empty}"), "no files under"),
        (("sql", "x.sql", "--", "-n"), "arguments after -- are only for `codecsweep run`"),
    ],
)
def test_run_checks_its_arguments_first(tmp_path, two_images, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "work").mkdir()
    fill = {"tmp": tmp_path, "imgs": two_images, "empty": tmp_path / "empty"}
    proc = codecsweep(*(a.format(**fill) for a in args), cwd=tmp_path / "work", check=False)
    assert proc.returncode == 2 and message.format(**fill) in proc.stderr
    assert list((tmp_path / "work").iterdir()) == []  # nothing written before the arguments are good


def test_run_refuses_to_write_into_the_images_folder(two_images):
    proc = codecsweep("run", ".", "--dry-run", cwd=two_images, check=False)
    assert proc.returncode == 2 and "outside the images folder" in proc.stderr


@pytest.mark.slow
def test_run_a_folder_then_query_it(tmp_path, two_images):
    """One real study of a folder of 2 images on a tiny grid, then its results through `codecsweep sql`."""
    project = tmp_path / "study"
    project.mkdir()
    grid = tmp_path / "tiny.yaml"
    grid.write_text(yaml.safe_dump({"scales": [1], "colors": ["rgb"], "encoders": {"jpeg": [10, 50]}}))
    env = {"TORCH_HOME": str(tmp_path / "torch-home")}  # no AlexNet: LPIPS null, whatever the machine holds
    proc = codecsweep("run", two_images, "--encoders", "jpeg", "--grid", grid, "--cores", "2", cwd=project, env=env)
    assert "codecsweep: done: reports/index.html" in proc.stdout
    for out in ("reports/index.html", "reports/summary.md", "reports/tables/param_table.csv"):
        assert (project / out).is_file(), out
    con = duckdb.connect()
    variants = con.execute(
        f"SELECT image_id, param FROM read_parquet('{project}/results/variants/**/*.parquet') ORDER BY ALL"
    ).fetchall()
    assert variants == [("chelsea", "10"), ("chelsea", "50"), ("coffee", "10"), ("coffee", "50")]
    query = tmp_path / "q.sql"
    query.write_text("SELECT count(*) AS n, count(lpips) AS lpips FROM metrics")
    assert codecsweep("sql", query, "--csv", cwd=project).stdout.splitlines() == ["n,lpips", "4,0"]
    # A second run with the same options finds everything done.
    again = codecsweep("run", two_images, "--encoders", "jpeg", "--grid", grid, "--cores", "2", cwd=project, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr


# -- progress lines ------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_progress_lines_name_the_job_and_give_rate_and_eta(caplog):
    clock = Clock()
    stats = JobStats("measure", "photos", 3, encoder="jpeg")
    progress = Progress.for_job(stats, 100, "variants", clock=clock)
    with caplog.at_level(logging.INFO, logger="codecsweep"):
        clock.t += 10
        progress(10)  # within 30 s of the start: silent
        clock.t += 20
        progress(30)  # 30 s: 30/100, 1 per s, 70 s left
        clock.t += 29
        progress(59)  # 29 s after the last line: silent
        clock.t += 31
        progress(150)  # beyond the total (a last, padded batch) counts as the total
    assert [r.getMessage() for r in caplog.records] == [
        "measure photos/shard 3/jpeg: 30/100 variants (30%), 1/s, 0:00:30 elapsed, ETA 0:01:10",
        "measure photos/shard 3/jpeg: 100/100 variants (100%), 1.1/s, 0:01:30 elapsed, ETA 0:00:00",
    ]


def test_progress_names_classify_jobs_with_model_and_encoder():
    originals = Progress.for_job(JobStats("classify", "d", 0, model="alexnet"), 5, "originals")
    variants = Progress.for_job(JobStats("classify", "d", 1, encoder="hevc", model="alexnet"), 5, "variants")
    encode = Progress.for_job(JobStats("encode", "d", 2, encoder="webp"), 5, "images")
    assert (originals.what, variants.what, encode.what) == (
        "classify d/shard 0/alexnet/original",
        "classify d/shard 1/alexnet/hevc",
        "encode d/shard 2/webp",
    )
