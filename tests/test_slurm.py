"""The tiny study on a real single-node SLURM cluster (Debian's slurm-wlm on loopback),
through profiles/slurm, compared with a local run: identical tables. Opt-in (it starts
system daemons as root): `make test-slurm`, which CI runs."""

import os
import pathlib
import re
import subprocess
import time

import pytest

from codecsweep.storage.cache import Cache
from tests.workflow import Project, computed

pytestmark = pytest.mark.slurm
HERE = pathlib.Path(__file__).resolve().parent / "slurm"
# What a site adapts in profiles/slurm: here one partition "debug", no GPUs, 2-core nodes.
SITE = [
    "--default-resources",
    "slurm_partition=debug",
    "mem_mb=1500",
    "runtime=20",
    "--set-resources",
    "classify_originals:slurm_partition=debug",
    "classify_originals:gpu=0",
    "analyze:slurm_partition=debug",
    "analyze:gpu=0",
    "--set-threads",  # the profile's 8 threads per GPU job: these nodes have 2 cores, no GPU
    "classify_originals=1",
    "analyze=1",
    "--slurm-init-seconds-before-status-checks",
    "5",
    "--jobs",
    "4",
]


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.fail("the SLURM test starts slurmctld/slurmd/munged and must run as root")
    subprocess.run(["bash", HERE / "start-cluster.sh"], check=True)
    yield
    subprocess.run(["bash", HERE / "stop-cluster.sh"], check=False)


def test_slurm_run_matches_local_run(cluster, tmp_path):
    local = Project(tmp_path / "local", tmp_path / "cache-local", encoders=("jpeg", "hevc", "jpeg2000"))
    local.run()
    remote = Project(tmp_path / "slurm", tmp_path / "cache-slurm", encoders=("jpeg", "hevc", "jpeg2000"))
    start = time.time()
    stats = remote.run("--profile", "profiles/slurm", *SITE)
    wall = time.time() - start
    print(f"SLURM run: {wall:.1f} s wall")
    out = remote.last.stdout + remote.last.stderr
    assert "submitted with SLURM jobid" in out and "SLURM status is: 'FAILED'" not in out
    assert computed(stats, "encode") == 3 * 8 and computed(stats, "measure") == 3 * 8
    for t in ("images", "variants", "predictions", "metrics"):
        drop = ("encode_ms", "source_path") if t in ("images", "variants") else ()
        assert remote.table(t, drop=drop) == local.table(t, drop=drop), t
    assert Cache(tmp_path / "cache-slurm").verify() == []
    # The plugin deletes the logs of successful jobs; its own output names every job id.
    job_ids = set(re.findall(r"submitted with SLURM jobid (\d+)", out))
    # ingest, 3 encode, 1 classify_originals (all models), 3 analyze (classify + measure), report
    print(f"SLURM jobs submitted: {len(job_ids)}")
    assert len(job_ids) == 9, f"expected 9 SLURM submissions, saw {sorted(job_ids)}"
