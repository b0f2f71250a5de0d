"""The explorer's HTTP API in-process (FastAPI's TestClient): every route, and every bad request
answered with a 4xx JSON error, never a 500 or a traceback."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.explain import activations
from cnnkit.serve.encoding import decode_pixels


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def _map_values(m: dict) -> torch.Tensor:
    data = torch.frombuffer(bytearray(base64.b64decode(m["data"])), dtype=torch.uint8).float()
    data = data.view(len(m["channels"]), -1)
    low, high = torch.tensor(m["min"])[:, None], torch.tensor(m["max"])[:, None]
    return low + data / 255 * (high - low)


def test_the_page_and_its_assets_are_served_from_the_package_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/static/app.js"' in page.text and "http://" not in page.text and "https://" not in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and len(asset.content) > 500
        assert b"https://" not in asset.content   # no CDN: the page works offline


@pytest.mark.parametrize("path", ["/static/../pyproject.toml", "/static/%2e%2e%2fmodel.json", "/static/app.py",
                                  "/model.safetensors", "/api/nothing"])
def test_no_request_path_reaches_the_file_system(client, path):
    _error(client.get(path), 404)


def test_model_describes_the_layers_as_cnnkit_summary_does(client, explorer):
    model = client.get("/api/model").json()
    assert model["architecture"] == "lenet5" and model["task"] == "classification"
    assert model["classes"][1] == "Trouser" and model["in_chans"] == 1 and model["input_size"] == 28
    assert model["parameters"] == sum(p.numel() for p in explorer.network.parameters())
    assert [layer["id"] for layer in model["layers"]] == [layer.id for layer in explorer.layers]
    assert model["layers"][0]["inputs"] == ["input"] and model["layers"][0]["field"]["r"] == [5, 5]


def test_samples_are_labelled_test_images(client, explorer):
    samples = client.get("/api/samples").json()["samples"]
    assert len(samples) == 24 and all(s["class"] == explorer.info.classes[s["label"]] for s in samples)
    one = client.get("/api/samples/3").json()
    assert torch.equal(decode_pixels(one["pixels"], (1, 28, 28)), explorer.samples[3].mul(255).round().div(255))
    assert "does not exist" in _error(client.get("/api/samples/24"), 400)
    _error(client.get("/api/samples/abc"), 422)


def test_predict_gives_the_models_probabilities_and_every_layers_maps(client, explorer):
    answer = client.post("/api/predict", json={"input": {"sample": 0}}).json()
    with torch.no_grad():
        x = explorer.samples[0][None]
        expected = explorer.model(x).softmax(1)[0]
        truth = activations(explorer.model, x, [layer.id for layer in explorer.mapped])
    assert answer["probabilities"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert answer["top"] == int(expected.argmax())
    assert [m["layer"] for m in answer["maps"]] == [layer.id for layer in explorer.mapped]
    for m in answer["maps"]:
        values = truth[m["layer"]][0, m["channels"][0]:m["channels"][-1] + 1]
        step = (torch.tensor(m["max"]) - torch.tensor(m["min"])).max() / 255
        assert torch.allclose(_map_values(m), values.reshape(len(m["channels"]), -1), atol=float(step) / 2 + 1e-5)


def test_the_accuracy_on_the_samples_is_the_trained_models(client, explorer):
    samples = client.get("/api/samples").json()["samples"]
    right = sum(client.post("/api/predict", json={"input": {"sample": s["index"]}}).json()["top"] == s["label"]
                for s in samples)
    assert right >= 17   # one epoch of Fashion-MNIST: about 85% of 24


def test_a_large_layer_is_paged_not_dropped(client, explorer):
    layer = next(layer for layer in explorer.mapped if layer.shape[0] > 100)   # the 120 units of C5
    pages = -(-layer.shape[0] // 16)
    last = client.post("/api/maps", json={"input": {"sample": 1}, "layer": layer.id, "page": pages - 1}).json()
    assert last["channels"] == list(range((pages - 1) * 16, layer.shape[0]))
    assert "does not exist" in _error(client.post("/api/maps", json={"input": {"sample": 1}, "layer": layer.id,
                                                                      "page": pages}), 400)


def test_pixels_in_give_the_same_answer_as_the_sample(client):
    pixels = client.get("/api/samples/5").json()["pixels"]
    by_pixels = client.post("/api/predict", json={"input": {"pixels": pixels}}).json()
    by_index = client.post("/api/predict", json={"input": {"sample": 5}}).json()
    assert by_pixels["probabilities"] == pytest.approx(by_index["probabilities"], abs=1e-6)


@pytest.mark.parametrize("body,status,words", [
    ({"input": {"pixels": "not base64!"}}, 400, "base64"),
    ({"input": {"pixels": base64.b64encode(b"\0" * 100).decode()}}, 400, "784"),
    ({"input": {"sample": 99}}, 400, "does not exist"),
    ({"input": {}}, 400, "input must be"),
    ({"input": {"sample": 1, "pixels": "AAAA"}}, 400, "input must be"),
    ({"input": {"sample": 1}, "extra": 1}, 422, "extra"),
    ({"input": {"sample": -1}}, 422, "sample"),
    ({}, 422, "input"),
])
def test_bad_predictions_get_one_line(client, body, status, words):
    assert words in _error(client.post("/api/predict", json=body), status)


def test_malformed_json_and_wrong_methods_are_4xx(client):
    _error(client.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _error(client.get("/api/predict"), 405)


def test_a_unit_is_computed_with_the_models_numbers(client, explorer):
    unit = client.post("/api/unit", json={"input": {"sample": 2}, "layer": explorer.mapped[0].id,
                                          "channel": 3, "y": 10, "x": 12}).json()
    with torch.no_grad():
        truth = activations(explorer.model, explorer.samples[2][None], [explorer.mapped[0].id])
    assert unit["kind"] == "conv" and unit["value"] == pytest.approx(float(truth[explorer.mapped[0].id][0, 3, 10, 12]), abs=1e-5)
    assert sum(np.ravel(unit["products"])) + unit["bias"] == pytest.approx(unit["value"], abs=1e-4)
    assert unit["activation"]["name"] in ("ReLU", "Tanh")
    assert "outside" in _error(client.post("/api/unit", json={"input": {"sample": 2}, "layer": explorer.mapped[0].id,
                                                              "channel": 99, "y": 0, "x": 0}), 400)
    assert "no layer" in _error(client.post("/api/unit", json={"input": {"sample": 2}, "layer": "../../etc",
                                                               "channel": 0}), 400)


def test_an_uploaded_photo_is_converted_like_cnnkit_predict(client, explorer, tmp_path):
    from cnnkit.runs.prediction import preprocess

    rng = np.random.default_rng(0)
    photo = (rng.random((90, 60, 3)) * 255).astype(np.uint8)
    (tmp_path / "p.png").write_bytes(_png(photo))
    answer = client.post("/api/upload", content=_png(photo), headers={"content-type": "image/png"}).json()
    expected = preprocess(tmp_path / "p.png", explorer.info)
    assert torch.allclose(decode_pixels(answer["pixels"], (1, 28, 28)), expected, atol=0.5 / 255 + 1e-6)


def test_uploads_are_type_checked_and_size_limited(client):
    assert "cannot decode" in _error(client.post("/api/upload", content=b"GIF89a but not really",
                                                 headers={"content-type": "image/gif"}), 400)
    assert "image file" in _error(client.post("/api/upload", content=b"hello", headers={"content-type": "text/plain"}), 415)
    _error(client.post("/api/upload", content=b"", headers={"content-type": "image/png"}), 400)
    _error(client.post("/api/upload", content=b"\0" * (8 * 1024 * 1024 + 1), headers={"content-type": "image/png"}), 413)
    _error(client.post("/api/predict", content=b" " * (3 * 1024 * 1024), headers={"content-type": "application/json"}), 413)


def test_a_decompression_bomb_is_refused_from_its_header(client):
    # a 20000 x 20000 grey PNG of zeros: 400 megapixels in about 400 kB
    width = height = 20_000
    raw = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(height)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    assert len(bomb) < 8 * 1024 * 1024
    message = _error(client.post("/api/upload", content=bomb, headers={"content-type": "image/png"}), 400)
    assert "pixels" in message


def test_the_host_header_must_name_this_server(explorer):
    from fastapi.testclient import TestClient

    from cnnkit.serve.app import create_app

    with TestClient(create_app(explorer), base_url="http://127.0.0.1:8765") as local:
        assert local.get("/api/model").status_code == 200
        assert "Host" in _error(local.get("/api/model", headers={"host": "evil.example:8765"}), 400)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "gradcam"])
def test_explanations_are_maps_of_the_input(client, method):
    answer = client.post("/api/explain", json={"input": {"sample": 0}, "method": method, "target": 3}).json()
    assert answer["target"] == 3 and answer["map"]["shape"] == [1, 28, 28]
    assert len(base64.b64decode(answer["map"]["data"])) == 28 * 28
    predicted = client.post("/api/explain", json={"input": {"sample": 0}, "method": method, "target": None}).json()
    assert predicted["target"] == client.post("/api/predict", json={"input": {"sample": 0}}).json()["top"]
    assert "target" in _error(client.post("/api/explain", json={"input": {"sample": 0}, "method": method,
                                                                "target": 10}), 400)
    _error(client.post("/api/explain", json={"input": {"sample": 0}, "method": "lime"}), 422)


def test_activation_maximisation_raises_the_channels_activation(client, explorer):
    layer = explorer.mapped[0].id
    answer = client.post("/api/maximize", json={"layer": layer, "channel": 1, "steps": 16}).json()
    x = decode_pixels(answer["pixels"], (1, 28, 28))[None]
    with torch.no_grad():
        grey = activations(explorer.model, torch.full_like(x, 0.5), [layer])[layer][0, 1].mean()
        found = activations(explorer.model, x, [layer])[layer][0, 1].mean()
    assert float(found) > float(grey)
    _error(client.post("/api/maximize", json={"layer": layer, "channel": 1, "steps": 100_000}), 422)


def test_the_attack_flips_predictions_as_eps_grows(client):
    clean = client.post("/api/attack", json={"input": {"sample": 0}, "method": "fgsm", "eps": 0}).json()
    assert clean["linf"] == 0 and clean["adversarial"]["top"] == clean["clean"]["top"]
    flipped = 0
    for sample in range(6):
        answer = client.post("/api/attack", json={"input": {"sample": sample}, "method": "pgd", "eps": 0.2,
                                                  "steps": 10}).json()
        assert answer["linf"] <= 0.2 + 1e-6
        x_adv = decode_pixels(answer["pixels"], (1, 28, 28))
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        flipped += answer["adversarial"]["top"] != answer["clean"]["top"]
    assert flipped >= 5
    _error(client.post("/api/attack", json={"input": {"sample": 0}, "method": "fgsm", "eps": 0.9}), 422)
    _error(client.post("/api/attack", json={"input": {"sample": 0}, "method": "cw", "eps": 0.1}), 422)


def test_the_playground_is_the_lectures_convolution(client):
    from cnnkit.ops.conv import conv2d
    from cnnkit.ops.filters import laplacian

    answer = client.post("/api/playground", json={"size": 6, "kernel": "laplacian", "padding": "same",
                                                  "stride": 2, "dilation": 1, "image": "photo"}).json()
    x = torch.tensor(answer["input"])
    expected = conv2d(x[None, None], laplacian()[None, None], padding="same", stride=2)[0, 0]
    assert torch.allclose(torch.tensor(answer["output"]), expected, atol=1e-6) and answer["output_size"] == [3, 3]
    matrix = torch.tensor(answer["matrix"])
    assert matrix.shape == (9, 36) and torch.allclose(matrix @ x.reshape(-1), expected.reshape(-1), atol=1e-5)
    own = client.post("/api/playground", json={"size": 9, "kernel": [[1, 0], [0, -1]], "padding": "full"}).json()
    assert own["output_size"] == [10, 10] and own["matrix"] is None
    assert "kernel" in _error(client.post("/api/playground", json={"kernel": [[1, 2], [3]]}), 400)
    assert "spans" in _error(client.post("/api/playground", json={"size": 3, "kernel": "box", "dilation": 3}), 400)
    _error(client.post("/api/playground", json={"size": 100}), 422)


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(explorer, monkeypatch):
    from fastapi.testclient import TestClient

    from cnnkit.serve.app import create_app

    monkeypatch.setattr(explorer, "model_json", lambda: 1 / 0)
    with TestClient(create_app(explorer, allowed_hosts=None), raise_server_exceptions=False) as c:
        assert "ZeroDivisionError" in _error(c.get("/api/model"), 500)


def test_requests_never_change_the_model(client, explorer):
    before = {k: v.clone() for k, v in explorer.model.state_dict().items()}
    client.post("/api/attack", json={"input": {"sample": 1}, "method": "pgd", "eps": 0.1})
    client.post("/api/explain", json={"input": {"sample": 1}, "method": "integrated_gradients"})
    client.post("/api/maximize", json={"layer": explorer.mapped[2].id, "channel": 0, "steps": 4})
    client.post("/api/unit", json={"input": {"sample": 1}, "layer": explorer.mapped[1].id, "channel": 0})
    after = explorer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not explorer.model.training
    assert all(not p.requires_grad or p.grad is None for p in explorer.model.parameters())
    assert not any(m._forward_hooks for m in explorer.model.modules())
