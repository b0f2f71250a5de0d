"""The explorer: CNN Explainer for your own model, in the browser (``cnnkit serve``).

graph.py draws the network as layers and the edges between them; units.py computes one
output unit again with the lecture's sums; explorer.py answers the page's requests for one
run (under a lock, never changing the model); playground.py is the convolution widget;
app.py the FastAPI routes; server.py binds and runs uvicorn. static/ holds the page.
Names are imported on first use, so the CLI starts without FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnkit._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnkit.serve.app import create_app
    from cnnkit.serve.explorer import Explorer
    from cnnkit.serve.graph import Layer, layer_graph
    from cnnkit.serve.server import serve_explorer

_HOMES = {
    "create_app": "cnnkit.serve.app",
    "Explorer": "cnnkit.serve.explorer",
    "Layer": "cnnkit.serve.graph",
    "layer_graph": "cnnkit.serve.graph",
    "serve_explorer": "cnnkit.serve.server",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
