"""Where the pixel metrics' time goes, and the fused numba kernel against the numpy one, printed.

    python benchmarks/pixel_profile.py [--repeat 20] [--skip-startup]

On one core (BLAS and numba thread pools set to 1 before they load; a pipeline job is one
single-threaded process per core), CPU time (``time.process_time``: waiting for a core on a
shared machine is not counted), the fastest of ``--repeat`` runs:

1. the machine: copy bandwidth (``np.copyto``) by array size, from L2-sized to DRAM-sized, and
   the single-threaded sgemm rate (the BLAS the numpy kernel's blurs run in);
2. the numpy kernel (``pixel.pixel_metrics_numpy``) on a 512x512 photo (astronaut, JPEG q50),
   part by part (its functions wrapped with timers): PSNR's squared errors, the uint8->float32
   planes and luma, the banded-matrix blurs (vertical, horizontal), the rest of ``_ssim_sums``
   (the maps' products, the SSIM formula, the sums), the variant's 2x2 pooling; each scale;
   with the bytes each part reads and writes (counted from the code's operations, per band)
   and the implied GB/s, the blurs' executed and useful GFLOP/s, and the temporaries;
3. the fused numba kernel (``pixel.pixel_metrics``, ``pixel_numba``) part by part;
4. both on the six default photographs (0.14-0.37 MP) and two grey ones (camera, moon, as RGB),
   each as PIL JPEG at qualities 5-100, old and new alternated variant by variant: ms per
   variant and the largest |difference| per metric;
5. cheaper numpy changes tried: scipy.ndimage.correlate1d blurs, other band and block sizes;
6. start-up, in fresh processes: import numba, compile (an empty NUMBA_CACHE_DIR), and load from
   the cache (a second process).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

from codecsweep.metrics import pixel, pixel_numba  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from metrics_benchmark import _best_ms as best_ms  # noqa: E402  (CPU time, best of the repeats)

KEYS = ("psnr", "ssim", "ms_ssim", "psnr_y", "ssim_y")
QUALITIES = (5, 25, 50, 75, 90, 95, 100)


def photographs() -> dict[str, np.ndarray]:
    """The default study's photographs (``study.datasets.DEFAULT_SOURCES``) and two grey ones."""
    import importlib.util

    import skimage.data
    from PIL import Image

    from codecsweep.study.datasets import DEFAULT_SOURCES

    out = {}
    for image_id, (package, rel) in DEFAULT_SOURCES.items():
        path = pathlib.Path(importlib.util.find_spec(package).origin).parent / rel
        out[image_id] = np.asarray(Image.open(path).convert("RGB"))
    for name in ("camera", "moon"):
        out[f"{name}-grey"] = np.repeat(getattr(skimage.data, name)()[:, :, None], 3, axis=2)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    """A's PIL JPEG at ``quality``, decoded to RGB (grey sources coded as one channel)."""
    from PIL import Image

    grey = bool(np.all(a[:, :, 0] == a[:, :, 1]) and np.all(a[:, :, 1] == a[:, :, 2]))
    buf = io.BytesIO()
    Image.fromarray(a[:, :, 0] if grey else a).save(buf, "JPEG", quality=quality)
    return np.ascontiguousarray(np.asarray(Image.open(buf).convert("RGB")))


# -- 1. the machine ------------------------------------------------------------------------------


