"""Flow between two image files with a trained network, and the classical methods beside it:
scikit-image's TV-L1 (Zach, Pock & Bischof, 2007; its defaults, and tuned: attachment 30, 20
iterations) and iterative Lucas-Kanade (Le Besnerais & Champagnat, 2005), measured on the same
pairs for ``cnnkit flow eval``.

Any size works: the pair is padded by repeating its edge to the network's multiple (64 for
FlowNet) and the flow cropped back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnkit.apps.flow.metrics import end_point_error
from cnnkit.apps.flow.scenes import FlowPair
from cnnkit.errors import ConfigError, RunDirError
from cnnkit.runs.format import load_run

__all__ = ["FlowComparison", "classical_flow", "compare_methods", "flow_model_path", "network_flow", "open_flow_model", "read_pair",
           "shipped_flow_model"]

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "flow"   # cnnkit/weights/flow: model.json, ...

CLASSICAL = ("ilk", "tvl1", "tvl1-tuned")
TVL1_TUNED = {"attachment": 30, "num_iter": 20}   # a stronger data term and twice the iterations: better, slower


def shipped_flow_model() -> Path:
    """The folder of the shipped model (a run directory in miniature beside reproduce.json)."""
    if not (SHIPPED / "model.json").is_file():
        raise RunDirError(f"the shipped flow model is missing from {SHIPPED}; the installation is incomplete "
                          "(reinstall cnnkit) or pass --model RUN")
    return SHIPPED


def flow_model_path(source: str | Path | None = None) -> Path:
    """The folder a ``--model`` names: a run directory, or (None or "flow") the shipped model's."""
    path = shipped_flow_model() if source is None or str(source) == "flow" else Path(source)
    if not path.is_dir():
        raise RunDirError(f"{source} is not a run directory; pass a run of 'cnnkit flow train', or leave --model "
                          "out for the shipped model")
    return path


def open_flow_model(source: str | Path | None = None, *, device: torch.device | str = "cpu") -> nn.Module:
    """The network of a run of 'cnnkit flow train' (None or "flow": the shipped model), in eval mode."""
    run = load_run(flow_model_path(source), device=device)
    if run.info.task != "flow":
        raise RunDirError(f"{source} is a {run.info.task} run, not optical flow; pass a run of 'cnnkit flow train'")
    return run.network.eval()


def read_pair(first: str | Path, second: str | Path) -> tuple[Tensor, Tensor]:
    """Two image files as float RGB (3, H, W) in [0, 1] (grey repeated, alpha dropped); sizes must agree."""
    from cnnkit.apps.superres.photos import read_photo

    images = []
    for path in (first, second):
        image = read_photo(path).float().div(255)
        colour = image[:3] if image.shape[0] >= 3 else image[:1].expand(3, -1, -1)
        images.append(colour.contiguous())
    if images[0].shape != images[1].shape:
        raise ConfigError(f"{first} is {images[0].shape[2]}x{images[0].shape[1]} pixels and {second} "
                          f"{images[1].shape[2]}x{images[1].shape[1]}; flow needs two images of one size")
    return images[0], images[1]


@torch.no_grad()
def network_flow(model: nn.Module, image1: Tensor, image2: Tensor) -> Tensor:
    """(2, H, W) flow from ``image1`` to ``image2`` ((3, H, W) in [0, 1]), padded to the network's multiple."""
    multiple = int(getattr(model, "multiple", 64))
    h, w = image1.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    x = torch.cat([image1, image2])[None]
    x = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    out = model(x.to(device)).float().cpu()[0, :, :h, :w]
    model.train(was)
    return out


def classical_flow(method: str, image1: Tensor, image2: Tensor) -> Tensor:
    """(2, H, W) flow by scikit-image's ``ilk``, ``tvl1`` (its defaults) or ``tvl1-tuned`` (TVL1_TUNED)
    on the luminance, in (u, v) order."""
    from skimage.registration import optical_flow_ilk, optical_flow_tvl1

    grey = [(0.299 * im[0] + 0.587 * im[1] + 0.114 * im[2]).double().numpy() for im in (image1, image2)]
    if method not in CLASSICAL:
        raise ConfigError(f"unknown classical method {method!r}; choose {', '.join(CLASSICAL)}")
    if method == "ilk":
        v, u = optical_flow_ilk(grey[0], grey[1])   # scikit-image returns (row, column) displacements
    else:
        v, u = optical_flow_tvl1(grey[0], grey[1], **(TVL1_TUNED if method == "tvl1-tuned" else {}))
    return torch.from_numpy(np.stack([u, v]).astype(np.float32))


@dataclass
class FlowComparison:
    """Per method: EPE (all valid, occluded, not occluded) averaged over the pairs, and seconds per pair."""

    epe: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    examples: dict[str, Tensor] = field(default_factory=dict)    # method -> flow of the first pair


def compare_methods(model: nn.Module | None, pairs: list[FlowPair], *, methods: tuple[str, ...] = CLASSICAL
                    ) -> FlowComparison:
    """The network (if given), zero flow and each classical method on the same pairs."""
    result = FlowComparison()
    estimators = {"zero": lambda a, b: torch.zeros(2, *a.shape[-2:])}
    if model is not None:
        estimators["network"] = lambda a, b: network_flow(model, a, b)
    estimators.update({m: (lambda a, b, m=m: classical_flow(m, a, b)) for m in methods})
    for name, estimate in estimators.items():
        if pairs:
            estimate(pairs[0].image1, pairs[0].image2)  # warm-up: first-call costs are not a method's speed
        totals = {"all": [], "occluded": [], "visible": []}
        elapsed = 0.0
        for i, pair in enumerate(pairs):
            began = time.perf_counter()
            flow = estimate(pair.image1, pair.image2)
            elapsed += time.perf_counter() - began
            for key, mask in (("all", pair.valid), ("occluded", pair.valid & pair.occluded),
                              ("visible", pair.valid & ~pair.occluded)):
                value = float(end_point_error(flow, pair.flow, mask))
                if np.isfinite(value):
                    totals[key].append(value)
            if i == 0:
                result.examples[name] = flow
        result.epe[name] = {k: float(np.mean(v)) if v else float("nan") for k, v in totals.items()}
        result.seconds[name] = elapsed / max(len(pairs), 1)
    return result
