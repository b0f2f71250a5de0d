"""report.html of a detection run: loss, region accuracy and mAP curves, held-out scenes with the
detections drawn, the precision-recall curve of each class, the configuration and the timing."""

from __future__ import annotations

from pathlib import Path

from cnnkit.apps.detect.metrics import Detections, GroundTruth
from cnnkit.apps.detect.task import DetectEvaluation, SceneSet
from cnnkit.runs.format import REPORT_FILE, ModelInfo
from cnnkit.runs.metrics import read_metrics
from cnnkit.train.config import TrainConfig
from cnnkit.train.report import closing_sections
from cnnkit.viz import ReportSection, format_duration, plot_image_grid, plot_metric_curves, write_report

__all__ = ["build_detect_report", "plot_examples"]


def plot_examples(test: SceneSet, evaluation: DetectEvaluation, classes: list[str], path: Path, *, count: int = 8,
                  threshold: float = 0.5) -> Path:
    """The first held-out scenes with the detections scoring at least ``threshold`` drawn on them."""
    import tempfile

    import numpy as np
    from PIL import Image

    from cnnkit.apps.detect.files import draw_detections

    tiles = []
    with tempfile.TemporaryDirectory() as folder:
        for i, (scene, found) in enumerate(zip(test.scenes[:count], evaluation.detections[:count])):
            keep = found.scores >= threshold
            drawn = draw_detections(scene.image, Detections(found.boxes[keep], found.scores[keep], found.labels[keep]),
                                    classes, Path(folder) / f"{i}.png")
            tiles.append(Image.open(drawn).convert("RGB"))
    side = max(max(t.size) for t in tiles)   # annotated images differ in size: each fitted into one square
    squares = []
    for tile in tiles:
        scale = side / max(tile.size)
        fitted = tile.resize((max(1, round(tile.size[0] * scale)), max(1, round(tile.size[1] * scale))))
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(fitted, (0, 0))
        squares.append(np.asarray(square, dtype=np.float32).transpose(2, 0, 1) / 255)
    captions = [f"{len(s.boxes)} objects" for s in test.scenes[:count]]
    return plot_image_grid(np.stack(squares), captions, path, ncols=4, cell_inches=2.2,
                           title=f"held-out scenes, detections scoring {threshold} or more")


def build_detect_report(run_dir: Path, *, info: ModelInfo, config: TrainConfig, evaluation: DetectEvaluation,
                        test: SceneSet) -> Path:
    """Write curves.png, examples.png, precision_recall.png and report.html of a finished detection run."""
    from cnnkit.apps.detect.evaluate import plot_precision_recall

    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    curves = plot_metric_curves(metrics, [
        ("loss", [("train_loss", "train")]),
        ("region accuracy", [("train_acc", "train regions")]),
        ("mAP", [("test_map50", "test: VOC mAP@0.5"), ("test_map", "test: COCO mAP@[.5:.95]")]),
    ], run_dir / "curves.png")
    examples = plot_examples(test, evaluation, list(info.classes), run_dir / "examples.png")
    truths = [GroundTruth(s.boxes, s.labels, s.difficult) for s in test.scenes]
    curve = plot_precision_recall(evaluation.detections, truths, list(info.classes), run_dir / "precision_recall.png")
    m, training = evaluation.metrics, info.training
    sections = [
        ReportSection("Loss and mAP", images=(curves,),
                      text="The multi-task loss (cross-entropy over the classes and background, smooth L1 of the box "
                      "deltas) and the accuracy of the sampled regions; on the held-out scenes VOC mAP at IoU 0.5 and "
                      "COCO's mAP averaged over IoU 0.5 to 0.95."),
        ReportSection("Held-out scenes", images=(examples,),
                      text="Scenes of photographs, items and seeds that training never saw, with the detections "
                      "after per-class non-maximum suppression."),
        ReportSection("Precision and recall", images=(curve,),
                      text="Each class's detections over all held-out scenes ranked by score (VOC's rule at IoU 0.5)."),
        *closing_sections(run_dir, metrics=metrics, config=config, training=training),
    ]
    highlights = [("mAP@0.5", f"{m['test_map50']:.3f}"), ("COCO mAP", f"{m['test_map']:.3f}"),
                  ("time", format_duration(training.get("seconds", float("nan"))))]
    title = run_dir.name.removeprefix(".").removesuffix(".partial")
    return write_report(run_dir / REPORT_FILE, title=title,
                        subtitle=f"{info.architecture}: detection of {len(info.classes)} classes on "
                                 + ("annotated images" if config.data == "annotations" else
                                    f"generated {info.input_size}x{info.input_size} scenes"),
                        highlights=highlights, sections=sections)
