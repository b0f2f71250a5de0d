"""``cnnkit sr``: super-resolution (Dong et al., 2016) with the shipped models, training on your
photographs, and measurement beside bicubic and Lanczos. ``cnnkit sr IMAGE...`` upscales; the
first word ``train`` or ``eval`` picks the other commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnkit.cli._apps import group_running, resume_instead

UPSCALE_EXAMPLES = """
\b
Examples:
  cnnkit sr photo.jpg                          x3 with the shipped model: photo_x3.png here
  cnnkit sr *.png --scale 2 -o big/            x2, every file into big/
  cnnkit sr photo.jpg --model runs/RUN -o out.png
"""

TRAIN_EXAMPLES = """
\b
Examples:
  cnnkit sr train                              x3 on scikit-image's photographs (the shipped recipe)
  cnnkit sr train photos/ --scale 4 --degradation blur+jpeg --epochs 10
  cnnkit sr train --resume runs/RUN            continue a stopped run exactly
  torchrun --nproc-per-node 2 -m cnnkit sr train
"""

EVAL_EXAMPLES = """
\b
Examples:
  cnnkit sr eval superres-x3                   the shipped x3 model on the held-out photographs
  cnnkit sr eval runs/RUN photos/*.png --degradation blur
"""


sr_app = typer.Typer(cls=group_running("upscale"), no_args_is_help=True, rich_markup_mode=None,
                     help="Super-resolution: upscale photographs (cnnkit sr IMAGE...), train, evaluate.\n"
                     + UPSCALE_EXAMPLES)


def register(app: typer.Typer) -> None:
    app.add_typer(sr_app, name="sr")


@sr_app.command("upscale", hidden=True, help="Upscale photographs.\n" + UPSCALE_EXAMPLES)
def upscale(
    images: list[Path] = typer.Argument(..., help="Image files (any size; grey, colour, with or without alpha)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", help="2, 3 or 4 (default 3, or the --model's)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A run of 'cnnkit sr train' or a shipped name "
                                        "(superres-x2, -x3, -x4); default: the shipped model of the scale."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Output folder, or a file name for one image."),
    tile: int = typer.Option(256, "--tile", help="Low-resolution tile side; smaller tiles use less memory."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.apps.superres.files import upscale_files
    from cnnkit.apps.superres.models import open_sr_model
    from cnnkit.device import resolve_device
    from cnnkit.progress import ProgressBar

    chosen = open_sr_model(model, scale=scale, device=resolve_device(device))
    with ProgressBar("upscaling", unit="images", enabled=not quiet and len(images) > 1) as bar:
        written = upscale_files(chosen, images, out, tile=tile, progress=lambda done, total: bar.update(done, total))
    for path in written:
        typer.echo(str(path))


@sr_app.command("train", help="Train a super-resolution network through cnnkit's trainer.\n" + TRAIN_EXAMPLES)
def train(
    folder: Optional[Path] = typer.Argument(None, help="A folder of your photographs (default: scikit-image's)."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", help="2, 3 or 4 (default 3)."),
    model: Optional[str] = typer.Option(None, "--model", help="espcn_residual (default), srcnn_955, fsrcnn, ... "
                                        "('cnnkit models --task superres')."),
    degradation: Optional[str] = typer.Option(None, "--degradation", help="bicubic (default), blur, jpeg, noise, "
                                              "or a combination such as blur+jpeg."),
    patch: Optional[int] = typer.Option(None, "--patch", help="High-resolution patch side (default 48)."),
    patches: Optional[int] = typer.Option(None, "--patches", help="Patches per epoch (default 16,384)."),
    loss: Optional[str] = typer.Option(None, "--loss", help="l1 (default) or mse."),
    test_dir: Optional[Path] = typer.Option(None, "--test-dir", help="Test photographs (default: every tenth of "
                                            "FOLDER; for scikit-image's, the held-out ones)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes of --patches patches (default 20)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Patches per step (default 32)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate of Adam (default 1e-3)."),
    residual: Optional[bool] = typer.Option(None, "--residual/--no-residual",
                                            help="SRCNN: learn only what bicubic misses (VDSR's residual)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; same seed, same weights."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: all cores)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(None, "--out", help="Parent directory of run directories (default runs/)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name (default <model>-x<scale>-<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this unfinished run (runs/NAME)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from cnnkit.apps.superres.models import sr_train_config
    from cnnkit.cli.train import _print_result
    from cnnkit.train import fit

    given = {"folder": folder, "scale": scale, "model": model, "degradation": degradation, "patch": patch,
             "patches": patches, "loss": loss, "test-dir": test_dir, "epochs": epochs, "batch-size": batch_size,
             "lr": lr, "residual": residual, "seed": seed, "threads": threads, "device": device, "out": out,
             "name": name}
    if resume is not None:
        resume_instead(resume, given, quiet=quiet)
        return
    kwargs = {"residual": residual} if residual is not None else {}
    config = sr_train_config(
        scale=scale, patch=patch, degradation=degradation, patches_per_epoch=patches, loss=loss,
        test_dir=str(test_dir.resolve()) if test_dir else None, model=model, epochs=epochs, batch_size=batch_size,
        lr=lr, seed=seed, threads=threads, device=device, out=str(out) if out else None, name=name,
        data="folder" if folder else "skimage", data_dir=str(folder.resolve()) if folder else None,
        model_kwargs=kwargs,
    )
    _print_result(fit(config, progress=not quiet))


@sr_app.command("eval", help="PSNR and SSIM on Y beside bicubic and Lanczos; writes eval.json and crops.png.\n"
                + EVAL_EXAMPLES)
def evaluate(
    model: str = typer.Argument(..., help="A run of 'cnnkit sr train' or a shipped name (superres-x3, ...)."),
    images: Optional[list[Path]] = typer.Argument(None, help="Photographs (default: scikit-image's held-out ones)."),
    degradation: Optional[str] = typer.Option(None, "--degradation", help="How the input is made (default: the "
                                              "model's own); blur or jpeg on a bicubic model shows the mismatch."),
    out: Path = typer.Option(Path("sr-eval"), "--out", "-o", help="Folder for eval.json and crops.png."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s", help="Check the model's scale (with espcn_residual: "
                                        "pick the shipped model of this scale)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise degradation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnkit.apps.superres.files import evaluate_sr, write_eval
    from cnnkit.apps.superres.models import open_sr_model
    from cnnkit.device import resolve_device

    chosen = open_sr_model(model, scale=scale, device=resolve_device(device))
    result = evaluate_sr(chosen, images or None, degradation=degradation, seed=seed)
    written = write_eval(result, out)
    table = Table("photograph", "bicubic", "Lanczos", "network", "gain", "SSIM bicubic", "SSIM network",
                  title=f"PSNR on Y (dB), x{result.scale}, {result.degradation} input, {result.scale} px shaved")
    rows = list(zip(result.names, result.psnr["bicubic"], result.psnr["lanczos"], result.psnr["network"],
                    result.ssim["bicubic"], result.ssim["network"]))
    for name, b, la, n, sb, sn in rows:
        table.add_row(name, f"{b:.2f}", f"{la:.2f}", f"{n:.2f}", f"{n - b:+.2f}", f"{sb:.4f}", f"{sn:.4f}")
    mean = {m: result.mean("psnr", m) for m in result.psnr}
    table.add_row("mean", f"{mean['bicubic']:.2f}", f"{mean['lanczos']:.2f}", f"{mean['network']:.2f}",
                  f"{mean['network'] - mean['bicubic']:+.2f}", f"{result.mean('ssim', 'bicubic'):.4f}",
                  f"{result.mean('ssim', 'network'):.4f}")
    Console().print(table)
    for path in written:
        typer.echo(str(path))
