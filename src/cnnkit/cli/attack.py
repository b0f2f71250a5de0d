"""``cnnkit attack``: adversarial examples against a run, accuracy per method and eps, the
physical-world destruction table, and universal perturbations. The attacks come from
``cnnkit.attacks.catalog``, the studies are computed and written by ``cnnkit.reports.attacks``;
this module parses flags and prints a summary. No torch at import time."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli._common import (
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

# The catalog's names, spelled here so that --help imports no torch (tests/cli checks they agree).
METHODS = ("fgsm", "bim", "ll", "pgd", "pgd-l2", "deepfool", "lbfgs", "cw", "universal")
EPS_METHODS = ("fgsm", "bim", "ll", "pgd", "pgd-l2")


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
    from cnnkit.attacks.base import check_count
    from cnnkit.attacks.catalog import CATALOG, resolve_methods
    from cnnkit.errors import ConfigError
    from cnnkit.schema import MAX_SEED

    methods = resolve_methods((method or ("fgsm,bim,ll" if physical else "fgsm")).split(","))
    eps_values = _parse_eps(eps)
    if "universal" in methods and len(methods) > 1:
        raise ConfigError("--method universal runs on its own; drop the other methods")
    if physical and any(m not in EPS_METHODS for m in methods):
        raise ConfigError("--physical takes eps methods only: " + ", ".join(EPS_METHODS))
    if steps is not None:
        check_count(steps, "--steps")
    check_count(count, "--count", high=1_000_000)
    check_count(fit_count, "--fit-count", high=1_000_000)
    check_count(seed, "--seed", low=0, high=MAX_SEED)
    from cnnkit.cli._common import open_source
    from cnnkit.progress import ProgressBar
    from cnnkit.reports.pages import OutputFolder

    source = open_source(run, device, classifier="attack")
    if compare and (physical or methods == ["universal"]):
        raise ConfigError("--compare draws accuracy-vs-eps curves; it does not combine with --physical or universal")
    compared = {name: _comparable(source, other, open_source(other, device, classifier="attack --compare")) for name, other in _names(run, compare)}
    if methods == ["universal"]:
        _universal(source, run, xi=xi, norm=norm, fit_count=fit_count, count=count, images=images, data=data,
                   data_dir=data_dir, seed=seed, out=out, quiet=quiet)
        return
    for m in methods:  # every eps checked against each method's norm before any work
        for e in eps_values:
            CATALOG[m].build(eps=e, steps=steps, seed=seed)
    x, y, labelled = _images(source, images, count, data, data_dir, seed)
    target = None
    if targeted is not None:
        from cnnkit.attacks.targets import choose_targets

        target = choose_targets(targeted, source.model, x, y, source.info.classes, seed=seed)
    if physical:
        from cnnkit.reports.attacks import eps_text, write_destruction

        named = {f"{CATALOG[m].label} eps={eps_text(e)}": CATALOG[m].build(eps=e, steps=steps, seed=seed)
                 for m in methods for e in eps_values}
        output = OutputFolder(source, run, "physical", out, group="attack")
        table, rows = write_destruction(output, source, run, named, x, y)
        _print_table(rows, quiet, title=f"destruction rate on {table.count} images")
    else:
        from cnnkit.reports.attacks import accuracy_rows, write_robustness

        named = {CATALOG[m].label: CATALOG[m].build(eps=eps_values[0], steps=steps, seed=seed) for m in methods}
        output = OutputFolder(source, run, "-".join(methods), out, group="attack")  # a bad --out fails before the work
        with ProgressBar("attack", unit="images", enabled=not quiet) as bar:
            curve, others = write_robustness(output, source, run, named, eps_values, x, y, labelled=labelled,
                                             target=target, targeted=targeted, compared=compared,
                                             progress=bar.update)
        header, rows = accuracy_rows(curve, others)
        _print_table([header, *rows], quiet)
        if not quiet:
            typer.echo(f"{curve.count} images, clean accuracy {curve.clean_accuracy:.1%}")
    typer.echo(f"wrote {output.page}")


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


def _images(source: Any, images: Optional[list[Path]], count: int, data: Optional[str],
            data_dir: Optional[Path], seed: int) -> tuple[Any, Any, bool]:
    """(x, y, labelled): test images with labels, or files labelled with the model's own prediction."""
    from cnnkit.cli._common import pick_images

    x, y, _ = pick_images(source, images, count, data, data_dir, seed)
    if y is not None:
        return x, y, True
    from cnnkit.attacks import predict

    return x, predict(source.model, x), False


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


def _print_table(rows: list[tuple[str, ...]], quiet: bool, *, title: Optional[str] = None) -> None:
    """The first row as the header, the rest as rows; nothing with --quiet."""
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*rows[0], title=title)
    for row in rows[1:]:
        table.add_row(*row)
    Console().print(table)


def _universal(source: Any, run: str, *, xi: float, norm: str, fit_count: int, count: int,
               images: Optional[list[Path]], data: Optional[str], data_dir: Optional[Path], seed: int,
               out: Optional[Path], quiet: bool) -> None:
    """Fit a universal perturbation (Moosavi-Dezfooli et al., 2017) on training images, test on test images."""
    from cnnkit.attacks.norms import check_eps
    from cnnkit.progress import ProgressBar
    from cnnkit.reports.pages import OutputFolder
    from cnnkit.errors import ConfigError
    from cnnkit.modes import device_of
    from cnnkit.reports.attacks import write_universal
    from cnnkit.runs.datasets import sample_images

    check_eps(xi, norm, name="--xi")
    if images:
        raise ConfigError("--method universal fits on the run's training set; drop --image")
    output = OutputFolder(source, run, "universal", out, group="attack")
    x_fit, _ = sample_images(source, fit_count, data=data, data_dir=data_dir, split="train", seed=seed)
    x, y, _ = _images(source, None, count, data, data_dir, seed)
    with ProgressBar("universal", unit="images", enabled=not quiet) as bar:  # images visited, over all passes
        found = write_universal(output, source, run, x_fit.to(device_of(source.model)), x, y, xi=xi, norm=norm,
                                seed=seed, progress=bar.update)
    if not quiet:
        typer.echo(found.text)
    typer.echo(f"wrote {output.page}")