def bandwidth(repeat: int) -> dict[int, float]:
    """GB/s of np.copyto (bytes read + written) by array size in bytes."""
    out = {}
    for size in (256 << 10, 1 << 20, 4 << 20, 16 << 20, 256 << 20):
        src = np.ones(size // 4, np.float32)
        dst = np.empty_like(src)
        n = max(3, min(repeat, (64 << 20) // size * 4))
        out[size] = 2 * size / (best_ms(lambda: np.copyto(dst, src), n) / 1000) / 1e9  # noqa: B023
    return out


def sgemm_gflops(repeat: int) -> float:
    a = np.random.default_rng(0).random((1024, 1024), np.float32)
    return 2 * 1024**3 / (best_ms(lambda: a @ a, max(3, repeat // 4)) / 1000) / 1e9


# -- 2. the numpy kernel, part by part -----------------------------------------------------------


class Timers:
    """Wraps the numpy kernel's functions with timers; ``level`` is the scale being measured."""

    def __init__(self):
        self.level, self.t = 0, {}
        self.orig = {n: getattr(pixel, n) for n in ("_squared_errors", "_planes", "_blur", "_ssim_sums")}
        self.orig_half = pixel._Level.half

    def add(self, key, seconds):
        self.t[key] = self.t.get(key, 0.0) + seconds

    def timed(self, name, key=None):
        fn = self.orig[name]

        def wrapper(*args, **kw):
            start = time.process_time()
            out = fn(*args, **kw)
            self.add(key(self) if key else name, time.process_time() - start)
            return out

        return wrapper

    def blur(self, maps):
        """``pixel._blur`` with its two products timed apart (the same operations)."""
        rows, k, w = maps.shape
        n, wv = rows - pixel._HALO, w - pixel._HALO
        start = time.process_time()
        vertical = np.matmul(pixel._band_matrix(n), maps.reshape(rows, k * w)).reshape(n * k, w)
        mid = time.process_time()
        out = np.empty((n * k, wv), np.float32)
        for c in range(0, wv, pixel._COLS):
            m = min(pixel._COLS, wv - c)
            np.matmul(vertical[:, c : c + m + pixel._HALO], pixel._band_matrix(m).T, out=out[:, c : c + m])
        self.add(("blur-v", self.level), mid - start)
        self.add(("blur-h", self.level), time.process_time() - mid)
        return out.reshape(n, k, wv)

    def ssim_sums(self, x, y, add_luma, moments=None):
        start = time.process_time()
        out = self.orig["_ssim_sums"](x, y, add_luma, moments)
        self.add(("ssim_sums", self.level), time.process_time() - start)
        self.level += 1
        return out

    def half(self):
        def half(level):  # a function: the class attribute binds the level as its argument
            start = time.process_time()
            out = self.orig_half(level)
            self.add("half", time.process_time() - start)
            return out

        return half

    def __enter__(self):
        pixel._squared_errors = self.timed("_squared_errors", lambda _: "psnr")
        pixel._planes = self.timed("_planes", lambda s: ("planes", s.level))
        pixel._blur, pixel._ssim_sums, pixel._Level.half = self.blur, self.ssim_sums, self.half()
        return self

    def __exit__(self, *exc):
        for name, fn in self.orig.items():
            setattr(pixel, name, fn)
        pixel._Level.half = self.orig_half


def numpy_parts(ref, b, repeat: int) -> dict:
    """Fastest time (ms) of each part over ``repeat`` variants; 'rest' = _ssim_sums less its
    planes and blurs (the products, the SSIM formula, the sums)."""
    runs = []
    with Timers() as timers:
        for _ in range(repeat + 1):
            timers.level, timers.t = 0, {}
            pixel.pixel_metrics_numpy(ref, b)
            t = dict(timers.t)
            for lv in range(5):
                inner = sum(t.get((p, lv), 0.0) for p in ("planes", "blur-v", "blur-h"))
                t[("rest", lv)] = t.pop(("ssim_sums", lv), 0.0) - inner
            runs.append(t)
    return {k: 1000 * min(r.get(k, 0.0) for r in runs[1:]) for k in runs[-1]}


def level_shapes(h: int, w: int) -> list[tuple[int, int]]:
    shapes = [(h, w)]
    for _ in range(4):
        shapes.append(((shapes[-1][0] + 1) // 2, (shapes[-1][1] + 1) // 2))
    return shapes


def numpy_traffic(h: int, w: int) -> dict:
    """Bytes read + written per part per variant by the numpy kernel's operations (the source's
    moments kept: k = 3 maps per channel), counted from the code, and its temporaries."""
    out, temps, flops_exec, flops_useful = {}, 0, 0, 0
    for lv, (hl, wl) in enumerate(level_shapes(h, w)):
        c, k, ib = (4, 3, 1) if lv == 0 else (3, 3, 2)
        hv, wv = hl - 10, wl - 10
        bands = -(-hv // pixel.BAND_ROWS)
        rows_in = hv + 10 * bands  # every band reads a 10-row halo
        plane = rows_in * wl * 4  # one float32 plane of the band rows, all bands
        # cast 3 channels of x and y (read uint8/16, write float32); x scale at levels >= 1
        # (read+write); luma: 12 plane passes per image (multiply, 2 temporaries, 2 adds)
        planes = 2 * (rows_in * wl * 3 * ib + 3 * plane) + (2 * 2 * 3 * plane if lv else 2 * 12 * plane)
        products = 5 * c * plane  # y*y (r1 w1), x*y (r2 w1) into the stack
        vert = rows_in * k * c * wl * 4 + hv * k * c * wl * 4
        horiz = hv * k * c * wl * 4 * (pixel._COLS + 10) / pixel._COLS + hv * k * c * wv * 4
        formula = 42 * hv * c * wv * 4  # 16 in-place float32 passes (26 reads, 16 writes), 2 sums
        out[lv] = {"planes": planes, "rest": products + formula, "blur-v": vert, "blur-h": horiz}
        temps += bands * (8 if lv == 0 else 5)  # px, (4 luma), stack, 2 products of the blur, mu_xy
        n = pixel.BAND_ROWS
        flops_exec += 2 * bands * n * (n + 10) * k * c * wl + 2 * hv * k * c * wv * (pixel._COLS + 10)
        flops_useful += 2 * 11 * (hv * k * c * wl + hv * k * c * wv)
    psnr = h * w * (6 + 12 + 12 + 12 + 4 + 4)  # int32 difference, einsum, luma product, einsum
    half = sum(hl * wl * 3 * (2 + 2 + 2) for hl, wl in level_shapes(h, w)[:4])
    return {"levels": out, "psnr": psnr, "half": half, "temps": temps, "flops": (flops_exec, flops_useful)}


def report_numpy_profile(name: str, a: np.ndarray, b: np.ndarray, repeat: int, bw: dict, gemm: float) -> None:
    ref = pixel.Reference(a)
    total = best_ms(lambda: pixel.pixel_metrics_numpy(ref, b), repeat)
    parts = numpy_parts(ref, b, repeat)
    traffic = numpy_traffic(*a.shape[:2])
    print(f"\n2. numpy kernel, {name} {a.shape[1]}x{a.shape[0]}: {total:.1f} ms/variant (uninstrumented)")
    print(f"   {'part':38s} {'ms':>6s} {'MB r+w':>7s} {'GB/s':>6s}")

    def row(label, ms, nbytes=None):
        rate = f"{nbytes / (ms / 1000) / 1e9:6.1f}" if nbytes and ms > 0 else ""
        mb = f"{nbytes / 1e6:7.1f}" if nbytes else ""
        print(f"   {label:38s} {ms:6.2f} {mb:>7s} {rate:>6s}")

    row("PSNR squared errors (int32, einsum)", parts.get("psnr", 0), traffic["psnr"])
    row("variant 2x2 pooling, 4 scales", parts.get("half", 0), traffic["half"])
    labels = {
        "planes": "planes: cast, scale, luma",
        "blur-v": "blur vertical (sgemm)",
        "blur-h": "blur horizontal (sgemm)",
    }
    labels["rest"] = "products, SSIM formula, sums"
    for lv in range(5):
        for part in ("planes", "blur-v", "blur-h", "rest"):
            row(f"scale {lv} {labels[part]}", parts.get((part, lv), 0), traffic["levels"][lv][part])
    blur_ms = sum(v for k, v in parts.items() if isinstance(k, tuple) and k[0].startswith("blur"))
    elem_ms = sum(v for k, v in parts.items() if isinstance(k, tuple) and k[0] in ("planes", "rest"))
    elem_b = sum(t[p] for t in traffic["levels"].values() for p in ("planes", "rest"))
    ex, useful = traffic["flops"]
    print(
        f"   blurs: {blur_ms:.1f} ms, {ex / 1e6:.0f} MFLOP executed ({ex / blur_ms / 1e6:.1f} GFLOP/s; sgemm 1024^3 "
        f"{gemm:.0f}) of which {useful / 1e6:.0f} useful (the band matrices are {ex / useful:.1f}x the taps)"
    )
    print(
        f"   elementwise numpy (planes, products, formula): {elem_ms:.1f} ms, {elem_b / 1e6:.0f} MB -> "
        f"{elem_b / elem_ms / 1e6:.1f} GB/s (copy: {bw[4 << 20]:.0f} GB/s at 4 MB, {bw[256 << 20]:.0f} at 256 MB)"
    )
    print(
        f"   temporaries: {traffic['temps']} arrays of 0.1-1 MB per variant (band working set "
        f"~{(42 * 12 * a.shape[1] * 4 * 3) / 1e6:.1f} MB at scale 0: past L2)"
    )


# -- 3. the numba kernel, part by part -----------------------------------------------------------


def report_numba_profile(a: np.ndarray, b: np.ndarray, repeat: int) -> None:
    k = pixel_numba.kernels()
    ref = pixel.Reference(a)
    pixel.pixel_metrics(ref, b)
    ys = [b]
    for _ in range(4):
        ys.append(k["half"](ys[-1]))
    total = best_ms(lambda: pixel.pixel_metrics(ref, b), repeat)
    parts = {
        "PSNR squared errors": best_ms(lambda: k["squared_errors"](a, b), repeat),
        "variant 2x2 pooling, 4 scales": best_ms(lambda: [k["half"](y) for y in ys[:4]], repeat),
        "scale 0 (RGB + luma)": best_ms(lambda: pixel._ssim_sums_numba(k, ref, 0, b), repeat),
        "scales 1-4": best_ms(lambda: [pixel._ssim_sums_numba(k, ref, i, ys[i]) for i in range(1, 5)], repeat),
    }
    h, w = a.shape[:2]
    moments = sum(m.nbytes for pair in ref.moments for m in pair)
    print(f"\n3. numba kernel, same variant: {total:.1f} ms/variant")
    for label, ms in parts.items():
        print(f"   {label:38s} {ms:6.2f}")
    print(
        f"   reads the two uint8 images ({2 * 3 * h * w / 1e6:.1f} MB) and the source's moments ({moments / 1e6:.1f} MB) "
        f"once; working set ~{11 * 12 * w * 4 / 1e6:.2f} MB (ring of 11 rows x 12 maps): L2"
    )


# -- 4. old and new alternated ---------------------------------------------------------------------


def compare(repeat: int) -> None:
    print("\n4. numpy vs numba per variant, alternated (ms, fastest of", repeat, "); max |numba - numpy|")
    worst = {key: (0.0, "") for key in KEYS}
    ratios = []
    for name, a in photographs().items():
        refs = {"moments kept": pixel.Reference(a), "moments per band": pixel.Reference(a, moments_budget=0)}
        t_old, t_new = [], []
        for q in QUALITIES:
            b = jpeg(a, q)
            for kind, ref in refs.items():
                old, new = pixel.pixel_metrics_numpy(ref, b), pixel.pixel_metrics(ref, b)
                for key in KEYS:
                    if key.startswith("psnr"):
                        assert old[key] == new[key], (name, q, key)  # both exact
                    elif old[key] is not None:
                        d = abs(old[key] - new[key])
                        if d >= worst[key][0]:
                            worst[key] = (d, f"{name} q{q} {kind}")
            b = jpeg(a, 50)
            ref = refs["moments kept"]
            for _ in range(max(1, repeat // len(QUALITIES))):
                start = time.process_time()
                pixel.pixel_metrics_numpy(ref, b)
                mid = time.process_time()
                pixel.pixel_metrics(ref, b)
                t_old.append(mid - start)
                t_new.append(time.process_time() - mid)
        old_ms, new_ms = 1000 * min(t_old), 1000 * min(t_new)
        ratios.append(old_ms / new_ms)
        print(
            f"   {name:14s} {a.shape[1]:4d}x{a.shape[0]:<4d} numpy {old_ms:6.1f}  numba {new_ms:6.1f}  {old_ms / new_ms:.2f}x"
        )
    print(f"   speed-up {min(ratios):.2f}x-{max(ratios):.2f}x; PSNR, PSNR-Y identical")
    for key, (d, where) in worst.items():
        if not key.startswith("psnr"):
            print(f"   max |diff| {key:8s} {d:.1e}  ({where})")


# -- 5. cheaper numpy changes ----------------------------------------------------------------------


def numpy_alternatives(a: np.ndarray, b: np.ndarray, repeat: int) -> None:
    import scipy.ndimage as ndi

    ref = pixel.Reference(a)
    base = pixel.pixel_metrics_numpy(ref, b)
    today = best_ms(lambda: pixel.pixel_metrics_numpy(ref, b), repeat)
    taps = pixel._band_matrix(1)[0]

    def nd_blur(maps):
        v = ndi.correlate1d(maps, taps, axis=0, mode="constant")[5:-5]
        return ndi.correlate1d(v, taps, axis=2, mode="constant")[:, :, 5:-5]

    def trial(label):
        m = pixel.pixel_metrics_numpy(pixel.Reference(a), b)
        ms = best_ms(lambda: pixel.pixel_metrics_numpy(ref, b), repeat)
        diff = max(abs(m[k] - base[k]) for k in ("ssim", "ms_ssim", "ssim_y"))
        print(f"   {label:44s} {ms:6.1f} ms ({today / ms:.2f}x), max |diff| {diff:.1e}")

    print(f"\n5. cheaper numpy changes (today {today:.1f} ms/variant)")
    saved = pixel._blur, pixel.BAND_ROWS, pixel._COLS
    try:
        pixel._blur = nd_blur
        trial("blurs: scipy.ndimage.correlate1d (float32)")
        pixel._blur = saved[0]
        for rows, cols in ((16, 32), (64, 32), (32, 16), (32, 64), (128, 64)):
            pixel.BAND_ROWS, pixel._COLS = rows, cols
            trial(f"BAND_ROWS {rows}, blur column blocks {cols}")
    finally:
        pixel._blur, pixel.BAND_ROWS, pixel._COLS = saved


# -- 6. start-up -----------------------------------------------------------------------------------


def memory_mb() -> dict[str, float]:
    """RSS and its private (dirty) part of this process, MB (Linux)."""
    out = {}
    for line in pathlib.Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, *rest = line.split()
        if key in ("Rss:", "Private_Dirty:"):
            out[key[:-1]] = int(rest[0]) / 1024
    return out


def startup_child() -> None:
    """In a fresh process: what a job pays before its first variant, as JSON."""
    before = memory_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    marks = {}

    def mark(name):
        marks[name] = (time.perf_counter() - wall, time.process_time() - cpu)

    pixel_numba.kernels()  # import numba, wrap the kernels
    mark("import numba")
    a = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    ref = pixel.Reference(a)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    pixel.pixel_metrics(ref, a // 2)  # every kernel and signature a variant needs
    marks["first variant"] = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
    after = memory_mb()
    marks["memory"] = (after["Rss"] - before["Rss"], after["Private_Dirty"] - before["Private_Dirty"])
    print(json.dumps(marks))


def startup() -> None:
    print("\n6. start-up per job (fresh processes; wall s / CPU s)")
    base = [sys.executable, "-c", "import time; t = time.perf_counter(); import numpy; print(time.perf_counter() - t)"]
    numpy_s = float(subprocess.run(base, check=True, capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("empty cache (compiles)", "second process (cache)", "third process (cache)"):
            cmd = [sys.executable, __file__, "--startup-child"]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
            (iw, ic), (fw, fc), (rss, private) = r["import numba"], r["first variant"], r["memory"]
            print(
                f"   {label:24s} import numba {iw:5.2f} / {ic:5.2f}   first variant {fw:5.2f} / {fc:5.2f}   "
                f"+{rss:.0f} MB RSS ({private:.0f} private)"
            )
        size = sum(p.stat().st_size for p in pathlib.Path(cache).rglob("*") if p.is_file())
        print(f"   (numpy's import: {numpy_s:.2f} s wall; the cache holds {size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup_child:
        startup_child()
        return
    bw, gemm = bandwidth(args.repeat), sgemm_gflops(args.repeat)
    print("1. machine, one thread: copy GB/s (read + write) by size:", end="")
    print(", ".join(f" {s >> 10} kB {g:.0f}" for s, g in bw.items()), f"; sgemm {gemm:.0f} GFLOP/s")
    import skimage.data

    a = np.ascontiguousarray(skimage.data.astronaut())
    b = jpeg(a, 50)
    report_numpy_profile("astronaut JPEG q50", a, b, args.repeat, bw, gemm)
    report_numba_profile(a, b, args.repeat)
    compare(args.repeat)
    numpy_alternatives(a, b, max(5, args.repeat // 2))
    if not args.skip_startup:
        startup()


if __name__ == "__main__":
    main()
