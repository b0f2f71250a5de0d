"""``cnnkit detect``: object detection (R-CNN, Girshick et al., 2014; Fast R-CNN, Girshick, 2015) on
image files with a trained detector, training on generated scenes, and measurement (VOC and COCO
mAP, proposal recall, seconds per stage). ``cnnkit detect IMAGE...`` detects; the first word
``train`` or ``eval`` picks the others."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnkit.cli._apps import group_running, resume_instead

FIND_EXAMPLES = """
\b
Examples:
  cnnkit detect scene.png -o boxes.png               the shipped detector
  cnnkit detect a.png b.png -o out/ --json           several images: a folder, and the boxes as JSON
  cnnkit detect scene.png --model runs/RUN --threshold 0.3
"""

TRAIN_EXAMPLES = """
\b
Examples:
  cnnkit detect train                                the shipped recipe: R-CNN on 2,000 generated scenes
  cnnkit detect train --model fast_rcnn              Fast R-CNN on the same scenes
  cnnkit detect train --data VOCdevkit/VOC2007       your own annotated images (VOC folder or COCO .json)
  cnnkit detect train --resume runs/RUN              continue a stopped run exactly
"""

EVAL_EXAMPLES = """
\b
Examples:
  cnnkit detect eval                                 the shipped detector on 200 held-out scenes
  cnnkit detect eval runs/RUN --count 100
  cnnkit detect eval --data VOCdevkit/VOC2007        annotated images (VOC folder or COCO .json)
