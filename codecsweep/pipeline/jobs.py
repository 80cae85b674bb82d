"""What every job of the workflow shares: its stats (runstats), progress lines, logging,
and the images and grid points of a shard."""

from __future__ import annotations

import logging
import pathlib
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import cache

from ..codecs import get_encoder
from ..core import schemas
from ..storage import records
from ..storage.cache import Cache, Entry

log = logging.getLogger("codecsweep")


@dataclass
class JobStats:
    stage: str
    dataset: str
    shard: int
    encoder: str | None = None
    model: str | None = None
    items: int = 0
    computed: int = 0
    served: int = 0
    corrupt: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter, repr=False)

    def finish(self, cache: Cache, path) -> None:
        JobStats.finish_all([self], cache, path)

    def lookup(self, cache: Cache, kind: str, key: str) -> Entry | None:
        """``cache.get``, with a damaged copy (a miss the caller recomputes) counted as corrupt
        in these stats, not in every stats of the job; served and computed the caller counts."""
        before = cache.counts[kind, "corrupt"]
        entry = cache.get(kind, key)
        self.corrupt += cache.counts[kind, "corrupt"] - before
        return entry

    @staticmethod
    def finish_all(all_stats: list[JobStats], cache: Cache, path) -> None:
        """Write the job's runstats (one row per stage/model it ran) and log each.

        Each damaged copy of an entry this job met is logged here: a miss, counted as corrupt,
        that the job computed like any miss (its stats say how many it computed). A damaged
        index file is not: the cache logged it once, when it found it and set it aside."""
        for problem in cache.problems:
            if problem not in cache.index_problems:
                log.warning("cache: damaged copy not used (counted as corrupt, a miss): %s", problem)
        rows = []
        for stats in all_stats:
            row = asdict(stats)
            row["wall_s"] = round(time.perf_counter() - row.pop("started"), 3)
            rows.append(row)
            stats._log(row["wall_s"])
        records.write(rows, schemas.RUNSTATS, path)

    def _log(self, wall_s: float) -> None:
        log.info(
            "%s done: %d items, %d computed, %d served from cache, %d corrupt, %d failed, %.1f s",
            self.stage,
            self.items,
            self.computed,
            self.served,
            self.corrupt,
            self.failed,
            wall_s,
        )


def shard_images(images_path, shard: int) -> list[dict]:
    """The usable images of one shard, sorted by id."""
    return sorted(
        (r for r in records.read(images_path) if r["shard"] == shard and r["status"] == "ok"),
        key=lambda r: r["image_id"],
    )


def grid_points(encoder_grid: dict, scales: list, colors: list) -> list[tuple[float, str, str, int]]:
    """(scale, color, canonical param, param index) in a fixed order."""
    enc = get_encoder(encoder_grid["encoder"])
    params = [enc.canonical_param(p) for p in encoder_grid["params"]]
    return [(float(s), c, p, i) for s in scales for c in colors for i, p in enumerate(params)]


@cache
def use_torch(threads: int) -> None:
    """Import torch and give it the job's threads; deferred so that jobs the cache serves
    entirely never pay torch's start-up."""
    import torch

    torch.set_num_threads(max(1, threads))


class Progress:
    """A progress line at most every ``every`` seconds (to the job's log and the terminal), so a
    long job shows it is alive without flooding either: it names the job (lines of parallel jobs
    interleave) and gives done/total, the rate and the time left, e.g.
    ``measure default/shard 1/jpeg: 120/432 variants (28%), 4.0/s, 0:00:30 elapsed, ETA 0:01:18``."""

    def __init__(self, total: int, what: str, unit: str = "items", every: float = 30.0, clock=time.monotonic):
        self.total, self.what, self.unit, self.every, self.clock = total, what, unit, every, clock
        self.start = self.last = clock()

    @classmethod
    def for_job(cls, stats: JobStats, total: int, unit: str, **kw) -> Progress:
        """Named after the job: stage, dataset, shard, then model and encoder (``original``: the originals)."""
        parts = [stats.model] if stats.model else []
        parts += [stats.encoder or "original"] if stats.model or stats.encoder else []
        return cls(total, f"{stats.stage} {stats.dataset}/shard {stats.shard}/{'/'.join(parts)}", unit, **kw)

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        done, elapsed = min(done, self.total), now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _hms((self.total - done) / rate) if rate > 0 else "?"
        pct = 100 * done // self.total if self.total else 100
        log.info(
            "%s: %d/%d %s (%d%%), %.2g/s, %s elapsed, ETA %s",
            *(self.what, done, self.total, self.unit, pct, rate, _hms(elapsed), eta),
        )


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def setup_logging(path) -> None:
    """Send the package's log to a job's log file (and stderr), one format everywhere."""
    handlers = [logging.StreamHandler()]
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.excepthook = _log_uncaught


def _log_uncaught(exc_type, exc, tb) -> None:
    """A crashing job's traceback goes to its log file too (through the handlers above),
    not only to the terminal, so `logs/...` explains every failed job."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
