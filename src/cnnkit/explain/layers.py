"""Reading a layer's output: the names ``cnnkit summary`` prints, hooks that survive in-place
ReLUs and modules called more than once.

Names are those of the network's modules (``features.3``, ``layer2.1.conv1``), without the
normalisation layer a loaded run puts in front; ``name#2`` is the second call of a module
that the forward pass uses twice, as ``cnnkit summary`` labels it.

Two failures of hook-based tools are avoided on purpose. A forward hook that keeps the tensor
a layer returned sees it overwritten when an in-place ReLU follows (and autograd then refuses
the backward pass), so the hook hands the rest of the network a copy and keeps the original.
A module called twice fires its hook twice, so calls are counted per forward pass and only
the requested call is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn

from cnnkit.errors import ConfigError
from cnnkit.layers.normalize import Normalize

__all__ = ["activations", "find_layer", "layer_names", "network_of", "tap"]

_SHOWN_NAMES = 40  # an error lists at most this many valid names


class _Reached(Exception):
    """Raised by a hook once every tapped layer has run, to skip the rest of the network."""


def network_of(model: nn.Module) -> nn.Module:
    """The network behind a loaded model's ``Normalize`` layer (the model itself otherwise)."""
    if isinstance(model, nn.Sequential) and len(model) == 2 and isinstance(model[0], Normalize):
        return model[1]
    return model


def layer_names(model: nn.Module) -> list[str]:
    """Every named module of the network, in definition order (``cnnkit summary``'s names)."""
    return [name for name, _ in network_of(model).named_modules() if name]


def find_layer(model: nn.Module, name: str) -> tuple[nn.Module, int]:
    """The module called ``name`` and which of its calls is meant (1 unless ``name#k``)."""
    base, _, call_text = name.partition("#")
    call = 1
    if call_text:
        if not call_text.isdigit() or int(call_text) < 1:
            raise ConfigError(f"layer '{name}': the part after '#' must be a call number >= 1, e.g. '{base}#2'")
        call = int(call_text)
    modules = dict(network_of(model).named_modules())
    if base not in modules or not base:
        names = layer_names(model)
        shown = ", ".join(names[:_SHOWN_NAMES]) + (f", ... ({len(names)} in all)" if len(names) > _SHOWN_NAMES else "")
        raise ConfigError(f"no layer '{name}' in the network; valid layers: {shown} ('cnnkit summary MODEL' prints them)")
    return modules[base], call


@contextmanager
def tap(model: nn.Module, layers: Sequence[str], *, stop: bool = False) -> Iterator[dict[str, Tensor]]:
    """Record the named layers' outputs on every forward pass of ``model`` into the yielded dict.

    The dict is cleared at the start of each forward pass. With ``stop=True`` the forward pass
    ends (raising an internal exception that ``activations`` catches) once every layer is
    recorded, so the layers after them cost nothing.
    """
    wanted = {name: find_layer(model, name) for name in dict.fromkeys(layers)}
    recorded: dict[str, Tensor] = {}
    calls: dict[nn.Module, int] = {}

    def reset(_module: nn.Module, _inputs: object) -> None:
        recorded.clear()
        calls.clear()

    def make_hook(module: nn.Module):  # type: ignore[no-untyped-def]
        mine = [(name, call) for name, (m, call) in wanted.items() if m is module]

        def hook(_module: nn.Module, _inputs: object, output: object) -> object:
            calls[module] = calls.get(module, 0) + 1
            hit = [name for name, call in mine if call == calls[module]]
            if not hit:
                return None
            if not isinstance(output, Tensor):
                raise ConfigError(f"layer '{hit[0]}' returns {type(output).__name__}, not a tensor; choose another layer")
            for name in hit:
                recorded[name] = output
            if stop and len(recorded) == len(wanted):
                raise _Reached
            return output.clone()  # the rest of the network may overwrite its input in place

        return hook

    handles = [model.register_forward_pre_hook(reset)]
    for module in {m for m, _ in wanted.values()}:
        handles.append(module.register_forward_hook(make_hook(module)))
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def activations(model: nn.Module, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """The outputs of ``layers`` for input ``x``, running the network only as far as needed.

    Gradients flow through the result when grad mode is on.
    """
    with tap(model, layers, stop=True) as recorded:
        try:
            model(x)
        except _Reached:
            pass
        missing = [name for name in dict.fromkeys(layers) if name not in recorded]
        if missing:
            raise ConfigError(
                f"layer '{missing[0]}' did not run in the forward pass (a training-only head, or a call "
                "number beyond the module's calls); choose a layer 'cnnkit summary' lists"
            )
        return dict(recorded)
