"""The studies ``cnnkit attack`` runs, computed and written as one page each: accuracy against
eps for several attacks (Kurakin et al., 2017, Figure 2; Madry et al., 2018), the physical-world
destruction rates (Kurakin et al., 2017, eq. 1) and a universal perturbation's fooling rate
(Moosavi-Dezfooli et al., 2017)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from cnnkit.attacks import (
    DEFAULT_TRANSFORMS,
    Attack,
    DestructionTable,
    Perturbation,
    RobustnessCurve,
    UniversalPerturbation,
    destruction_table,
    fooling_rate,
    robustness_curve,
    run_attack,
)
from cnnkit.reports.pages import OutputFolder, write_json, write_page
from cnnkit.runs.format import Run
from cnnkit.progress import Progress

__all__ = ["GRID_IMAGES", "Universal", "accuracy_rows", "attack_title", "eps_text", "write_destruction",
           "write_robustness", "write_universal"]

GRID_IMAGES = 8   # examples drawn per attack


def write_robustness(output: OutputFolder, run: Run, source: str, attacks: Mapping[str, Attack],
                     eps: list[float], x: Tensor, y: Tensor, *, labelled: bool = True, target: Tensor | None = None,
                     targeted: str | None = None, compared: Mapping[str, Run] | None = None,
                     progress: Progress | None = None) -> tuple[RobustnessCurve, dict[str, RobustnessCurve]]:
    """Accuracy against eps of each attack on ``run`` (and each ``compared`` run, on the same images),
    written to ``output``: robustness.png, a grid of examples per attack, results.json, index.html."""
    compared = dict(compared or {})
    models = [run.model, *(other.model for other in compared.values())]
    curves = []
    for k, model in enumerate(models):  # every model attacks the same images: the same total each
        shifted = None if progress is None else (
            lambda done, total, k=k: progress(k * total + done, total * len(models)))
        curves.append(robustness_curve(model, x, y, dict(attacks), eps, target=target, progress=shifted))
    curve, others = curves[0], dict(zip(compared, curves[1:]))
    with output as folder:
        _write_curves(folder, run, source, dict(attacks), curve, others, x, y, labelled, target, targeted)
    return curve, others


def accuracy_rows(curve: RobustnessCurve, others: Mapping[str, RobustnessCurve]
                  ) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The accuracy table: a header (method, eps ...) and one row per method (and per method of each other run)."""
    header = ("method", *(f"eps {eps_text(e)}" for e in curve.eps))
    rows = [(n, *(f"{a:.1%}" for a in accs)) for n, accs in curve.accuracy.items()]
    for label, other_curve in others.items():
        rows += [(f"{n} ({label})", *(f"{a:.1%}" for a in accs)) for n, accs in other_curve.accuracy.items()]
    return header, rows


