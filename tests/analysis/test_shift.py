"""Shift invariance measured: shifts against a per-pixel loop, consistency against all pairs counted one by one,
a network invariant by construction (circular convolutions, global pooling) found invariant, and the command."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn

from cnnkit.analysis import ShiftResult, shift_consistency, shift_image
from cnnkit.errors import ConfigError


@pytest.mark.parametrize("mode", ["circular", "zeros"])
@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (2, -1), (-3, 4), (5, 5), (-7, 0)])
def test_shift_image_moves_every_pixel(mode: str, dy: int, dx: int) -> None:
    x = torch.rand(2, 3, 7, 6)
    out = shift_image(x, dy, dx, mode)
    expected = torch.zeros_like(x)
    for i, j in itertools.product(range(7), range(6)):
        si, sj = i - dy, j - dx  # where the pixel now at (i, j) came from
        if mode == "circular":
            expected[..., i, j] = x[..., si % 7, sj % 6]
        elif 0 <= si < 7 and 0 <= sj < 6:
            expected[..., i, j] = x[..., si, sj]
    assert torch.equal(out, expected)


def _result(predictions: torch.Tensor, labels: torch.Tensor) -> ShiftResult:
    s = predictions.shape[-1]
    return ShiftResult(mode="circular", shifts=tuple(range(-(s // 2), s // 2 + 1)), predictions=predictions,
                       true_prob=torch.rand(predictions.shape), labels=labels)


def test_measures_equal_brute_force_counts() -> None:
    generator = torch.Generator().manual_seed(0)
    predictions = torch.randint(0, 3, (6, 5, 5), generator=generator)
    labels = torch.randint(0, 3, (6,), generator=generator)
    result = _result(predictions, labels)
    pairs = same = flips = steps = 0
    for image in predictions:
        flat = image.flatten().tolist()
        for a, b in itertools.permutations(range(len(flat)), 2):
            pairs += 1
            same += flat[a] == flat[b]
        for i, j in itertools.product(range(5), range(5)):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < 5 and j + dj < 5:
                    steps += 1
                    flips += int(image[i, j] != image[i + di, j + dj])
    assert result.consistency == pytest.approx(same / pairs)
    assert result.flip_rate == pytest.approx(flips / steps)
    assert result.stable == sum(len(set(p.flatten().tolist())) == 1 for p in predictions) / 6
    assert torch.equal(result.accuracy, (predictions == labels[:, None, None]).float().mean(0))
    assert result.agreement[2, 2] == 1.0


class _CircularGlobalPool(nn.Module):
    """Circular convolutions, no subsampling, global average pooling: invariant to circular shifts by construction."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1, padding_mode="circular")
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((-2, -1)))


class _Subsampled(nn.Module):
    """Subsampling S_4, then two per-pixel features (bright, dark) and global pooling: invariant to circular shifts
    by multiples of 4 only, since each phase of the grid samples other pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sampled = x[:, :, ::4, ::4]
        return torch.stack([torch.relu(sampled - 0.5).mean((1, 2, 3)), torch.relu(0.5 - sampled).mean((1, 2, 3))], 1)


def test_an_invariant_network_is_found_invariant_and_a_subsampling_one_is_not() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(20, 1, 16, 16), torch.randint(0, 4, (20,))
    invariant = shift_consistency(_CircularGlobalPool(), x, y, max_shift=3, mode="circular")
    assert invariant.consistency == invariant.stable == 1.0 and invariant.flip_rate == 0.0
    assert invariant.jaggedness < 1e-5
    assert torch.allclose(invariant.accuracy, invariant.accuracy[3, 3].expand_as(invariant.accuracy))
    with pytest.raises(ConfigError, match="labels must be class indices from 0 to 1"):
        shift_consistency(_Subsampled(), x.double(), y, max_shift=4)
    broken = shift_consistency(_Subsampled(), x.double(), y % 2, max_shift=4, mode="circular")
    assert broken.consistency < 0.9 and broken.flip_rate > 0.1
    # a shift by the stride moves the sampled grid onto itself: the same class again
    for dy, dx in ((4, 4), (-4, 0), (0, 4)):
        assert torch.equal(broken.predictions[:, 4 + dy, 4 + dx], broken.predictions[:, 4, 4])


def test_bad_arguments_are_config_errors() -> None:
    model, x, y = _CircularGlobalPool(), torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ConfigError, match="max_shift must be an integer from 1 to 7"):
        shift_consistency(model, x, y, max_shift=8)
    with pytest.raises(ConfigError, match="shift mode must be one of circular, zeros"):
        shift_consistency(model, x, y, mode="reflect")
    with pytest.raises(ConfigError, match="one label per image"):
        shift_consistency(model, x, y[:1])


def test_the_command_compares_a_run_with_a_registered_model(digits_run, run_cli, capsys, tmp_path) -> None:
    out = tmp_path / "shift"
    code, stdout, err = run_cli(["analysis", "shift", str(digits_run), "lenet5", "--max-shift", "1", "--count", "40",
                                 "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    payload = json.loads((out / "shift.json").read_text())
    assert [(r["model"], r["mode"]) for r in payload["results"]] == [
        (digits_run.name, "circular"), (digits_run.name, "zeros"), ("lenet5", "circular"), ("lenet5", "zeros")]
    assert all(r["images"] == 40 and len(r["accuracy_grid"]) == 3 for r in payload["results"])
    assert (out / "shift.png").stat().st_size > 10_000 and "Shift invariance" in (out / "index.html").read_text()
    assert "consistency" in stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "reflect"], "--mode must be circular, zeros or both"),
    (["--max-shift", "-1"], "--max-shift"),
    (["--max-shift", "0"], "--max-shift"),
    (["--count", "0"], "--count"),
])
def test_the_command_refuses_bad_flags_in_one_line(digits_run, run_cli, capsys, args, message) -> None:
    code, _, err = run_cli(["analysis", "shift", str(digits_run), *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err
