"""Package attributes imported on first use (PEP 562), so that a command imports only what it needs.

``cnnkit eval`` should not wait for the trainer, nor ``import cnnkit.attacks`` for the data
package: a package lists where each public name lives, and ``lazy_exports`` gives it the
module-level ``__getattr__`` and ``__dir__`` that import the home module when a name is first asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: a public name from its home module, or a submodule."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            if name.startswith("__"):  # probes such as __wrapped__ are no submodules
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            try:
                return import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(home), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
