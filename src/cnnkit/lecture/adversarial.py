"""The lecture's part on adversarial examples, as figures on the lecture's LeNet-5: an FGSM pair
(Goodfellow et al., 2015), a universal perturbation (Moosavi-Dezfooli et al., 2017) and the
physical-world destruction rates (Kurakin et al., 2017)."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.lecture.catalog import Figure, lecture_figure
from cnnkit.lecture.context import LectureContext

__all__: list[str] = []

_EPS = 0.1  # L-inf, pixel units: visible on 28x28 greyscale items, as in the lecture's MNIST examples


@lecture_figure("adversarial", "fgsm", "FGSM: image, perturbation, adversarial image")
def fgsm(context: LectureContext, path: Path) -> Figure:
    """x_adv = x + eps sign(grad_x J) (Goodfellow et al., 2015), with both predictions, and the accuracy it leaves."""
    from cnnkit.attacks import FGSM
    from cnnkit.attacks.evaluate import run_attack
    from cnnkit.viz.robustness import plot_adversarial_grid

    run = context.run()
    classes = context.classes()
    x, y = context.images(500)
    result = run_attack(FGSM(eps=_EPS), run.model, x, y)
    shown = torch.nonzero(result.clean_pred.cpu() == y.cpu()).flatten()[:6]  # correctly classified ones
    attacked = FGSM(eps=_EPS)(run.model, x[shown], y[shown])
    plot_adversarial_grid(x[shown].cpu(), attacked.x_adv.cpu(), path, true_labels=[classes[i] for i in y[shown].tolist()],
                          clean_labels=[classes[i] for i in attacked.clean_pred.tolist()],
                          adv_labels=[classes[i] for i in attacked.adv_pred.tolist()],
                          title=f"FGSM, eps = {_EPS} (L-inf, pixels in [0, 1])")
    flipped = int(attacked.success.sum())
    caption = (f"One signed-gradient step of eps = {_EPS} on correctly classified {context.data} test images; the "
               f"middle row shows the perturbation amplified around grey. {flipped} of the {len(shown)} shown change "
               f"class. On 500 test images accuracy falls from {result.clean_accuracy:.1%} to "
               f"{result.adv_accuracy:.1%}; every perturbation has L-inf norm {float(result.linf.max()):.3f}.")
    return Figure(caption, {"eps": _EPS, "clean_accuracy": result.clean_accuracy, "adv_accuracy": result.adv_accuracy,
                            "shown_flipped": flipped, "linf_max": float(result.linf.max())})


@lecture_figure("adversarial", "universal", "A universal perturbation")
def universal(context: LectureContext, path: Path) -> Figure:
    """One perturbation v, fitted on training images, that fools the network on most held-out images."""
    from cnnkit.attacks.universal import UniversalPerturbation, fooling_rate
    from cnnkit.attacks.evaluate import predict
    from cnnkit.viz._figure import SMALL_FONT, new_figure, save_figure

    run = context.run()
    classes = context.classes()
    x_fit, _ = context.images(300, split="train")
    x, y = context.images(500)
    xi = 0.2  # at 0.15 the fitting fooled 14% of its own images; at 0.2, 27%
    v = UniversalPerturbation(xi=xi, norm="inf", seed=context.seed).fit(run.model, x_fit)  # (C, H, W)
    rate, fit_rate = fooling_rate(run.model, x, v), fooling_rate(run.model, x_fit, v)
    perturbed = (x + v).clamp(0, 1)
    clean_pred, adv_pred = predict(run.model, x).cpu(), predict(run.model, perturbed).cpu()
    fooled = torch.nonzero(clean_pred != adv_pred).flatten()[:6]
    fig = new_figure(12.0, 4.2)
    grid = fig.add_gridspec(2, 7)
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(v[0].cpu().numpy(), cmap="RdBu_r", vmin=-xi, vmax=xi)
    ax.set_title(f"v (||v||_inf = {float(v.abs().max()):.2f})", fontsize=SMALL_FONT)
    ax.set_axis_off()
    for column, i in enumerate(fooled.tolist(), start=1):
        for row, (image, label) in enumerate(((x[i], classes[clean_pred[i]]), (perturbed[i], classes[adv_pred[i]]))):
            cell = fig.add_subplot(grid[row, column])
            cell.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            cell.set_title(("clean: " if row == 0 else "+ v: ") + label, fontsize=SMALL_FONT - 1,
                           color="#24292f" if row == 0 else "#c0392b")
            cell.set_axis_off()
    save_figure(fig, path)
    accuracy = float((adv_pred == y.cpu()).float().mean())
    caption = (f"A single perturbation v with ||v||_inf <= {xi}, fitted by iterated DeepFool steps on 300 training "
               f"images (it fools {fit_rate:.1%} of those), added to 500 held-out test images: it changes the "
               f"prediction of {rate:.1%} of them "
               f"(accuracy {float((clean_pred == y.cpu()).float().mean()):.1%} -> {accuracy:.1%}). Left: v (blue "
               "negative, red positive); right: six test images it fools, before and after.")
    return Figure(caption, {"xi": xi, "fooling_rate": rate, "fooling_rate_fit": fit_rate,
                            "accuracy_perturbed": accuracy})


@lecture_figure("adversarial", "physical", "Physical-world destruction rates")
def physical(context: LectureContext, path: Path) -> Figure:
    """Destruction rates (Kurakin et al., 2017, eq. 1): how often a photo-like transformation undoes an attack."""
    from cnnkit.attacks import BIM, FGSM, LeastLikely
    from cnnkit.attacks.physical import destruction_table
    from cnnkit.viz.robustness import plot_destruction_rates

    run = context.run()
    x, y = context.images(300)
    attacks = {"FGSM": FGSM(eps=_EPS), "BIM": BIM(eps=_EPS), "least likely": LeastLikely(eps=_EPS)}
    table = destruction_table(run.model, x, y, attacks)
    plot_destruction_rates(table.transforms, dict(zip(table.attacks, table.rates)), path,
                           title=f"destruction rate, {table.count} test images, eps = {_EPS}")
    mean = {name: sum(r for r in rates if r == r) / max(1, sum(1 for r in rates if r == r))
            for name, rates in zip(table.attacks, table.rates)}
    higher = [name for name in ("BIM", "least likely") if mean[name] > mean["FGSM"] + 0.02]
    caption = ("Among test images classified correctly clean and wrongly after the attack, the share that a "
               "transformation (brightness, contrast, blur, noise, JPEG, rotation, scale, shift) turns back into "
               "correct ones (Kurakin et al., 2017, eq. 1). Mean over transformations: "
               + ", ".join(f"{name} {rate:.1%}" for name, rate in mean.items())
               + ". Kurakin et al. found the iterative attacks' perturbations (least likely class above all) destroyed "
               + "more often than FGSM's; "
               + (f"here that holds for {' and '.join(higher)} (more than 2 points above FGSM)." if higher else
                  "here neither iterative attack was more than 2 points above FGSM.")
               + f" Clean accuracy {table.clean_accuracy:.1%}.")
    return Figure(caption, {**table.to_dict(), "mean_rates": mean})
