"""Attribution throughput: cnnkit.explain against captum on the same model, batch and settings.

    python benchmarks/explain_speed.py [--repeats 5] [--threads 2]   (needs captum importable)

  * gradient saliency (Simonyan et al., 2013): cnnkit.explain.saliency against
    captum.attr.Saliency (abs=True; reduced to max over channels, as cnnkit returns);
  * Integrated Gradients, 64 midpoint-rule steps (cnnkit's default), black baseline (Sundararajan et al., 2017):
    cnnkit.explain.integrated_gradients against captum.attr.IntegratedGradients;
  * SmoothGrad, 50 samples, sigma = 0.15 x the image's range (Smilkov et al., 2017):
    cnnkit.explain.smoothgrad against captum.attr.NoiseTunnel(Saliency) with nt_type="smoothgrad".

Models: the trained LeNet-5 of /work/runs/fm-lenet5 (Fashion-MNIST test images, batch 64) and a
ResNet-18 at 32x32 (fresh seeded weights, random images, batch 4). Every image is stretched to
the range [0, 1] exactly, so captum's single stdev equals cnnkit's per-image sigma, and
SmoothGrad's outputs are compared with the same noise (captum draws from torch's global RNG
seeded like cnnkit's generator, one draw for all rows). Each tool keeps its default chunking in
the timed runs. Target: cnnkit >= 1.0x captum's throughput. On a shared, loaded machine use --threads 1:
two OpenMP threads per process on an oversubscribed CPU made small ResNet batches ~50x slower
and the ratios noise. Writes benchmarks/results/explain_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import environment, summary, write_result

from cnnkit.explain.attribution.paths import integrated_gradients
from cnnkit.explain.attribution.gradients import saliency
from cnnkit.explain.attribution.gradients import smoothgrad, smoothgrad_gradient
from cnnkit.runs import open_model, sample_images

LENET_RUN = Path("/work/runs/fm-lenet5")
STEPS, SAMPLES, NOISE, SEED = 64, 50, 0.15, 0


def stretched(x: torch.Tensor) -> torch.Tensor:
    """Each image rescaled to min 0, max 1, so its range (SmoothGrad's sigma unit) is exactly 1."""
    flat = x.flatten(1)
    low, high = flat.amin(1)[:, None, None, None], flat.amax(1)[:, None, None, None]
    return (x - low) / (high - low)


def cases() -> list[tuple[str, torch.nn.Module, torch.Tensor, torch.Tensor]]:
    """(name, model, images, target classes) of each benchmarked setting."""
    found = []
    if LENET_RUN.is_dir():
        run = open_model(LENET_RUN)
        x, _ = sample_images(run, 64, seed=0)
        x = stretched(x)
        with torch.no_grad():
            found.append(("LeNet-5 (trained), 1x28x28, batch 64", run.model, x, run.model(x).argmax(1)))
    else:
        print(f"(skipping LeNet-5: {LENET_RUN} not found)")
    run = open_model("resnet18", input_size=32, in_chans=3, num_classes=10, seed=0)
    x = stretched(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        found.append(("ResNet-18 (fresh), 3x32x32, batch 4", run.model, x, run.model(x).argmax(1)))
    return found


def methods(model, x, target, captum):  # type: ignore[no-untyped-def]
    """name -> (cnnkit call, captum call, check) for one model and batch; check gives max |diff|."""
    sal, ig, nt = captum.Saliency(model), captum.IntegratedGradients(model), captum.NoiseTunnel(captum.Saliency(model))
    rows = x.shape[0] * SAMPLES

    def captum_smooth(abs_: bool = True) -> torch.Tensor:
        torch.manual_seed(SEED)
        return nt.attribute(x, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=NOISE, target=target, abs=abs_)

    def check_smooth() -> float:
        ours = smoothgrad_gradient(model, x, target, samples=SAMPLES, noise=NOISE, seed=SEED, batch_size=rows)
        return float((ours - captum_smooth(False)).abs().max())

    return {
        "saliency": (lambda: saliency(model, x, target),
                     lambda: sal.attribute(x, target=target, abs=True).amax(1),
                     lambda: float((saliency(model, x, target) - sal.attribute(x, target=target).amax(1)).abs().max())),
        f"integrated gradients ({STEPS} steps)": (
            lambda: integrated_gradients(model, x, target, steps=STEPS),
            lambda: ig.attribute(x, baselines=0.0, target=target, n_steps=STEPS, method="riemann_middle"),
            lambda: float((integrated_gradients(model, x, target, steps=STEPS)
                           - ig.attribute(x, baselines=0.0, target=target, n_steps=STEPS,
                                          method="riemann_middle")).abs().max())),
        f"smoothgrad ({SAMPLES} samples)": (
            lambda: smoothgrad(model, x, target, samples=SAMPLES, noise=NOISE, seed=SEED),
            lambda: captum_smooth(False).abs().amax(1),
            check_smooth),
    }


def alternate(ours: Callable[[], object], theirs: Callable[[], object], repeats: int,
              least: float = 1.0) -> tuple[list[float], list[float]]:
    """Seconds per call of both: one warm-up each, then ``repeats`` rounds alternating which runs
    first; a round repeats a fast call until it lasts about ``least`` seconds (less scheduler noise)."""
    began = time.perf_counter()
    ours()
    theirs()
    inner = max(1, round(least / max((time.perf_counter() - began) / 2, 1e-6)))
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(repeats):
        order = [(0, ours), (1, theirs)] if r % 2 == 0 else [(1, theirs), (0, ours)]
        for slot, call in order:
            began = time.perf_counter()
            for _ in range(inner):
                call()
            times[slot].append((time.perf_counter() - began) / inner)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import captum.attr as captum
    except ImportError as err:
        print(f"captum is not importable ({err}); install it (pip install --no-deps captum, plus tqdm and "
              "packaging) to compare. Nothing measured.")
        return
    import captum as captum_pkg

    results, rows = [], []
    for case, model, x, target in cases():
        for name, (ours, theirs, check) in methods(model, x, target, captum).items():
            diff = check()
            ours_t, theirs_t = alternate(ours, theirs, args.repeats)
            ratio = statistics.median(theirs_t) / statistics.median(ours_t)
            images = x.shape[0]
            results.append({"model": case, "method": name, "images": images,
                            "cnnkit_seconds": summary(ours_t), "captum_seconds": summary(theirs_t),
                            "cnnkit_images_per_s": images / statistics.median(ours_t),
                            "captum_images_per_s": images / statistics.median(theirs_t),
                            "speedup": ratio, "max_abs_diff": diff})
            rows.append((case, name, images / statistics.median(ours_t), images / statistics.median(theirs_t),
                         ratio, diff))
            print(f"{case:38s} {name:32s} cnnkit {rows[-1][2]:9.1f} img/s  captum {rows[-1][3]:9.1f} img/s  "
                  f"{ratio:5.2f}x  max|diff| {diff:.1e}", flush=True)
    env = environment() | {"captum": captum_pkg.__version__, "threads": args.threads, "repeats": args.repeats}
    path = write_result("explain_speed", {"environment": env, "target": "cnnkit >= 1.0x captum", "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
