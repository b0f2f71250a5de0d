"""The run directory as a format, the hand-off between every stage (DESIGN.md):

    config.json  model.safetensors  model.json  metrics.jsonl  report.html  *.png

A run is written into ``.NAME.partial`` and renamed when complete (``prepare_run_dir``,
``finish_run_dir``); ``write_model`` is how both ``cnnkit train`` and ``cnnkit import-weights``
put the weights and model.json there. ``load_run`` rebuilds the trained model from the
directory alone, with its input normalisation as the first layer, so every later command
feeds it pixels in [0, 1].
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from cnnkit import __version__
from cnnkit.atomic import atomic_write_bytes, atomic_write_text
from cnnkit.errors import CnnkitError, OutputError, RunDirError
from cnnkit.files import MIB, check_regular_file, read_json
from cnnkit.layers import Normalize
from cnnkit.schema import Fields

__all__ = [
    "ModelInfo",
    "Run",
    "CONFIG_FILE",
    "MODEL_FILE",
    "MODEL_INFO_FILE",
    "REPORT_FILE",
    "prepare_run_dir",
    "sized_model",
    "finish_run_dir",
    "write_model",
    "load_run",
]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
MODEL_INFO_FILE = "model.json"
REPORT_FILE = "report.html"

MODEL_FORMAT = 1                   # model.json's layout; a newer cnnkit writing format 2 is refused clearly
MAX_CLASSES = 100_000
MAX_CHANS = 64
MAX_INPUT_SIZE = 4096              # pixels a side
MAX_PARAMETERS = 2_000_000_000     # 8 GB of float32: more is a damaged model.json, not a model
_MODEL_INFO_BYTES = 16 * MIB       # 100,000 class names fit easily


@dataclass(frozen=True)
class ModelInfo:
    """model.json: how to rebuild the model and feed it (architecture, classes, preprocessing)."""

    architecture: str                  # registry name
    kwargs: dict[str, Any]             # constructor kwargs (JSON values)
    classes: list[str]
    in_chans: int                      # 1: images are converted to greyscale, 3: to RGB
    input_size: int                    # images are resized to input_size x input_size pixels
    mean: list[float]                  # per-channel normalisation of pixels in [0, 1]
    std: list[float]
    dataset: str | None                # None: imported weights of unknown training data
    cnnkit_version: str = __version__
    training: dict[str, Any] = field(default_factory=dict)  # timing and final accuracy
    task: str = "classification"       # the Task that trained it ("superres": classes is empty)
    task_options: dict[str, Any] = field(default_factory=dict)  # what the task needs to use it, e.g. the scale

    format: int = MODEL_FORMAT

    def __post_init__(self) -> None:
        check_model_info(self.__dict__, source="model info", error=CnnkitError)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> ModelInfo:
        """Read and check model.json: every field typed and bounded, lengths that must agree agreeing."""
        values = read_json(path, what="model file", max_bytes=_MODEL_INFO_BYTES, error=RunDirError)
        fields = Fields(str(path), RunDirError)
        if not isinstance(values, dict):
            raise fields.kind("the file", values, "a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise RunDirError(f"{path}: unknown field {unknown[0]!r}; is it a cnnkit model.json?")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.name not in values and f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING)
        if missing:
            raise RunDirError(f"{path}: field {missing[0]!r} is missing; re-run 'cnnkit train' or restore the file")
        check_model_info(values, source=str(path), error=RunDirError)
        return cls(**values)


def check_model_info(values: dict[str, Any], *, source: str, error: type[CnnkitError]) -> None:
    """model.json's schema: types, ranges, and lengths that agree (classes, kwargs, mean/std vs in_chans)."""
    fields = Fields(source, error)
    version = fields.integer("format", values.get("format", MODEL_FORMAT), 1, 10**6)
    if version > MODEL_FORMAT:
        raise error(
            f"{source} was written by a newer cnnkit ({_shown_version(values)}, format {version}); this cnnkit "
            f"{__version__} reads format {MODEL_FORMAT}: upgrade cnnkit to use this run"
        )
    fields.text("architecture", values.get("architecture"), max_len=100)
    kwargs = fields.mapping("kwargs", values.get("kwargs"), max_items=100)
    bad_key = next((k for k in kwargs if not (k.isidentifier() and len(k) <= 100)), None)
    if bad_key is not None:
        raise fields.fail("kwargs", "constructor argument names (Python identifiers)", bad_key)
    task = fields.text("task", values.get("task", "classification"), max_len=50)
    fields.mapping("task_options", values.get("task_options", {}), max_items=100)
    classifies = task == "classification"
    classes = fields.texts("classes", values.get("classes"), min_len=1 if classifies else 0, max_len=MAX_CLASSES)
    in_chans = fields.integer("in_chans", values.get("in_chans"), 1, MAX_CHANS)
    input_size = fields.integer("input_size", values.get("input_size"), 1, MAX_INPUT_SIZE)
    fields.numbers("mean", values.get("mean"), length=in_chans, lo=-1e3, hi=1e3)
    fields.numbers("std", values.get("std"), length=in_chans, lo=0, hi=1e3, open_lo=True)
    if values.get("dataset") is not None:
        fields.text("dataset", values["dataset"], max_len=100)
    fields.text("cnnkit_version", values.get("cnnkit_version", __version__), max_len=50)
    fields.mapping("training", values.get("training", {}))
    for key, value, source_field in (("num_classes", len(classes), "classes"), ("in_chans", in_chans, "in_chans"),
                                     ("input_size", input_size, "input_size")):
        if key == "num_classes" and not classifies:
            continue
        if key in kwargs and kwargs[key] != value:
            shown = f"{value} names" if source_field == "classes" else str(value)
            raise error(f"{source}: kwargs.{key} is {kwargs[key]!r} but {source_field} says {shown}; "
                        "they must agree (restore the file or re-run 'cnnkit train')")