def _write_curves(folder: Path, run: Run, source: str, named: dict[str, Attack], curve: RobustnessCurve,
                  others: dict[str, RobustnessCurve], x: Tensor, y: Tensor, labelled: bool, target: Tensor | None,
                  targeted: str | None) -> None:
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.robustness import plot_robustness_comparison, plot_robustness_curves

    sections = []
    png = plot_robustness_curves(curve.eps, curve.accuracy, folder / "robustness.png",
                                 clean_accuracy=curve.clean_accuracy,
                                 xlabel="eps (" + ", ".join(sorted({_norm_text(n) for n in curve.norms.values()}))
                                 + " radius, pixels in [0, 1])",
                                 title=f"accuracy under attack, {curve.count} images")
    header, body = accuracy_rows(curve, others)
    note = ("Accuracy on the adversarial images at each eps; clean accuracy "
            f"{curve.clean_accuracy:.1%}." + ("" if labelled else " Labels are the model's own predictions."))
    if target is not None:
        note += f" Targeted ({targeted}): success = the target class is hit."
        rows_s = [("target hit", *header[1:]), *((n, *(f"{s:.1%}" for s in ss)) for n, ss in curve.success.items())]
        sections.append(ReportSection("Target hit rate", text="Fraction of images classified as their target.",
                                      table=tuple(rows_s)))
    sections.insert(0, ReportSection("Accuracy against eps", images=(png,), text=note, table=(header, *body)))
    name = Path(source).name
    if others:
        runs = {name: (curve.eps, curve.accuracy), **{k: (c.eps, c.accuracy) for k, c in others.items()}}
        both = plot_robustness_comparison(runs, folder / "robustness-comparison.png",
                                          title=f"accuracy under attack, {curve.count} images, by model")
        clean = "; ".join(f"{k} {c.clean_accuracy:.1%}" for k, c in {name: curve, **others}.items())
        sections.insert(1, ReportSection("Models compared", images=(both,),
                                         text=f"The same images attacked on each model. Clean accuracy: {clean}."))
    shown = slice(0, min(GRID_IMAGES, len(x)))
    for label, attack in named.items():
        strongest = dataclasses.replace(attack, eps=curve.eps[-1]) if hasattr(attack, "eps") else attack
        part = run_attack(strongest, run.model, x[shown], y[shown], target=None if target is None else target[shown])
        slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
        sections.append(ReportSection(f"Examples: {label}", images=(
            _grid(run, x[shown], part.x_adv, part.y, part.clean_pred, part.adv_pred, folder / f"examples-{slug}.png",
                  attack_title(label, strongest)),)))
    write_json(folder / "results.json", {"run": source, "methods": {n: repr(a) for n, a in named.items()},
                                         "targeted": targeted, "labelled": labelled, **curve.to_dict(),
                                         "compared": {k: c.to_dict() for k, c in others.items()}})
    write_page(folder, run, source, "", sections, group="attack",
               highlights=(("clean accuracy", f"{curve.clean_accuracy:.1%}"), ("images", str(curve.count))))


def _grid(run: Run, x: Tensor, x_adv: Tensor, true: Tensor, clean: Tensor, adv: Tensor, path: Path, title: str) -> Path:
    from cnnkit.viz.robustness import plot_adversarial_grid

    classes = run.info.classes
    return plot_adversarial_grid(x, x_adv, path, true_labels=[classes[i] for i in true.tolist()],
                                 clean_labels=[classes[i] for i in clean.tolist()],
                                 adv_labels=[classes[i] for i in adv.tolist()], title=title)


def write_destruction(output: OutputFolder, run: Run, source: str, attacks: Mapping[str, Attack], x: Tensor,
                      y: Tensor) -> tuple[DestructionTable, list[tuple[str, ...]]]:
    """The destruction rate of each attack under each physical transformation, written to ``output``
    (destruction.json, destruction.png, index.html); returns the table and its rows as shown."""
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.robustness import plot_destruction_rates

    table = destruction_table(run.model, x, y, dict(attacks), DEFAULT_TRANSFORMS)
    rows = [("transformation", *table.attacks), ("(adversarial accuracy)", *(f"{a:.1%}" for a in table.adv_accuracy))]
    for t, name in enumerate(table.transforms):
        rows.append((name, *("-" if math.isnan(r[t]) else f"{r[t]:.1%}" for r in table.rates)))
    text = ("Destruction rate (Kurakin et al., 2017, eq. 1): among images classified correctly clean and wrongly "
            "adversarial, the fraction the transformation turns back into correctly classified ones. "
            f"Clean accuracy {table.clean_accuracy:.1%} on {table.count} images.")
    with output as folder:
        write_json(folder / "destruction.json", {"run": source, "methods": {n: repr(a) for n, a in attacks.items()},
                                                 **table.to_dict()})
        png = plot_destruction_rates(table.transforms, dict(zip(table.attacks, table.rates)),
                                     folder / "destruction.png", title=f"destruction rate, {table.count} images")
        write_page(folder, run, source, "--physical", [ReportSection("Destruction rate", images=(png,), text=text,
                   table=tuple(rows))], group="attack",
                   highlights=(("clean accuracy", f"{table.clean_accuracy:.1%}"), ("images", str(table.count))))
    return table, rows


