"""Detection on image files: the shipped detector or a run, boxes drawn with their labels and scores,
and the same detections as JSON, for ``cnnkit detect``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from cnnkit.apps.detect.inference import StageTimes, detect_image
from cnnkit.apps.detect.metrics import Detections
from cnnkit.apps.detect.proposals import selective_search
from cnnkit.errors import RunDirError
from cnnkit.runs.format import load_run

__all__ = ["SHIPPED", "Detector", "open_detector", "detector_path", "read_rgb", "detect_file", "draw_detections",
           "detections_record", "dumps"]

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "detect"   # cnnkit/weights/detect

_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


@dataclass
class Detector:
    """A detection network and the names of its classes."""

    network: nn.Module
    classes: list[str]
    task_options: dict


def detector_path(source: str | Path | None = None) -> Path:
    """The folder a ``--model`` names: a run directory, or (None or "detect") the shipped detector's."""
    if source is None or str(source) == "detect":
        if not (SHIPPED / "model.json").is_file():
            raise RunDirError(f"the shipped detector is missing from {SHIPPED}; the installation is incomplete "
                              "(reinstall cnnkit) or pass --model RUN")
        return SHIPPED
    path = Path(source)
    if not path.is_dir():
        raise RunDirError(f"{source} is not a run directory; pass a run of 'cnnkit detect train', or leave --model "
                          "out for the shipped detector")
    return path


def open_detector(source: str | Path | None = None, *, device: torch.device | str = "cpu") -> Detector:
    """The detector of a run of 'cnnkit detect train' (None or "detect": the shipped one), in eval mode."""
    run = load_run(detector_path(source), device=device)
    if run.info.task != "detect":
        raise RunDirError(f"{source} is a {run.info.task} run, not detection; pass a run of 'cnnkit detect train'")
    return Detector(run.network.eval(), list(run.info.classes), dict(run.info.task_options))


def read_rgb(path: str | Path) -> Tensor:
    """An image file as float RGB (3, H, W) in [0, 1]: grey repeated, alpha dropped."""
    from cnnkit.apps.superres.photos import read_photo

    image = read_photo(path).float().div(255)
    return (image[:3] if image.shape[0] >= 3 else image[:1].expand(3, -1, -1)).contiguous()


def detect_file(detector: Detector, path: str | Path, *, threshold: float = 0.5,
                times: StageTimes | None = None) -> tuple[Tensor, Detections]:
    """The image of ``path`` and its detections scoring at least ``threshold``."""
    import time

    times = times if times is not None else StageTimes()
    image = read_rgb(path)
    start = time.perf_counter()
    proposals = selective_search(image)
    times.add("proposals", start)
    found = detect_image(detector.network, image, proposals, score_threshold=min(threshold, 0.05), times=times)
    keep = found.scores >= threshold
    return image, Detections(found.boxes[keep], found.scores[keep], found.labels[keep])


def draw_detections(image: Tensor, found: Detections, classes: list[str], path: str | Path) -> Path:
    """``image`` (3, H, W) with each detection's box, class and score drawn on it, written atomically."""
    from PIL import Image, ImageDraw

    from cnnkit.apps.superres.photos import write_photo

    array = (image.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    scale = max(1, round(256 / min(array.shape[:2])))   # small images drawn larger, so the labels read
    canvas = Image.fromarray(array).resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for box, score, label in zip(found.boxes.tolist(), found.scores.tolist(), found.labels.tolist()):
        colour = _COLOURS[label % len(_COLOURS)]
        x1, y1, x2, y2 = (v * scale for v in box)
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=colour, width=2)
        text = f"{classes[label]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        lift = bottom - top + 3
        draw.rectangle([x1, y1 - lift if y1 >= lift else y1, x1 + right - left + 4, (y1 if y1 >= lift else y1 + lift)],
                       fill=colour)
        draw.text((x1 + 2, (y1 - lift if y1 >= lift else y1) + 1), text, fill=(0, 0, 0))
    return write_photo(torch.from_numpy(np.array(canvas)).permute(2, 0, 1).contiguous(), path)


def detections_record(path: str | Path, found: Detections, classes: list[str]) -> dict:
    """JSON-ready: the image and each detection's class, score and box (x1, y1, x2, y2 in pixels)."""
    return {"image": str(path), "detections": [
        {"class": classes[label], "score": round(score, 4), "box": [round(v, 2) for v in box]}
        for box, score, label in zip(found.boxes.tolist(), found.scores.tolist(), found.labels.tolist())]}


def dumps(records: list[dict]) -> str:
    return json.dumps(records, indent=2) + "\n"
