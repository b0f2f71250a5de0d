"""``cnnkit explain``: look inside a network (filters, feature maps, activation maximisation,
inversion, class models, saliency, DeepDream, loss landscapes). One module per family of
commands; each registers its commands on the group here."""

from __future__ import annotations

import typer

explain_app = typer.Typer(
    help="See inside a CNN: filters, feature maps, activation maximisation, inversion, class models, "
    "saliency, DeepDream and loss landscapes. Each command writes PNGs and an index.html page.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# Each command module registers its commands on the group (imported after explain_app exists).
from cnnkit.cli.explain import attribution, landscape, synthesis  # noqa: E402

for _module in (attribution, synthesis, landscape):
    _module.register(explain_app)


def register(app: typer.Typer) -> None:
    app.add_typer(explain_app, name="explain")
