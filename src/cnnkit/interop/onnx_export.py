"""Export a trained run to ONNX (the Open Neural Network Exchange format, https://onnx.ai).

The exported graph is the whole loaded model, ``Sequential(Normalize, network)``, so it takes
what every cnnkit function takes: float32 (N, C, H, W) pixels in [0, 1] as input ``image``,
with any batch size, and returns ``logits``. Nobody downstream normalises by hand. The run's
model.json travels in the file's ``metadata_props`` (classes, mean, std, input size, ...), so
an ONNX runtime needs nothing but the .onnx file.

The graph is captured by PyTorch's torch.export-based exporter (``torch.onnx.export(...,
dynamo=True)``), which needs the optional packages onnx and onnxscript:
``pip install 'cnnkit[onnx]'`` (which also brings onnxruntime to run the result).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from cnnkit import __version__
from cnnkit.atomic import atomic_write_bytes
from cnnkit.errors import CnnkitError, ConfigError, DataError, ExportError, OutputError
from cnnkit.runs.format import ModelInfo, Run, load_run
from cnnkit.runs.lock import lock_if_inside

__all__ = ["INPUT_NAME", "ONNX_FILE", "OUTPUT_NAME", "OnnxExport", "export_onnx", "read_onnx_metadata"]

ONNX_FILE = "model.onnx"
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
_EXAMPLE_BATCH = 2     # torch.export turns a traced batch of 1 into a constant, so trace with 2
_NATIVE_OPSET = 18     # torch.onnx writes this opset and newer itself; older ones only by conversion
_JSON_KEYS = ("classes", "mean", "std", "kwargs")
_INT_KEYS = ("in_chans", "input_size")
# The exporter stack logs every step at WARNING and prints progress; cnnkit reports the result itself.
_CHATTY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "onnx_ir")


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote."""

    path: Path
    opset: int             # ONNX operator set version of the default domain
    size: int              # bytes
    seconds: float         # tracing, conversion, writing and checking


def export_onnx(run: str | Path, out: str | Path | None = None, *, opset: int | None = None) -> OnnxExport:
    """Export a run's model with its normalisation to ONNX (dynamic batch), atomically, checked by onnx.checker."""
    onnx = _import_onnx()
    loaded = load_run(run)
    path = _output_path(loaded, out)
    latest = onnx.defs.onnx_opset_version()
    if opset is not None and not 1 <= opset <= latest:
        raise ConfigError(f"--opset must be between 1 and {latest} (this onnx's newest), got {opset}")

    started = time.perf_counter()
    proto = _trace(loaded, opset)
    written_opset = next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))
    if opset is not None and written_opset != opset:
        raise ConfigError(
            f"the exporter could not convert {loaded.info.architecture} to opset {opset} (it writes opset "
            f"{_NATIVE_OPSET} and newer; older ones by a conversion that failed here); choose --opset {_NATIVE_OPSET} or newer"
        )
    _attach_metadata(onnx, proto, loaded)

    with lock_if_inside(loaded.path, path, "cnnkit export"):
        try:
            atomic_write_bytes(path, proto.SerializeToString())
        except OSError as err:
            raise OutputError(f"cannot write {path} ({err.strerror}); choose another --out") from None
        try:
            onnx.checker.check_model(str(path), full_check=True)  # the file as written, shapes inferred
        except BaseException:
            path.unlink(missing_ok=True)  # a file that fails the checker is a cnnkit bug; do not leave it
            raise
    return OnnxExport(path=path, opset=written_opset, size=path.stat().st_size, seconds=time.perf_counter() - started)


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata_props of an exported file, with cnnkit's JSON and integer values decoded."""
    onnx = _import_onnx()
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path), format="protobuf", load_external_data=False)
    except (OSError, DecodeError) as err:
        raise DataError(f"cannot read {path} as an ONNX model ({err}); 'cnnkit export RUN' writes one") from None
    metadata: dict[str, Any] = {entry.key: entry.value for entry in proto.metadata_props}
    for key in _JSON_KEYS:
        if key in metadata:
            metadata[key] = json.loads(metadata[key])
    for key in _INT_KEYS:
        if key in metadata:
            metadata[key] = int(metadata[key])
    return metadata


