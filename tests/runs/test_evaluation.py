"""Evaluation against scikit-learn's metrics on the same predictions."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from cnnkit.data.memory import MemoryDataset
from cnnkit.data.spec import DatasetSpec
from cnnkit.runs import evaluate


class _LookupModel(torch.nn.Module):
    """Returns fixed logits chosen by the first pixel, so the predictions are known in advance."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (x[:, 0, 0, 0] * 255).round().long()
        return self.logits[index]


def test_confusion_precision_recall_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    n, k = 200, 4
    labels = torch.from_numpy(rng.integers(0, k, n))
    images = torch.zeros(n, 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    logits = torch.from_numpy(rng.normal(size=(256, k))).float()
    spec = DatasetSpec(name="t", classes=tuple("abcd"), in_chans=1, image_size=(2, 2), mean=(0.5,), std=(0.5,),
                       hflip=False, crop_padding=0)
    result = evaluate(_LookupModel(logits), MemoryDataset(images, labels, spec), batch_size=37, keep_wrong=5)
    predicted = logits[:n].argmax(1).numpy()
    assert result.predictions.tolist() == predicted.tolist()
    np.testing.assert_array_equal(result.confusion.numpy(), confusion_matrix(labels, predicted, labels=range(k)))
    np.testing.assert_allclose(result.precision.numpy(), precision_score(labels, predicted, average=None, zero_division=0))
    np.testing.assert_allclose(result.recall.numpy(), recall_score(labels, predicted, average=None))
    assert result.accuracy == (predicted == labels.numpy()).mean()
    expected_loss = torch.nn.functional.cross_entropy(logits[:n], labels).item()
    assert abs(result.loss - expected_loss) < 1e-5
    wrong = np.flatnonzero(predicted != labels.numpy())[:5]
    assert result.wrong_true.tolist() == labels[wrong].tolist()
    assert result.wrong_images[:, 0, 0, 0].tolist() == wrong.tolist()
