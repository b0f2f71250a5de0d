"""Weight import: a foreign state dict becomes a cnnkit run directory.

The file is read by ``safe_load.read_state_dict`` (safetensors, or ``torch.load`` with
``weights_only=True``: nothing in it runs). Its keys lose wrapper prefixes (DDP's
``module.``, torch.compile's ``_orig_mod.``, cnnkit's own ``Normalize``-first Sequential
``1.``) and are matched by name against a registered model; every missing, unexpected,
wrongly shaped or unusable tensor is reported by name and shape. The run directory is
written under a temporary name and renamed once it loads back with ``load_run``.

Nothing typed or read is trusted: every size is checked against the range a run may hold
(the limits of ``runs.format``) before any model exists, then the model is built once on the
meta device (no memory) to check its size and that it runs on the input, and only then for
real. A file with NaN or infinite values is refused by tensor name: ``load_run`` refuses such
a run, and a network with them only ever gives NaN.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import CnnkitError, ConfigError, OutputError, WeightsError
from cnnkit.files import MIB, read_text
from cnnkit.interop.safe_load import read_state_dict, weights_format
from cnnkit.schema import Fields
from cnnkit.runs.format import MAX_CHANS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_PARAMETERS, free_run_name

__all__ = [
    "ImportResult", "KeyReport", "RANGES", "check_run_name", "default_run_name", "import_weights",
    "match_state_dict", "read_classes",
]  # fmt: skip

_PREFIXES = ("module.", "_orig_mod.", "1.")  # DDP / DataParallel, torch.compile, cnnkit's Sequential
_SHOWN = 3  # names listed per kind of mismatch before "and N more"
# Ranges of the numeric options (the CLI's --help states them): what a run directory may hold.
RANGES = {"num_classes": (1, MAX_CLASSES), "in_chans": (1, MAX_CHANS), "input_size": (1, MAX_INPUT_SIZE)}
_MEAN_RANGE, _STD_RANGE = (0.0, 1.0), (0.0, 1.0)  # statistics of pixels in [0, 1]; std > 0
_CLASS_NAME_CHARS = 200            # as model.json allows
_CLASSES_BYTES = 32 * MIB          # 100,000 names of 200 characters, with room for UTF-8
_MAX_KWARGS = 100                  # entries of --model-kwargs, as model.json allows
# Model options that make a model fit files saved without some of its modules, with the reason
# they are missing: torchvision's and most ImageNet GoogLeNet weights lack the auxiliary heads.
_ALTERNATIVES = (({"aux": False}, "the file has no auxiliary classifiers (aux1, aux2)"),)


def _strip_prefixes(state: dict[str, Any], model_keys: set[str]) -> dict[str, Any]:
    """Drop wrapper prefixes that every key carries."""
    changed = True
    while changed and state:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in state):
                stripped = {k[len(prefix):]: v for k, v in state.items()}
                # '1.' is also an ordinary child index: strip it only where that matches more keys.
                if prefix != "1." or len(stripped.keys() & model_keys) > len(state.keys() & model_keys):
                    state, changed = stripped, True
    return state


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _castable(source: torch.dtype, target: torch.dtype) -> bool:
    """Floats cast to floats and integers to integers; complex, bool and mixed kinds do not."""
    if source == target:
        return True
    if source.is_complex or target.is_complex or torch.bool in (source, target):
        return False
    return source.is_floating_point == target.is_floating_point


def _first(names: Sequence[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


@dataclass(frozen=True)
class KeyReport:
    """How a file's state dict lines up with a model's, key by key ("name (shape)" strings)."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]       # in the model, not in the file
    unexpected: tuple[str, ...]    # in the file, not in the model
    wrong_shape: tuple[str, ...]   # in both, shapes differ
    unusable: tuple[str, ...]      # in both, but not a dense tensor of a compatible dtype

    @property
    def complete(self) -> bool:
        """Every tensor of the model is loaded and nothing in the file is left over."""
        return not (self.missing or self.unexpected or self.wrong_shape or self.unusable)

    def describe(self) -> str:
        """The mismatches on one line, a few names of each kind."""
        kinds = [("missing", self.missing), ("unexpected", self.unexpected),
                 ("wrong shape", self.wrong_shape), ("unusable", self.unusable)]  # fmt: skip
        return "; ".join(f"{kind} {len(names)}: {_first(names)}" for kind, names in kinds if names)


