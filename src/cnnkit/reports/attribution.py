"""The pages of ``cnnkit explain filters | maps | saliency``: a layer's filters and the feature maps
images produce (Zeiler & Fergus, 2014), and attribution maps side by side: gradient saliency
(Simonyan et al., 2013, arXiv:1312.6034), SmoothGrad (Smilkov et al., 2017, arXiv:1706.03825),
Integrated Gradients (Sundararajan et al., 2017, arXiv:1703.01365) and Grad-CAM (Selvaraju et al.,
2017, arXiv:1610.02391)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from cnnkit.errors import ConfigError
from cnnkit.explain.attribution.cam import default_layer, gradcam
from cnnkit.explain.attribution.gradients import saliency, smoothgrad
from cnnkit.explain.attribution.paths import completeness_error, integrated_gradients
from cnnkit.explain.pictures import conv_layers, feature_maps, layer_filters
from cnnkit.reports.pages import OutputFolder, write_page
from cnnkit.runs.format import Run

__all__ = ["METHOD_NAMES", "Attributions", "write_filters", "write_maps", "write_saliency"]

# The methods by key, as the page names them.
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


def _slug(name: str) -> str:
    """A layer name as a file-name part: ``layer1.0.relu#2`` -> ``layer1.0.relu-2``."""
    return name.replace("#", "-").replace("/", "-")


def write_filters(output: OutputFolder, run: Run, source: str, layer: str | None = None, *, max_filters: int = 64,
                  max_inputs: int = 16) -> str:
    """A layer's convolution filters as pictures (Zeiler & Fergus, 2014), written to ``output``
    (filters-LAYER.png, index.html); returns the layer shown (default: the first convolution)."""
    from cnnkit.viz.grids import plot_filters
    from cnnkit.viz.report import ReportSection

    convs = conv_layers(run.model)
    name = layer if layer is not None else (convs[0] if convs else None)
    weight = layer_filters(run.model, name, max_filters=max_filters, max_inputs=max_inputs)  # (O, I, kh, kw)
    with output as folder:
        png = plot_filters(weight, folder / f"filters-{_slug(str(name))}.png", title=f"filters of {name}")
        write_page(folder, run, source, "filters", [ReportSection(
            title=f"Filters of {name}", images=(png,),
            text=f"{weight.shape[0]} filters x {weight.shape[1]} input channels of {weight.shape[2]}x{weight.shape[3]} shown.")])
    return str(name)


def write_maps(output: OutputFolder, run: Run, source: str, x: Tensor, captions: Sequence[str], layer: str, *,
               max_channels: int = 64) -> Tensor:
    """The feature maps images ``x`` produce at ``layer`` (Zeiler & Fergus, 2014), one figure per image,
    written to ``output`` (images.png, maps-LAYER-I.png, index.html); returns them, (N, K, h, w)."""
    from cnnkit.viz.feature_maps import plot_feature_maps
    from cnnkit.viz.grids import plot_image_grid
    from cnnkit.viz.report import ReportSection

    features = feature_maps(run.model, x, layer, max_channels=max_channels)   # (N, K, h, w)
    with output as folder:
        sections = [ReportSection(title="Images", images=(plot_image_grid(x, list(captions), folder / "images.png"),))]
        for i, caption in enumerate(captions):
            png = plot_feature_maps(features[i], folder / f"maps-{_slug(layer)}-{i}.png",
                                    title=f"{layer} on image {i} ({caption})")
            sections.append(ReportSection(title=f"Image {i}: {caption}", images=(png,)))
        write_page(folder, run, source, "maps", sections)
    return features


@dataclasses.dataclass(frozen=True)
class Attributions:
    """What ``write_saliency`` drew: each method's maps by page name, (N, H, W), the classes explained,
    the Integrated Gradients completeness error per image (None without IG), and the page's notes."""

    maps: dict[str, Tensor]
    explained: Tensor
    completeness: Tensor | None
    notes: list[str]


def write_saliency(output: OutputFolder, run: Run, source: str, x: Tensor, y: Tensor | None,
                   target: int | Tensor | None = None, *, methods: Sequence[str] = tuple(METHOD_NAMES),
                   steps: int = 64, ig_method: str = "riemann_middle", samples: int = 50, noise: float = 0.15,
                   layer: str | None = None, seed: int = 0) -> Attributions:
    """Saliency (Simonyan et al., 2013), SmoothGrad, Integrated Gradients and Grad-CAM side by side,
    written to ``output`` (attribution.png, index.html).

    ``target`` None explains each image's predicted class; ``methods`` are keys of METHOD_NAMES;
    ``y`` (labels, or None) only captions the images.
    """
    from cnnkit.viz.attribution import plot_attributions
    from cnnkit.viz.report import ReportSection

    unknown = [m for m in methods if m not in METHOD_NAMES]
    if unknown or not methods:
        raise ConfigError(f"methods must be one or more of {', '.join(METHOD_NAMES)}; got {list(methods)}")
    classes = run.info.classes
    with torch.no_grad():
        predicted = run.model(x).argmax(1)
    explained = predicted if target is None else (target if isinstance(target, Tensor)
                                                  else torch.full_like(predicted, target))
    maps: dict[str, Tensor] = {}
    notes, highlights = [], []
    error = None
    if "saliency" in methods:
        maps["saliency"] = saliency(run.model, x, explained)
    if "smoothgrad" in methods:
        maps["SmoothGrad"] = smoothgrad(run.model, x, explained, samples=samples, noise=noise, seed=seed)
    if "ig" in methods:
        attributions = integrated_gradients(run.model, x, explained, steps=steps, method=ig_method)
        error = completeness_error(run.model, x, explained, attributions)
        maps["Integrated Gradients"] = attributions.sum(1)
        notes.append(f"Integrated Gradients ({steps} steps, {ig_method}, black baseline): completeness error "
                     f"mean {error.mean().item():.3%}, max {error.max().item():.3%}")
        highlights.append(("IG completeness error (mean)", f"{error.mean().item():.3%}"))
    if "gradcam" in methods:
        cam_layer = layer or default_layer(run.model, x)
        maps["Grad-CAM"] = gradcam(run.model, x, explained, layer=cam_layer)
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
    with output as folder:
        png = plot_attributions(x, maps, folder / "attribution.png", captions=captions, scales=scales,
                                title="which pixels raise the explained class's score")
        write_page(folder, run, source, "saliency", [ReportSection(
            title="Attribution maps", images=(png,), text="\n\n".join([caption, *notes]))],
            highlights=tuple(highlights))
    return Attributions(maps=maps, explained=explained, completeness=error, notes=notes)
