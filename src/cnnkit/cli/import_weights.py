"""``cnnkit import-weights``: a foreign state dict (.safetensors, .pt, .pth) as a run directory.

``--out`` is the parent of run directories and ``--name`` the run's name, as for ``cnnkit train``.
The old spelling, ``--out RUN`` alone, still names the run directory itself, with a warning: a
user can predict it (``--name`` given: parent; not given: the run), and no script breaks yet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

EXAMPLES = """
\b
Examples:
  cnnkit import-weights lenet5 lenet.safetensors --name lenet-imported --data mnist    runs/lenet-imported
  cnnkit import-weights lenet5 ckpt.pt --out runs --name x --mean 0.5 --std 0.5 --classes names.txt
  cnnkit import-weights fastnet model.pth --name y --model-kwargs '{"widths": [16, 32, 64]}'
  cnnkit import-weights googlenet googlenet.pth --model-kwargs '{"aux": false}' --mean 0.5 --std 0.5
  cnnkit import-weights lenet5 partial.pt --data digits --non-strict    runs/lenet5-imported-<time>
"""

_KWARGS_DEPTH = 8  # no model option is more than a list of lists

DEPRECATED_OUT = (
    "--out without --name names the run directory; this will change: use --out PARENT --name NAME"
)


def register(app: typer.Typer) -> None:
    app.command(
        "import-weights",
        help="Load a state dict into a registered model and write a run directory; "
        "never runs code from the file.\n" + EXAMPLES,
    )(import_weights)


def _run_dir(model: str, out: Optional[Path], name: Optional[str]) -> tuple[Path, bool]:
    """The run directory to create, and whether it was named the deprecated way (--out alone)."""
    from cnnkit.interop.import_weights import check_run_name, default_run_name

    if out is not None and name is None:
        if _is_dir(out):  # likely the new spelling meant, and the old one would only refuse it
            from cnnkit.errors import OutputError

            raise OutputError(
                f"{out} already exists; --out without --name names the run directory itself: "
                f"add --name NAME to create {out / 'NAME'}"
            )
        return out, True
    parent = Path("runs") if out is None else out
    if name is None:
        return parent / default_run_name(model, parent), False
    return parent / check_run_name(name), False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a loop: the import reports it on one line
        return False


def _floats(text: str | None, flag: str) -> list[float] | None:
    from cnnkit.errors import ConfigError

    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give numbers separated by commas, e.g. 0.485,0.456,0.406") from None


def _kwargs(text: str | None) -> dict:
    from cnnkit.errors import ConfigError
    from cnnkit.files import json_depth

    example = "give an object such as '{\"dropout\": 0.1}'"
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--model-kwargs is not valid JSON ({err.msg}); {example}") from None
    except RecursionError:  # '[[[[...' thousands deep
        raise ConfigError(f"--model-kwargs nests too deeply; {example}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--model-kwargs must be a JSON object; {example}")
    if json_depth(value) > _KWARGS_DEPTH:
        raise ConfigError(f"--model-kwargs nests deeper than {_KWARGS_DEPTH} levels; {example}")
    return value


def import_weights(
    model: str = typer.Argument(..., help="Registered model name ('cnnkit models' lists them)."),
    file: Path = typer.Argument(..., help=".safetensors, or a .pt/.pth/.bin state dict saved by torch.save."),
    out: Optional[Path] = typer.Option(None, help="Parent directory of run directories (default runs/); "
                                       "given without --name, the run directory itself (deprecated)."),
    name: Optional[str] = typer.Option(None, help="Run directory name: at most 255 bytes, no '/', not starting "
                                       "with '.' (default <model>-imported-<time>)."),
    data: Optional[str] = typer.Option(None, help="Take classes, channels, size, mean and std from this dataset."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder datasets: directory holding the class folders."),
    num_classes: Optional[int] = typer.Option(
        None, help="Classes, 1 to 100,000 (default: read from the file's last layer)."),
    in_chans: Optional[int] = typer.Option(
        None, help="Input channels, 1 to 64: 1 greyscale, 3 RGB (default: from the file)."),
    input_size: Optional[int] = typer.Option(
        None, help="Input height = width in pixels, from the model's minimum to 4096 (default: the model's)."),
    mean: Optional[str] = typer.Option(
        None, help="Per-channel mean of pixels scaled to [0, 1], each in [0, 1], e.g. 0.485,0.456,0.406 "
        "(one per channel, or one for all)."),
    std: Optional[str] = typer.Option(None, help="Per-channel std, each in (0, 1], e.g. 0.229,0.224,0.225."),
    classes: Optional[Path] = typer.Option(None, help="Text file with one class name per line (default 0..N-1)."),
    model_kwargs: Optional[str] = typer.Option(None, help="Other model options as a JSON object."),
    strict: bool = typer.Option(True, "--strict/--non-strict", help="Refuse any mismatch, or load only the fitting tensors."),
) -> None:
    import warnings

    from cnnkit.interop.import_weights import import_weights as run_import
    from cnnkit.interop.import_weights import read_classes

    run_dir, deprecated = _run_dir(model, out, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_import(
            model, file, run_dir,
            model_kwargs=_kwargs(model_kwargs), data=data, data_dir=data_dir, num_classes=num_classes,
            in_chans=in_chans, input_size=input_size, classes=read_classes(classes) if classes else None,
            mean=_floats(mean, "--mean"), std=_floats(std, "--std"), strict=strict,
        )  # fmt: skip
    # Printed only on success: a failed import shows its one error line.
    messages = [DEPRECATED_OUT] if deprecated else []
    for message in messages + [str(warning.message).splitlines()[0] for warning in caught]:
        print(f"cnnkit: warning: {message}", file=sys.stderr)
    report = result.report
    typer.echo(
        f"loaded {len(report.loaded)} of {len(result.run.network.state_dict())} tensors "
        f"({result.parameters:,} parameters) into {result.run.info.architecture}: {result.run.path}"
    )