def match_state_dict(network: nn.Module, state: Mapping[str, Any]) -> tuple[dict[str, Tensor], KeyReport]:
    """The file's tensors that fit ``network`` (cast to its dtypes) and a report of the rest."""
    reference = network.state_dict()
    fitting: dict[str, Tensor] = {}
    missing, wrong_shape, unusable = [], [], []
    for key, ref in reference.items():
        value = state.get(key)
        if key not in state:
            missing.append(f"{key} ({_shape(ref.shape)})")
        elif not isinstance(value, Tensor):
            unusable.append(f"{key} ({type(value).__name__}, not a tensor)")
        elif value.layout != torch.strided or value.is_quantized or value.is_meta:
            kind = "meta" if value.is_meta else "quantized" if value.is_quantized else str(value.layout)
            unusable.append(f"{key} ({kind.removeprefix('torch.')} tensor)")
        elif value.shape != ref.shape:
            wrong_shape.append(f"{key} (file {_shape(value.shape)}, model {_shape(ref.shape)})")
        elif not _castable(value.dtype, ref.dtype):
            unusable.append(f"{key} ({_dtype(value.dtype)}, model {_dtype(ref.dtype)})")
        else:
            fitting[key] = value.to(ref.dtype)
    unexpected = [
        f"{key} ({_shape(v.shape) if isinstance(v, Tensor) else type(v).__name__})"
        for key, v in state.items()
        if key not in reference
    ]
    report = KeyReport(tuple(fitting), tuple(missing), tuple(unexpected), tuple(wrong_shape), tuple(unusable))
    return fitting, report


def read_classes(path: str | os.PathLike[str]) -> list[str]:
    """Class names from a UTF-8 text file, one per line (blank lines skipped)."""
    # A regular file of bounded size: a FIFO named here would block a plain read forever.
    lines = read_text(path, what="class names file", max_bytes=_CLASSES_BYTES, error=ConfigError).splitlines()
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise ConfigError(f"{path} lists no class names; write one name per line")
    if len(names) > MAX_CLASSES:
        raise ConfigError(f"{path} lists {len(names):,} class names; a run holds at most {MAX_CLASSES:,}")
    long = next((n for n in names if len(n) > _CLASS_NAME_CHARS or "\0" in n), None)
    if long is not None:
        raise ConfigError(
            f"{path}: class name {long[:40]!r}... is longer than {_CLASS_NAME_CHARS} characters or holds a NUL; "
            "give one short name per line"
        )
    twice = sorted(n for n, count in Counter(names).items() if count > 1)  # linear: a file may list 100,000
    if twice:
        raise ConfigError(f"{path} lists {', '.join(map(repr, twice[:_SHOWN]))} more than once; names must be unique")
    return names


def check_run_name(name: str, what: str = "--name") -> str:
    """A run directory name the file system accepts: not empty, no '/', not hidden, at most 255 bytes.

    Checked before anything is read: the OS refuses a longer name only once the directory is made.
    """
    return Fields("", ConfigError).file_name(what, name)


def default_run_name(architecture: str, parent: str | os.PathLike[str]) -> str:
    """``<model>-imported-<time>``, numbered ``-2``, ``-3``... where ``parent`` has it taken (as
    ``cnnkit train`` names its runs)."""
    return free_run_name(parent, f"{architecture}-imported")


@dataclass(frozen=True)
class ImportResult:
    """A run directory made from imported weights, as ``load_run`` reads it back."""

    run: Any                        # cnnkit.runs.Run
    report: KeyReport
    source: Path
    format: str                     # safetensors, zip or pickle

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.run.network.parameters())


def _meta_state(architecture: str, kwargs: Mapping[str, Any]) -> dict[str, Tensor]:
    from cnnkit.models import create_model

    with torch.device("meta"):  # shapes only: even a large model costs no memory or time
        return create_model(architecture, **kwargs).state_dict()


def _infer(architecture: str, kwargs: Mapping[str, Any], option: str, state: Mapping[str, Any]) -> int | None:
    """The ``option`` (num_classes, in_chans) that ``state`` was made for: build the model with
    2 and 3, find a tensor with one axis that follows the option, and read that axis in ``state``."""
    try:
        two = _meta_state(architecture, {**kwargs, option: 2})
        three = _meta_state(architecture, {**kwargs, option: 3})
    except (CnnkitError, ValueError, RuntimeError, TypeError, OverflowError):
        return None
    for key, a in two.items():
        b, value = three.get(key), state.get(key)
        if b is None or a.dim() != b.dim() or not isinstance(value, Tensor) or value.dim() != a.dim():
            continue
        axes = [i for i, (m, n) in enumerate(zip(a.shape, b.shape)) if m != n]
        if len(axes) == 1 and (a.shape[axes[0]], b.shape[axes[0]]) == (2, 3):
            return int(value.shape[axes[0]])
    return None


