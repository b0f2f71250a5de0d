"""``cnnkit serve``: the explorer (CNN Explainer for your own model) on a local web server."""

from __future__ import annotations

import typer

from cnnkit.cli._common import DEVICE_OPT, RUN_ARG

EXAMPLES = """
\b
Examples:
  cnnkit serve runs/lenet5-fashion-mnist        # then open http://127.0.0.1:8765
  cnnkit serve runs/RUN --port 9000 --open
  cnnkit serve resnet18                        # a registered model with fresh weights
"""


def register(app: typer.Typer) -> None:
    app.command("serve", help="Explore a run in the browser: feature maps, units' computations, "
                "the convolution playground, explanations and attacks.\n" + EXAMPLES)(serve)


def serve(
    run: str = RUN_ARG,
    port: int = typer.Option(8765, "--port", help="TCP port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback "
                             "makes the model reachable from other machines."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    device: str = DEVICE_OPT,
) -> None:
    from cnnkit.serve.server import serve_explorer

    serve_explorer(run, host=host, port=port, open_browser=open_browser, device=device)
