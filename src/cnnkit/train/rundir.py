"""The run directory, the hand-off between every stage (DESIGN.md):

    config.json  model.safetensors  model.json  metrics.jsonl  report.html  *.png

``load_run`` rebuilds the trained model from the directory alone, with its input
normalisation as the first layer, so every later command feeds it pixels in [0, 1].
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from cnnkit import __version__
from cnnkit.atomic import atomic_write_bytes, atomic_write_text
from cnnkit.errors import OutputError, RunDirError
from cnnkit.layers import Normalize

__all__ = [
    "ModelInfo",
    "Run",
    "CONFIG_FILE",
    "MODEL_FILE",
    "MODEL_INFO_FILE",
    "METRICS_FILE",
    "REPORT_FILE",
    "prepare_run_dir",
    "sized_model",
    "finish_run_dir",
    "save_model",
    "load_run",
    "append_metrics",
    "keep_metrics_before",
    "read_metrics",
]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
MODEL_INFO_FILE = "model.json"
METRICS_FILE = "metrics.jsonl"
REPORT_FILE = "report.html"


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> ModelInfo:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as err:
            raise RunDirError(f"{path} is not a valid cnnkit model.json ({err}); re-run 'cnnkit train'") from None


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


def finish_run_dir(partial: Path) -> Path:
    """Rename a completed run from its partial name to its final name and return the final path."""
    final = partial.parent / partial.name[1 : -len(".partial")]
    partial.rename(final)
    return final


def save_model(run_dir: Path, network: torch.nn.Module, info: ModelInfo) -> None:
    """Write model.safetensors (the network's weights, contiguous) and model.json."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    atomic_write_bytes(run_dir / MODEL_FILE, save(tensors, metadata={"architecture": info.architecture}))
    atomic_write_text(run_dir / MODEL_INFO_FILE, info.to_json())


def load_run(path: str | Path, *, device: torch.device | str = "cpu") -> Run:
    """Rebuild a trained model from a run directory (weights never unpickled)."""
    from cnnkit.models import create_model

    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist; 'cnnkit train' creates one under runs/")
    for needed in (MODEL_INFO_FILE, MODEL_FILE):
        if not (path / needed).is_file():
            raise RunDirError(f"{path} has no {needed}; is it a finished run directory made by 'cnnkit train'?")
    info = ModelInfo.from_file(path / MODEL_INFO_FILE)
    network = create_model(info.architecture, **info.kwargs)
    try:
        state = load_file(path / MODEL_FILE)
    except (SafetensorError, OSError) as err:
        raise RunDirError(f"{path / MODEL_FILE} is corrupt ({err}); re-run 'cnnkit train'") from None
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"{path / MODEL_FILE} does not fit {info.architecture} ({first})") from None
    return Run(path=path, model=sized_model(network, info, device), info=info)


def sized_model(network: torch.nn.Module, info: ModelInfo, device: torch.device | str) -> torch.nn.Sequential:
    """``Sequential(Normalize, network)`` in eval mode, carrying ``input_size`` (the side it was trained at)
    so functions that synthesise images (explain) know their size without being told."""
    model = torch.nn.Sequential(Normalize(info.mean, info.std), network).to(device).eval()
    model.input_size = info.input_size
    return model


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record to metrics.jsonl (a whole line per write, flushed)."""
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def keep_metrics_before(run_dir: Path, epoch: int) -> None:
    """Rewrite metrics.jsonl without the records of ``epoch`` and later (resume redoes them)."""
    path = Path(run_dir) / METRICS_FILE
    records = [r for r in read_metrics(run_dir) if r.get("epoch", 0) < epoch] if path.is_file() else []
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of metrics.jsonl; a torn last line (killed mid-write) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise RunDirError(f"{Path(run_dir)} has no {METRICS_FILE}; is it a run directory made by 'cnnkit train'?")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