@dataclasses.dataclass(frozen=True)
class Universal:
    """What ``write_universal`` found: the fooling rate on held-out images and the accuracies."""

    fit_images: int
    test_images: int
    fooling_rate: float
    clean_accuracy: float
    adv_accuracy: float

    @property
    def text(self) -> str:
        return (f"Fitted on {self.fit_images} training images; fooling rate (prediction changed) on "
                f"{self.test_images} held-out test images: {self.fooling_rate:.1%}. Accuracy "
                f"{self.clean_accuracy:.1%} clean, {self.adv_accuracy:.1%} perturbed.")


def write_universal(output: OutputFolder, run: Run, source: str, x_fit: Tensor, x: Tensor, y: Tensor, *,
                    xi: float, norm: str, seed: int = 0, progress: Progress | None = None) -> Universal:
    """Fit a universal perturbation on ``x_fit``, measure it on (x, y), write the examples and results."""
    from cnnkit.viz.report import ReportSection

    delta = UniversalPerturbation(xi=xi, norm=norm, seed=seed).fit(run.model, x_fit, progress=progress)  # (C, H, W)
    result = run_attack(Perturbation(delta=delta), run.model, x, y)
    found = Universal(fit_images=len(x_fit), test_images=len(x), fooling_rate=fooling_rate(run.model, x, delta),
                      clean_accuracy=result.clean_accuracy, adv_accuracy=result.adv_accuracy)
    shown = slice(0, min(GRID_IMAGES, len(x)))
    with output as folder:
        grid = _grid(run, x[shown], result.x_adv[shown], y[shown], result.clean_pred[shown], result.adv_pred[shown],
                     folder / "examples-universal.png",
                     f"universal perturbation, {_norm_text(norm)} ξ = {eps_text(xi)}")
        write_json(folder / "results.json", {"run": source, "xi": xi, "norm": norm, "fit_images": found.fit_images,
                                             "test_images": found.test_images, "fooling_rate": found.fooling_rate,
                                             "clean_accuracy": found.clean_accuracy,
                                             "adv_accuracy": found.adv_accuracy})
        write_page(folder, run, source, "universal", [ReportSection("Universal perturbation", images=(grid,),
                   text=found.text)], group="attack", highlights=(("fooling rate", f"{found.fooling_rate:.1%}"),))
    return found


def eps_text(eps: float) -> str:
    """0.1 as '0.1', 16/255 as '16/255' (how the papers write pixel steps), else 4 digits."""
    short = f"{eps:.4g}"
    if float(short) == eps:
        return short
    steps = eps * 255
    return f"{round(steps)}/255" if abs(steps - round(steps)) < 1e-9 else short


def _norm_text(norm: str) -> str:
    """'inf' as 'L∞', '2' as 'L2'."""
    return "L∞" if str(norm) == "inf" else f"L{norm}"


def attack_title(name: str, attack: Any) -> str:
    """A figure title in words: 'FGSM, L∞ ε = 8/255 (0.0314)', 'PGD, L2 ε = 0.5, 10 steps', 'DeepFool, minimum L2 norm'.

    The attack's repr stays in results.json, where a program reads it.
    """
    norm = _norm_text(getattr(attack, "norm", None) or "2")
    steps = getattr(attack, "steps", None)
    tail = f", {steps} steps" if steps else ""
    if not hasattr(attack, "eps"):
        return f"{name}, minimum {norm} norm{tail}"
    eps = eps_text(attack.eps)
    return f"{name}, {norm} ε = {eps}" + (f" ({attack.eps:.3g})" if "/" in eps else "") + tail
