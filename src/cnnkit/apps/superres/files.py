"""What ``cnnkit sr`` and ``cnnkit sr eval`` do with files: upscale photographs into a folder, and
measure a model on photographs beside bicubic and Lanczos interpolation (Dong et al., 2016,
table 2's protocol: PSNR and SSIM on Y, ``scale`` pixels shaved, the input degraded from the
original by the chosen degradation).

Every input is decoded and checked before anything is written, so a bad file or an image too
small for the network leaves no output behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cnnkit.apps.superres.degradation import parse_degradation
from cnnkit.apps.superres.metrics import psnr, ssim
from cnnkit.apps.superres.models import SRModel
from cnnkit.apps.superres.photos import HELD_OUT_PHOTOS, luminance, read_photo, skimage_photo, write_photo
from cnnkit.apps.superres.resize import bicubic
from cnnkit.apps.superres.task import SuperResolutionOptions, _quantised
from cnnkit.apps.superres.upscale import restore_luminance, super_resolve
from cnnkit.atomic import atomic_write_text
from cnnkit.errors import ConfigError, OutputError

__all__ = ["EvalResult", "evaluate_sr", "lanczos", "output_paths", "upscale_files", "write_eval"]


def _min_side(model: SRModel) -> int:
    """The smallest low-resolution side the network's field allows (super_resolve's own rule)."""
    radius = int(getattr(model.network, "radius", 8))
    learns = getattr(model.network, "learns_upsampling", False)
    return 2 * radius // (1 if learns else model.scale) + 1


def output_paths(inputs: Sequence[Path], out: Path, scale: int) -> list[Path]:
    """Where each upscaled image goes: ``out`` itself for one input named like an image, else
    ``out/<stem>_x<scale>.png`` (PNG: lossless, and it keeps alpha)."""
    from cnnkit.data.images import IMAGE_SUFFIXES

    if len(inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES:
        return [out]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder for {len(inputs)} images (or one image and a file name)")
    paths = [out / f"{Path(p).stem}_x{scale}.png" for p in inputs]
    if len(set(paths)) != len(paths):
        raise ConfigError("two inputs share a file name, so their outputs would overwrite each other; "
                          "upscale them into different folders")
    return paths


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".cnnkit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write to {folder} ({err.strerror or err}); choose another -o") from None


def upscale_files(model: SRModel, inputs: Sequence[str | Path], out: str | Path, *, tile: int = 256,
                  progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Upscale each image file by ``model.scale`` into ``out`` (a folder, or a file for one input)."""
    if not inputs:
        raise ConfigError("no image given; pass one or more PNG/JPEG files")
    inputs = [Path(p) for p in inputs]
    targets = output_paths(inputs, Path(out), model.scale)
    low = _min_side(model)
    for path in inputs:  # decode and check every input before the first output is written
        image = read_photo(path)
        if min(image.shape[-2:]) < low:
            raise ConfigError(f"{path} is {image.shape[-1]}x{image.shape[-2]} pixels, smaller than the network's "
                              f"field; give images of at least {low} pixels a side")
    for folder in {t.parent for t in targets}:
        _check_writable(folder)
    if progress is not None:
        progress(0, len(inputs))
    for i, (path, target) in enumerate(zip(inputs, targets)):
        image = read_photo(path).float().div_(255)
        write_photo(super_resolve(model.network, image, model.scale, tile=tile, as_uint8=True), target)
        if progress is not None:
            progress(i + 1, len(inputs))
    return targets


def lanczos(lr: Tensor, size: tuple[int, int]) -> Tensor:
    """(1, h, w) floats upscaled to ``size`` by Pillow's Lanczos-3 filter (32-bit float, not clipped)."""
    image = Image.fromarray(lr[0].double().numpy().astype(np.float32), mode="F")
    resized = image.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32).copy())[None]


@dataclass
class EvalResult:
    """PSNR / SSIM on Y per photograph for bicubic, Lanczos and the network, and their means."""

    names: list[str]
    degradation: str
    scale: int
    psnr: dict[str, list[float]]      # method -> per photograph
    ssim: dict[str, list[float]]
    crops: list[tuple[str, Tensor, Tensor, Tensor]] = field(default_factory=list)

    def mean(self, metric: str, method: str) -> float:
        values = getattr(self, metric)[method]
        return sum(values) / len(values)

    def to_json(self) -> str:
        methods = list(self.psnr)
        return json.dumps({
            "scale": self.scale, "degradation": self.degradation, "photographs": self.names,
            "psnr": self.psnr, "ssim": self.ssim,
            "mean": {m: {"psnr": self.mean("psnr", m), "ssim": self.mean("ssim", m)} for m in methods},
        }, indent=2) + "\n"


def evaluate_sr(model: SRModel, images: Sequence[str | Path] | None = None, *, degradation: str | None = None,
                seed: int = 0, jpeg_quality: int | None = None, noise_sigma: float | None = None) -> EvalResult:
    """Measure ``model`` on image files (None: scikit-image's held-out photographs) degraded by
    ``degradation`` (None: the one it was trained on), beside bicubic and Lanczos on the same input."""
    kind = degradation or model.degradation
    parse_degradation(kind)
    options = SuperResolutionOptions(
        scale=model.scale, patch=model.scale * 8, degradation=kind,
        jpeg_quality=jpeg_quality or int(model.info.task_options.get("jpeg_quality", 75)),
        noise_sigma=noise_sigma if noise_sigma is not None else float(model.info.task_options.get("noise_sigma", 0.02)))
    if images:
        named = [(Path(p).name, read_photo(p)) for p in images]
    else:
        named = [(name, skimage_photo(name)) for name in HELD_OUT_PHOTOS]
    low = _min_side(model) * model.scale
    photos = []
    for name, image in named:
        y = luminance(image)
        h, w = (s - s % model.scale for s in y.shape[-2:])
        if min(h, w) < max(low, 8 * model.scale):
            raise ConfigError(f"{name} is {image.shape[-1]}x{image.shape[-2]} pixels; evaluation needs at least "
                              f"{max(low, 8 * model.scale)} pixels a side")
        photos.append((name, (y[:, :h, :w] * 255).round() / 255))
    methods = ("bicubic", "lanczos", "network")
    result = EvalResult(names=[n for n, _ in photos], degradation=kind, scale=model.scale,
                        psnr={m: [] for m in methods}, ssim={m: [] for m in methods})
    for i, (name, hr) in enumerate(photos):
        lr = options.degrade(hr[None], torch.Generator().manual_seed(seed + i))[0]
        size = hr.shape[-2:]
        outputs = {"bicubic": _quantised(bicubic(lr[None], size)[0]), "lanczos": _quantised(lanczos(lr, size)),
                   "network": _quantised(restore_luminance(model.network, lr, model.scale))}
        for method, out in outputs.items():
            result.psnr[method].append(float(psnr(out, hr, border=model.scale)))
            result.ssim[method].append(float(ssim(out[0], hr[0], border=model.scale)))
        result.crops.append((name, hr, outputs["bicubic"], outputs["network"]))
    return result


def write_eval(result: EvalResult, out: str | Path) -> list[Path]:
    """eval.json and crops.png of an evaluation into the folder ``out``."""
    from cnnkit.apps.superres.report import plot_crops

    out = Path(out)
    _check_writable(out)
    figure = plot_crops(result.crops, out / "crops.png", scale=result.scale,
                        title=f"x{result.scale}, {result.degradation} degradation")
    return [atomic_write_text(out / "eval.json", result.to_json()), figure]
