"""A public API without traps (DESIGN.md): no package attribute shadows a submodule of the same name.

If a package exported a function ``saliency`` from its module ``saliency.py``, then
``import package.saliency as m`` would give the function, and which of the two
``package.saliency`` means would depend on what was imported first. Every package under
src/cnnkit is read here: each of its submodules, once imported, must be what the package's
attribute of that name is.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnkit"

# The CLI is a Typer app (its commands are functions named for their modules, by design), and
# cnnkit.__main__ runs the CLI when imported.
SKIPPED = ("cnnkit.cli", "cnnkit.__main__")

# Shadowing that is known and allowed, package -> attribute names: none is left.
KNOWN_SHADOWED: dict[str, set[str]] = {}


def _packages() -> list[str]:
    names = [".".join(("cnnkit", *p.parent.relative_to(SRC).parts)) for p in SRC.rglob("__init__.py")]
    return sorted(n for n in names if not n.startswith(SKIPPED))


def _import(name: str) -> types.ModuleType | None:
    """The module, or None where it needs an optional dependency that is not installed (ONNX)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in ("onnx", "onnxruntime", "onnxscript"):
            return None
        raise


@pytest.mark.parametrize("package", _packages())
def test_no_public_attribute_shadows_a_submodule(package: str) -> None:
    pkg = importlib.import_module(package)
    shadowed = set()
    for info in pkgutil.iter_modules(pkg.__path__, f"{package}."):
        if info.name.startswith(SKIPPED):
            continue
        module = _import(info.name)
        if module is None:
            continue
        short = info.name.rsplit(".", 1)[1]
        if getattr(pkg, short, module) is not module:
            shadowed.add(short)
    assert shadowed == KNOWN_SHADOWED.get(package, set()), (
        f"{package}: attributes that are not the submodule of their name: {sorted(shadowed)}; "
        "rename the module (private, or named for its family) or update KNOWN_SHADOWED")


@pytest.mark.parametrize("name", ["cnnkit.explain.attribution", "cnnkit.explain.synthesis", "cnnkit.explain.landscape"])
def test_each_family_of_explain_imports_as_a_module(name: str) -> None:
    m = importlib.import_module(name)
    assert isinstance(m, types.ModuleType) and m.__name__ == name
    assert m.__doc__ and m.__all__
    for public in m.__all__:
        assert not isinstance(getattr(m, public), types.ModuleType), public


def test_import_as_gives_the_module() -> None:
    import cnnkit.explain.attribution as m

    assert isinstance(m, types.ModuleType)
    import cnnkit.explain.landscape as family

    assert isinstance(family, types.ModuleType)


def test_the_families_export_what_cnnkit_explain_exports() -> None:
    import cnnkit.explain as explain
    from cnnkit.explain import attribution, landscape, synthesis

    families = {*attribution.__all__, *synthesis.__all__, *landscape.__all__}
    for name in explain.__all__:
        value = getattr(explain, name)
        assert not isinstance(value, types.ModuleType), name
        for family in (attribution, synthesis, landscape):
            if name in family.__all__:
                assert getattr(family, name) is value, name
    assert families - set(explain.__all__) == {"filter_normalized_direction"}
    assert explain.loss_landscape is landscape.loss_landscape