def _import_onnx() -> ModuleType:
    """onnx, after checking that the optional exporter packages are installed."""
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise CnnkitError(
            f"ONNX export needs the packages onnx and onnxscript ({', '.join(missing)} not installed); "
            "pip install 'cnnkit[onnx]'"
        )
    import onnx

    return onnx


def _output_path(run: Run, out: str | Path | None) -> Path:
    """Where to write, checked before the slow export starts."""
    path = run.path / ONNX_FILE if out is None else Path(out)
    if path.is_dir():
        raise OutputError(f"{path} is a directory; give --out a file name such as {path / ONNX_FILE}")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.parent} is not a directory; create it or choose another --out")
    return path


class StaticAdaptivePool2d(nn.Module):
    """Adaptive max/average pooling written as its explicit windows, for ONNX.

    ONNX has no adaptive pooling (torch.onnx cannot convert ``adaptive_max_pool2d`` at all),
    but at export the feature map's size is fixed, so each output cell is a plain reduction
    over rows floor(i H / h) .. ceil((i + 1) H / h) and the same for columns: the same
    numbers as ``nn.AdaptiveMaxPool2d`` / ``nn.AdaptiveAvgPool2d``, in operators ONNX has.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None], reduce: str) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.reduce = reduce  # "max" or "mean"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows_out = self.output_size[0] or height
        cols_out = self.output_size[1] or width
        rows = [(i * height // rows_out, -(-(i + 1) * height // rows_out)) for i in range(rows_out)]
        cols = [(j * width // cols_out, -(-(j + 1) * width // cols_out)) for j in range(cols_out)]
        reduce = torch.amax if self.reduce == "max" else torch.mean
        return torch.stack(
            [torch.stack([reduce(x[..., r0:r1, c0:c1], dim=(-2, -1)) for c0, c1 in cols], dim=-1) for r0, r1 in rows],
            dim=-2,
        )


def exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every adaptive pooling ONNX cannot express replaced by its windows."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(parent, name, StaticAdaptivePool2d(child.output_size, "max"))
            elif isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size not in (1, (1, 1)):
                setattr(parent, name, StaticAdaptivePool2d(child.output_size, "mean"))
    return model


def _trace(run: Run, opset: int | None) -> Any:
    """The ONNX ModelProto of ``run.model`` for pixel batches of any size."""
    info = run.info
    example = torch.zeros(_EXAMPLE_BATCH, info.in_chans, info.input_size, info.input_size)  # (N, C, H, W)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                exportable(run.model),
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                opset_version=opset,
                verbose=False,
            )
    except Exception as err:  # the exporter's own errors span pages; name the root cause
        cause = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise ExportError(f"cannot export {info.architecture} to ONNX: {first}") from None
    return program.model_proto


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's prints, warnings and log records while it runs (library code never prints)."""
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _metadata(info: ModelInfo) -> dict[str, str]:
    """model.json as ONNX metadata_props (string values; lists and dicts as JSON)."""
    return {
        "architecture": info.architecture,
        "kwargs": json.dumps(info.kwargs),
        "classes": json.dumps(info.classes),
        "in_chans": str(info.in_chans),
        "input_size": str(info.input_size),
        "mean": json.dumps(info.mean),
        "std": json.dumps(info.std),
        "dataset": info.dataset or "",
        "input": f"{INPUT_NAME}: float32 (N, C, H, W) pixels in [0, 1]; the model normalises them itself",
        "cnnkit_version": __version__,
    }


def _attach_metadata(onnx: ModuleType, proto: Any, run: Run) -> None:
    props = {entry.key: entry.value for entry in proto.metadata_props}
    props.update(_metadata(run.info))
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = f"{run.info.architecture} from cnnkit run {run.path.name}: {INPUT_NAME} -> {OUTPUT_NAME}"
