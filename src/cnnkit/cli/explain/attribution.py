"""``cnnkit explain filters | maps | saliency``: a layer's filters, the feature maps an image
produces, and which pixels a class score depends on (saliency, SmoothGrad, Integrated
Gradients, Grad-CAM). Each command parses its flags and calls one function of
``cnnkit.reports.attribution``, which computes and writes the page; no torch at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from cnnkit.cli._common import (
    COUNT_OPT,
    DATA_DIR_OPT,
    DATA_OPT,
    DEVICE_OPT,
    IMAGES_OPT,
    OUT_OPT,
    RUN_ARG,
    SEED_OPT,
    open_source,
    pick_images,
)
from cnnkit.reports.pages import OutputFolder

FILTERS_EXAMPLES = """
\b
Examples:
  cnnkit explain filters runs/RUN
  cnnkit explain filters runs/RUN --layer features.3 --max-filters 32
  cnnkit explain filters resnet18 --layer layer1.0.conv1
"""

MAPS_EXAMPLES = """
\b
Examples:
  cnnkit explain maps runs/RUN --layer features.1
  cnnkit explain maps runs/RUN --layer features.4 --image shirt.png
"""

SALIENCY_EXAMPLES = """
\b
Examples:
  cnnkit explain saliency runs/RUN
  cnnkit explain saliency runs/RUN --method ig --steps 128 --count 4
  cnnkit explain saliency runs/RUN --method saliency,gradcam --target true
  cnnkit explain saliency runs/RUN --image boot.png --target Sneaker
"""


def register(explain_app: typer.Typer) -> None:
    explain_app.command("filters", help="A layer's convolution filters as pictures (first layer: in image "
                        "space).\n" + FILTERS_EXAMPLES)(filters)
    explain_app.command("maps", help="The feature maps images produce at a layer, one tile per channel.\n"
                        + MAPS_EXAMPLES)(maps)
    explain_app.command("saliency", help="Which pixels the class score depends on: gradient saliency, "
                        "SmoothGrad, Integrated Gradients and Grad-CAM side by side.\n" + SALIENCY_EXAMPLES)(saliency)


def filters(
    run: str = RUN_ARG,
    layer: Optional[str] = typer.Option(None, "--layer", help="Convolution to show (default: the first one)."),
    max_filters: int = typer.Option(64, "--max-filters", help="Show at most this many filters (output channels)."),
    max_inputs: int = typer.Option(16, "--max-inputs", help="Deeper layers: at most this many input channels per filter."),
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
) -> None:
    from cnnkit.reports.attribution import write_filters

    source = open_source(run, device)
    output = OutputFolder(source, run, "filters", out)
    write_filters(output, source, run, layer, max_filters=max_filters, max_inputs=max_inputs)
    typer.echo(f"wrote {output.page}")


def maps(
    run: str = RUN_ARG,
    layer: str = typer.Option(..., "--layer", help="Layer whose output to show (names as 'cnnkit summary' prints)."),
    images: Optional[List[Path]] = IMAGES_OPT,
    count: int = typer.Option(4, "--count", help="Without --image: this many test images of the run's dataset."),
    max_channels: int = typer.Option(64, "--max-channels", help="Show at most this many channels."),
    data: Optional[str] = DATA_OPT,
    data_dir: Optional[Path] = DATA_DIR_OPT,
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
) -> None:
    from cnnkit.reports.attribution import write_maps

    source = open_source(run, device)
    x, _, captions = pick_images(source, images, count, data, data_dir, seed)
    output = OutputFolder(source, run, "maps", out)
    write_maps(output, source, run, x, captions, layer, max_channels=max_channels)
    typer.echo(f"wrote {output.page}")


def _methods(text: str) -> list[str]:
    """--method as a list of known method keys."""
    from cnnkit.errors import ConfigError
    from cnnkit.reports.attribution import METHOD_NAMES

    chosen = list(METHOD_NAMES) if text.strip() == "all" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHOD_NAMES]
    if unknown or not chosen:
        raise ConfigError(f"unknown method '{unknown[0] if unknown else text}'; choose from "
                          f"{', '.join(METHOD_NAMES)} (comma-separated) or all")
    return list(dict.fromkeys(chosen))


def _targets(text: str, y: Any, classes: list[str], count: int) -> Any:
    """--target as None (predicted), the true labels, or one class index / name for every image."""
    from cnnkit.errors import ConfigError

    if text == "predicted":
        return None
    if text == "true":
        if y is None:
            raise ConfigError("--target true needs labels, which image files lack; use --count (dataset images), "
                              "'predicted' or a class")
        return y
    if text in classes:
        return classes.index(text)
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(classes):
            raise ConfigError(f"--target {index} is out of range: the model has {len(classes)} classes "
                              f"(0 to {len(classes) - 1})")
        return index
    shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
    raise ConfigError(f"--target '{text}' is not 'predicted', 'true', a class index or a class name ({shown})")


def saliency(
    run: str = RUN_ARG,
    method: str = typer.Option("all", "--method", help="saliency, smoothgrad, ig, gradcam (comma-separated) or all."),
    target: str = typer.Option("predicted", "--target", help="Class to explain: predicted, true, an index or a name."),
    images: Optional[List[Path]] = IMAGES_OPT,
    count: int = COUNT_OPT,
    steps: int = typer.Option(64, "--steps", help="Integrated Gradients: quadrature steps."),
    ig_method: str = typer.Option("riemann_middle", "--ig-method", help="Integrated Gradients' quadrature: "
                                  "riemann_middle, riemann_left, riemann_right, riemann_trapezoid or gausslegendre."),
    samples: int = typer.Option(50, "--samples", help="SmoothGrad: noisy samples per image."),
    noise: float = typer.Option(0.15, "--noise", help="SmoothGrad: noise sigma as a fraction of the image's range."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Grad-CAM: layer (default: the last spatial one)."),
    data: Optional[str] = DATA_OPT,
    data_dir: Optional[Path] = DATA_DIR_OPT,
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
) -> None:
    from cnnkit.explain.layers import find_layer
    from cnnkit.reports.attribution import write_saliency

    chosen = _methods(method)
    source = open_source(run, device, classifier="explain saliency")
    if layer is not None:
        find_layer(source.model, layer)  # an unknown name fails before any work
    x, y, _ = pick_images(source, images, count, data, data_dir, seed)
    wanted = _targets(target, y, source.info.classes, x.shape[0])
    output = OutputFolder(source, run, "saliency", out)
    found = write_saliency(output, source, run, x, y, wanted, methods=chosen, steps=steps, ig_method=ig_method,
                           samples=samples, noise=noise, layer=layer, seed=seed)
    for line in found.notes:
        typer.echo(line)
    typer.echo(f"wrote {output.page}")
