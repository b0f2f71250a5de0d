"""ONNX export: onnxruntime against PyTorch at other batch sizes, the graph's interface, metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from cnnkit import __version__
from cnnkit.errors import ConfigError, DataError
from cnnkit.interop import OnnxExport, export_onnx, read_onnx_metadata
from cnnkit.runs import ModelInfo, load_run

MODELS = {"lenet5": (1, 28), "resnet18": (3, 32)}  # name: (in_chans, input_size)


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request: pytest.FixtureRequest, untrained_run: Callable[..., Path]) -> tuple[Path, OnnxExport]:
    in_chans, size = MODELS[request.param]
    run_dir = untrained_run(request.param, in_chans=in_chans, input_size=size)
    return run_dir, export_onnx(run_dir)


def test_onnxruntime_equals_pytorch_at_other_batch_sizes(exported: tuple[Path, OnnxExport]) -> None:
    run_dir, result = exported
    run = load_run(run_dir)
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for batch in (1, 5):  # traced with a batch of 2: other sizes prove the batch dimension is dynamic
        x = torch.rand(batch, run.info.in_chans, run.info.input_size, run.info.input_size, generator=generator)
        (logits,) = session.run(["logits"], {"image": x.numpy()})
        with torch.no_grad():
            expected = run.model(x).numpy()  # pixels in [0, 1]: the normalisation must be in the graph
        assert logits.shape == (batch, 10)
        assert np.abs(logits - expected).max() < 1e-4


def test_graph_takes_images_and_returns_logits(exported: tuple[Path, OnnxExport]) -> None:
    run_dir, result = exported
    assert result.path == run_dir / "model.onnx"
    assert sorted(p.name for p in run_dir.iterdir()) == ["model.json", "model.onnx", "model.safetensors"]
    onnx.checker.check_model(str(result.path), full_check=True)
    proto = onnx.load(str(result.path))
    assert result.opset == next(o.version for o in proto.opset_import if o.domain == "") and result.opset >= 18
    (image,), (logits,) = proto.graph.input, proto.graph.output
    info = ModelInfo.from_file(run_dir / "model.json")
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch, *chw = image.type.tensor_type.shape.dim
    assert batch.dim_param and not batch.HasField("dim_value")
    assert [d.dim_value for d in chw] == [info.in_chans, info.input_size, info.input_size]
    assert logits.name == "logits" and logits.type.tensor_type.shape.dim[1].dim_value == 10


def test_metadata_round_trips(exported: tuple[Path, OnnxExport]) -> None:
    run_dir, result = exported
    info = ModelInfo.from_file(run_dir / "model.json")
    metadata = read_onnx_metadata(result.path)
    for key in ("architecture", "kwargs", "classes", "in_chans", "input_size", "mean", "std", "dataset"):
        assert metadata[key] == getattr(info, key), key
    assert metadata["cnnkit_version"] == __version__
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    runtime_view = session.get_modelmeta().custom_metadata_map  # what a user of onnxruntime alone sees
    assert json.loads(runtime_view["classes"]) == info.classes and runtime_view["architecture"] == info.architecture


def test_opset_out_of_range_fails_before_exporting(untrained_run: Callable[..., Path], tmp_path: Path) -> None:
    # Opsets the exporter can reach only by a conversion that fails are a CLI test (cnnkit export --opset 13).
    with pytest.raises(ConfigError, match="--opset must be between 1 and"):
        export_onnx(untrained_run("lenet5"), tmp_path / "new.onnx", opset=999)
    assert list(tmp_path.iterdir()) == []


def test_reading_metadata_of_a_file_that_is_not_onnx_says_so(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("not a model")
    with pytest.raises(DataError, match="cannot read .* as an ONNX model"):
        read_onnx_metadata(fake)


@pytest.mark.parametrize("size", [4, 5, 7, 8, 13])
@pytest.mark.parametrize("output", [1, 2, 3, (2, 5), (None, 3)])
def test_static_adaptive_pooling_equals_torch(size: int, output) -> None:
    from cnnkit.interop.onnx_export import StaticAdaptivePool2d

    x = torch.randn(2, 3, size, size + 2)
    for reduce, reference in (("max", torch.nn.AdaptiveMaxPool2d(output)), ("mean", torch.nn.AdaptiveAvgPool2d(output))):
        assert torch.allclose(StaticAdaptivePool2d(output, reduce)(x), reference(x), atol=1e-6), (reduce, output)


def test_a_network_with_adaptive_max_pooling_exports_and_matches(untrained_run: Callable[..., Path]) -> None:
    """FastNet on 8x8 digits pools a 4x4 map to a 3x3 grid with overlapping windows."""
    run_dir = untrained_run("fastnet", in_chans=1, input_size=8)
    export_onnx(run_dir)
    session = onnxruntime.InferenceSession(str(run_dir / "model.onnx"))
    images = torch.rand(5, 1, 8, 8)
    (logits,) = session.run(None, {"image": images.numpy()})
    with torch.no_grad():
        expected = load_run(run_dir).model(images).numpy()
    assert np.abs(logits - expected).max() < 1e-4


def test_an_operator_onnx_lacks_is_one_line(untrained_run: Callable[..., Path], monkeypatch) -> None:
    from cnnkit.errors import ExportError
    from cnnkit.interop import onnx_export

    monkeypatch.setattr(onnx_export, "exportable", lambda model: model)  # keep nn.AdaptiveMaxPool2d
    run_dir = untrained_run("fastnet", in_chans=1, input_size=8)
    with pytest.raises(ExportError, match="cannot export fastnet to ONNX: .*adaptive_max_pool2d") as info:
        export_onnx(run_dir)
    assert "\n" not in str(info.value)
    assert not (run_dir / "model.onnx").exists()
