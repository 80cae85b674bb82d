"""Feeding a job's networks and metric kernels: where each step runs (``Feed``) and the
variants decoded ahead of the computation (``prefetched``).

On a CPU machine every step runs inline, one variant after the other, in the job's single
thread: the workflow runs one such job per core, and a second thread would only take a core
from the job beside it. With CUDA the GPU should never wait for the CPU, so the job

- decodes and resizes the next variants in ``workers`` threads while the current batch is
  classified and measured (``prefetch`` variants ahead: about one batch);
- hands the decoded pixels over in pinned (page-locked) memory, so the copy to the device
  runs asynchronously, and does the model's reference transform (crop, resize, normalize)
  on the device, through the same torch code the CPU tests check (``families.model_input``);
- measures the pixel metrics with the torch kernel on the device (its own metric id), a
  source's variants in batches (one round trip to the device per batch, not per variant).

Only the decoding runs in the worker threads. Reading the artifact from the cache (and
repairing a damaged one) stays in the job's main thread, in order, so the cache is never
used from two threads, and a variant that fails to decode is that variant's error only.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..models import get_spec, resolve_runtime, runtimes


@dataclass(frozen=True)
class Feed:
    """Where a job's steps run. The default is the CPU path: everything inline."""

    #: Where the torch networks and the torch pixel kernel run (``cpu``, ``cuda``, ``cuda:N``).
    device: str = "cpu"
    #: Variants decoded ahead of the one being computed (0: decoded inline, no threads;
    #: None: one batch of the job's networks, as many as memory allows: ``prefetch_depth``).
    prefetch: int | None = 0
    #: Decode threads while prefetching.
    workers: int = 1
    #: The model's reference transform in torch on ``device`` (for families whose torch
    #: transform matches the reference: ``ModelFamily.torch_preprocess``).
    torch_preprocess: bool = False
    #: Decoded pixels handed over in pinned memory (CUDA only: it speeds up the copy).
    pin_memory: bool = False
    #: Jobs that share one device (an ``auto`` batch size takes its part of the free memory).
    jobs_per_device: int = 1
    #: The pixel metrics of a source's variants measured in batches (one device round trip
    #: per batch) instead of one by one as they come.
    batch_metrics: bool = False

    @classmethod
    def for_device(cls, device: str, threads: int, jobs_per_device: int = 1) -> Feed:
        """The feed of a job whose networks run on ``device`` with ``threads`` cores: inline
        on the CPU; on CUDA, the next batch decoded in ``threads - 1`` threads while the
        current one computes (the main thread feeds the device), the model's transform and
        the pixel metrics on the device."""
        if not device.startswith("cuda"):
            return cls()
        workers = max(1, threads - 1)
        return cls(device, None, workers, True, True, jobs_per_device, batch_metrics=True)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


#: The CPU path: every step inline in the job's thread.
CPU_FEED = Feed()


def device_of(models: list[str], runtime: str) -> str:
    """Where a job's networks run: ``cuda`` when one of them runs in PyTorch (``runtime``, as
    ``models.resolve_runtime`` resolves it) and CUDA is there, else ``cpu`` (torch not imported)."""
    torch_models = [m for m in models if resolve_runtime(runtime, get_spec(m)) == "torch"]
    return "cuda" if torch_models and runtimes.cuda_available() else "cpu"


#: The most memory the variants decoded ahead may take (they wait as pixels at the source's size).
PREFETCH_BYTES = 2 * 2**30


def prefetch_depth(feed: Feed, batch: int, largest_pixels: int) -> int:
    """How many variants a job decodes ahead: the feed's ``prefetch`` (None: one ``batch``),
    as many as fit in ``PREFETCH_BYTES`` when the largest source has ``largest_pixels``
    (each waits as two RGB copies: at its coded size, at the source's).

    >>> prefetch_depth(Feed(prefetch=None), 512, 500 * 375), prefetch_depth(Feed(prefetch=None), 512, 24_000_000)
    (512, 14)
    >>> prefetch_depth(Feed(), 512, 1000)  # the CPU path decodes inline
    0
    """
    wanted = batch if feed.prefetch is None else feed.prefetch
    if wanted <= 0:
        return 0
    return max(1, min(wanted, PREFETCH_BYTES // (6 * max(1, largest_pixels))))


def prefetched(
    items: Iterable,
    read: Callable,
    decode: Callable,
    depth: int = 0,
    workers: int = 1,
) -> Iterator[tuple[object, object, BaseException | None]]:
    """``(item, decode(item, read(item)), None)`` for each item, in order, or
    ``(item, None, the exception)`` when reading or decoding it failed (the others go on).

    ``read`` runs in the caller's thread, in order, when the item is taken up; with ``depth``
    > 0, ``decode`` runs in ``workers`` threads, up to ``depth`` items ahead of the one the
    caller is working on (with ``depth`` 0 it runs inline, when the item is yielded)."""
    if depth <= 0:
        for item in items:
            try:
                yield item, decode(item, read(item)), None
            except Exception as exc:
                yield item, None, exc
        return
    ahead: deque[tuple[object, Future]] = deque()
    with ThreadPoolExecutor(max(1, min(workers, os.cpu_count() or 1)), thread_name_prefix="decode") as pool:

        def submit(item) -> None:
            try:
                data = read(item)
            except Exception as exc:
                failed: Future = Future()
                failed.set_exception(exc)
                ahead.append((item, failed))
                return
            ahead.append((item, pool.submit(decode, item, data)))

        source = iter(items)
        for item in source:
            submit(item)
            if len(ahead) >= depth:
                break
        while ahead:
            item, future = ahead.popleft()
            following = next(source, _END)
            if following is not _END:
                submit(following)
            exc = future.exception()
            yield item, (None if exc else future.result()), exc


_END = object()
