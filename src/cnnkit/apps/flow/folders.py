"""The folder layouts the flow benchmarks ship in, read into FlowPairs.

FlyingChairs (Dosovitskiy et al., 2015): ``data/NNNNN_img1.ppm``, ``NNNNN_img2.ppm`` and
``NNNNN_flow.flo``, split by ``FlyingChairs_train_val.txt`` (one line per pair: 1 training, 2
validation). MPI-Sintel (Butler et al., ECCV 2012): ``training/<pass>/<scene>/frame_NNNN.png``
for the passes ``clean`` and ``final``, ``training/flow/<scene>/frame_NNNN.flo`` from each frame
to the next, and where present ``training/occlusions`` and ``training/invalid`` masks (white =
occluded / invalid) of the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnkit.apps.flow.flo import UNKNOWN_FLOW, read_flo
from cnnkit.apps.flow.scenes import FlowPair
from cnnkit.errors import ConfigError, CorruptDataError, MissingDataError

__all__ = ["FlowSample", "flying_chairs", "load_sample", "motorcycle_pair", "sintel"]


@dataclass(frozen=True)
class FlowSample:
    """The files of one pair: two frames, the flow, and optional occlusion and invalid masks."""

    image1: Path
    image2: Path
    flow: Path
    occlusions: Path | None = None
    invalid: Path | None = None


def flying_chairs(root: str | Path, split: str = "train") -> list[FlowSample]:
    """FlyingChairs' pairs of ``split`` ("train", "val" or "all"), in file order."""
    root = Path(root)
    data = root / "data" if (root / "data").is_dir() else root
    flows = sorted(data.glob("*_flow.flo"))
    if not flows:
        raise MissingDataError(f"{root} holds no FlyingChairs pairs (data/NNNNN_img1.ppm, NNNNN_img2.ppm, "
                               "NNNNN_flow.flo); give the FlyingChairs_release folder")
    if split not in ("train", "val", "all"):
        raise ConfigError(f"FlyingChairs split must be train, val or all, got {split!r}")
    samples = []
    for flow in flows:
        stem = flow.name.removesuffix("_flow.flo")
        suffix = next((s for s in (".ppm", ".png") if (data / f"{stem}_img1{s}").is_file()), ".ppm")
        samples.append(FlowSample(data / f"{stem}_img1{suffix}", data / f"{stem}_img2{suffix}", flow))
    if split == "all":
        return samples
    split_file = next((p for p in (root / "FlyingChairs_train_val.txt", data.parent / "FlyingChairs_train_val.txt")
                       if p.is_file()), None)
    if split_file is None:
        raise MissingDataError(f"{root} has no FlyingChairs_train_val.txt to split train from val; use split='all'")
    labels = split_file.read_text().split()
    if len(labels) != len(samples) or set(labels) - {"1", "2"}:
        raise CorruptDataError(f"{split_file} has {len(labels)} labels for {len(samples)} pairs (each 1 or 2); "
                               "the split file does not fit the data folder")
    wanted = "1" if split == "train" else "2"
    return [s for s, label in zip(samples, labels) if label == wanted]


def sintel(root: str | Path, pass_name: str = "clean", split: str = "training") -> list[FlowSample]:
    """MPI-Sintel's pairs of ``pass_name`` ("clean" or "final"): consecutive frames of every scene."""
    if pass_name not in ("clean", "final"):
        raise ConfigError(f"Sintel's pass is clean or final, got {pass_name!r}")
    base = Path(root) / split
    frames_dir = base / pass_name
    if not frames_dir.is_dir():
        raise MissingDataError(f"{frames_dir} does not exist; give the MPI-Sintel folder holding "
                               f"{split}/{pass_name}/<scene>/frame_NNNN.png and {split}/flow/<scene>/frame_NNNN.flo")
    samples = []
    for scene in sorted(p for p in frames_dir.iterdir() if p.is_dir()):
        frames = sorted(scene.glob("frame_*.png"))
        for first, second in zip(frames, frames[1:]):
            flow = base / "flow" / scene.name / f"{first.stem}.flo"
            if not flow.is_file():
                raise MissingDataError(f"{flow} is missing: Sintel has a flow file for every frame but a scene's last")
            occlusions = base / "occlusions" / scene.name / first.name
            invalid = base / "invalid" / scene.name / first.name
            samples.append(FlowSample(first, second, flow, occlusions if occlusions.is_file() else None,
                                      invalid if invalid.is_file() else None))
    if not samples:
        raise MissingDataError(f"{frames_dir} holds no scene with two or more frames")
    return samples


def _mask(path: Path) -> torch.Tensor:
    from cnnkit.data.images import load_image

    return torch.from_numpy(np.asarray(load_image(path, mode="L")) > 127)


def load_sample(sample: FlowSample) -> FlowPair:
    """Read one pair: frames as float RGB in [0, 1], the flow, validity (known flow, not marked invalid)
    and occlusion (False where no mask ships)."""
    from cnnkit.apps.flow.estimate import read_pair

    image1, image2 = read_pair(sample.image1, sample.image2)
    flow = read_flo(sample.flow)
    if flow.shape[-2:] != image1.shape[-2:]:
        raise CorruptDataError(f"{sample.flow} is {flow.shape[2]}x{flow.shape[1]} but its frames are "
                               f"{image1.shape[2]}x{image1.shape[1]}; the pair does not fit together")
    valid = torch.isfinite(flow).all(0) & (flow.abs() < UNKNOWN_FLOW).all(0)
    if sample.invalid is not None:
        valid &= ~_mask(sample.invalid)
    occluded = _mask(sample.occlusions) if sample.occlusions is not None else torch.zeros_like(valid)
    return FlowPair(image1=image1, image2=image2, flow=torch.where(valid, flow, 0.0), valid=valid, occluded=occluded)


def motorcycle_pair(downscale: int = 4) -> FlowPair:
    """A real pair with ground truth: scikit-image's stereo_motorcycle (Middlebury 2014 stereo), left to
    right view; a pixel at x in the left view is at x - disparity in the right, so the flow is
    (-disparity, 0). Both views are shrunk by ``downscale`` (area average), the disparity with them;
    pixels whose disparity is unknown anywhere in their block are invalid."""
    import torch.nn.functional as F
    from skimage import data

    if isinstance(downscale, bool) or not isinstance(downscale, int) or not 1 <= downscale <= 8:
        raise ConfigError(f"downscale must be an integer in [1, 8], got {downscale!r}")
    left, right, disparity = data.stereo_motorcycle()
    h, w = (s - s % downscale for s in disparity.shape)

    def shrink(image: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(image[:h, :w].astype(np.float32) / 255).permute(2, 0, 1)[None]
        return F.avg_pool2d(t, downscale)[0]

    d = torch.from_numpy(disparity[:h, :w].astype(np.float32))[None, None]
    known = torch.isfinite(d)
    valid = F.avg_pool2d(known.float(), downscale)[0, 0] == 1
    mean = F.avg_pool2d(torch.where(known, d, 0.0), downscale)[0, 0] / downscale
    flow = torch.stack([torch.where(valid, -mean, 0.0), torch.zeros_like(mean)])
    xs = torch.arange(flow.shape[-1], dtype=torch.float32)
    valid &= (xs + flow[0] >= -0.5)                                     # the target stays in the right view
    return FlowPair(image1=shrink(left), image2=shrink(right), flow=flow, valid=valid,
                    occluded=torch.zeros_like(valid))
