"""End to end: real Snakemake runs of a tiny study, and what the cache saves on reruns.

Tiny study: 2 images (240 px wide), scales 1 and 1/2, RGB, 2 parameters per encoder
-> 4 variants per image and encoder. Counts below are computed by hand from that.
"""

import shutil
import time

import duckdb
import pytest
import yaml

from codecsweep.storage.cache import Cache
from tests.workflow import Project, computed, served

pytestmark = pytest.mark.slow
PER_IMAGE = 4  # 2 scales x 1 color x 2 params


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def project(tmp_path_factory, shared_cache):
    """A cold run, shared by the tests below, which then change it step by step."""
    p = Project(tmp_path_factory.mktemp("study"), shared_cache)
    p.cold_stats = p.run()
    return p


def test_cold_run_tables_and_report(project):
    s = project.cold_stats
    assert computed(s, "encode:jpeg") == computed(s, "encode:hevc") == 2 * PER_IMAGE
    assert computed(s, "classify:efficientnet_lite0:original") == 2
    assert computed(s, "classify:efficientnet_lite0:jpeg") == 2 * PER_IMAGE
    assert computed(s, "measure") == 4 * PER_IMAGE and served(s, "") == 0
    root = project.root
    con = duckdb.connect()
    for view in ("images", "variants", "predictions", "metrics"):
        glob = "results/images/**/*.parquet" if view == "images" else f"results/{view}/**/*.parquet"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{root}/{glob}')")
    assert con.execute("SELECT count(*) FROM variants WHERE status = 'ok'").fetchone()[0] == 16
    assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2 + 16
    assert con.execute("SELECT count(*) FROM metrics WHERE ssim > 0.3 AND psnr > 15").fetchone()[0] == 16
    # Derived columns by hand: raw bits / compressed bits; bpp over the source's pixels.
    for w, h, src_bytes, n, cr_raw, cr_src, bpp in con.execute(
        "SELECT i.width, i.height, i.source_bytes, v.bytes, v.cr_raw, v.cr_source, v.bpp "
        "FROM variants v JOIN images i USING (dataset, image_id)"
    ).fetchall():
        assert cr_raw == pytest.approx(w * h * 24 / (n * 8))
        assert cr_src == pytest.approx(src_bytes / n)
        assert bpp == pytest.approx(n * 8 / (w * h))
    # rank_diff = original rank - variant rank, for every variant prediction.
    bad = con.execute("""SELECT count(*) FROM predictions v JOIN predictions o
                     ON o.image_id = v.image_id AND o.encoder IS NULL AND v.encoder IS NOT NULL
                     WHERE v.rank_diff <> o.true_rank - v.true_rank OR v.original_rank <> o.true_rank""").fetchone()[0]
    assert bad == 0
    # Annotated labels are used; the espresso photo is top-1 espresso (class 967).
    assert con.execute(
        "SELECT true_class, true_rank FROM predictions WHERE encoder IS NULL AND image_id='coffee'"
    ).fetchone() == (967, 0)
    # Larger quality, more bytes, for every (image, encoder, scale).
    assert (
        con.execute("""SELECT count(*) FROM variants a JOIN variants b USING (image_id, encoder, scale, color)
                      WHERE a.param_index = 0 AND b.param_index = 1 AND
                            ((a.encoder = 'jpeg' AND a.bytes >= b.bytes) OR (a.encoder = 'hevc' AND a.bytes <= b.bytes))
                   """).fetchone()[0]
        == 0
    )
    # The report: the study's tables as CSV + Markdown.
    table = (root / "reports/tables/param_table.csv").read_text().splitlines()
    assert table[0].startswith("dataset,model,encoder,scale,color,param,images,rank_diff_mean")
    assert len(table) == 1 + 8  # 2 encoders x 4 parameter sets
    headline = con.execute(f"SELECT * FROM read_csv('{root}/reports/tables/headline.csv')").df()
    assert sorted(headline.encoder) == ["hevc", "jpeg"]
    summary = (root / "reports/summary.md").read_text()
    assert "Largest mean compression ratio" in summary and "| hevc" in summary


