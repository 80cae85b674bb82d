"""benchmarks/gpu_benchmark.py --quick runs on the CPU and its JSON holds every figure (~20 s)."""

import json

import torch

from benchmarks.gpu_benchmark import main


def _positive(value) -> bool:
    return isinstance(value, int | float) and value > 0 and value != float("inf")


def test_quick_run_writes_every_figure(tmp_path):
    out = tmp_path / "gpu_benchmark.json"
    threads = torch.get_num_threads()
    returned = main(["--quick", "--json", str(out)])
    assert torch.get_num_threads() == threads  # --quick's one thread is put back
    figures = json.loads(out.read_text())
    assert figures == json.loads(json.dumps(returned))
    assert "errors" not in figures, figures.get("errors")
    cuda = torch.cuda.is_available()
    assert figures["device"]["cuda"] is cuda

    for net in ("efficientnet_lite0", "resnet50"):
        assert figures["classification"][net]["errors"] == [], net
        for path in ("pil+numpy", "pil+torch", "tvjpeg+torch", "model_only"):
            rates = figures["classification"][net][path]
            assert set(rates) == {"1", "2"}, (net, path)
            assert all(_positive(r) for r in rates.values()), (net, path, rates)

    metrics = figures["metrics"]
    assert set(metrics["torch"]) == {"1", "4", "8"}
    assert all(_positive(r) for r in metrics["torch"].values())
    assert _positive(metrics["cpu_numpy"])

    side = figures["cpu_side"]
    assert set(side["steps_core_ms"]) >= {"decode", "resize", "pixel", "preprocess"}
    assert _positive(side["core_ms_per_variant"])
    assert side["core_ms_per_variant"] >= max(side["steps_core_ms"].values())

    proj = figures["projection"]["microbenchmarks"]
    assert proj["cpu_ms"] == side["core_ms_per_variant"]
    assert _positive(proj["hours"]) and proj["hours"] >= proj["cpu_hours"]
    assert abs(proj["cpu_hours"] - 21.6e6 * proj["cpu_ms"] / proj["cores"] / 3.6e6) < 1e-9
    if not cuda:  # no GPU figures, and no verdicts on targets set for a GPU machine
        assert figures["projection"]["gpu_ms"] is None and proj["gpu_hours"] is None
        assert figures["verdicts"] and all(v["meets"] is None for v in figures["verdicts"].values())
    assert "study" not in figures  # --quick never runs the study
