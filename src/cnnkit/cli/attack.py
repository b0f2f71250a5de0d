"""``cnnkit attack``: adversarial examples against a run, accuracy per method and eps, the
physical-world destruction table, and universal perturbations. Each invocation writes PNGs,
a JSON file and one index.html page. No torch at import time."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.explain._common import (
    DATA_DIR_OPT,
    DATA_OPT,
    DEVICE_OPT,
    QUIET_OPT,
    RUN_ARG,
    SEED_OPT,
)

EXAMPLES = """
\b
Examples:
  cnnkit attack runs/RUN --method fgsm,bim,pgd --eps 0.02,0.05,0.1 --count 500
  cnnkit attack runs/RUN --method ll --eps 16/255 --targeted least-likely
  cnnkit attack runs/RUN --method pgd --eps 0.1 --targeted 3 --steps 40
  cnnkit attack runs/RUN --physical --method fgsm,bim,ll --eps 16/255
  cnnkit attack runs/RUN --method deepfool,cw --eps 0.5,1,2
  cnnkit attack runs/RUN --method universal --xi 0.1 --norm inf
  cnnkit attack lenet5 --image shirt.png --method fgsm --eps 0.1
"""

# Methods with an eps-ball, by CLI name: (class name in cnnkit.attacks, norm).
EPS_METHODS = {"fgsm": ("FGSM", "inf"), "bim": ("BIM", "inf"), "ll": ("LeastLikely", "inf"),
               "pgd": ("PGD", "inf"), "pgd-l2": ("PGD", "2")}
# Minimum-norm methods (no eps; the curve comes from per-image norms), looked up when used.
MIN_NORM_METHODS = {"deepfool": "DeepFool", "lbfgs": "LBFGS", "cw": "CarliniWagnerL2"}
METHODS = (*EPS_METHODS, *MIN_NORM_METHODS, "universal")
GRID_IMAGES = 8


def register(app: typer.Typer) -> None:
    app.command("attack", help="Attack a run with adversarial examples: accuracy per method and eps, "
                "the physical-world destruction rates (--physical) or a universal perturbation.\n" + EXAMPLES)(attack)


def attack(
    run: str = RUN_ARG,
    method: Optional[str] = typer.Option(None, "--method", "-m", help=f"Comma list of: {', '.join(METHODS)} "
                                         "(default: fgsm; fgsm,bim,ll with --physical)."),
    eps: str = typer.Option("0.05,0.1,0.2", "--eps", help="Comma list of radii, pixels in [0, 1] (8/255 works)."),
    targeted: Optional[str] = typer.Option(None, "--targeted", help="Aim at a class: random, least-likely, "
                                           "or a class index or name."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Iterations of iterative methods (default: each one's own)."),
    count: int = typer.Option(200, "--count", help="Without --image: this many test images of the run's dataset."),
    images: Optional[list[Path]] = typer.Option(None, "--image", help="Image file(s) to attack; the model's "
                                                "own prediction is taken as the label."),
    physical: bool = typer.Option(False, "--physical", help="Destruction rate of each attack under JPEG, blur, "
                                  "noise, brightness, contrast, rotation, scale and shift (Kurakin et al., 2017)."),
    xi: float = typer.Option(0.1, "--xi", help="universal: the perturbation's radius."),
    norm: str = typer.Option("inf", "--norm", help="universal: inf or 2."),
    fit_count: int = typer.Option(500, "--fit-count", help="universal: training images to fit the perturbation on."),
    data: Optional[str] = DATA_OPT,
    data_dir: Optional[Path] = DATA_DIR_OPT,
    seed: int = SEED_OPT,
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: RUN/attack/NAME)."),
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
    compare: Optional[list[str]] = typer.Option(None, "--compare", help="Another run attacked on the same images "
                                                "(repeatable): its curves drawn beside RUN's, e.g. standard vs "
                                                "adversarially trained."),
) -> None:
    from cnnkit.errors import ConfigError

    methods = _parse_methods(method or ("fgsm,bim,ll" if physical else "fgsm"))
    eps_values = _parse_eps(eps)
    if "universal" in methods and len(methods) > 1:
        raise ConfigError("--method universal runs on its own; drop the other methods")
    if physical and ({"universal"} & set(methods) or any(m in MIN_NORM_METHODS for m in methods)):
        raise ConfigError("--physical takes eps methods only: " + ", ".join(EPS_METHODS))
    from cnnkit.attacks.base import check_count
    from cnnkit.schema import MAX_SEED

    if steps is not None:
        check_count(steps, "--steps")
    check_count(count, "--count", high=1_000_000)
    check_count(fit_count, "--fit-count", high=1_000_000)
    check_count(seed, "--seed", low=0, high=MAX_SEED)
    from cnnkit.cli.explain._common import open_source

    source = open_source(run, device)
    if compare and (physical or methods == ["universal"]):
        raise ConfigError("--compare draws accuracy-vs-eps curves; it does not combine with --physical or universal")
    compared = {name: _comparable(source, other, open_source(other, device)) for name, other in _names(run, compare)}
    if methods == ["universal"]:
        _universal(source, run, xi=xi, norm=norm, fit_count=fit_count, count=count, images=images, data=data,
                   data_dir=data_dir, seed=seed, out=out, quiet=quiet)
        return
    attacks = {m: _build(m, eps_values[0], steps, seed) for m in methods}  # checks eps against each norm
    for m in methods:
        for e in eps_values[1:]:
            _build(m, e, steps, seed)
    x, y, labelled = _images(source, images, count, data, data_dir, seed)
    target = _target(source, targeted, x, y, seed)
    if physical:
        _physical(source, run, methods, eps_values, steps, seed, x, y, out, quiet)
    else:
        _curves(source, run, attacks, eps_values, x, y, labelled, target, targeted, out, quiet, compared)


def _parse_methods(text: str) -> list[str]:
    from cnnkit.errors import ConfigError

    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if not names or unknown:
        raise ConfigError(f"unknown method {', '.join(unknown) or repr(text)}; valid: {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


def _parse_eps(text: str) -> list[float]:
    from cnnkit.errors import ConfigError

    values = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "/" in part:
                top, bottom = part.split("/")
                value = float(top) / float(bottom)
            else:
                value = float(part)
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"--eps takes numbers like 0.1 or 8/255, comma-separated; got {part!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"--eps must be >= 0, got {part}")
        values.append(value)
    return values


def _build(method: str, eps: float, steps: Optional[int], seed: int) -> Any:
    """The configured attack object for a CLI method name (looked up in cnnkit.attacks by name)."""
    import cnnkit.attacks as attacks
    from cnnkit.errors import ConfigError

    if method in MIN_NORM_METHODS:
        cls = getattr(attacks, MIN_NORM_METHODS[method], None)
        if cls is None:
            raise ConfigError(f"method {method!r} needs cnnkit.attacks.{MIN_NORM_METHODS[method]}, "
                              "which this cnnkit lacks; pick one of " + ", ".join(EPS_METHODS))
        return cls(steps=steps) if steps is not None else cls()
    name, norm = EPS_METHODS[method]
    cls = getattr(attacks, name)
    if method == "fgsm":
        return cls(eps=eps)
    if name == "PGD":
        return cls(norm=norm, eps=eps, steps=steps or 10, seed=seed)
    return cls(eps=eps, steps=steps)


def _images(source: Any, images: Optional[list[Path]], count: int, data: Optional[str],
            data_dir: Optional[Path], seed: int) -> tuple[Any, Any, bool]:
    """(x, y, labelled): test images with labels, or files labelled with the model's own prediction."""
    from cnnkit.cli.explain._common import pick_images

    x, y, _ = pick_images(source, images, count, data, data_dir, seed)
    if y is not None:
        return x, y, True
    from cnnkit.attacks import predict

    return x, predict(source.model, x), False