def _check_statistics(values: Sequence[float] | None, name: str) -> list[float] | None:
    """--mean or --std as finite numbers in the range of statistics of pixels in [0, 1]."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not 1 <= len(values) <= MAX_CHANS:
        raise ConfigError(f"--{name}: give 1 to {MAX_CHANS} numbers, one per channel or one for all")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"--{name} {list(values)}: give numbers, e.g. 0.485,0.456,0.406")
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"--{name} {values}: give one finite number per channel or one for all")
    if name == "std" and min(values) <= 0:
        raise ConfigError(f"--std {values}: every std must be positive")
    lo, hi = _MEAN_RANGE if name == "mean" else _STD_RANGE
    if not all(lo <= v <= hi for v in values):
        # The usual slip: statistics of 0..255 pixels (123.675) where those of [0, 1] pixels (0.485) belong.
        raise ConfigError(
            f"--{name} {values}: statistics of pixels in [0, 1] lie in [{lo:g}, {hi:g}]; "
            "for statistics of 0..255 pixels divide by 255"
        )
    return values


def _statistics(values: Sequence[float] | None, default: float, in_chans: int, name: str) -> list[float]:
    """``values`` (already checked) as one number per channel."""
    if values is None:
        return [default] * in_chans
    values = list(values)
    if len(values) == 1:
        values = values * in_chans
    if len(values) != in_chans:
        raise ConfigError(f"--{name} {values}: give one number per channel ({in_chans}) or one for all")
    return values


def _check_size(name: str, value: Any) -> int:
    """num_classes, in_chans or input_size as an integer in its range in ``RANGES``."""
    lo, hi = RANGES[name]
    return Fields("", ConfigError, label=lambda n: f"{n} (--{n.replace('_', '-')})").integer(name, value, lo, hi)


@dataclass
class _Inputs:
    """What the model is built with and how its inputs are prepared; None: not known yet."""

    kwargs: dict[str, Any]
    sizes: dict[str, int | None]   # num_classes, in_chans, input_size
    classes: list[str] | None
    mean: Sequence[float] | None
    std: Sequence[float] | None
    dataset: str | None = None


def _given_inputs(
    model_kwargs: Mapping[str, Any] | None,
    data: str | None,
    data_dir: str | os.PathLike[str] | None,
    num_classes: int | None,
    in_chans: int | None,
    input_size: int | None,
    classes: Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> _Inputs:
    """The options as given, checked against each other, with a dataset's spec filled in."""
    from cnnkit.data.catalog import dataset_spec, is_folder_dataset

    kwargs = dict(model_kwargs or {})
    if len(kwargs) > _MAX_KWARGS or not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(f"model_kwargs (--model-kwargs): give at most {_MAX_KWARGS} named options")
    sizes = {"num_classes": num_classes, "in_chans": in_chans, "input_size": input_size}
    for name, value in sizes.items():
        if name in kwargs and value is not None:
            raise ConfigError(f"{name} is given twice (as an option and in the model kwargs); give it once")
        sizes[name] = kwargs.pop(name, value)
        if sizes[name] is not None:
            _check_size(name, sizes[name])  # before any model is built: 10**10 classes would never finish
    mean, std = _check_statistics(mean, "mean"), _check_statistics(std, "std")
    if classes is not None:
        classes = list(classes)
        if not 1 <= len(classes) <= MAX_CLASSES:
            raise ConfigError(f"{len(classes):,} class names; give 1 to {MAX_CLASSES:,}")
        if sizes["num_classes"] not in (None, len(classes)):
            raise ConfigError(f"{len(classes)} class names but num_classes={sizes['num_classes']}; give matching values")
        sizes["num_classes"] = len(classes)
    inputs = _Inputs(kwargs, sizes, classes, mean, std)
    if data is None:
        return inputs
    clash = [flag for flag, value in (("--num-classes", num_classes), ("--in-chans", in_chans),
             ("--classes", classes), ("--mean", mean), ("--std", std)) if value is not None]  # fmt: skip
    if clash:
        raise ConfigError(f"--data {data} sets the classes, channels and statistics; drop {', '.join(clash)}")
    spec = dataset_spec(data, data_dir=data_dir, image_size=input_size if is_folder_dataset(data) else None)
    if sizes["input_size"] not in (None, spec.image_size[0]):
        raise ConfigError(f"{spec.name} images are {_shape(spec.image_size)}; drop --input-size")
    sizes.update(num_classes=spec.num_classes, in_chans=spec.in_chans, input_size=spec.image_size[0])
    return _Inputs(kwargs, sizes, list(spec.classes), spec.mean, spec.std, spec.name)


