"""The model registry: every model is created by name through ``create_model``.

A model file defines its blocks, its class, and one small registered function per named
variant (the timm layout). The function's name is the registry key and its keyword
arguments are plain JSON values, so ``model.json`` in a run directory can rebuild any model.

Every entry names its ``task`` ("classification" unless registered with ``task=``). The
applications' models (SRCNN, ...) live in their ``cnnkit.apps`` package and register there;
the registry imports ``cnnkit.apps`` the first time it is asked for a name it lacks or for the
list, so ``create_model("srcnn_955")``, ``cnnkit summary`` and ``rf`` find them. That import goes
by name (``APPLICATIONS``) because apps stand above models in the package order.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnkit.errors import ConfigError, UnknownModelError

__all__ = ["ModelEntry", "ModelDescription", "load_applications", "register_model", "register_task", "task_factory",
           "task_names", "create_model", "list_models", "get_model_entry", "describe_models"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its constructor, family and the input it is designed for."""

    name: str
    constructor: Callable[..., nn.Module]
    family: str            # the module it lives in, e.g. "lenet"
    summary: str           # first line of the constructor's docstring
    in_chans: int          # default input channels
    input_size: int        # default input height = width, pixels
    task: str = "classification"  # what it learns: the Task that trains it (train/task.py, apps/)


_REGISTRY: dict[str, ModelEntry] = {}
APPLICATIONS = "cnnkit.apps"  # imported on first need: its packages register their models
_applications_loaded = False


def load_applications() -> None:
    """Import the applications' packages once, so that their models (and tasks) are registered."""
    global _applications_loaded
    if not _applications_loaded:
        _applications_loaded = True
        importlib.import_module(APPLICATIONS)


_TASKS: dict[str, str] = {"classification": "cnnkit.train.task:classification_task"}


def register_task(name: str, factory: str) -> None:
    """Name the Task of ``config.task == name`` by the "module:function" that builds it from a TrainConfig
    (a path, not the function, so registering imports nothing of the trainer)."""
    if name in _TASKS:
        raise ValueError(f"task {name!r} is registered twice")
    _TASKS[name] = factory


def task_factory(name: str) -> Callable[..., Any] | None:
    """The function that builds task ``name``'s Task from a TrainConfig; None if no package registers it."""
    if name not in _TASKS:
        load_applications()
    if name not in _TASKS:
        return None
    module, _, attribute = _TASKS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def task_names() -> list[str]:
    """Every registered task name, sorted."""
    load_applications()
    return sorted(_TASKS)


def register_model(fn: Callable[..., nn.Module] | None = None, *, task: str = "classification") -> Any:
    """Register a model constructor under its function name; a duplicate name raises.

    ``@register_model`` registers a classifier; ``@register_model(task="superres")`` a model of
    another task."""
    if fn is None:
        return lambda f: _register(f, task)
    return _register(fn, task)


def _register(fn: Callable[..., nn.Module], task: str) -> Callable[..., nn.Module]:
    name = fn.__name__
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice ({fn.__module__})")
    defaults = _defaults_of(fn)
    _REGISTRY[name] = ModelEntry(
        name=name,
        constructor=fn,
        family=fn.__module__.rsplit(".", 1)[-1],
        summary=(inspect.getdoc(fn) or "").split("\n", 1)[0],
        in_chans=defaults.get("in_chans", 3),
        input_size=defaults.get("input_size", 224),
        task=task,
    )
    return fn


def _defaults_of(fn: Callable[..., nn.Module]) -> dict[str, Any]:
    """Default in_chans/input_size declared by the constructor or the class it returns."""
    found: dict[str, Any] = {}
    targets = [fn]
    annotation = typing.get_type_hints(fn).get("return")
    if inspect.isclass(annotation):
        targets.append(annotation.__init__)
    for target in targets:
        for param in inspect.signature(target).parameters.values():
            if param.name in ("in_chans", "input_size") and param.default is not inspect.Parameter.empty:
                found.setdefault(param.name, param.default)
    return found


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name raises with the closest names."""
    if name not in _REGISTRY:
        load_applications()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownModelError(f"no model {name!r}; {hint}'cnnkit models' lists all") from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``; kwargs must be JSON values (num_classes, in_chans, ...)."""
    entry = get_model_entry(name)
    try:
        model = entry.constructor(**kwargs)
    except TypeError as err:
        raise ConfigError(f"model {name!r} does not take these options: {err}") from None
    # Recorded so that a run directory can rebuild exactly this model.
    model.cnnkit_name = name
    model.cnnkit_kwargs = dict(kwargs)
    return model


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Digits compare as numbers, so 'vgg11' < 'vgg19' < 'resnet101' sorts as people read it."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def list_models(pattern: str | None = None, *, task: str | None = None) -> list[str]:
    """Registered names in natural order (resnet18 before resnet101), filtered by a pattern such as
    'resnet*' and by ``task`` ("classification", "superres", ...; None: every task)."""
    load_applications()
    names = sorted(_REGISTRY, key=_natural_key)
    return [n for n in names if (pattern is None or fnmatch.fnmatch(n, pattern))
            and (task is None or _REGISTRY[n].task == task)]


@dataclass(frozen=True)
class ModelDescription:
    """One row of ``cnnkit models``: parameters at the default configuration."""

    name: str
    parameters: int
    input: str             # C x H x W
    summary: str
    task: str = "classification"


def describe_models(pattern: str | None = None, *, task: str | None = None) -> list[ModelDescription]:
    """Describe registered models; built on the meta device, so even VGG-16 costs no memory."""
    import torch

    rows = []
    for name in list_models(pattern, task=task):
        entry = _REGISTRY[name]
        with torch.device("meta"):
            model = entry.constructor()
        rows.append(
            ModelDescription(
                name=name,
                parameters=sum(p.numel() for p in model.parameters()),
                input=f"{entry.in_chans}x{entry.input_size}x{entry.input_size}",
                summary=entry.summary,
                task=entry.task,
            )
        )
    return rows
