"""Training throughput of LeNet-5 on Fashion-MNIST: cnnkit's loop against the loop a user
writes today (pytorch/examples mnist/main.py: a DataLoader over a Dataset that converts and
normalises each item, batch 64, Adadelta), on the same model, alternating the two sides.

    python benchmarks/train_speed.py [--repeats 3] [--threads 2]

Prints a table and writes benchmarks/results/train_speed.json. The measured quantity is
images/s over one full training epoch (60,000 images), evaluation excluded on both sides.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch
import torch.nn.functional as F
from _common import PerItemDataset, baseline_epoch, environment, fashion_arrays, summary, write_result

from cnnkit.layers import Normalize
from cnnkit.models import create_model
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit


def cnnkit_images_per_s(threads: int, seed: int, amp: str = "auto") -> float:
    """One epoch of `cnnkit train` (its defaults: LeNet-5, batch 128) and its measured images/s."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(model="lenet5", data="fashion-mnist", epochs=1, threads=threads, seed=seed, out=out,
                             amp=amp)
        run = fit(config, progress=False)
        return read_metrics(run.run_dir)[0]["images_per_s"]


def baseline_images_per_s(images, labels, seed: int) -> float:
    """One epoch of the pytorch/examples loop on LeNet-5: per-item conversion, batch 64, Adadelta."""
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(PerItemDataset(images, labels), batch_size=64, shuffle=True)
    model = torch.nn.Sequential(Normalize([0.0], [1.0]), create_model("lenet5"))  # same model as cnnkit's
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    seen, seconds = baseline_epoch(model, loader, optimizer, F.cross_entropy)
    return seen / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, labels = fashion_arrays("train")

    ours, ours_fp32, theirs = [], [], []
    cnnkit_images_per_s(args.threads, seed=100)  # warm-up: first-call allocations, oneDNN kernels
    for repeat in range(args.repeats):            # alternate the sides so drift hits all three
        ours.append(cnnkit_images_per_s(args.threads, seed=repeat))
        ours_fp32.append(cnnkit_images_per_s(args.threads, seed=repeat, amp="off"))
        theirs.append(baseline_images_per_s(images, labels, seed=repeat))
        print(f"repeat {repeat + 1}: cnnkit {ours[-1]:8.0f} img/s   cnnkit --amp off {ours_fp32[-1]:8.0f} img/s   "
              f"baseline {theirs[-1]:8.0f} img/s", flush=True)

    ratios = [a / b for a, b in zip(ours, theirs)]
    ratios_fp32 = [a / b for a, b in zip(ours_fp32, theirs)]
    result = {
        "benchmark": "train_speed",
        "model": "lenet5",
        "dataset": "fashion-mnist",
        "cnnkit_images_per_s": summary(ours),
        "cnnkit_fp32_images_per_s": summary(ours_fp32),
        "baseline_images_per_s": summary(theirs),
        "ratio": summary(ratios),
        "ratio_fp32": summary(ratios_fp32),
        "target_ratio": 2.0,
        "environment": environment(),
    }
    path = write_result("train_speed", result)
    print(f"\n{'side':<18}{'median img/s':>14}{'min':>10}{'max':>10}")
    for side, values in (("cnnkit", ours), ("cnnkit --amp off", ours_fp32), ("baseline", theirs)):
        print(f"{side:<18}{statistics.median(values):>14.0f}{min(values):>10.0f}{max(values):>10.0f}")
    print(f"ratio (median of per-repeat ratios): {result['ratio']['median']:.2f}x  (target >= 2.0x); "
          f"float32 only: {result['ratio_fp32']['median']:.2f}x")
    print(f"CPU: {result['environment']['cpu']}, threads {args.threads}; wrote {path}")


if __name__ == "__main__":
    main()