def _fill_from_file(architecture: str, inputs: _Inputs, state: Mapping[str, Any], file: Path) -> None:
    """Sizes not given: num_classes and in_chans as the file's tensors have them, else the model's defaults."""
    from cnnkit.models import get_model_entry

    entry = get_model_entry(architecture)
    sizes = inputs.sizes
    known = {**inputs.kwargs, **{k: v for k, v in sizes.items() if v is not None}}
    if sizes["num_classes"] is None:
        sizes["num_classes"] = _infer(architecture, known, "num_classes", state) or _infer(
            architecture, known, "num_classes", _meta_state(architecture, known)  # the model's default
        )
        if sizes["num_classes"] is None:
            raise ConfigError(f"cannot tell how many classes {file} was made for; give num_classes (--num-classes) or classes (--classes)")
    if sizes["in_chans"] is None:
        sizes["in_chans"] = _infer(architecture, known, "in_chans", state) or entry.in_chans
    if sizes["input_size"] is None:
        sizes["input_size"] = entry.input_size


def _check_twin(architecture: str, kwargs: Mapping[str, Any]) -> None:
    """Build the model on the meta device and run it once: a model too big for a run, or one that
    cannot take in_chans x input_size x input_size images, fails here before any memory is used."""
    from cnnkit.models import create_model

    side, chans = kwargs["input_size"], kwargs["in_chans"]
    try:
        with torch.device("meta"):
            twin = create_model(architecture, **kwargs).eval()
            parameters = sum(p.numel() for p in twin.parameters())
            if parameters > MAX_PARAMETERS:
                raise ConfigError(
                    f"{architecture} with these options has {parameters:,} parameters, more than the "
                    f"{MAX_PARAMETERS:,} a run can hold; check --num-classes, --input-size and --model-kwargs"
                )
            with torch.no_grad():
                twin(torch.zeros(1, chans, side, side))
    except CnnkitError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(
            f"{architecture} cannot be built or run on {chans}x{side}x{side} images with these options ({first}); "
            "check --input-size, --in-chans and --model-kwargs"
        ) from None


def _check_finite(file: Path, state: Mapping[str, Any], fitting: Mapping[str, Tensor]) -> None:
    """Refuse NaN or infinite values by tensor name: load_run refuses such a run, and the network
    would only ever output NaN. A finite value that became infinite was too large for float32."""
    for key, value in fitting.items():
        if not value.is_floating_point() or bool(torch.isfinite(value).all()):
            continue
        bad = int((~torch.isfinite(value)).sum())
        original = state[key]
        if original.is_floating_point() and bool(torch.isfinite(original).all()):
            raise WeightsError(
                f"{file} holds values too large for {_dtype(value.dtype)} in tensor {key!r} "
                f"({bad:,} of {value.numel():,}); nothing was imported"
            )
        raise WeightsError(
            f"{file} holds NaN or infinite values in tensor {key!r} ({bad:,} of {value.numel():,} values): "
            "a network with them outputs only NaN, so nothing was imported (a diverged training saves such weights)"
        )


