"""Voxel networks: classification accuracy of 3D ShapeNets and VoxNet, completion IoU beside its two
baselines, time per shape, and the 3D convolutions' speed against the matmul peak of the same cores.

    .venv/bin/python benchmarks/voxels.py [--runs DIR] [--count 500] [--repeats 5]

  * Quality on held-out solids (seeds from 10^9; training draws below): top-1 accuracy of each
    classifier, and for completion the voxel IoU with the full shape of the network (p >= 0.5),
    of the voxels seen occupied alone, and of the column baseline (each seen surface extended to
    the fixed depth that scores best on the first 50 shapes). For the shipped models and every
    voxel run in ``--runs``.
  * Speed: milliseconds per shape at batch 1 and per shape at batch 32 (inference), the networks
    alternating over ``--repeats``; for 3D ShapeNets at the published width the multiply-adds
    of its convolutions, and the share of a float32 matmul's rate on the same threads they reach.
Writes benchmarks/results/voxels.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import environment, matmul_gmacs, summary, write_result

from cnnkit.apps.voxels.files import SHIPPED, open_voxel_model
from cnnkit.apps.voxels.task import evaluate_voxels, held_out_set
from cnnkit.models import create_model
from cnnkit.runs.format import ModelInfo

PUBLISHED = {  # ModelNet classification accuracy
    "3D ShapeNets (Wu et al., 2015), ModelNet40": 0.77, "3D ShapeNets, ModelNet10": 0.8354,
    "VoxNet (Maturana & Scherer, 2015), ModelNet40": 0.83, "VoxNet, ModelNet10": 0.92,
}


def conv_macs(network: torch.nn.Module, size: int, in_chans: int) -> int:
    """Multiply-adds of every Conv3d and ConvTranspose3d for one input of ``size``^3."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        kernel = module.weight.shape[2:].numel() * module.in_channels // module.groups
        if isinstance(module, torch.nn.ConvTranspose3d):
            total += inputs[0].numel() * module.out_channels * module.weight.shape[2:].numel()
        else:
            total += output.numel() * kernel

    handles = [m.register_forward_hook(hook) for m in network.modules()
               if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d))]
    with torch.no_grad():
        network.eval()(torch.zeros(1, in_chans, size, size, size))
    for h in handles:
        h.remove()
    return total


def speed(networks: dict[str, tuple[torch.nn.Module, int, int]], repeats: int) -> dict:
    out = {name: {"one": [], "batch": []} for name in networks}
    inputs = {name: (torch.zeros(1, c, s, s, s), torch.zeros(32, c, s, s, s)) for name, (_, s, c) in networks.items()}
    with torch.no_grad():
        for name, (net, _, _) in networks.items():
            net.eval()(inputs[name][0])
        for _ in range(repeats):
            for name, (net, _, _) in networks.items():
                one, batch = inputs[name]
                began = time.perf_counter()
                net(one)
                out[name]["one"].append(time.perf_counter() - began)
                began = time.perf_counter()
                net(batch)
                out[name]["batch"].append((time.perf_counter() - began) / 32)
    return {name: {"ms_per_shape_batch1": round(1000 * summary(r["one"])["median"], 2),
                   "ms_per_shape_batch32": round(1000 * summary(r["batch"])["median"], 2),
                   "one": summary(r["one"]), "batch": summary(r["batch"])} for name, r in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=None)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sources = {f"shipped {job}": (path, job) for job, path in SHIPPED.items() if (path / "model.json").is_file()}
    if args.runs is not None:
        for run in sorted(p for p in args.runs.iterdir() if (p / "model.json").is_file()):
            info = ModelInfo.from_file(run / "model.json")
            if info.task == "voxels":
                sources[run.name] = (run, info.task_options.get("job", "classify"))
    result: dict = {"environment": environment(), "published_modelnet": PUBLISHED, "count": args.count, "models": {}}
    sets = {}
    for name, (path, job) in sources.items():
        model = open_voxel_model(path, job)
        key = (job, model.size)
        if key not in sets:
            sets[key], _ = held_out_set(job, model.size, args.count)
        info = ModelInfo.from_file(path / "model.json")
        metrics = evaluate_voxels(model.network, sets[key], job).metrics
        result["models"][name] = {"architecture": info.architecture, "job": job, "kwargs": info.kwargs,
                                  "parameters": sum(p.numel() for p in model.network.parameters()),
                                  "training_seconds": info.training.get("seconds"),
                                  **{k: round(v, 4) for k, v in metrics.items()}}
        print(f"{name:18s} {info.architecture:24s} " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
              + f", trained {info.training.get('seconds')} s")
    networks = {"shapenets3d (published widths)": (create_model("shapenets3d"), 30, 1),
                "shapenets3d width 0.25": (create_model("shapenets3d", width=0.25), 30, 1),
                "voxnet": (create_model("voxnet"), 32, 1),
                "shapenets3d_completion width 0.2": (create_model("shapenets3d_completion", width=0.2), 30, 2)}
    result["speed"] = speed(networks, args.repeats)
    peak = matmul_gmacs(args.repeats)
    macs = conv_macs(networks["shapenets3d (published widths)"][0], 30, 1)
    conv_seconds = result["speed"]["shapenets3d (published widths)"]["batch"]["median"]
    result["peak"] = {"matmul_gmacs": round(peak, 1), "shapenets3d_conv_macs_per_shape": macs,
                      "shapenets3d_gmacs_at_batch32": round(macs / conv_seconds / 1e9, 1),
                      "share_of_matmul_peak": round(macs / conv_seconds / 1e9 / peak, 3)}
    for name, row in result["speed"].items():
        print(f"{name:34s} {row['ms_per_shape_batch1']:7.2f} ms per shape alone, {row['ms_per_shape_batch32']:7.2f} "
              "ms per shape in batches of 32")
    print(f"3D ShapeNets: {macs / 1e6:.0f}M conv multiply-adds per shape, {result['peak']['shapenets3d_gmacs_at_batch32']}"
          f" GMAC/s against a matmul's {peak:.1f}: {100 * result['peak']['share_of_matmul_peak']:.0f}% of peak")
    print(write_result("voxels", result))


if __name__ == "__main__":
    main()
