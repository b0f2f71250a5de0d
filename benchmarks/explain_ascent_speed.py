"""Activation maximisation of many units: one batched call against one call per unit.

    python benchmarks/explain_ascent_speed.py [--run /work/runs/fm-lenet5] [--units 64] [--steps 50] [--repeats 3]

Both sides run the same shared loop (cnnkit.explain.synthesis.ascent) with the same config and seed, so
they compute the same images (checked below); the batched side makes one forward and backward
pass per step for all units, the sequential side one per unit per step. The peer is what a
user writes with a per-unit tool: a loop over units. Defaults: the Fashion-MNIST LeNet-5 run,
its 16-channel conv2 (``features.3``) with units cycling over the channels, 50 steps.
Writes benchmarks/results/explain_ascent_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import environment, summary, write_result

from cnnkit.explain.synthesis.ascent import AscentConfig
from cnnkit.explain.synthesis.maximization import maximize, unit_count
from cnnkit.runs import open_model


def batched(model: torch.nn.Module, layer: str, units: list[int], config: AscentConfig, size: int) -> torch.Tensor:
    return maximize(model, layer, units, config=config, input_size=size)


def sequential(model: torch.nn.Module, layer: str, units: list[int], config: AscentConfig, size: int) -> torch.Tensor:
    return torch.cat([maximize(model, layer, [u], config=config, input_size=size) for u in units])


def timed(fn, *args) -> tuple[float, torch.Tensor]:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="/work/runs/fm-lenet5", help="run directory or registered model name")
    parser.add_argument("--layer", default="features.3")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = open_model(args.run)
    model, size = run.model, run.info.input_size
    channels = unit_count(model, args.layer, size)
    units = [k % channels for k in range(args.units)]
    config = AscentConfig(steps=args.steps, lr=0.05, jitter=1, blur_every=4, blur_sigma=0.5)

    batched(model, args.layer, units[:2], AscentConfig(steps=2), size)  # warm-up
    ours, theirs, gap = [], [], 0.0
    for repeat in range(args.repeats):
        t_b, x_b = timed(batched, model, args.layer, units, config, size)
        t_s, x_s = timed(sequential, model, args.layer, units, config, size)
        gap = max(gap, float((x_b - x_s).abs().max()))
        ours.append(t_b)
        theirs.append(t_s)
        print(f"repeat {repeat + 1}: batched {t_b:.3f} s, sequential {t_s:.3f} s", flush=True)

    ratio = [t / o for o, t in zip(ours, theirs)]
    result = {
        "benchmark": "explain_ascent_speed",
        "environment": environment(),
        "setup": {"run": args.run, "layer": args.layer, "units": args.units, "steps": args.steps,
                  "input_size": size, "config": repr(config)},
        "seconds": {"cnnkit_batched": summary(ours), "peer_sequential": summary(theirs)},
        "speedup": summary(ratio),
        "max_abs_difference": gap,
    }
    path = write_result("explain_ascent_speed", result)
    print(f"\n{'measure':<34}{'batched':>10}{'sequential':>12}{'speed-up':>10}")
    print(f"{f'{args.units} units x {args.steps} steps (s)':<34}{statistics.median(ours):>10.3f}"
          f"{statistics.median(theirs):>12.3f}{statistics.median(ratio):>9.1f}x")
    print(f"largest pixel difference between the two sides: {gap:.2e}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
