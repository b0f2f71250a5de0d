"""The explorer's web application: FastAPI routes over one ``Explorer`` (docs/serve.md is the contract).

Every answer is JSON; a bad request gets a 4xx status and ``{"error": "one line"}``, an
unexpected failure a 500 with the same shape and no traceback (the traceback goes to the
server's log). Request bodies are size-limited before they are read whole, only the Host
names of loopback are accepted when serving on loopback (a web page cannot reach the server
through DNS rebinding), and no part of a request path is ever used to open a file: the page's
three files are read into memory when the app is made.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any, Literal, Union

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cnnkit.errors import CnnkitError
from cnnkit.serve.explorer import MAX_UPLOAD_BYTES, Explorer
from cnnkit.serve.playground import playground

__all__ = ["LOOPBACK_HOSTS", "create_app"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_JSON_BYTES = 2 * 1024 * 1024   # a 3 x 512 x 512 image in base64 is 1 MB
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
log = logging.getLogger("cnnkit.serve")


# ---- request bodies: unknown fields refused, every number bounded -------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputBody(_Body):
    sample: int | None = Field(None, ge=0, le=1_000_000)
    pixels: str | None = Field(None, max_length=MAX_JSON_BYTES)

    def source(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PredictBody(_Body):
    input: InputBody
    page: int = Field(0, ge=0, le=100_000)


class MapsBody(PredictBody):
    layer: str = Field(max_length=300)


class UnitBody(_Body):
    input: InputBody
    layer: str = Field(max_length=300)
    channel: int = Field(ge=0, le=1_000_000)
    y: int = Field(0, ge=0, le=100_000)
    x: int = Field(0, ge=0, le=100_000)


class ExplainBody(_Body):
    input: InputBody
    method: Literal["saliency", "integrated_gradients", "gradcam"] = "saliency"
    target: int | None = Field(None, ge=0, le=1_000_000)


class MaximizeBody(_Body):
    layer: str = Field(max_length=300)
    channel: int = Field(0, ge=0, le=1_000_000)
    steps: int = Field(64, ge=1, le=256)


class AttackBody(_Body):
    input: InputBody
    method: Literal["fgsm", "pgd"] = "fgsm"
    eps: float = Field(ge=0, le=0.5, allow_inf_nan=False)
    steps: int = Field(10, ge=1, le=100)


class PlaygroundBody(_Body):
    size: int = Field(7, ge=3, le=16)
    kernel: Union[Literal["sobel_x", "sobel_y", "laplacian", "box", "gaussian"],
                  list[list[float]]] = "sobel_x"
    padding: Literal["valid", "same", "full"] = "valid"
    stride: int = Field(1, ge=1, le=4)
    dilation: int = Field(1, ge=1, le=3)
    image: Literal["square", "photo"] = "square"


# ---- the application --------------------------------------------------------------------------
def create_app(explorer: Explorer, *, allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS) -> FastAPI:
    """The explorer's routes over ``explorer``; ``allowed_hosts`` None accepts any Host header.

    Routes answer ``JSONResponse`` themselves: FastAPI's own encoding would first walk every
    number of the feature maps through ``jsonable_encoder``.
    """
    app = FastAPI(title="cnnkit explorer", docs_url=None, redoc_url=None, openapi_url=None)
    page = {name: resources.files("cnnkit.serve").joinpath("static", name).read_bytes() for name in _STATIC}
    _handle_errors(app)

    @app.get("/")
    def index() -> Response:
        return Response(page["index.html"], media_type=_STATIC["index.html"], headers=_SECURITY_HEADERS)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in page:
            raise HTTPException(404, f"no file {name[:80]!r}; the page has {', '.join(page)}")
        return Response(page[name], media_type=_STATIC[name], headers=_SECURITY_HEADERS)

    @app.get("/api/model")
    def model() -> JSONResponse:
        return JSONResponse(explorer.model_json())

    @app.get("/api/samples")
    def samples() -> JSONResponse:
        return JSONResponse({"samples": explorer.sample_list()})

    @app.get("/api/samples/{index}")
    def sample(index: int) -> JSONResponse:
        return JSONResponse(explorer.sample(index))

    @app.post("/api/upload")
    async def upload(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and not (kind.startswith("image/") or kind == "application/octet-stream"):
            raise HTTPException(415, f"an upload is an image file's bytes (image/png, image/jpeg, ...), not {kind}")
        data = await request.body()
        if not data:
            raise HTTPException(400, "the upload is empty; send the image file's bytes as the request body")
        return JSONResponse(await run_in_threadpool(explorer.upload, data))

    @app.post("/api/predict")
    def predict(body: PredictBody) -> JSONResponse:
        return JSONResponse(explorer.predict(body.input.source(), body.page))

    @app.post("/api/maps")
    def maps(body: MapsBody) -> JSONResponse:
        return JSONResponse(explorer.maps(body.input.source(), body.layer, body.page))

    @app.post("/api/unit")
    def unit(body: UnitBody) -> JSONResponse:
        return JSONResponse(explorer.unit(body.input.source(), body.layer, body.channel, body.y, body.x))

    @app.post("/api/explain")
    def explain(body: ExplainBody) -> JSONResponse:
        return JSONResponse(explorer.explain(body.input.source(), body.method, body.target))

    @app.post("/api/maximize")
    def maximize(body: MaximizeBody) -> JSONResponse:
        return JSONResponse(explorer.maximize(body.layer, body.channel, body.steps))

    @app.post("/api/attack")
    def attack(body: AttackBody) -> JSONResponse:
        return JSONResponse(explorer.attack(body.input.source(), body.method, body.eps, body.steps))

    @app.post("/api/playground")
    def convolution(body: PlaygroundBody) -> JSONResponse:
        return JSONResponse(playground(body.size, body.kernel, body.padding, body.stride, body.dilation, body.image))

    app.add_middleware(Guard, limits={"/api/upload": MAX_UPLOAD_BYTES}, default=MAX_JSON_BYTES,
                       hosts=allowed_hosts)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _handle_errors(app: FastAPI) -> None:
    """Every failure as ``{"error": "one line"}``: 400 for what cnnkit refuses, 422 for a malformed body."""

    @app.exception_handler(CnnkitError)
    async def refused(_request: Request, err: CnnkitError) -> JSONResponse:
        return _error(400, str(err).splitlines()[0] if str(err) else type(err).__name__)

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "malformed request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
        return _error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def http(_request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(err).__name__}); the server's log has the details")


class Guard:
    """Before any route runs: a Host header that is not this server's gets 400 (DNS rebinding), a body
    over its route's limit 413, from Content-Length or while it streams; both as JSON errors."""

    def __init__(self, app: ASGIApp, *, limits: dict[str, int], default: int,
                 hosts: tuple[str, ...] | None) -> None:
        self.app, self.limits, self.default, self.hosts = app, limits, default, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if self.hosts is not None and _host_name(headers.get(b"host", b"")) not in self.hosts:
            await _error(400, "the Host header names another server; open the address cnnkit serve printed")(
                scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _error(413, f"the request body is larger than {limit:,} bytes")(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"the request body is larger than {limit:,} bytes")
            return message

        await self.app(scope, limited, send)


def _host_name(header: bytes) -> str:
    """The Host header without its port: 'localhost:8765' -> 'localhost', '[::1]:80' -> '[::1]'."""
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[:text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