def _target(source: Any, targeted: Optional[str], x: Any, y: Any, seed: int) -> Any:
    """The target classes of --targeted (N,), or None."""
    if targeted is None:
        return None
    import torch

    from cnnkit.errors import ConfigError

    classes = list(source.info.classes)
    choice = targeted.strip().lower()
    if choice == "random":  # a seeded class other than the true one, as in Carlini & Wagner (2017)
        generator = torch.Generator().manual_seed(seed)
        shift = torch.randint(1, len(classes), (len(y),), generator=generator).to(y.device)
        return (y + shift) % len(classes)
    if choice in ("least-likely", "ll"):
        from cnnkit.attacks import least_likely_class

        return least_likely_class(source.model, x)
    if choice.lstrip("-").isdigit():
        index = int(choice)
    else:
        lowered = [c.lower() for c in classes]
        if choice not in lowered:
            raise ConfigError(f"--targeted {targeted!r} is no class of this model; give random, least-likely, "
                              f"an index 0..{len(classes) - 1} or one of: {', '.join(classes)}")
        index = lowered.index(choice)
    if not 0 <= index < len(classes):
        raise ConfigError(f"--targeted {index} is out of range: the model has classes 0..{len(classes) - 1}")
    return torch.full_like(y, index)


def _names(run: str, compare: Optional[list[str]]) -> list[tuple[str, str]]:
    """(label, run) of each --compare run, labelled by its folder name, made unique against RUN's."""
    taken = {Path(run).name}
    named = []
    for other in compare or []:
        label = Path(other).name
        while label in taken:
            label += "'"
        taken.add(label)
        named.append((label, other))
    return named


