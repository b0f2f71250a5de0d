"""The lecture's operators against PyTorch's kernels, side by side in one run.

    python benchmarks/ops_speed.py [--repeats 5] [--threads 2]

  * conv2d forward + backward on a VGG-sized block (batch 32, 64 -> 64 channels, 32x32, 3x3,
    float32): cnnkit.ops.conv2d (hand-written backward) against torch.nn.functional.conv2d;
    target: within 2.0x of PyTorch's time.
  * max_pool2d forward + backward (batch 32, 64 channels, 32x32, 2x2): cnnkit.ops against F.
  * LeNet-5 training on Fashion-MNIST, one epoch: `--reference-ops` against native;
    target: within 2.0x.
  * LocallyConnected2d forward + backward (batch 32 and batch 1, 16 -> 16 channels, 16x16,
    3x3) against a loop over output positions, the obvious way to write an unshared layer;
    target: at least 20x.
Writes benchmarks/results/ops_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _common import environment, summary, write_result

import cnnkit.ops as ops
from cnnkit.layers import LocallyConnected2d
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit


def seconds(step: Callable[[], None], *, warmup: int = 3, runs: int = 10) -> float:
    """Median wall time of ``step`` over ``runs`` calls after ``warmup``."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def forward_backward(op: Callable[..., torch.Tensor], *inputs: torch.Tensor, **kwargs) -> Callable[[], None]:
    def step() -> None:
        for t in inputs:
            if isinstance(t, torch.Tensor):
                t.grad = None
        op(*inputs, **kwargs).sum().backward()

    return step


def conv_pair() -> tuple[float, float]:
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    w = (torch.randn(64, 64, 3, 3) * 0.05).requires_grad_()
    b = torch.zeros(64, requires_grad=True)
    ours = seconds(forward_backward(ops.conv2d, x, w, b, padding=1))
    theirs = seconds(forward_backward(F.conv2d, x, w, b, padding=1))
    return ours, theirs


def pool_pair() -> tuple[float, float]:
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    return seconds(forward_backward(ops.max_pool2d, x, 2)), seconds(forward_backward(F.max_pool2d, x, 2))


def lenet_pair(threads: int, seed: int) -> tuple[float, float]:
    """Images/s of one Fashion-MNIST epoch of LeNet-5, with --reference-ops and without."""
    speeds = []
    for reference in (True, False):
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig(model="lenet5", data="fashion-mnist", epochs=1, threads=threads, seed=seed,
                                 out=out, reference_ops=reference)
            speeds.append(read_metrics(fit(config, progress=False).run_dir)[0]["images_per_s"])
    return speeds[0], speeds[1]


def local_pair(batch: int) -> tuple[float, float]:
    """Forward + backward of LocallyConnected2d against the per-position loop, on one batch size."""
    torch.manual_seed(0)
    layer = LocallyConnected2d(16, 16, input_size=16, kernel_size=3, padding=1)
    x = torch.randn(batch, 16, 16, 16)
    assert torch.allclose(layer(x), local_loop(layer, x), atol=1e-4), "the two sides disagree"
    ours = seconds(forward_backward(layer, x.requires_grad_()))
    theirs = seconds(forward_backward(local_loop, layer, x), warmup=1, runs=3)
    return ours, theirs


def local_loop(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """The unshared layer written the obvious way: one small product per output position."""
    weight, bias = layer.weight, layer.bias                # (H_out, W_out, C_out, C_in, k, k), (C_out, H_out, W_out)
    k, pad = weight.shape[-1], (weight.shape[-1] - 1) // 2
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = []
    for i in range(weight.shape[0]):
        cols = []
        for j in range(weight.shape[1]):
            patch = padded[:, :, i : i + k, j : j + k]      # (N, C_in, k, k)
            cols.append(torch.einsum("ncij,ocij->no", patch, weight[i, j]) + bias[:, i, j])
        rows.append(torch.stack(cols, dim=-1))
    return torch.stack(rows, dim=-2)                       # (N, C_out, H_out, W_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-lenet", action="store_true", help="leave out the training comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    pairs = {"conv2d_fwd_bwd_s": [], "max_pool2d_fwd_bwd_s": [], "lenet5_images_per_s": [],
             "local2d_b32_fwd_bwd_s": [], "local2d_b1_fwd_bwd_s": []}
    for repeat in range(args.repeats):
        pairs["conv2d_fwd_bwd_s"].append(conv_pair())
        pairs["max_pool2d_fwd_bwd_s"].append(pool_pair())
        pairs["local2d_b32_fwd_bwd_s"].append(local_pair(32))
        pairs["local2d_b1_fwd_bwd_s"].append(local_pair(1))
        if not args.skip_lenet and repeat < 3:
            pairs["lenet5_images_per_s"].append(lenet_pair(args.threads, seed=repeat))
        print(f"repeat {repeat + 1}: " + "  ".join(f"{k} {v[-1][0]:.4g}/{v[-1][1]:.4g}" for k, v in pairs.items() if v),
              flush=True)

    result = {"benchmark": "ops_speed", "environment": environment()}
    rows = []
    for key, values in pairs.items():
        if not values:
            continue
        ours, theirs = [v[0] for v in values], [v[1] for v in values]
        # time: ours / theirs (lower is better); speed (images/s): theirs / ours; loop: theirs / ours
        if key == "lenet5_images_per_s":
            ratio = [t / o for o, t in zip(ours, theirs)]  # how many times slower than native
        elif key.startswith("local2d"):
            ratio = [t / o for o, t in zip(ours, theirs)]  # how many times faster than the loop
        else:
            ratio = [o / t for o, t in zip(ours, theirs)]  # how many times slower than PyTorch
        result[key] = {"cnnkit": summary(ours), "peer": summary(theirs), "ratio": summary(ratio)}
        rows.append((key, statistics.median(ours), statistics.median(theirs), statistics.median(ratio)))
    path = write_result("ops_speed", result)
    print(f"\n{'measure':<24}{'cnnkit':>12}{'peer':>12}{'ratio':>9}")
    for key, ours, theirs, ratio in rows:
        print(f"{key:<24}{ours:>12.4g}{theirs:>12.4g}{ratio:>8.2f}x")
    print("ratios: conv/pool = cnnkit time / PyTorch time (target <= 2.0); lenet5 = native speed / reference "
          "speed (target <= 2.0); local2d_* = loop time / cnnkit time (target >= 20)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
