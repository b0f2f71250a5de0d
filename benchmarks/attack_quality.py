"""How small are the minimum-norm attacks' perturbations, and how far does one universal v reach?

    python benchmarks/attack_quality.py [--run /work/runs/fm-lenet5] [--count 1000] [--threads 1]

  * Per image of `count` Fashion-MNIST test images the model gets right: the L2 norm of FGSM
    at the smallest eps of a grid (0.005 .. 0.3, step 0.005) that fools it, against the L2 of
    DeepFool (L2), L-BFGS and Carlini & Wagner L2 on the same images (the images every method
    fools). The issue asks DeepFool and L-BFGS to be smaller than FGSM.
  * Universal perturbations (Moosavi-Dezfooli et al., 2017) fitted on `fit_count` training
    images (at most `passes` passes, target fooling rate 0.8), fooling rate measured on the HELD-OUT test images, at the paper's relative size:
    its ImageNet runs use L-inf xi = 10 (of 255) and L2 xi = 2000 against a typical image L2
    norm of ~5e4, i.e. ||v|| / E||x|| = 0.039 (L-inf, pixel range 1) and 0.04 (L2); the
    paper's fooling rates there are ~78-93% (table 1). Larger multiples are listed too.
Writes benchmarks/results/attack_quality.json.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import environment, write_result

from cnnkit.attacks import (
    FGSM,
    LBFGS,
    CarliniWagnerL2,
    DeepFool,
    UniversalPerturbation,
    fooling_rate,
)
from cnnkit.runs import open_model, sample_images

EPS_GRID = [round(0.005 * k, 3) for k in range(1, 61)]
PAPER_RELATIVE = {"inf": 10 / 255, "2": 2000 / 5e4}


def smallest_fgsm(model, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, L2 and eps of FGSM at the smallest fooling eps of the grid (inf where none fools)."""
    l2 = torch.full((len(x),), float("inf"))
    eps_at = torch.full((len(x),), float("inf"))
    for eps in reversed(EPS_GRID):
        result = FGSM(eps=eps)(model, x, y)
        l2 = torch.where(result.success, result.l2, l2)
        eps_at = torch.where(result.success, torch.tensor(eps), eps_at)
    return l2, eps_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="/work/runs/fm-lenet5")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--fit-count", type=int, default=500)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--multiples", type=float, nargs="+", default=[1, 4], help="of the paper's relative xi")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-universal", action="store_true")
    parser.add_argument("--skip-minimum-norm", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = open_model(args.run)
    x, y = sample_images(run, args.count, seed=0)
    result: dict = {"benchmark": "attack_quality", "environment": environment(), "run": args.run,
                    "count": args.count}

    if not args.skip_minimum_norm:
        fgsm_l2, fgsm_eps = smallest_fgsm(run.model, x, y)
        methods = {
            "deepfool_l2": DeepFool(norm="2"),
            "lbfgs": LBFGS(),
            "carlini_wagner_l2": CarliniWagnerL2(steps=100, binary_search_steps=5),
        }
        outcomes, seconds = {}, {}
        for name, attack in methods.items():
            began = time.perf_counter()
            outcomes[name] = attack(run.model, x, y)
            seconds[name] = time.perf_counter() - began
            print(f"{name}: {seconds[name]:.1f} s, success {outcomes[name].success_rate:.3f}", flush=True)
        correct = outcomes["deepfool_l2"].clean_pred.eq(y)
        common = correct & torch.isfinite(fgsm_l2)
        for outcome in outcomes.values():
            common &= outcome.success
        table = {"fgsm_smallest_eps": {"mean_l2": float(fgsm_l2[common].mean()),
                                       "median_l2": float(fgsm_l2[common].median()),
                                       "mean_eps": float(fgsm_eps[common].mean()),
                                       "success_on_correct": float(torch.isfinite(fgsm_l2)[correct].float().mean())}}
        for name, outcome in outcomes.items():
            table[name] = {"mean_l2": float(outcome.l2[common].mean()), "median_l2": float(outcome.l2[common].median()),
                           "mean_linf": float(outcome.linf[common].mean()),
                           "success_on_correct": float(outcome.success[correct].float().mean()),
                           "mean_queries": float(outcome.queries[correct].float().mean()), "seconds": seconds[name],
                           "ratio_to_fgsm": float(outcome.l2[common].mean() / fgsm_l2[common].mean())}
        result["minimum_norm"] = {"images_compared": int(common.sum()), "correct": int(correct.sum()), **table}
        print(f"\n{'method':<22}{'mean L2':>10}{'median L2':>11}{'/ FGSM':>8}   on {int(common.sum())} images")
        for name, row in table.items():
            print(f"{name:<22}{row['mean_l2']:>10.3f}{row['median_l2']:>11.3f}{row.get('ratio_to_fgsm', 1.0):>8.2f}")


    if not args.skip_universal:
        fit_x, _ = sample_images(run, args.fit_count, split="train", seed=1)
        mean_norm = {"2": float(x.flatten(1).norm(dim=1).mean()), "inf": float(x.flatten(1).abs().amax(1).mean())}
        rows = []
        for norm in ("inf", "2"):
            for multiple in args.multiples:
                relative = PAPER_RELATIVE[norm] * multiple
                xi = min(relative * mean_norm[norm], 1.0) if norm == "inf" else relative * mean_norm[norm]
                universal = UniversalPerturbation(xi=xi, norm=norm, fooling_target=0.8, max_passes=args.passes,
                                                 deepfool_steps=10)
                began = time.perf_counter()
                v = universal.fit(run.model, fit_x)
                rows.append({"norm": norm, "relative": relative, "xi": xi, "seconds": time.perf_counter() - began,
                             "fooling_fit": fooling_rate(run.model, fit_x, v),
                             "fooling_held_out": fooling_rate(run.model, x, v)})
                print(f"universal {norm} xi={xi:.3f} (||v||/E||x|| {relative:.3f}): fit {rows[-1]['fooling_fit']:.3f} "
                      f"held-out {rows[-1]['fooling_held_out']:.3f} ({rows[-1]['seconds']:.0f} s)", flush=True)
        result["universal"] = {"fit_count": args.fit_count, "passes": args.passes, "mean_image_norm": mean_norm, "rows": rows,
                               "paper_relative": PAPER_RELATIVE,
                               "paper": "ImageNet, table 1: 78-93% fooling at these relative sizes"}
    print(f"wrote {write_result('attack_quality', result)}")


if __name__ == "__main__":
    main()
