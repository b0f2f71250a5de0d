"""The pages of ``cnnkit explain maximize | invert | classes | dream``: images synthesised by the one
gradient-ascent loop on the input: activation maximisation (Erhan et al., 2009), inverting
representations (Mahendran & Vedaldi, 2015, arXiv:1412.0035), class models (Simonyan et al., 2013,
arXiv:1312.6034) and DeepDream (Mordvintsev et al., 2015)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from cnnkit.explain.layers import activations
from cnnkit.explain.synthesis.ascent import AscentConfig
from cnnkit.explain.synthesis.class_models import class_model, class_targets
from cnnkit.explain.synthesis.dream import deepdream
from cnnkit.explain.synthesis.inversion import correlation, invert_layers
from cnnkit.explain.synthesis.maximization import maximize, unit_activation
from cnnkit.progress import Progress
from cnnkit.reports.pages import OutputFolder, write_page
from cnnkit.runs.format import Run

__all__ = ["Maximized", "write_classes", "write_dream", "write_invert", "write_maximize"]


@dataclasses.dataclass(frozen=True)
class Maximized:
    """What ``write_maximize`` found: the images (N, C, H, W), each unit with the value it reached,
    and what a unit's value is ('mean activation' of a channel's map, or 'activation')."""

    x: Tensor
    units: list[int | str]
    reached: list[float]
    unit_value: str


def write_maximize(output: OutputFolder, run: Run, source: str, layer: str, units: Sequence[int | str], *,
                    config: AscentConfig, rho: float | None = None, seed: int = 0,
                    progress: Progress | None = None) -> Maximized:
    """Activation maximisation (Erhan et al., 2009): the image that excites each unit of ``layer`` most
    ('layer': the whole layer's mean square), written to ``output`` (maximize-LAYER.png, index.html)."""
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.synthesis import plot_synthesised

    chosen = list(units)
    x = maximize(run.model, layer, chosen, config=config, rho=rho, input_size=run.info.input_size, seed=seed,
                 progress=progress)
    reached = unit_activation(run.model, x, layer, chosen).tolist()
    spatial = activations(run.model, x[:1], [layer])[layer].dim() > 2  # a unit is a channel: its map's mean
    unit_value = "mean activation" if spatial else "activation"
    captions = [f"layer\nmean square {a:.3g}" if u == "layer" else f"unit {u}\n{unit_value} {a:.3g}"
                for u, a in zip(chosen, reached)]
    text = (f"{len(chosen)} units of layer {layer}, {config.steps} Adam steps, "
            f"{'||x - mean|| = ' + format(rho, 'g') if rho else 'free norm in [0, 1]'}; images stretched to their range."
            " Under each image: the value its unit reaches on it, the objective the ascent raised: "
            + ("a channel's mean activation over its feature map" if spatial else "the unit's activation")
            + ("; for 'layer', the mean square of all the layer's activations" if "layer" in chosen else "") + ".")
    with output as folder:
        png = plot_synthesised(x, captions, folder / f"maximize-{layer.replace('#', '_')}.png",
                               title=f"activation maximisation, layer {layer}", stretch=True)
        write_page(folder, run, source, "maximize", [ReportSection("activation maximisation", (png,), text)],
                   (("units", str(len(chosen))), ("mean value reached", f"{sum(reached) / len(reached):.3g}")))
    return Maximized(x=x, units=chosen, reached=reached, unit_value=unit_value)


def write_invert(output: OutputFolder, run: Run, source: str, x: Tensor, layers: Sequence[str], *,
                     config: AscentConfig, seed: int = 0, progress: Progress | None = None) -> list[Tensor]:
    """Inverting representations (Mahendran & Vedaldi, 2015): ``x`` reconstructed from each layer's features,
    written to ``output`` (invert.png, index.html); returns each layer's correlations with ``x``, (N,) each."""
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.synthesis import plot_inversions

    layers = list(layers)
    r = invert_layers(run.model, x, layers, config=config, seed=seed, progress=progress)
    scores = [correlation(r[l], x) for l in range(len(layers))]
    text = "Each row: the original, then its reconstruction from each layer (shallow to deep); r is the " \
           "correlation with the original."
    table = (("layer", "mean correlation"), *((name, f"{float(s.mean()):.3f}") for name, s in zip(layers, scores)))
    with output as folder:
        png = plot_inversions(x, r, layers, folder / "invert.png", scores=[s.tolist() for s in scores])
        write_page(folder, run, source, "invert", [ReportSection("inverting representations", (png,), text, table)])
    return scores


def write_classes(output: OutputFolder, run: Run, source: str, classes: Sequence[int], *, config: AscentConfig,
                  seed: int = 0, progress: Progress | None = None) -> list[float]:
    """Class models (Simonyan et al., 2013): the image each class scores highest, written to ``output``
    (classes.png, index.html); returns the softmax confidence of each class on its image."""
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.synthesis import plot_synthesised

    names = run.info.classes
    targets = class_targets(list(classes), len(names))
    x = class_model(run.model, targets, input_size=run.info.input_size, config=config, seed=seed, progress=progress)
    with torch.no_grad():
        probs = run.model(x).softmax(1)
    conf = [float(probs[k, t]) for k, t in enumerate(targets)]
    captions = [f"{names[t]}\np = {c:.3f}" for t, c in zip(targets, conf)]
    text = f"argmax_x S_c(x) - {config.l2:g} ||x - mean||^2, {config.steps} steps; p is the softmax confidence " \
           "the network gives each image for its class."
    with output as folder:
        png = plot_synthesised(x, captions, folder / "classes.png", title="class models", ncols=5)
        write_page(folder, run, source, "classes", [ReportSection("class models", (png,), text)],
                   (("lowest confidence", f"{min(conf):.2%}"),))
    return conf


def write_dream(output: OutputFolder, run: Run, source: str, photos: Sequence[tuple[str, Tensor]], *,
                layer: str | None = None, target: int | None = None, octaves: int = 4, octave_scale: float = 1.4,
                steps: int = 10, lr: float = 0.01, seed: int = 0,
                progress: Callable[[str], AbstractContextManager[Progress | None]] | None = None) -> str:
    """DeepDream (Mordvintsev et al., 2015): amplify ``layer`` or class ``target`` in each photo ((name, x) pairs,
    x (1, C, H, W) at its own size), written to ``output`` (dream-K.png, index.html); returns what was amplified.

    ``progress(name)`` opens the progress callback of one photo's ascent (a context manager).
    """
    from cnnkit.viz.report import ReportSection
    from cnnkit.viz.synthesis import plot_before_after

    opened: Callable[[str], AbstractContextManager[Any]] = progress or (lambda name: nullcontext())
    with output as folder:
        pngs = []
        for k, (name, x) in enumerate(photos):
            with opened(name) as update:
                y = deepdream(run.model, x, layer=layer, target=target, input_size=run.info.input_size,
                              octaves=octaves, octave_scale=octave_scale, steps_per_octave=steps, lr=lr, seed=seed,
                              progress=update)
            change = float((y - x).abs().mean())
            pngs.append(plot_before_after(x, y, folder / f"dream-{k}.png", title=f"DeepDream: {name}",
                                          captions=("before", f"after (mean change {change:.3f})")))
        what = f"layer {layer}" if layer is not None else f"class {run.info.classes[target]}"  # type: ignore[index]
        text = f"Amplifying {what}: {octaves} octaves x {steps} steps, step = {lr:g} g / mean|g|, random jitter."
        write_page(folder, run, source, "dream", [ReportSection("DeepDream", tuple(pngs), text)])
    return what
