"""``cnnkit explain maximize | invert | classes | dream``: images synthesised by gradient ascent on
the input (activation maximisation, inverting representations, class models, DeepDream). Each
command parses its flags and calls one function of ``cnnkit.reports.synthesis``, which computes
and writes the page; no torch at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli._common import (
    DATA_DIR_OPT,
    DATA_OPT,
    DEVICE_OPT,
    IMAGES_OPT,
    OUT_OPT,
    QUIET_OPT,
    RUN_ARG,
    SEED_OPT,
    open_source,
    pick_images,
)
from cnnkit.progress import ProgressBar
from cnnkit.reports.pages import OutputFolder

MAXIMIZE_EXAMPLES = """
\b
Examples:
  cnnkit explain maximize runs/lenet5 --layer features.3 --all        every channel of conv2
  cnnkit explain maximize runs/lenet5 --layer classifier.7 --units 0,5 --rho 10
"""
INVERT_EXAMPLES = """
\b
Examples:
  cnnkit explain invert runs/lenet5 --layer features.0,features.3,classifier.1 --count 4
  cnnkit explain invert runs/lenet5 --layer features.5 --image shoe.png
"""
CLASSES_EXAMPLES = """
\b
Examples:
  cnnkit explain classes runs/lenet5                   one class model per class
  cnnkit explain classes runs/lenet5 --classes 0,3,5 --steps 400
"""
DREAM_EXAMPLES = """
\b
Examples:
  cnnkit explain dream runs/lenet5 --image photo.jpg --layer features.3
  cnnkit explain dream runs/lenet5 --image photo.jpg --target 7 --octaves 3