def _comparable(source: Any, other_name: str, other: Any) -> Any:
    """Refuse a --compare run that takes other images or predicts other classes than RUN."""
    from cnnkit.errors import ConfigError

    mine, theirs = source.info, other.info
    if (mine.in_chans, mine.input_size, len(mine.classes)) != (theirs.in_chans, theirs.input_size, len(theirs.classes)):
        raise ConfigError(
            f"--compare {other_name} takes {theirs.in_chans}x{theirs.input_size}x{theirs.input_size} images and "
            f"predicts {len(theirs.classes)} classes, RUN {mine.in_chans}x{mine.input_size}x{mine.input_size} and "
            f"{len(mine.classes)}: compare runs of the same task")
    return other


def _curves(source: Any, run: str, attacks: dict[str, Any], eps_values: list[float], x: Any, y: Any,
            labelled: bool, target: Any, targeted: Optional[str], out: Optional[Path], quiet: bool,
            compared: dict[str, Any]) -> None:
    from cnnkit.attacks import robustness_curve
    from cnnkit.cli.explain._common import OutputFolder, StepBar

    output = OutputFolder(source, run, "-".join(attacks), out, group="attack")  # a bad --out fails before the work
    named = {_label(m): a for m, a in attacks.items()}
    with StepBar("attack", unit="images", enabled=not quiet) as bar:
        curve = robustness_curve(source.model, x, y, named, eps_values, target=target, progress=bar.update)
    others = {}
    for label, other in compared.items():
        with StepBar(f"attack {label}", unit="images", enabled=not quiet) as bar:
            others[label] = robustness_curve(other.model, x, y, named, eps_values, target=target, progress=bar.update)
    with output as folder:
        _write_curves(folder, source, run, named, curve, others, x, y, labelled, target, targeted)
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        header, rows = _accuracy_rows(curve, others)
        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        typer.echo(f"{curve.count} images, clean accuracy {curve.clean_accuracy:.1%}")
    typer.echo(f"wrote {output.page}")


