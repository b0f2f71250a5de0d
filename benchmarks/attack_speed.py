"""cnnkit's attacks against torchattacks (and ART's universal perturbation), side by side in one run.

    /tmp/attack-venv/bin/python benchmarks/attack_speed.py [--repeats 5] [--threads 1]

Peers (installed into a venv of their own, torch kept at the project's version):
    pip install -c constraints.txt -e . && pip install --no-deps torchattacks adversarial-robustness-toolbox
    pip install scipy scikit-learn tqdm six setuptools
A missing peer is skipped with a message.

  * FGSM (eps 8/255), PGD (L-inf, eps 8/255, alpha 2/255, 10 steps; without random start, and
    with it drawn from the same seeded noise on both sides) and DeepFool (L2, 50 steps,
    overshoot 0.02, all classes as candidates) on the trained LeNet-5 run (Fashion-MNIST test
    images) and on an untrained ResNet-18 at 32x32 (random images). Time per batch, cnnkit
    and torchattacks alternating in one process after a warm-up; images/s; torchattacks' time
    also plus the two forwards that give the clean and adversarial predictions, which cnnkit's
    AttackResult holds (cnnkit's base class runs them on every call); the max abs
    difference of x_adv where the algorithms are the same (FGSM, PGD). torchattacks' DeepFool
    steps from the current point each time (x <- x + (1 + overshoot) r_i) while the paper's
    code, and cnnkit, scale the accumulated step, so for DeepFool the table compares success
    and mean L2 instead of x_adv.
  * Universal perturbation on LeNet-5: cnnkit (batched, and batch_size=1: the paper's loop)
    against ART's UniversalPerturbation (DeepFool attacker), same images, xi, passes and
    target rate: seconds and fooling rate on the fitting and on held-out images.
Writes benchmarks/results/attack_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import environment, summary, write_result

from cnnkit.attacks import FGSM, PGD, DeepFool, UniversalPerturbation, fooling_rate
from cnnkit.runs import open_model, sample_images

try:
    import torchattacks
except ImportError as error:  # the peer is optional
    torchattacks = None
    TORCHATTACKS_MISSING = str(error)


def timed(call):
    began = time.perf_counter()
    out = call()
    return time.perf_counter() - began, out


def pairs(model, x, y, seed: int = 0) -> dict:
    """name -> (cnnkit call, torchattacks call, identical algorithm?)."""
    eps, alpha = 8 / 255, 2 / 255

    def peer_pgd(random_start: bool):
        def call():
            torch.manual_seed(seed)  # torchattacks draws its start from the global generator: the same noise
            return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=10, random_start=random_start)(x, y)
        return call

    return {
        "fgsm": (lambda: FGSM(eps=eps)(model, x, y).x_adv, lambda: torchattacks.FGSM(model, eps=eps)(x, y), True),
        "pgd10": (lambda: PGD(eps=eps, alpha=alpha, steps=10, random_start=False)(model, x, y).x_adv,
                  peer_pgd(False), True),
        "pgd10_random_start": (lambda: PGD(eps=eps, alpha=alpha, steps=10, seed=seed)(model, x, y).x_adv,
                               peer_pgd(True), True),
        "deepfool": (lambda: DeepFool(steps=50, overshoot=0.02, candidates=10)(model, x, y).x_adv,
                     lambda: torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y), False),
    }


def predictions(model, x, x_adv) -> tuple:
    """What cnnkit's AttackResult also holds and a torchattacks user computes next: clean and adversarial labels."""
    with torch.no_grad():
        return model(x).argmax(1), model(x_adv).argmax(1)