"""

STEPS_HELP = "Gradient-ascent steps (default: the method's tuned value)."


def register(explain_app: typer.Typer) -> None:
    explain_app.command("maximize", help="Activation maximisation (Erhan et al., 2009): the image that "
                        "excites each unit most.\n" + MAXIMIZE_EXAMPLES)(maximize)
    explain_app.command("invert", help="Inverting representations (Mahendran & Vedaldi, 2015): images "
                        "reconstructed from each layer's features.\n" + INVERT_EXAMPLES)(invert)
    explain_app.command("classes", help="Class models (Simonyan et al., 2013): the image each class scores "
                        "highest, with an L2 penalty.\n" + CLASSES_EXAMPLES)(classes)
    explain_app.command("dream", help="DeepDream (Mordvintsev et al., 2015): amplify a layer or a class in a "
                        "photo, over octaves.\n" + DREAM_EXAMPLES)(dream)


def _int_list(text: str, what: str) -> list[int]:
    """'0,3,5' as [0, 3, 5]; a one-line error otherwise."""
    from cnnkit.errors import ConfigError

    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers like 0,3,5; got {text!r}") from None


def _config(default: Any, steps: Optional[int], **changes: Any) -> Any:
    from dataclasses import replace

    if steps is not None:
        changes["steps"] = steps
    return replace(default, **{k: v for k, v in changes.items() if v is not None})


def maximize(
    run: str = RUN_ARG,
    layer: str = typer.Option(..., "--layer", help="Layer to read ('cnnkit summary MODEL' lists the names)."),
    units: Optional[str] = typer.Option(None, "--units", help="Channels (or units) as 0,1,2; 'layer' for the "
                                        "whole layer's norm. Default: the first 8."),
    all_units: bool = typer.Option(False, "--all", help="Every channel of the layer."),
    steps: Optional[int] = typer.Option(None, "--steps", help=STEPS_HELP),
    rho: Optional[float] = typer.Option(None, "--rho", help="Keep ||x - mean|| = rho (pixel units); default: free."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam's step size in pixels."),
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    from cnnkit.errors import ConfigError
    from cnnkit.explain.synthesis.maximization import DEFAULT_MAXIMIZE, unit_count
    from cnnkit.reports.synthesis import write_maximize

    source = open_source(run, device)
    count = unit_count(source.model, layer, source.info.input_size)
    if all_units and units is not None:
        raise ConfigError("give --units or --all, not both")
    if all_units:
        chosen: list[Any] = list(range(count))
    elif units is None:
        chosen = list(range(min(8, count)))
    else:
        chosen = ["layer" if part.strip() == "layer" else part for part in units.split(",") if part.strip()]
        chosen = [u if u == "layer" else _int_list(u, "--units")[0] for u in chosen]
    config = _config(DEFAULT_MAXIMIZE, steps, lr=lr)
    output = OutputFolder(source, run, "maximize", out)
    with ProgressBar("maximize", enabled=not quiet) as bar:
        found = write_maximize(output, source, run, layer, chosen, config=config, rho=rho, seed=seed,
                               progress=bar.update)
    pairs = list(zip(found.units, found.reached))
    units_reached = ", ".join(f"{u}: {a:.3g}" for u, a in pairs if u != "layer")
    layer_reached = "; ".join(f"layer mean square: {a:.3g}" for u, a in pairs if u == "layer")
    print("; ".join(part for part in (units_reached and f"{found.unit_value} reached: {units_reached}", layer_reached)
                    if part))
    print(f"wrote {output.page}")


def invert(
    run: str = RUN_ARG,
    layer: str = typer.Option(..., "--layer", help="Layer(s) to invert, shallow to deep: A,B,C."),
    images: Optional[list[Path]] = IMAGES_OPT,
    count: int = typer.Option(4, "--count", help="Without --image: this many test images of the run's dataset."),
    steps: Optional[int] = typer.Option(None, "--steps", help=STEPS_HELP),
    data: Optional[str] = DATA_OPT,
    data_dir: Optional[Path] = DATA_DIR_OPT,
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    from cnnkit.explain.layers import find_layer
    from cnnkit.explain.synthesis.inversion import DEFAULT_INVERT
    from cnnkit.reports.synthesis import write_invert

    source = open_source(run, device)
    layers = [name.strip() for name in layer.split(",") if name.strip()]
    for name in layers:
        find_layer(source.model, name)  # unknown names fail before any image is read
    x, _, _ = pick_images(source, images, count, data, data_dir, seed)
    config = _config(DEFAULT_INVERT, steps)
    output = OutputFolder(source, run, "invert", out)
    with ProgressBar("invert", enabled=not quiet) as bar:
        scores = write_invert(output, source, run, x, layers, config=config, seed=seed, progress=bar.update)
    print("correlation with the original: " + ", ".join(f"{n}: {float(s.mean()):.3f}" for n, s in zip(layers, scores)))
    print(f"wrote {output.page}")


def classes(
    run: str = RUN_ARG,
    classes: str = typer.Option("all", "--classes", help="Class indices as 0,3,5, or 'all'."),
    steps: Optional[int] = typer.Option(None, "--steps", help=STEPS_HELP),
    l2: Optional[float] = typer.Option(None, "--l2", help="Weight lambda of ||x - mean||^2."),
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    from cnnkit.explain.synthesis.class_models import class_model_config, class_targets
    from cnnkit.reports.synthesis import write_classes

    source = open_source(run, device, classifier="explain classes")
    names = source.info.classes
    wanted = list(range(len(names))) if classes.strip() == "all" else _int_list(classes, "--classes")
    targets = class_targets(wanted, len(names))
    config = _config(class_model_config(source.info.input_size), steps, l2=l2)
    output = OutputFolder(source, run, "classes", out)
    with ProgressBar("classes", enabled=not quiet) as bar:
        conf = write_classes(output, source, run, targets, config=config, seed=seed, progress=bar.update)
    print("confidence: " + ", ".join(f"{names[t]} {c:.2%}" for t, c in zip(targets, conf)))
    print(f"wrote {output.page}")


def dream(
    run: str = RUN_ARG,
    images: list[Path] = typer.Option(..., "--image", help="Photo(s) to dream on, kept at their own size."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Amplify this layer's activations."),
    target: Optional[int] = typer.Option(None, "--target", help="Amplify this class's score instead."),
    octaves: int = typer.Option(4, "--octaves", help="Scales, small to large."),
    octave_scale: float = typer.Option(1.4, "--octave-scale", help="Size ratio between octaves."),
    steps: int = typer.Option(10, "--steps", help="Steps per octave."),
    lr: float = typer.Option(0.01, "--lr", help="Pixels per step of the normalised gradient."),
    seed: int = SEED_OPT,
    out: Optional[Path] = OUT_OPT,
    device: str = DEVICE_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    from cnnkit.errors import ConfigError
    from cnnkit.explain.layers import find_layer
    from cnnkit.reports.synthesis import write_dream

    source = open_source(run, device)
    if (layer is None) == (target is None):
        raise ConfigError("give --layer NAME or --target CLASS (one of them)")
    if layer is not None:
        find_layer(source.model, layer)
    output = OutputFolder(source, run, "dream", out)
    photos = [(Path(path).name, _photo(source, path)) for path in images]

    @contextmanager
    def bar(name: str) -> Iterator[Any]:  # one bar per photo
        with ProgressBar(f"dream {name}", enabled=not quiet) as each:
            yield each.update

    what = write_dream(output, source, run, photos, layer=layer, target=target, octaves=octaves,
                       octave_scale=octave_scale, steps=steps, lr=lr, seed=seed, progress=bar)
    print(f"dreamed {len(images)} photo(s), amplifying {what}")
    print(f"wrote {output.page}")


def _photo(run: Any, path: Path) -> Any:
    """An image file as (1, C, H, W) pixels in [0, 1] at its own size, on the model's device."""
    from cnnkit.data.images import image_to_tensor, load_image
    from cnnkit.modes import device_of

    mode = "L" if run.info.in_chans == 1 else "RGB"
    return image_to_tensor(load_image(path, mode=mode)).float().div(255)[None].to(device_of(run.model))