def _accuracy_rows(curve: Any, others: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The accuracy table: a header (method, eps ...) and one row per method (and per method of each --compare run)."""
    header = ("method", *(f"eps {_eps_text(e)}" for e in curve.eps))
    rows = [(n, *(f"{a:.1%}" for a in accs)) for n, accs in curve.accuracy.items()]
    for label, other_curve in others.items():
        rows += [(f"{n} ({label})", *(f"{a:.1%}" for a in accs)) for n, accs in other_curve.accuracy.items()]
    return header, rows


def _write_curves(folder: Path, source: Any, run: str, named: dict[str, Any], curve: Any, others: dict[str, Any],
                  x: Any, y: Any, labelled: bool, target: Any, targeted: Optional[str]) -> None:
    """robustness.png, one grid of examples per method, results.json and index.html into ``folder``."""
    from cnnkit.attacks import run_attack
    from cnnkit.cli.explain._common import write_page
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.robustness import plot_adversarial_grid, plot_robustness_comparison, plot_robustness_curves

    classes = source.info.classes
    sections = []
    png = plot_robustness_curves(curve.eps, curve.accuracy, folder / "robustness.png",
                                 clean_accuracy=curve.clean_accuracy,
                                 xlabel="eps (" + ", ".join(sorted({_norm_text(n) for n in curve.norms.values()}))
                                 + " radius, pixels in [0, 1])",
                                 title=f"accuracy under attack, {curve.count} images")
    header, body = _accuracy_rows(curve, others)
    rows = [header, *body]
    note = ("Accuracy on the adversarial images at each eps; clean accuracy "
            f"{curve.clean_accuracy:.1%}." + ("" if labelled else " Labels are the model's own predictions."))
    if target is not None:
        note += f" Targeted ({targeted}): success = the target class is hit."
        rows_s = [("target hit", *header[1:]), *((n, *(f"{s:.1%}" for s in ss)) for n, ss in curve.success.items())]
        sections.append(ReportSection("Target hit rate", text="Fraction of images classified as their target.",
                                      table=tuple(rows_s)))
    sections.insert(0, ReportSection("Accuracy against eps", images=(png,), text=note, table=tuple(rows)))
    if others:
        runs = {Path(run).name: (curve.eps, curve.accuracy), **{k: (c.eps, c.accuracy) for k, c in others.items()}}
        both = plot_robustness_comparison(runs, folder / "robustness-comparison.png",
                                          title=f"accuracy under attack, {curve.count} images, by model")
        clean = "; ".join(f"{k} {c.clean_accuracy:.1%}" for k, c in {Path(run).name: curve, **others}.items())
        sections.insert(1, ReportSection("Models compared", images=(both,),
                                         text=f"The same images attacked on each model. Clean accuracy: {clean}."))
    shown = slice(0, min(GRID_IMAGES, len(x)))
    for name, attack in named.items():
        configured = attack
        if hasattr(attack, "eps"):
            import dataclasses

            configured = dataclasses.replace(attack, eps=curve.eps[-1])
        part = run_attack(configured, source.model, x[shown], y[shown],
                          target=None if target is None else target[shown])
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        grid = plot_adversarial_grid(
            x[shown], part.x_adv, folder / f"examples-{slug}.png",
            true_labels=[classes[i] for i in part.y.tolist()],
            clean_labels=[classes[i] for i in part.clean_pred.tolist()],
            adv_labels=[classes[i] for i in part.adv_pred.tolist()], title=_title(name, configured))
        sections.append(ReportSection(f"Examples: {name}", images=(grid,)))
    payload = {"run": run, "methods": {n: repr(a) for n, a in named.items()}, "targeted": targeted,
               "labelled": labelled, **curve.to_dict(),
               "compared": {k: c.to_dict() for k, c in others.items()}}
    _write_json(folder / "results.json", payload)
    write_page(folder, source, run, "", sections, group="attack",
               highlights=(("clean accuracy", f"{curve.clean_accuracy:.1%}"), ("images", str(curve.count))))


def _eps_text(eps: float) -> str:
    """0.1 as '0.1', 16/255 as '16/255' (how the papers write pixel steps), else 4 digits."""
    short = f"{eps:.4g}"
    if float(short) == eps:
        return short
    steps = eps * 255
    return f"{round(steps)}/255" if abs(steps - round(steps)) < 1e-9 else short


def _norm_text(norm: str) -> str:
    """'inf' as 'L∞', '2' as 'L2'."""
    return "L∞" if str(norm) == "inf" else f"L{norm}"


def _title(name: str, attack: Any) -> str:
    """A figure title in words: 'FGSM, L∞ ε = 8/255 (0.0314)', 'PGD, L2 ε = 0.5, 10 steps', 'DeepFool, minimum L2 norm'.

    The attack's repr stays in results.json, where a program reads it.
    """
    norm = _norm_text(getattr(attack, "norm", None) or "2")
    steps = getattr(attack, "steps", None)
    tail = f", {steps} steps" if steps else ""
    if not hasattr(attack, "eps"):
        return f"{name}, minimum {norm} norm{tail}"
    eps = _eps_text(attack.eps)
    return f"{name}, {norm} ε = {eps}" + (f" ({attack.eps:.3g})" if "/" in eps else "") + tail


def _label(method: str) -> str:
    """The display name of a CLI method."""
    return {"fgsm": "FGSM", "bim": "BIM", "ll": "LL", "pgd": "PGD", "pgd-l2": "PGD-L2", "deepfool": "DeepFool",
            "lbfgs": "L-BFGS", "cw": "C&W-L2"}.get(method, method)


def _physical(source: Any, run: str, methods: list[str], eps_values: list[float], steps: Optional[int], seed: int,
              x: Any, y: Any, out: Optional[Path], quiet: bool) -> None:
    from cnnkit.attacks import DEFAULT_TRANSFORMS, destruction_table
    from cnnkit.cli.explain._common import OutputFolder, write_page
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.robustness import plot_destruction_rates

    output = OutputFolder(source, run, "physical", out, group="attack")
    named = {f"{_label(m)} eps={_eps_text(e)}": _build(m, e, steps, seed) for m in methods for e in eps_values}
    table = destruction_table(source.model, x, y, named, DEFAULT_TRANSFORMS)
    header = ("transformation", *table.attacks)
    rows = [header, ("(adversarial accuracy)", *(f"{a:.1%}" for a in table.adv_accuracy))]
    for t, name in enumerate(table.transforms):
        rows.append((name, *("-" if math.isnan(r[t]) else f"{r[t]:.1%}" for r in table.rates)))
    text = ("Destruction rate (Kurakin et al., 2017, eq. 1): among images classified correctly clean and wrongly "
            "adversarial, the fraction the transformation turns back into correctly classified ones. "
            f"Clean accuracy {table.clean_accuracy:.1%} on {table.count} images.")
    with output as folder:
        _write_json(folder / "destruction.json", {"run": run, "methods": {n: repr(a) for n, a in named.items()},
                                                  **table.to_dict()})
        png = plot_destruction_rates(table.transforms, dict(zip(table.attacks, table.rates)),
                                     folder / "destruction.png", title=f"destruction rate, {table.count} images")
        write_page(folder, source, run, "--physical", [ReportSection("Destruction rate", images=(png,), text=text,
                   table=tuple(rows))], group="attack",
                   highlights=(("clean accuracy", f"{table.clean_accuracy:.1%}"), ("images", str(table.count))))
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        shown = Table(*header, title=f"destruction rate on {table.count} images")
        for row in rows[1:]:
            shown.add_row(*row)
        Console().print(shown)
    typer.echo(f"wrote {output.page}")


def _universal(source: Any, run: str, *, xi: float, norm: str, fit_count: int, count: int,
               images: Optional[list[Path]], data: Optional[str], data_dir: Optional[Path], seed: int,
               out: Optional[Path], quiet: bool) -> None:
    """Fit a universal perturbation (Moosavi-Dezfooli et al., 2017) on training images, test on test images."""
    import cnnkit.attacks as attacks
    from cnnkit.attacks import run_attack
    from cnnkit.attacks.norms import check_eps
    from cnnkit.cli.explain._common import OutputFolder, StepBar, write_page
    from cnnkit.errors import ConfigError
    from cnnkit.train.inference import sample_images
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.robustness import plot_adversarial_grid

    check_eps(xi, norm, name="--xi")
    universal = getattr(attacks, "UniversalPerturbation", None)
    apply = getattr(attacks, "Perturbation", None)
    if universal is None or apply is None:
        raise ConfigError("method 'universal' needs cnnkit.attacks.UniversalPerturbation and Perturbation, "
                          "which this cnnkit lacks")
    if images:
        raise ConfigError("--method universal fits on the run's training set; drop --image")
    from cnnkit.modes import device_of

    output = OutputFolder(source, run, "universal", out, group="attack")
    device = device_of(source.model)
    x_fit, _ = sample_images(source, fit_count, data=data, data_dir=data_dir, split="train", seed=seed)
    x, y, _ = _images(source, None, count, data, data_dir, seed)
    with StepBar("universal", unit="images", enabled=not quiet) as bar:  # images visited, over all passes
        v = universal(xi=xi, norm=norm, seed=seed).fit(source.model, x_fit.to(device), progress=bar.update)  # (C, H, W)
    attack = apply(delta=v)
    result = run_attack(attack, source.model, x, y)
    fooling = float((result.adv_pred != result.clean_pred).float().mean())
    shown = slice(0, min(GRID_IMAGES, len(x)))
    classes = source.info.classes
    text = (f"Fitted on {len(x_fit)} training images; fooling rate (prediction changed) on {len(x)} held-out test "
            f"images: {fooling:.1%}. Accuracy {result.clean_accuracy:.1%} clean, {result.adv_accuracy:.1%} perturbed.")
    with output as folder:
        grid = plot_adversarial_grid(x[shown], result.x_adv[shown], folder / "examples-universal.png",
                                     true_labels=[classes[i] for i in y[shown].tolist()],
                                     clean_labels=[classes[i] for i in result.clean_pred[shown].tolist()],
                                     adv_labels=[classes[i] for i in result.adv_pred[shown].tolist()],
                                     title=f"universal perturbation, {_norm_text(norm)} ξ = {_eps_text(xi)}")
        _write_json(folder / "results.json", {"run": run, "xi": xi, "norm": norm, "fit_images": len(x_fit),
                                              "test_images": len(x), "fooling_rate": fooling,
                                              "clean_accuracy": result.clean_accuracy,
                                              "adv_accuracy": result.adv_accuracy})
        write_page(folder, source, run, "universal", [ReportSection("Universal perturbation", images=(grid,),
                   text=text)], group="attack", highlights=(("fooling rate", f"{fooling:.1%}"),))
    if not quiet:
        typer.echo(text)
    typer.echo(f"wrote {output.page}")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from cnnkit.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(_rounded(payload), indent=2) + "\n")


def _rounded(value: Any) -> Any:
    """Every float in a JSON payload as the shortest decimal that reads back as the same float32.

    The numbers come from float32 tensors, so 0.3199999928474426 is written 0.32: nothing the
    computation knew is lost, and 8/255 keeps 7 digits (0.03137255).
    """
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    try:
        single = struct.pack("<f", value)
    except OverflowError:  # beyond float32's range: not a float32 number, kept as it is
        return value
    for digits in range(1, 10):  # 9 significant digits always read back as the same float32
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == single:
            return short
    return value
