"""``cnnkit explain filters | maps | saliency``: a layer's filters, the feature maps an image
produces, and which pixels a class score depends on (saliency, SmoothGrad, Integrated
Gradients, Grad-CAM). Thin wrappers over ``cnnkit.explain``; no torch at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from cnnkit.cli.explain._common import (
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
from cnnkit.reports.pages import OutputFolder, write_page

METHOD_NAMES = {"saliency": "saliency", "smoothgrad": "SmoothGrad", "ig": "Integrated Gradients", "gradcam": "Grad-CAM"}
# Under each column's colour bar: what its value is, after the per-image scaling.
SCALES = {"saliency": "|gradient|\n(max over channels)\n/ its max in the image",
          "SmoothGrad": "|mean noisy gradient|,\n/ its max in the image",
          "Integrated Gradients": "attribution / its max |value|\nred raises, blue lowers",
          "Grad-CAM": "ReLU(weighted maps),\n/ its max in the image"}
# The page's caption of each column.
LEGENDS = {"saliency": "the largest |d score / d pixel| over the colour channels (Simonyan et al., 2013).",
           "SmoothGrad": "the same of the gradient averaged over noisy copies of the image (Smilkov et al., 2017).",
           "Integrated Gradients": "the signed attribution summed over colour channels, from a black baseline; red "
                                   "pixels raise the class score, blue ones lower it (Sundararajan et al., 2017).",
           "Grad-CAM": "the ReLU of the layer's feature maps weighted by their mean gradient, upsampled and drawn "
                       "over the image (Selvaraju et al., 2017)."}

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


def _slug(name: str) -> str:
    """A layer name as a file-name part: ``layer1.0.relu#2`` -> ``layer1.0.relu-2``."""
    return name.replace("#", "-").replace("/", "-")


def filters(
    run: str = RUN_ARG,
    layer: Optional[str] = typer.Option(None, "--layer", help="Convolution to show (default: the first one)."),
    max_filters: int = typer.Option(64, "--max-filters", help="Show at most this many filters (output channels)."),
    max_inputs: int = typer.Option(16, "--max-inputs", help="Deeper layers: at most this many input channels per filter."),
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
) -> None:
    from cnnkit.explain.pictures import conv_layers, layer_filters
    from cnnkit.viz.grids import plot_filters
    from cnnkit.viz.report import ReportSection

    source = open_source(run, device)
    convs = conv_layers(source.model)
    name = layer if layer is not None else (convs[0] if convs else None)
    weight = layer_filters(source.model, name, max_filters=max_filters, max_inputs=max_inputs)
    output = OutputFolder(source, run, "filters", out)
    with output as folder:
        png = plot_filters(weight, folder / f"filters-{_slug(str(name))}.png", title=f"filters of {name}")
        write_page(folder, source, run, "filters", [ReportSection(
            title=f"Filters of {name}", images=(png,),
            text=f"{weight.shape[0]} filters x {weight.shape[1]} input channels of {weight.shape[2]}x{weight.shape[3]} shown.")])
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
    from cnnkit.explain.pictures import feature_maps
    from cnnkit.viz.feature_maps import plot_feature_maps
    from cnnkit.viz.grids import plot_image_grid
    from cnnkit.viz.report import ReportSection

    source = open_source(run, device)
    x, _, captions = pick_images(source, images, count, data, data_dir, seed)
    features = feature_maps(source.model, x, layer, max_channels=max_channels)   # (N, K, h, w)
    output = OutputFolder(source, run, "maps", out)
    with output as folder:
        sections = [ReportSection(title="Images", images=(plot_image_grid(x, captions, folder / "images.png"),))]
        for i, caption in enumerate(captions):
            png = plot_feature_maps(features[i], folder / f"maps-{_slug(layer)}-{i}.png",
                                    title=f"{layer} on image {i} ({caption})")
            sections.append(ReportSection(title=f"Image {i}: {caption}", images=(png,)))
        write_page(folder, source, run, "maps", sections)
    typer.echo(f"wrote {output.page}")


def _methods(text: str) -> list[str]:
    """--method as a list of known method keys."""
    from cnnkit.errors import ConfigError

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
    import torch

    from cnnkit.explain.attribution.cam import default_layer, gradcam
    from cnnkit.explain.attribution.paths import completeness_error, integrated_gradients
    from cnnkit.explain.layers import find_layer
    from cnnkit.explain.attribution.gradients import saliency as saliency_of
    from cnnkit.explain.attribution.gradients import smoothgrad
    from cnnkit.viz.attribution import plot_attributions
    from cnnkit.viz.report import ReportSection

    chosen = _methods(method)
    source = open_source(run, device)
    if layer is not None:
        find_layer(source.model, layer)  # an unknown name fails before any work
    classes = source.info.classes
    x, y, _ = pick_images(source, images, count, data, data_dir, seed)
    wanted = _targets(target, y, classes, x.shape[0])
    with torch.no_grad():
        predicted = source.model(x).argmax(1)
    explained = predicted if wanted is None else (wanted if isinstance(wanted, torch.Tensor)
                                                  else torch.full_like(predicted, wanted))
    maps: dict[str, Any] = {}
    notes, highlights = [], []
    if "saliency" in chosen:
        maps["saliency"] = saliency_of(source.model, x, explained)
    if "smoothgrad" in chosen:
        maps["SmoothGrad"] = smoothgrad(source.model, x, explained, samples=samples, noise=noise, seed=seed)
    if "ig" in chosen:
        attributions = integrated_gradients(source.model, x, explained, steps=steps, method=ig_method)
        error = completeness_error(source.model, x, explained, attributions)
        maps["Integrated Gradients"] = attributions.sum(1)
        line = (f"Integrated Gradients ({steps} steps, {ig_method}, black baseline): completeness error "
                f"mean {error.mean().item():.3%}, max {error.max().item():.3%}")
        notes.append(line)
        highlights.append(("IG completeness error (mean)", f"{error.mean().item():.3%}"))
    if "gradcam" in chosen:
        cam_layer = layer or default_layer(source.model, x)
        maps["Grad-CAM"] = gradcam(source.model, x, explained, layer=cam_layer)
        notes.append(f"Grad-CAM at layer {cam_layer}")
    captions = []
    for i in range(x.shape[0]):
        lines = ([f"true: {classes[int(y[i])]}"] if y is not None else [])
        lines += [f"pred: {classes[int(predicted[i])]}", f"explained: {classes[int(explained[i])]}"]
        captions.append("\n".join(lines))
    scales = {name: SCALES[name] for name in maps}
    legend = " ".join(f"{name}: {LEGENDS[name]}" for name in maps)
    caption = ("Each map is divided by its own largest |value| in each image, so colours compare the pixels of one "
               "image, not images or methods with each other. " + legend)
    output = OutputFolder(source, run, "saliency", out)
    with output as folder:
        png = plot_attributions(x, maps, folder / "attribution.png", captions=captions, scales=scales,
                                title="which pixels raise the explained class's score")
        write_page(folder, source, run, "saliency", [ReportSection(
            title="Attribution maps", images=(png,), text="\n\n".join([caption, *notes]))],
            highlights=tuple(highlights))
    for line in notes:
        typer.echo(line)
    typer.echo(f"wrote {output.page}")