def _shown_version(values: dict[str, Any]) -> str:
    version = values.get("cnnkit_version")
    return f"cnnkit {version}" if isinstance(version, str) and len(version) < 50 else "unknown version"


@dataclass(frozen=True)
class Run:
    """A trained run loaded from its directory; ``model`` takes pixels in [0, 1]."""

    path: Path | None                  # None: a registered model with fresh weights (train.inference)
    model: torch.nn.Sequential         # Normalize, then the network
    info: ModelInfo

    @property
    def network(self) -> torch.nn.Module:
        """The network without its normalisation layer."""
        return self.model[1]


def prepare_run_dir(out: str | Path, name: str) -> Path:
    """Create ``out/.name.partial`` to train into; ``finish_run_dir`` renames it when complete."""
    out = Path(out)
    final = out / name
    if final.exists():
        raise OutputError(f"run directory {final} already exists; choose another --name or remove it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        partial = out / f".{name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        probe = partial / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write to output directory {out} ({err.strerror}); choose another --out") from None
    return partial


def free_run_name(parent: str | os.PathLike[str], stem: str) -> str:
    """``stem-<time>``, numbered ``-2``, ``-3``... where ``parent`` already has that run (finished or partial)."""
    parent = Path(parent)
    stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = stem, 1
    while (parent / name).exists() or (parent / f".{name}.partial").exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def finish_run_dir(partial: Path) -> Path:
    """Rename a completed run from its partial name to its final name and return the final path."""
    final = partial.parent / partial.name[1 : -len(".partial")]
    partial.rename(final)
    return final


def write_model(run_dir: Path, network: torch.nn.Module, info: ModelInfo) -> None:
    """Write model.safetensors (the network's weights, contiguous) and model.json, then read both
    back: what every later command will load must be exactly what was written."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(run_dir / MODEL_FILE, save(tensors, metadata={"architecture": info.architecture}))
    atomic_write_text(run_dir / MODEL_INFO_FILE, info.to_json())
    try:
        written = load_file(run_dir / MODEL_FILE)
    except (SafetensorError, OSError) as err:
        raise OutputError(f"the weights written to {run_dir} cannot be read back ({err}); check the disk") from None
    same = written.keys() == tensors.keys() and all(_same_bytes(written[k], tensors[k]) for k in tensors)
    if not same or ModelInfo.from_file(run_dir / MODEL_INFO_FILE) != info:
        raise OutputError(f"the model written to {run_dir} reads back differently; check the disk and retry")


def _same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit (NaN included), dtype and shape too."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))


def load_run(path: str | Path, *, device: torch.device | str = "cpu") -> Run:
    """Rebuild a trained model from a run directory (weights never unpickled, model.json checked)."""
    path = Path(path)
    if not path.is_dir():
        if path.exists():
            raise RunDirError(f"{path} is a file, not a run directory; give the directory 'cnnkit train' wrote")
        raise RunDirError(f"run directory {path} does not exist; 'cnnkit train' creates one under runs/")
    for needed in (MODEL_INFO_FILE, MODEL_FILE):
        if not (path / needed).exists():
            raise RunDirError(f"{path} has no {needed}; is it a finished run directory made by 'cnnkit train'?")
    info = ModelInfo.from_file(path / MODEL_INFO_FILE)
    network = build_network(info, source=path / MODEL_INFO_FILE)
    weights = check_regular_file(path / MODEL_FILE, what="weights file", max_bytes=4 * MAX_PARAMETERS,
                                 error=RunDirError)
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as err:
        raise RunDirError(f"{weights} is corrupt ({err}); re-run 'cnnkit train'") from None
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"{weights} does not fit {info.architecture} ({first})") from None
    bad = next((name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if bad is not None:
        raise RunDirError(f"{weights} holds NaN or infinite values in {bad!r}; the run is damaged, re-run 'cnnkit train'")
    return Run(path=path, model=sized_model(network, info, device), info=info)


_SPATIAL_DIMS = {"voxels": 3}   # a task whose inputs are volumes, not images


def build_network(info: ModelInfo, *, source: str | Path) -> torch.nn.Module:
    """The network model.json describes, after a twin on the meta device shows it is of sane size
    and has one logit per class name (so a damaged file cannot allocate 10**10 classes)."""
    from cnnkit.models import create_model

    def build() -> torch.nn.Module:
        try:
            return create_model(info.architecture, **info.kwargs)
        except CnnkitError as err:
            raise RunDirError(f"{source}: {err}") from None
        except (TypeError, ValueError, RuntimeError, OverflowError, KeyError, IndexError) as err:
            raise RunDirError(f"{source}: {info.architecture} cannot be built from its kwargs ({err})") from None

    with torch.device("meta"):
        twin = build().eval()
        parameters = sum(p.numel() for p in twin.parameters())
        if parameters > MAX_PARAMETERS:
            raise RunDirError(f"{source} describes a network of {parameters:,} parameters; the file is damaged")
        try:
            with torch.no_grad():
                spatial = (info.input_size,) * _SPATIAL_DIMS.get(info.task, 2)
                logits = twin(torch.zeros(1, info.in_chans, *spatial))
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RunDirError(
                f"{source}: {info.architecture} does not take {info.in_chans}x{'x'.join(map(str, spatial))} "
                f"images ({first[:120]}); in_chans or input_size was changed"
            ) from None
    if info.task != "classification":  # an image out, checked by the task that uses it
        return build()
    if logits.dim() != 2 or logits.shape[1] != len(info.classes):
        raise RunDirError(
            f"{source}: the network gives {tuple(logits.shape[1:])} outputs but classes has {len(info.classes)} names; "
            "they must agree"
        )
    return build()


def sized_model(network: torch.nn.Module, info: ModelInfo, device: torch.device | str) -> torch.nn.Sequential:
    """``Sequential(Normalize, network)`` in eval mode, carrying ``input_size`` (the side it was trained at)
    so functions that synthesise images (explain) know their size without being told."""
    model = torch.nn.Sequential(Normalize(info.mean, info.std), network).to(device).eval()
    model.input_size = info.input_size
    return model