def _hint(architecture: str, kwargs: Mapping[str, Any], given: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """A model option under which the file fits exactly (e.g. GoogLeNet weights without aux heads), or ''."""
    for option, reason in _ALTERNATIVES:
        if all(kwargs.get(k) == v for k, v in option.items()):
            continue
        try:
            reference = _meta_state(architecture, {**kwargs, **option})
        except (CnnkitError, ValueError, RuntimeError, TypeError, OverflowError):
            continue  # the model does not take the option
        fits = reference.keys() == state.keys() and all(
            isinstance(state[k], Tensor) and state[k].shape == v.shape for k, v in reference.items()
        )
        if fits:
            return f"; {reason}: pass --model-kwargs '{json.dumps({**given, **option})}'"
    return ""


def _check_free(out: Path) -> None:
    """``out`` has a name the OS accepts and does not exist yet."""
    check_run_name(out.name, "the run directory name (the last part of --out)")
    try:
        taken = out.exists() or out.is_symlink()
    except OSError as err:  # ENAMETOOLONG on a parent, ELOOP, EACCES...
        raise OutputError(f"cannot use {out} as the run directory ({err.strerror}); choose another --out") from None
    if taken:
        raise OutputError(f"{out} already exists; choose another --out or --name, or remove it")


def _write_run(out: Path, network: nn.Module, info: Any) -> Any:
    """Write the run as ``cnnkit train`` does (a partial directory, ``write_model``, rename to ``out``)."""
    from cnnkit.runs.format import Run, finish_run_dir, load_run, prepare_run_dir, write_model

    partial = prepare_run_dir(out.parent, out.name)
    try:
        write_model(partial, network, info)  # read back and compared: what every later command will see
        run = load_run(partial)
        try:
            final = finish_run_dir(partial)
        except OSError as err:
            raise OutputError(f"cannot create {out} ({err.strerror}); choose another --out") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Run(path=final, model=run.model, info=run.info)


def import_weights(
    architecture: str,
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    model_kwargs: Mapping[str, Any] | None = None,
    data: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    input_size: int | None = None,
    classes: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    strict: bool = True,
    seed: int = 0,
) -> ImportResult:
    """Load a foreign state dict into a registered model and write the run directory ``out``.

    Classes, channels, input size and normalisation come from ``data`` (a named dataset's
    spec), or from the options, or else from the file (num_classes, in_chans) and the
    model's defaults. Strict by default: any mismatch raises ``WeightsError`` and nothing is
    written. ``strict=False`` loads the fitting tensors, warns, and leaves the rest at their
    initial values (seeded by ``seed``).
    """
    from cnnkit.models import create_model, get_model_entry
    from cnnkit.runs.format import ModelInfo

    file, out = Path(file), Path(out)
    get_model_entry(architecture)  # an unknown name fails before the file is read
    _check_free(out)
    inputs = _given_inputs(model_kwargs, data, data_dir, num_classes, in_chans, input_size, classes, mean, std)
    state = read_state_dict(file)
    known = {**inputs.kwargs, **{k: v for k, v in inputs.sizes.items() if v is not None}}
    state = _strip_prefixes(state, set(_meta_state(architecture, known)))
    _fill_from_file(architecture, inputs, state, file)
    kwargs = {**inputs.kwargs, **inputs.sizes}
    for name in RANGES:  # sizes read from the file are checked like typed ones
        _check_size(name, kwargs[name])
    classes = inputs.classes or [str(i) for i in range(kwargs["num_classes"])]
    mean = _statistics(inputs.mean, 0.0, kwargs["in_chans"], "mean")
    std = _statistics(inputs.std, 1.0, kwargs["in_chans"], "std")
    _check_twin(architecture, kwargs)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # tensors the file lacks (strict=False) start from a repeatable init
        network = create_model(architecture, **kwargs)
    fitting, report = match_state_dict(network, state)
    _check_finite(file, state, fitting)
    described = f"{architecture} ({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    hint = "" if report.complete else _hint(architecture, kwargs, inputs.kwargs, state)
    if not report.complete and strict:
        raise WeightsError(
            f"{file} does not fit {described}: {report.describe()}"
            + (hint or "; check the model and its options, or pass --non-strict to load only the fitting tensors")
        )
    if not fitting:
        raise WeightsError(f"no tensor in {file} fits {described}: {report.describe()}")
    with torch.no_grad():
        network.load_state_dict({**network.state_dict(), **fitting})

    not_loaded = [name.split(" ")[0] for name in report.missing + report.wrong_shape + report.unusable]
    kind = weights_format(file)
    info = ModelInfo(
        architecture=architecture, kwargs=kwargs, classes=classes, in_chans=kwargs["in_chans"],
        input_size=kwargs["input_size"], mean=mean, std=std, dataset=inputs.dataset,
        training={"imported_from": str(file.resolve()), "format": kind, "not_loaded": not_loaded},
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):  # load_run initialises a model before loading it
        run = _write_run(out, network, info)
    # Warnings only once the run exists, so a failed import shows nothing but its error.
    if not report.complete:
        warnings.warn(
            f"loaded {len(fitting)} of {len(network.state_dict())} tensors of {architecture}; "
            f"{report.describe()}; the rest keep their initial values (seed {seed}){hint}", stacklevel=2,
        )  # fmt: skip
    if inputs.mean is None and inputs.std is None:
        warnings.warn(
            "no --data, --mean or --std: the network sees pixels in [0, 1] unnormalised; "
            "give the statistics it was trained with", stacklevel=2,
        )  # fmt: skip
    return ImportResult(run=run, report=report, source=file, format=kind)