"""

detect_app = typer.Typer(cls=group_running("find"), no_args_is_help=True, rich_markup_mode=None,
                         help="Object detection: detect (cnnkit detect IMAGE...), train, evaluate.\n" + FIND_EXAMPLES)


def register(app: typer.Typer) -> None:
    app.add_typer(detect_app, name="detect")


@detect_app.command("find", help="Detect objects in images and draw their boxes.\n" + FIND_EXAMPLES)
def find(
    images: list[Path] = typer.Argument(..., help="Image files."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A run of 'cnnkit detect train' (default: the "
                                        "shipped detector)."),
    out: Path = typer.Option(Path("detections.png"), "--out", "-o", help="The picture to write (one image), or a "
                             "folder for several."),
    threshold: float = typer.Option(0.5, "--threshold", help="Keep detections scoring at least this (0-1)."),
    as_json: bool = typer.Option(False, "--json", help="Print the detections as JSON instead of the file names."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    from cnnkit.apps.detect.files import detect_file, detections_record, draw_detections, dumps, open_detector
    from cnnkit.apps.superres.photos import IMAGE_SUFFIXES
    from cnnkit.device import resolve_device
    from cnnkit.errors import ConfigError, OutputError

    if not 0 <= threshold <= 1:
        raise ConfigError(f"--threshold must be in [0, 1], got {threshold}")
    several = len(images) > 1
    if several and out.suffix:
        raise OutputError(f"{out}: with {len(images)} images, --out names a folder (one picture per image)")
    if not several and out.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"{out}: the picture needs a suffix such as .png or .jpg")
    detector = open_detector(model, device=resolve_device(device))
    found = [(path, *detect_file(detector, path, threshold=threshold)) for path in images]   # all read before writing
    written, records = [], []
    for path, image, detections in found:
        target = out / f"{path.stem}-detections.png" if several else out
        if several:
            out.mkdir(parents=True, exist_ok=True)
        written.append(draw_detections(image, detections, detector.classes, target))
        records.append(detections_record(path, detections, detector.classes))
    typer.echo(dumps(records).rstrip() if as_json else "\n".join(str(p) for p in written))


@detect_app.command("train", help="Train a detector on generated scenes through cnnkit's trainer.\n" + TRAIN_EXAMPLES)
def train(
    model: Optional[str] = typer.Option(None, "--model", help="rcnn (default) or fast_rcnn."),
    data: Optional[Path] = typer.Option(None, "--data", help="Train on annotated images instead of generated scenes: "
                                        "a PASCAL VOC folder or a COCO instances .json file."),
    image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="The folder of --data's images (default: "
                                             "VOC's JPEGImages/, or the .json file's folder)."),
    test_fraction: Optional[float] = typer.Option(None, "--test-fraction", help="With --data: the share of images "
                                                  "held out for evaluation (default 0.1, seeded)."),
    images: Optional[int] = typer.Option(None, "--images", help="Training scenes (default 2,000; their selective "
                                         "search runs once and is cached)."),
    items: Optional[str] = typer.Option(None, "--items", help="Objects besides the shapes: fashion-mnist (default) "
                                        "or none."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (default 12)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per step (default 4; 128 regions "
                                             "sampled from them, a quarter positive)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of AdamW (default 2e-3, cosine)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; same seed, same weights."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: all cores)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Parent directory of run directories (default runs/)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this unfinished run (runs/NAME)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.cli.train import _print_result
    from cnnkit.train import TrainConfig, fit

    from cnnkit.errors import ConfigError

    given = {"model": model, "data": data, "image-dir": image_dir, "test-fraction": test_fraction, "images": images,
             "items": items, "epochs": epochs, "batch-size": batch_size, "lr": lr, "seed": seed, "threads": threads,
             "device": device, "out": out, "name": name}
    if resume is not None:
        resume_instead(resume, given, quiet=quiet)
        return
    if data is None and (image_dir is not None or test_fraction is not None):
        raise ConfigError(f"--{'image-dir' if image_dir is not None else 'test-fraction'} applies to --data")
    if data is not None and (images is not None or items is not None):
        raise ConfigError(f"--{'images' if images is not None else 'items'} applies to generated scenes, not --data")
    options = {k: v for k, v in (("train_images", images), ("items", items), ("test_fraction", test_fraction),
                                 ("images", str(image_dir) if image_dir else None)) if v is not None}
    values = {"task": "detect", "data": "annotations" if data is not None else "scenes",
              "data_dir": str(data.resolve()) if data is not None else None,
              "model": model or "rcnn", "optimizer": "adamw", "lr": lr or 2e-3,
              "weight_decay": 5e-4, "schedule": "cosine", "warmup_epochs": 0.25, "batch_size": batch_size or 4,
              "epochs": epochs or 12, "channels_last": False, "task_options": options}
    values.update({k: v for k, v in (("seed", seed), ("threads", threads), ("device", device),
                                     ("out", str(out) if out else None), ("name", name)) if v is not None})
    _print_result(fit(TrainConfig.from_dict(values), progress=not quiet))


@detect_app.command("eval", help="mAP on held-out generated scenes or annotated images, proposal recall, seconds "
                    "per stage.\n" + EVAL_EXAMPLES)
def evaluate(
    model: Optional[str] = typer.Argument(None, help="A run of 'cnnkit detect train' (default: the shipped one)."),
    count: int = typer.Option(200, "--count", help="Held-out scenes to measure on (without --data)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Annotated images instead: a PASCAL VOC folder "
                                        "(Annotations/, JPEGImages/) or a COCO instances .json file."),
    images: Optional[Path] = typer.Option(None, "--images", help="The folder of --data's images (default: VOC's "
                                          "JPEGImages/, or the .json file's folder)."),
    out: Path = typer.Option(Path("detect-eval"), "--out", "-o", help="Folder for eval.json and the figures."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    import json

    from rich.console import Console
    from rich.table import Table

    from cnnkit.apps.detect.evaluate import evaluate_on_folder, evaluate_on_scenes
    from cnnkit.apps.detect.files import open_detector
    from cnnkit.atomic import atomic_write_text
    from cnnkit.device import resolve_device
    from cnnkit.errors import ConfigError

    if not 1 <= count <= 100_000:
        raise ConfigError(f"--count must be in [1, 100000], got {count}")
    if images is not None and data is None:
        raise ConfigError("--images names the folder of --data's images; give --data too")
    detector = open_detector(model, device=resolve_device(device))
    if data is None:
        report = evaluate_on_scenes(detector, count=count, out=out)
        title = f"{count} held-out scenes"
    else:
        report = evaluate_on_folder(detector, data, out=out, images=images)
        title = f"{report['images']} annotated images of {data}"
    atomic_write_text(out / "eval.json", json.dumps(report, indent=2) + "\n")
    table = Table(title=title)
    for column in ("metric", "value"):
        table.add_column(column)
    for key in ("map50_voc_all_point", "map50_voc_11_point", "map_coco", "recall_at_2000"):
        table.add_row(key, f"{report[key]:.4f}")
    for stage, seconds in report["seconds_per_image"].items():
        table.add_row(f"{stage} s/image", f"{seconds:.4f}")
    Console().print(table)
    typer.echo(str(out / "eval.json"))