def test_metrics_null_lpips_is_explained(project):
    """The projects run with an empty TORCH_HOME (tests/workflow.py): no AlexNet weights, so
    LPIPS is null everywhere and the log says which file is missing; dfd is computed."""
    log = next((project.root / "logs/analyze").rglob("*.log")).read_text()
    assert "LPIPS IS NOT COMPUTED" in log and "alexnet-owt-7be5be79.pth" in log
    rows = duckdb.execute(
        f"SELECT count(*), count(*) FILTER (lpips IS NULL), count(*) FILTER (dfd > 0) "
        f"FROM read_parquet('{project.root}/results/metrics/**/*.parquet')"
    ).fetchone()
    assert rows[0] >= 16 and rows[0] == rows[1] == rows[2]


def test_noop_rerun_computes_nothing(project):
    stats = project.run()
    assert stats == {}
    assert "Nothing to be done" in project.last.stdout + project.last.stderr


def test_results_deleted_rebuilds_from_cache(project):
    project.run()  # whatever earlier tests changed is computed first
    tables = ("images", "variants", "predictions", "metrics")
    before = {t: project.table(t, drop=()) for t in tables}  # every column, encode_ms included
    per_encoder = dict(
        duckdb.execute(
            f"SELECT encoder, count(*) FROM read_parquet('{project.root}/results/variants/**/*.parquet') GROUP BY ALL"
        ).fetchall()
    )
    encoders, models, images = project.config["encoders"], project.config["models"], len(project.sheet_rows)
    assert sorted(per_encoder) == sorted(encoders) and len(before["metrics"]) == sum(per_encoder.values())
    shutil.rmtree(project.root / "results")
    stats = project.run()
    # One job per stage, each served entirely from the cache: nothing computed, corrupt or failed.
    expected = {f"encode:{e}": per_encoder[e] for e in encoders}
    expected |= {f"measure:{e}": per_encoder[e] for e in encoders}
    expected |= {f"classify:{m}:original": images for m in models}
    expected |= {f"classify:{m}:{e}": per_encoder[e] for m in models for e in encoders}
    assert {k: (v["served"], v["computed"], v["corrupt"], v["failed"]) for k, v in stats.items()} == {
        k: (n, 0, 0, 0) for k, n in expected.items()
    }
    assert served(stats, "classify") == len(before["predictions"])
    # The rebuilt tables equal the deleted ones, every column: encode_ms comes from the cache too.
    after = {t: project.table(t, drop=()) for t in tables}
    for t in tables:
        assert after[t] == before[t], t


def test_renamed_image_is_not_reencoded(project):
    (project.root / "data/imgs/coffee.png").rename(project.root / "data/imgs/espresso photo.png")
    project.sheet_rows = [r if r[0] != "coffee" else ("coffee", "espresso photo.png", r[2]) for r in project.sheet_rows]
    project.write_sheet()
    stats = project.run()
    assert computed(stats, "") == 0 and served(stats, "encode") == len(project.table("variants"))


def test_added_image_encodes_only_its_variants(project):
    project.run()
    served_before = len(project.table("variants"))
    project.add_image("grace_hopper")
    stats = project.run()
    assert computed(stats, "encode:jpeg") == PER_IMAGE and computed(stats, "encode:hevc") == PER_IMAGE
    assert served(stats, "encode") == served_before
    assert computed(stats, "classify:efficientnet_lite0:original") == 1
    assert computed(stats, "measure") == 2 * PER_IMAGE


def test_added_encoder_encodes_only_its_variants(project):
    project.run()
    n = len(project.sheet_rows) * PER_IMAGE
    project.config["encoders"].append("webp")
    project.write_config()
    stats = project.run()
    assert computed(stats, "encode:webp") == n
    assert computed(stats, "encode:jpeg") == computed(stats, "encode:hevc") == 0
    assert computed(stats, "classify") == n and computed(stats, "measure") == n
    assert "webp" in (project.root / "reports/tables/headline.csv").read_text()


