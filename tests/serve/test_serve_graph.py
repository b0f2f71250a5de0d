"""The explorer's layer graph: summary's rows, and the edges of residual and inception blocks."""

from __future__ import annotations

import pytest

from cnnkit.analysis import summary
from cnnkit.runs.opening import open_model
from cnnkit.serve.graph import INPUT, layer_graph


def _graph(name: str, size: int, chans: int = 3):
    run = open_model(name, input_size=size, in_chans=chans)
    return run, layer_graph(run.model, size, chans)


def test_a_chain_reads_the_layer_before_it_and_matches_cnnkit_summary():
    run, layers = _graph("lenet5", 28, 1)
    rows = {row.name: row for row in summary(run.network, 28, in_chans=1).rows}
    assert layers[0].inputs == (INPUT,)
    for before, layer in zip(layers, layers[1:]):
        assert layer.inputs == (before.id,)
    for layer in layers:
        assert layer.shape == tuple(rows[layer.id].output_shape[1:])
        assert layer.parameters == rows[layer.id].parameters
    assert sum(layer.parameters for layer in layers) == sum(p.numel() for p in run.network.parameters())
    assert [layer.kind for layer in layers][:2] == ["conv", "activation"]


def test_a_residual_addition_reads_both_paths():
    _, layers = _graph("resnet18", 32)
    by_id = {layer.id: layer for layer in layers}
    # the first basic block: relu(bn2(conv2(...)) + identity), the identity being the max pool's output
    merged = [layer for layer in layers if len(layer.inputs) == 2]
    assert merged, "no layer reads a residual addition"
    first = merged[0]
    assert first.kind == "activation"
    assert (first.id, first.inputs) == ("layer1.0.relu#2", ("maxpool", "layer1.0.bn2"))
    # a downsampling block adds the projection shortcut's batch norm
    assert by_id["layer2.0.relu#2"].inputs == ("layer2.0.downsample.1", "layer2.0.bn2")
    assert all(source == INPUT or source in by_id for layer in layers for source in layer.inputs)


@pytest.mark.parametrize("name", ["googlenet"])
def test_an_inception_concatenation_reads_its_four_branches(name):
    _, layers = _graph(name, 64)
    assert max(len(layer.inputs) for layer in layers) == 4
    ids = [layer.id for layer in layers]
    # every source runs before the layer that reads it
    for k, layer in enumerate(layers):
        assert all(source == INPUT or ids.index(source) < k for source in layer.inputs)
