"""What the explorer's routes compute, apart from HTTP: one opened run, its layers, its test
images, and every answer the page asks for (docs/serve.md lists them).

The model is used under one lock and never changed: forward hooks record what a request
needs (a page of each layer's output, one unit's input) and are removed before the lock is
released, and explain and attacks leave the model as they found it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from cnnkit.data.images import decode_image, image_to_tensor, resize_center_crop
from cnnkit.errors import CnnkitError, ConfigError
from cnnkit.explain.layers import find_layer, network_of
from cnnkit.modes import device_of
from cnnkit.runs.format import Run
from cnnkit.serve.encoding import decode_pixels, encode_map, encode_pixels, page_channels
from cnnkit.serve.graph import Layer, layer_graph
from cnnkit.serve.units import receptive_box, unit_computation

__all__ = ["Explorer", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS"]

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
# Photographs bundled with scikit-image: the test images of a run without a dataset.
_PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "page", "horse", "clock")

Hook = Callable[[Tensor, Tensor], None]  # (the module's input, its output), batch of one


def on_model_thread(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run the method on the explorer's one model thread, whichever thread calls it.

    Measured on 2 cores: a forward pass from a second thread, once another thread has run
    torch's parallel kernels, took twice as long (two OpenMP teams on two cores). So all of a
    model's work, its opening included, happens on one thread, and requests queue for it.
    """
    @functools.wraps(method)
    def call(self: Explorer, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith(self._thread_name):
            return method(self, *args, **kwargs)
        return self._worker.submit(method, self, *args, **kwargs).result()

    return call


class Explorer:
    """A run opened for the explorer: its layers as the page draws them and the answers to its requests."""

    def __init__(self, run: Run | Callable[[], Run], *, samples: int = 24, page_size: int = 16) -> None:
        """``run`` is an opened run, or a function that opens one: it is then called on the model
        thread (loading weights on another thread once slowed every later forward pass 2x)."""
        self._thread_name = f"cnnkit-model-{id(self)}"
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        self._open(run, samples, page_size)

    @on_model_thread
    def _open(self, run: Run | Callable[[], Run], samples: int, page_size: int) -> None:
        if callable(run):
            run = run()
        self.run, self.info, self.page_size = run, run.info, page_size
        self.model = run.model.eval()
        self.network = network_of(self.model)
        self.device = device_of(self.model)
        self.shape = (self.info.in_chans, self.info.input_size, self.info.input_size)
        try:
            self.layers = layer_graph(self.model, self.info.input_size, self.info.in_chans)
        except (RuntimeError, ValueError, CnnkitError) as err:
            raise ConfigError(f"cnnkit serve shows networks that take (C, H, W) images; this {self.info.task} "
                              f"model does not run on one ({str(err).splitlines()[0][:200]})") from None
        self.by_id = {layer.id: layer for layer in self.layers}
        self.mapped = [layer for layer in self.layers if len(layer.shape) in (1, 3)]
        self.activation_after = self._activations_after()
        self.lock = threading.Lock()
        self.samples, self.labels = self._samples(samples)
        self._maximized: dict[tuple[str, int, int], dict[str, Any]] = {}

    @property
    def classifies(self) -> bool:
        return self.info.task == "classification"

    # ---- what the page loads once -------------------------------------------------------------
    def model_json(self) -> dict[str, Any]:
        """The network as the overview draws it (``GET /api/model``)."""
        return {
            "name": self.run.path.name if self.run.path is not None else self.info.architecture,
            "architecture": self.info.architecture, "task": self.info.task,
            "classes": self.info.classes if self.classifies else None,
            "in_chans": self.info.in_chans, "input_size": self.info.input_size,
            "parameters": sum(p.numel() for p in self.network.parameters()),
            "macs": sum(layer.macs for layer in self.layers), "page_size": self.page_size,
            "layers": [layer.to_json() for layer in self.layers],
        }

    def sample_list(self) -> list[dict[str, Any]]:
        return [self._sample_json(i) for i in range(len(self.samples))]

    def sample(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.samples):
            raise ConfigError(f"sample {index} does not exist; there are {len(self.samples)} (0 to {len(self.samples) - 1})")
        return {**self._sample_json(index), "pixels": encode_pixels(self.samples[index])}

    def upload(self, data: bytes) -> dict[str, Any]:
        """An uploaded image file as pixels the model takes, converted and cropped as ``cnnkit predict`` does."""
        if self.info.in_chans not in (1, 3):
            raise ConfigError(f"this model takes {self.info.in_chans} channels, not a photograph; use its test images")
        mode = "L" if self.info.in_chans == 1 else "RGB"
        image = decode_image(data, name="the upload", mode=mode, max_pixels=MAX_UPLOAD_PIXELS)
        pixels = image_to_tensor(resize_center_crop(image, self.info.input_size)).float().div_(255)
        return {"pixels": encode_pixels(pixels)}

    # ---- forward passes -----------------------------------------------------------------------
    def image(self, source: dict[str, Any]) -> Tensor:
        """A request's input, ``{"sample": k}`` or ``{"pixels": base64}``, as a (1, C, H, W) batch."""
        if set(source) == {"sample"} and isinstance(source["sample"], int) and not isinstance(source["sample"], bool):
            index = source["sample"]
            self.sample(index)  # the range check
            return self.samples[index][None].to(self.device)
        if set(source) == {"pixels"} and isinstance(source["pixels"], str):
            return decode_pixels(source["pixels"], self.shape)[None].to(self.device)
        raise ConfigError('input must be {"sample": <index>} or {"pixels": "<base64 of C x H x W uint8>"}')

    @on_model_thread
    def predict(self, source: dict[str, Any], page: int = 0) -> dict[str, Any]:
        """Class probabilities and a page of every layer's feature maps (``POST /api/predict``)."""
        x = self.image(source)
        pages = {layer.id: self._last_page(layer, page) for layer in self.mapped}
        maps: dict[str, dict[str, Any]] = {}
        hooks = {layer_id: self._map_hook(self.by_id[layer_id], chosen, maps) for layer_id, chosen in pages.items()}
        with self.lock, self._hooked(hooks):
            logits = self.model(x)
        return {**self._classes(logits), "maps": [maps[layer.id] for layer in self.mapped if layer.id in maps]}

    @on_model_thread
    def maps(self, source: dict[str, Any], layer_id: str, page: int) -> dict[str, Any]:
        """One page of one layer's channels (``POST /api/maps``)."""
        layer = self._mapped_layer(layer_id)
        chosen = page_channels(layer.shape[0], page, self.page_size)
        x = self.image(source)
        maps: dict[str, dict[str, Any]] = {}
        with self.lock, self._hooked({layer.id: self._map_hook(layer, chosen, maps)}):
            self.model(x)
        return maps[layer.id]

    @on_model_thread
    def unit(self, source: dict[str, Any], layer_id: str, channel: int, y: int, x: int) -> dict[str, Any]:
        """One output unit's computation from the layer's own input (``POST /api/unit``)."""
        layer = self._mapped_layer(layer_id)
        spatial = len(layer.shape) == 3
        limits = layer.shape if spatial else (layer.shape[0], 1, 1)
        for name, value, limit in (("channel", channel, limits[0]), ("y", y, limits[1]), ("x", x, limits[2])):
            if not 0 <= value < limit:
                raise ConfigError(f"{name}={value} is outside layer '{layer.id}' of shape "
                                  f"{'x'.join(map(str, layer.shape))} (0 to {limit - 1})")
        image = self.image(source)
        seen: dict[str, Tensor] = {}

        def record(inputs: Tensor, output: Tensor) -> None:
            seen["input"], seen["output"] = inputs.detach().clone(), output.detach().clone()

        with self.lock, self._hooked({layer.id: record}):
            self.model(image)
            module, _ = find_layer(self.model, layer.id)
            answer = unit_computation(module, seen["input"], seen["output"], channel, y, x,
                                      self.activation_after.get(layer.id))
        source_id = layer.inputs[0] if layer.inputs else None
        return {"layer": layer.id, "channel": channel, "y": y, "x": x, "source": source_id,
                "field": receptive_box(layer.field if spatial else None, y, x, self.info.input_size), **answer}

    # ---- explain and attack -------------------------------------------------------------------
    @on_model_thread
    def explain(self, source: dict[str, Any], method: str, target: int | None) -> dict[str, Any]:
        """Saliency, Integrated Gradients or Grad-CAM for a class (``POST /api/explain``)."""
        from cnnkit.explain import gradcam, integrated_gradients, saliency

        self._need_classifier("explain")
        x = self.image(source)
        if target is not None and not 0 <= target < len(self.info.classes):
            raise ConfigError(f"target {target} is not a class; give 0 to {len(self.info.classes) - 1} or null")
        with self.lock:
            if target is None:
                with torch.no_grad():
                    target = int(self.model(x).argmax(1))
            if method == "saliency":
                heat = saliency(self.model, x, target)
            elif method == "integrated_gradients":
                heat = integrated_gradients(self.model, x, target, steps=32).abs().sum(1)
            elif method == "gradcam":
                heat = gradcam(self.model, x, target)
            else:
                raise ConfigError(f"unknown method {method!r}; use saliency, integrated_gradients or gradcam")
        return {"target": target, "method": method, "map": encode_map(method, heat, tuple(heat.shape), range(1))}

    @on_model_thread
    def maximize(self, layer_id: str, channel: int, steps: int) -> dict[str, Any]:
        """The image that maximises one channel's mean activation (Erhan et al., 2009; ``POST /api/maximize``)."""
        from cnnkit.explain.synthesis.maximization import DEFAULT_MAXIMIZE, maximize, unit_activation

        layer = self._mapped_layer(layer_id)
        if not 0 <= channel < layer.shape[0]:
            raise ConfigError(f"channel {channel} is outside layer '{layer.id}' (0 to {layer.shape[0] - 1})")
        key = (layer.id, channel, steps)
        if key not in self._maximized:
            with self.lock:
                x = maximize(self.model, layer.id, channel, config=replace(DEFAULT_MAXIMIZE, steps=steps))
                with torch.no_grad():
                    value = float(unit_activation(self.model, x, layer.id, [channel]).reshape(-1)[0])
            self._maximized[key] = {"layer": layer.id, "channel": channel, "steps": steps,
                                    "pixels": encode_pixels(x[0]), "activation": value}
        return self._maximized[key]

    @on_model_thread
    def attack(self, source: dict[str, Any], method: str, eps: float, steps: int) -> dict[str, Any]:
        """FGSM or PGD at radius eps against the model's own prediction (``POST /api/attack``)."""
        from cnnkit.attacks import FGSM, PGD

        self._need_classifier("attack")
        if method not in ("fgsm", "pgd"):
            raise ConfigError(f"unknown attack {method!r}; use fgsm or pgd")
        x = self.image(source)
        with self.lock:
            with torch.no_grad():
                clean = self.model(x)
            if eps == 0:
                x_adv = x
            else:
                attack = FGSM(eps=eps) if method == "fgsm" else PGD(eps=eps, steps=steps)
                x_adv = attack(self.model, x, clean.argmax(1)).x_adv
            with torch.no_grad():
                adversarial = self.model(x_adv)
        delta = (x_adv - x)[0]
        shown = (delta / eps + 1) / 2 if eps > 0 else torch.full_like(delta, 0.5)
        return {"method": method, "eps": eps, "pixels": encode_pixels(x_adv[0]), "perturbation": encode_pixels(shown),
                "clean": self._classes(clean), "adversarial": self._classes(adversarial),
                "linf": float(delta.abs().max())}

    # ---- helpers ------------------------------------------------------------------------------
    def _classes(self, logits: Tensor) -> dict[str, Any]:
        if not self.classifies:
            return {"probabilities": None, "top": None}
        probabilities = logits.detach().float().softmax(1)[0]
        return {"probabilities": probabilities.tolist(), "top": int(probabilities.argmax())}

    def _need_classifier(self, what: str) -> None:
        if not self.classifies:
            raise ConfigError(f"{what} needs class scores, and this is a {self.info.task} model")

    def _mapped_layer(self, layer_id: str) -> Layer:
        layer = self.by_id.get(layer_id)
        if layer is None or layer not in self.mapped:
            shown = ", ".join(layer.id for layer in self.mapped[:8])
            raise ConfigError(f"no layer {layer_id[:80]!r} with feature maps; GET /api/model lists them ({shown}, ...)")
        return layer

    def _last_page(self, layer: Layer, page: int) -> range:
        """Page ``page`` of the layer's channels, or its last page when it has fewer."""
        if page < 0:
            raise ConfigError(f"page must be >= 0, got {page}")
        pages = -(-layer.shape[0] // self.page_size)
        return page_channels(layer.shape[0], min(page, pages - 1), self.page_size)

    def _map_hook(self, layer: Layer, chosen: range, into: dict[str, dict[str, Any]]) -> Hook:
        def hook(_inputs: Tensor, output: Tensor) -> None:
            into[layer.id] = encode_map(layer.id, output[0, chosen.start:chosen.stop], layer.shape, chosen)
        return hook

    @contextmanager
    def _hooked(self, hooks: dict[str, Hook]) -> Iterator[None]:
        """Forward hooks on the layers' calls (``name#k``: the k-th call), no gradients; removed on exit."""
        wanted: dict[nn.Module, dict[int, Hook]] = {}
        for layer_id, hook in hooks.items():
            module, call = find_layer(self.model, layer_id)
            wanted.setdefault(module, {})[call] = hook
        calls: dict[nn.Module, int] = {}

        def on_output(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            calls[module] = calls.get(module, 0) + 1
            hook = wanted[module].get(calls[module])
            if hook is not None and isinstance(output, Tensor) and inputs and isinstance(inputs[0], Tensor):
                hook(inputs[0], output)

        handles = [module.register_forward_hook(on_output) for module in wanted]
        try:
            with torch.no_grad():
                yield
        finally:
            for handle in handles:
                handle.remove()

    def _activations_after(self) -> dict[str, nn.Module]:
        """The non-linearity that reads each layer's output alone, if the next layer is one."""
        after = {}
        for layer, following in zip(self.layers, self.layers[1:]):
            if following.kind == "activation" and following.inputs == (layer.id,):
                after[layer.id] = find_layer(self.model, following.id)[0]
        return after

    def _sample_json(self, index: int) -> dict[str, Any]:
        label = self.labels[index]
        name = self.info.classes[label] if label is not None and label < len(self.info.classes) else None
        return {"index": index, "label": label, "class": name}

    def _samples(self, count: int) -> tuple[list[Tensor], list[int | None]]:
        """Test images of the run's dataset with labels, or scikit-image's photographs without."""
        from cnnkit.runs.datasets import sample_images

        if self.run.path is not None and self.info.dataset is not None:
            try:
                x, y = sample_images(self.run, count)
                return list(x), [int(v) for v in y.reshape(len(x), -1)[:, 0]] if self.classifies else [None] * len(x)
            except CnnkitError:
                pass  # the dataset is not on this machine: the photographs below
        if self.info.in_chans not in (1, 3):
            return [torch.full(self.shape, 0.5)], [None]
        return [self._photo(name) for name in _PHOTOS], [None] * len(_PHOTOS)

    def _photo(self, name: str) -> Tensor:
        import skimage.data

        array = np.asarray(getattr(skimage.data, name)())
        image = Image.fromarray(array).convert("L" if self.info.in_chans == 1 else "RGB")
        return image_to_tensor(resize_center_crop(image, self.info.input_size)).float().div_(255)