def test_added_model_only_classifies(project):
    project.run()
    images, variants = len(project.sheet_rows), len(project.table("variants"))
    project.config["models"].append("efficientnet_lite1")
    project.write_config()
    stats = project.run()
    assert computed(stats, "encode") == 0 and computed(stats, "measure") == 0
    assert computed(stats, "classify:efficientnet_lite1:original") == images
    assert computed(stats, "classify:efficientnet_lite1") == images + variants
    assert computed(stats, "classify:efficientnet_lite0") == 0
    assert "efficientnet_lite1" in (project.root / "reports/tables/param_table.csv").read_text()


def test_added_grid_value_encodes_only_it(project):
    project.run()
    images, jpeg_before = len(project.sheet_rows), len(project.table("variants")) // len(project.config["encoders"])
    grid = project.root / "config/grids/tiny.yaml"
    doc = yaml.safe_load(grid.read_text())
    doc["encoders"]["jpeg"].append(30)
    grid.write_text(yaml.safe_dump(doc))
    stats = project.run()
    assert computed(stats, "encode:jpeg") == images * 2  # every image x 2 scales x quality 30
    assert served(stats, "encode:jpeg") == jpeg_before
    assert computed(stats, "encode:hevc") == computed(stats, "encode:webp") == 0


def test_corrupt_blob_is_detected_and_recomputed(project, shared_cache):
    cache = Cache(shared_cache)
    sha = duckdb.execute(
        f"SELECT artifact_sha256 FROM read_parquet('{project.root}/results/variants/t/hevc/*.parquet') "
        "ORDER BY image_id, scale DESC, param LIMIT 1"
    ).fetchone()[0]
    pack, offset, size = cache.locate(sha)
    with open(pack, "r+b") as f:  # flip one byte in the middle of the artifact's bytes in its pack
        f.seek(offset + size // 2)
        byte = f.read(1)[0]
        f.seek(offset + size // 2)
        f.write(bytes([byte ^ 0x55]))
    (problem,) = cache.verify()
    assert problem.startswith("corrupt artifact") and f"blob {sha[:12]} fails its sha256 check" in problem
    before = project.table("variants")
    shutil.rmtree(project.root / "results")
    stats = project.run()
    assert computed(stats, "encode:hevc") == 1 and stats["encode:hevc"]["corrupt"] == 1
    assert computed(stats, "encode:jpeg") == 0
    assert project.table("variants") == before
    assert cache.verify() == []
    log = (project.root / "logs/encode/t/hevc/shard-0.log").read_text()
    assert "cache: damaged copy not used (counted as corrupt, a miss)" in log and "fails its sha256 check" in log


def test_kill_and_resume_matches_an_uninterrupted_run_in_another_cache(project, tmp_path):
    """SIGKILL at two points of a cold run in a separate cache; the resumed run's tables
    equal the uninterrupted run's (also: two cold runs in separate caches agree)."""
    project.run()  # the reference: the shared project as earlier tests left it, complete
    cache_dir = tmp_path / "cache2"
    other = Project(tmp_path / "study", cache_dir, images=(), encoders=project.config["encoders"])
    other.sheet_rows = project.sheet_rows
    other.write_sheet()
    for _, file_name, _ in project.sheet_rows:  # the project's images, renamed ones included
        shutil.copy(project.root / "data/imgs" / file_name, other.root / "data/imgs" / file_name)
    other.config["models"] = project.config["models"]
    other.write_config()
    shutil.copy(project.root / "config/grids/tiny.yaml", other.root / "config/grids/tiny.yaml")
    for kill_after_packs in (1, 4):  # one pack per job that computed something
        proc = other.start()
        deadline = time.time() + 300
        while len(list((cache_dir / "packs").glob("*.idx"))) < kill_after_packs and time.time() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        other.kill(proc)
        other.run("--unlock")  # a killed Snakemake leaves its lock behind
    other.run()
    assert Cache(cache_dir).verify() == []
    for t in ("images", "variants", "predictions", "metrics"):
        drop = ("encode_ms", "source_path") if t in ("images", "variants") else ()
        assert other.table(t, drop=drop) == project.table(t, drop=drop), t


def test_two_runs_sharing_one_cache_at_once(tmp_path):
    cache_dir = tmp_path / "cache"
    a = Project(tmp_path / "a", cache_dir, encoders=("jpeg", "jpeg2000"))
    b = Project(tmp_path / "b", cache_dir, encoders=("jpeg", "jpeg2000"))
    procs = [a.start(), b.start()]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    for t in ("variants", "predictions", "metrics"):
        assert a.table(t) == b.table(t), t
    assert Cache(cache_dir).verify() == []
    stats = a.run("--forceall")  # and a rerun of everything is now served entirely by the cache
    assert computed(stats, "") == 0 and served(stats, "encode") == 16
    psnr = duckdb.execute(f"SELECT min(psnr) FROM read_parquet('{a.root}/results/metrics/**/*.parquet')").fetchone()[0]
    assert psnr > 15


def test_bad_images_are_listed_and_the_rest_completes(tmp_path):
    from PIL import Image

    p = Project(tmp_path / "s", tmp_path / "cache", encoders=("jpeg",))
    imgs = p.root / "data/imgs"
    (imgs / "empty.jpg").write_bytes(b"")
    (imgs / "notes.jpg").write_text("not a picture")
    good = (imgs / "chelsea.png").read_bytes()
    (imgs / "cut.png").write_bytes(good[: len(good) // 3])
    Image.new("RGB", (7, 7), (10, 200, 30)).save(imgs / "tiny 7x7.png")
    Image.new("RGB", (1, 1), (10, 200, 30)).save(imgs / "one.png")
    for image_id, name in [
        ("empty", "empty.jpg"),
        ("notes", "notes.jpg"),
        ("cut", "cut.png"),
        ("tiny", "tiny 7x7.png"),
        ("one", "one.png"),
        ("gone", "missing.jpg"),
    ]:
        p.sheet_rows.append((image_id, name, ""))
    p.write_sheet()
    p.run()
    rejected = {line.split(",")[1]: line for line in (p.root / "reports/rejected.csv").read_text().splitlines()[1:]}
    assert sorted(rejected) == ["cut", "empty", "gone", "notes"]
    assert "empty file (0 bytes)" in rejected["empty"] and "not an image" in rejected["notes"]
    assert "cannot decode" in rejected["cut"] and "No such file" in rejected["gone"]
    ok = duckdb.execute(
        f"SELECT image_id, count(*) FILTER (status = 'ok'), count(*) FROM read_parquet("
        f"'{p.root}/results/variants/**/*.parquet') GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert ok == [("chelsea", 4, 4), ("coffee", 4, 4), ("one", 4, 4), ("tiny", 4, 4)]
    preds = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{p.root}/results/predictions/**/*.parquet') WHERE status = 'ok'"
    ).fetchone()[0]
    assert preds == 4 + 16
    assert "4 image(s) were rejected" in (p.root / "reports/index.html").read_text()
    # on_bad_image: fail stops before any encoding, naming the first bad file and why.
    p.config["on_bad_image"] = "fail"
    p.write_config()
    shutil.rmtree(p.root / "results")
    p.run(check=False)
    assert p.last.returncode != 0
    assert "on_bad_image=fail: 4 bad image(s)" in p.last.stdout + p.last.stderr
    assert not (p.root / "results/variants").exists()


def test_snakemake_report_has_the_captions(project):
    """`snakemake --report` (Snakemake's own HTML report) works on a finished study and carries
    the workflow description and the outputs' captions."""
    project.run()
    project.run("--report", "snakemake-report.html")
    html = (project.root / "snakemake-report.html").read_text()
    assert "how hard can images be compressed" in html  # report/workflow.rst
    assert "The whole report in one page" in html  # report/index.rst, the caption of index.html


def test_a_damaged_results_file_is_rebuilt_from_the_cache(project):
    """A variants Parquet cut in half, its mtime unchanged: the next run notices it at start,
    rebuilds it (the cache serves every variant) and the tables equal the undamaged ones."""
    import os

    project.run()
    before = project.table("variants")
    path = project.root / "results/variants/t/jpeg/shard-0.parquet"
    st = path.stat()
    path.write_bytes(path.read_bytes()[: st.st_size // 2])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    stats = project.run()
    assert "results file results/variants/t/jpeg/shard-0.parquet is damaged" in project.last.stderr
    jpeg = duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
    assert computed(stats, "encode") == 0 and served(stats, "encode:jpeg") == jpeg
    assert project.table("variants") == before


def test_an_added_image_reruns_only_its_own_shard(tmp_path):
    """Two shards (chelsea: 0, grace_hopper: 1). Adding coffee (shard 0) reruns shard 0's jobs;
    every file of shard 1 is left as it was (no job ran for it)."""
    p = Project(tmp_path / "p", tmp_path / "cache", images=("chelsea", "grace_hopper"), encoders=("jpeg",))
    p.config["datasets"][0]["shards"] = 2
    p.write_config()
    p.run()
    shard_files = lambda n: {f: f.stat().st_mtime_ns for f in (p.root / "results").rglob(f"shard-{n}.*")}  # noqa: E731
    before0, before1 = shard_files(0), shard_files(1)
    assert len(before1) >= 6  # manifest, images, variants, predictions x2, metrics, runstats...
    p.add_image("coffee")
    stats = p.run()
    assert shard_files(1) == before1
    assert all(shard_files(0)[f] > t for f, t in before0.items() if "manifests" not in f.parts)
    assert computed(stats, "encode:jpeg") == PER_IMAGE and served(stats, "encode:jpeg") == PER_IMAGE  # chelsea


def test_a_damaged_artifact_a_new_job_needs_is_encoded_again_not_recorded_as_an_error(tmp_path):
    """The variants table exists and names an artifact whose bytes in the cache are damaged;
    a model added later must classify it: the job encodes it again (same bytes), repairs the
    cache and writes normal rows. No error row, no manual step."""
    p = Project(tmp_path / "p", tmp_path / "cache", images=("chelsea",), encoders=("jpeg",))
    p.run()
    cache = Cache(tmp_path / "cache")
    sha = duckdb.execute(f"SELECT min(artifact_sha256) FROM read_parquet('{p.root}/results/variants/**/*.parquet')")
    sha = sha.fetchone()[0]
    pack, offset, size = cache.locate(sha)
    with open(pack, "r+b") as f:
        f.seek(offset + size // 2)
        byte = f.read(1)[0]
        f.seek(offset + size // 2)
        f.write(bytes([byte ^ 0x55]))
    assert len(Cache(tmp_path / "cache").verify()) == 1
    p.config["models"].append("efficientnet_lite1")
    p.write_config()
    stats = p.run()
    assert (
        computed(stats, "classify:efficientnet_lite1:jpeg") == PER_IMAGE
        and stats["classify:efficientnet_lite1:jpeg"]["failed"] == 0
    )
    errors = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{p.root}/results/*/**/*.parquet', union_by_name=true) WHERE status <> 'ok'"
    ).fetchone()[0]
    assert errors == 0
    log = (p.root / "logs/analyze/t/jpeg/shard-0.log").read_text()
    assert f"artifact {sha[:12]} was damaged or missing: encoded again and repaired" in log
    assert Cache(tmp_path / "cache").read_blob(sha)  # a good copy is served again


def test_a_named_run_never_touches_another_runs_outputs(project):
    """The same study as a named run: served entirely by the shared cache, written to runs/<run>/,
    the first run's results/ and reports/ untouched."""
    project.run()
    first = {
        f: f.stat().st_mtime_ns for d in ("results", "reports") for f in (project.root / d).rglob("*") if f.is_file()
    }
    project.config["run"] = "second"
    project.write_config()
    try:
        project.run()
    finally:
        del project.config["run"]
        project.write_config()
    work = duckdb.execute(
        f"SELECT sum(computed), sum(served) FROM read_parquet('{project.root}/runs/second/results/runstats/**/*.parquet')"
    ).fetchone()
    assert work[0] == 0 and work[1] > 0  # everything served by the shared cache
    assert (project.root / "runs/second/reports/summary.md").is_file()
    assert (project.root / "runs/second/results/variants").is_dir() and (project.root / "runs/second/logs").is_dir()
    now = {
        f: f.stat().st_mtime_ns for d in ("results", "reports") for f in (project.root / d).rglob("*") if f.is_file()
    }
    assert now == first