def compare(label: str, model, x, y, repeats: int, results: dict) -> None:
    with torch.no_grad():
        clean = model(x).argmax(1)
    for name, (ours, theirs, same) in pairs(model, x, y).items():
        slow = name == "deepfool"
        ours()                                              # warm-up (the peer's DeepFool: too slow to repeat)
        if not slow:
            theirs()
        times_ours, times_theirs, times_outputs = [], [], []
        for _ in range(max(2, repeats // 2) if slow else repeats):
            t, adv_ours = timed(ours)
            times_ours.append(t)
            t, adv_theirs = timed(theirs)
            times_theirs.append(t)
            t, _ = timed(lambda: predictions(model, x, adv_theirs))
            times_outputs.append(times_theirs[-1] + t)
        with torch.no_grad():
            fooled = [model(a).argmax(1).ne(y) & clean.eq(y) for a in (adv_ours, adv_theirs)]
        l2 = [(a - x).flatten(1).norm(dim=1) for a in (adv_ours, adv_theirs)]
        row = {"batch": len(x), "cnnkit_s": summary(times_ours), "torchattacks_s": summary(times_theirs),
               "speedup": summary([t / o for o, t in zip(times_ours, times_theirs)]),
               "torchattacks_plus_predictions_s": summary(times_outputs),
               "speedup_same_outputs": summary([t / o for o, t in zip(times_ours, times_outputs)]),
               "cnnkit_images_per_s": len(x) / statistics.median(times_ours),
               "torchattacks_images_per_s": len(x) / statistics.median(times_theirs),
               "success": [float(f.sum() / clean.eq(y).sum()) for f in fooled],
               "mean_l2_fooled": [float(d[f].mean()) if f.any() else None for d, f in zip(l2, fooled)],
               "same_algorithm": same}
        if same:
            row["max_abs_diff_x_adv"] = float((adv_ours - adv_theirs).abs().max())
        results[f"{label}/{name}"] = row
        print(f"{label}/{name:<20} cnnkit {statistics.median(times_ours):8.4f} s  torchattacks "
              f"{statistics.median(times_theirs):8.4f} s  speedup {row['speedup']['median']:6.2f}x "
              f"({row['speedup_same_outputs']['median']:5.2f}x with predictions)  "
              + (f"max|diff| {row['max_abs_diff_x_adv']:.2e}" if same else
                 f"success {row['success'][0]:.3f}/{row['success'][1]:.3f} "
                 f"L2 {row['mean_l2_fooled'][0]:.3f}/{row['mean_l2_fooled'][1]:.3f}"), flush=True)


def universal(run, fit_x, test_x, xi: float, passes: int, results: dict) -> None:
    model = run.model
    rows = {}
    for name, batch in (("cnnkit_batched", 32), ("cnnkit_paper_loop", 1)):
        uap = UniversalPerturbation(xi=xi, norm="inf", fooling_target=0.8, max_passes=passes, deepfool_steps=10,
                                    batch_size=batch)
        t, v = timed(lambda: uap.fit(model, fit_x))
        rows[name] = {"seconds": t, "fooling_fit": fooling_rate(model, fit_x, v),
                      "fooling_held_out": fooling_rate(model, test_x, v), "linf": float(v.abs().max())}
    try:
        from art.attacks.evasion import UniversalPerturbation as ArtUAP
        from art.estimators.classification import PyTorchClassifier
    except ImportError as error:
        rows["art"] = {"skipped": f"adversarial-robustness-toolbox not importable: {error}"}
    else:
        classifier = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(fit_x.shape[1:]),
                                       nb_classes=len(run.info.classes), clip_values=(0.0, 1.0))
        art = ArtUAP(classifier, attacker="deepfool", delta=0.2, max_iter=passes, eps=xi, norm=np.inf,
                     attacker_params={"max_iter": 10, "epsilon": 0.02, "nb_grads": 10, "verbose": False},
                     batch_size=256, verbose=False)
        np.random.seed(0)
        t, _ = timed(lambda: art.generate(fit_x.numpy()))
        v = torch.from_numpy(np.asarray(art.noise))[0]
        rows["art"] = {"seconds": t, "fooling_fit": fooling_rate(model, fit_x, v),
                       "fooling_held_out": fooling_rate(model, test_x, v), "linf": float(v.abs().max())}
    for name, row in rows.items():
        print(f"universal {name:<18} " + ("  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in row.items())), flush=True)
    results["universal_lenet5"] = {"xi": xi, "norm": "inf", "passes": passes, "fit_images": len(fit_x),
                                   "held_out_images": len(test_x), **rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run", default="/work/runs/fm-lenet5")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--resnet-batch", type=int, default=16)
    parser.add_argument("--skip-universal", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results: dict = {"benchmark": "attack_speed", "environment": environment(), "threads": args.threads}
    run = open_model(args.run)
    x, y = sample_images(run, args.batch, seed=0)
    if torchattacks is None:
        print(f"torchattacks is not installed ({TORCHATTACKS_MISSING}): skipping the FGSM/PGD/DeepFool comparison")
        results["torchattacks"] = "skipped: not installed"
    else:
        results["torchattacks_version"] = torchattacks.__version__
        compare("lenet5", run.model, x, y, args.repeats, results)
        resnet = open_model("resnet18", num_classes=10, in_chans=3, input_size=32, seed=0)
        xr = torch.rand(args.resnet_batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            yr = resnet.model(xr).argmax(1)            # untrained: attack its own predictions
        compare("resnet18_32px_untrained", resnet.model, xr, yr, args.repeats, results)
    if not args.skip_universal:
        fit_x, _ = sample_images(run, 500, split="train", seed=1)
        universal(run, fit_x, x, xi=0.2, passes=3, results=results)
    path = write_result("attack_speed", results)
    print(f"wrote {path}; speedup = torchattacks time / cnnkit time (> 1: cnnkit faster); "
          f"timings with {args.threads} thread(s)")


if __name__ == "__main__":
    main()
