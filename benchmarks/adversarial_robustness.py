"""Robust accuracy of standard, FGSM- and PGD-trained runs (Goodfellow et al., 2015, arXiv:1412.6572;
Madry et al., 2018, arXiv:1706.06083): accuracy under PGD (L-inf, 20 steps, random start, step
2.5 eps / 20) at several eps, on the same 1,000 Fashion-MNIST test images, and under FGSM at 0.1.

    python benchmarks/adversarial_robustness.py standard=runs/std fgsm=runs/fgsm pgd=runs/pgd

The runs are trained beforehand with the default LeNet-5 configuration, e.g.
``cnnkit train --name std``, ``cnnkit train --name fgsm --adversarial fgsm --eps 0.1`` and
``cnnkit train --name pgd --adversarial pgd --eps 0.1 --adv-steps 5 --epochs 4``; each run's
mean training epoch time (its metrics.jsonl) is reported next to its accuracies.

Prints a table and writes benchmarks/results/adversarial_robustness.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from _common import environment, write_result

from cnnkit.attacks import FGSM, PGD
from cnnkit.runs import read_metrics
from cnnkit.runs import open_model, sample_images

EPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
IMAGES, CHUNK = 1000, 250


def robust_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Accuracy under PGD-20 with a random start (eps 0: clean accuracy)."""
    if eps == 0:
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())
    attack = PGD(eps=eps, steps=20, random_start=True, seed=0)
    correct = sum(attack(model, x[i:i + CHUNK], y[i:i + CHUNK]).adv_pred.eq(y[i:i + CHUNK]).sum().item()
                  for i in range(0, len(x), CHUNK))
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR pairs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"benchmark": "adversarial_robustness", "images": IMAGES, "attack": "PGD L-inf, 20 steps, random start",
              "runs": {}, "environment": environment()}
    for pair in args.runs:
        name, path = pair.split("=", 1)
        run = open_model(path, device="cpu")
        x, y = sample_images(run, IMAGES, split="test", seed=0)  # the same images for every run
        config = json.loads((Path(path) / "config.json").read_text())
        row = {
            "run": str(path),
            "adversarial": {k: config.get(k) for k in ("adversarial", "adv_eps", "adv_steps", "adv_alpha", "adv_ratio")},
            "epochs": config["epochs"],
            "epoch_seconds": statistics.fmean(m["seconds"] for m in read_metrics(path)),
            "pgd20": {str(eps): robust_accuracy(run.model, x, y, eps) for eps in EPS},
            "fgsm_0.1": FGSM(eps=0.1)(run.model, x, y).adv_accuracy,
        }
        result["runs"][name] = row
        cells = "  ".join(f"{v:6.1%}" for v in row["pgd20"].values())
        print(f"{name:10s} {cells}   FGSM@0.1 {row['fgsm_0.1']:6.1%}   {row['epoch_seconds']:7.1f} s/epoch", flush=True)
    print(f"{'eps':10s} " + "  ".join(f"{eps:6}" for eps in EPS))
    print(f"results: {write_result('adversarial_robustness', result)}")


if __name__ == "__main__":
    main()
