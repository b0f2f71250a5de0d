"""Optical flow: the shipped network against zero flow, iterative Lucas-Kanade and TV-L1 (its
defaults, and tuned) on the same pairs, the networks' speed, and the published figures beside.

    .venv/bin/python benchmarks/flow.py [--model RUN] [--pairs 64] [--repeats 5] [--runs DIR] [--reproduce]

  * Quality on held-out generated 128x128 pairs: seeds from 10^9 on (training draws below), the
    held-out photographs (chelsea, coffee, motorcycle) and Fashion-MNIST's test items; mean
    end-point error over the valid pixels, and over the occluded and the visible ones apart,
    per pair then averaged; milliseconds per pair for each method on the same pairs, one pair at
    a time (the network's includes padding and the copy back).
  * Quality on a real pair with ground truth: scikit-image's stereo motorcycle (Middlebury 2014)
    at a quarter and at half size, left to right view (flow = -disparity); TV-L1 is the yardstick
    of how far synthetic training carries to a real scene.
  * Speed of each flow architecture at 128x128, untrained (speed does not depend on the weights):
    parameters, milliseconds per pair in inference and per pair in a training step (batch 16,
    forward and backward), alternating the networks over the repeats.
  * With ``--runs DIR``: runs of 'cnnkit flow train --model flownets|flownetc' trained with the
    shipped recipe, measured like the shipped model (the field's move from FlowNet to PWC-Net).
  * ``--reproduce`` re-runs the command in weights/flow/reproduce.json at this checkout (the
    shipped model's whole training: about an hour) and compares the weights bit for bit.
Writes benchmarks/results/flow.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import environment, summary, write_result

from cnnkit.apps.flow.estimate import (CLASSICAL, TVL1_TUNED, compare_methods, flow_model_path, open_flow_model,
                                      shipped_flow_model)
from cnnkit.apps.flow.folders import motorcycle_pair
from cnnkit.apps.flow.networks import multiscale_epe
from cnnkit.apps.flow.task import FlowOptions, held_out_pairs
from cnnkit.models import create_model, list_models
from cnnkit.runs.format import ModelInfo

PUBLISHED = {  # average EPE on FlyingChairs' test split (maintained reproductions; RAFT: Teed & Deng, 2020)
    "FlowNetS (Dosovitskiy et al., 2015)": 2.03, "FlowNetC (Dosovitskiy et al., 2015)": 1.78,
    "RAFT (Teed & Deng, 2020)": 0.80,
}


def measured(network: torch.nn.Module | None, pairs: list) -> dict:
    result = compare_methods(network, pairs, methods=CLASSICAL)
    return {name: {"epe": {k: round(v, 4) for k, v in result.epe[name].items()},
                   "ms_per_pair": round(1000 * result.seconds[name], 2)} for name in result.epe}


def mean_true_flow(pairs: list) -> float:
    return float(torch.stack([p.flow.norm(dim=0)[p.valid].mean() for p in pairs]).mean())


def speed(repeats: int) -> dict:
    x1, x16 = torch.rand(1, 6, 128, 128), torch.rand(16, 6, 128, 128)
    truth = torch.randn(16, 2, 128, 128) * 3
    networks = {name: create_model(name) for name in list_models(task="flow")}
    infer: dict[str, list[float]] = {name: [] for name in networks}
    train: dict[str, list[float]] = {name: [] for name in networks}
    optimisers = {name: torch.optim.AdamW(net.parameters(), 1e-4) for name, net in networks.items()}

    def step(name: str) -> None:
        net = networks[name].train()
        with torch.autocast("cpu", torch.bfloat16):
            out = net(x16)
        loss = multiscale_epe(out, truth, units=net.units(len(out)))
        optimisers[name].zero_grad()
        loss.backward()
        optimisers[name].step()

    for name in networks:  # warm-up
        step(name)
        with torch.no_grad():
            networks[name].eval()(x1)
    for _ in range(repeats):
        for name, net in networks.items():
            began = time.perf_counter()
            step(name)
            train[name].append((time.perf_counter() - began) / 16)
            net.eval()
            began = time.perf_counter()
            with torch.no_grad():
                net(x1)
            infer[name].append(time.perf_counter() - began)
    return {name: {"parameters": sum(p.numel() for p in net.parameters()),
                   "kwargs": {"width": getattr(net, "width", None)},
                   "ms_per_pair_inference_fp32": round(1000 * summary(infer[name])["median"], 2),
                   "ms_per_pair_training_bf16": round(1000 * summary(train[name])["median"], 2),
                   "inference": summary(infer[name]), "training": summary(train[name])}
            for name, net in networks.items()}


def evaluate(network: torch.nn.Module, info: ModelInfo, count: int) -> dict:
    options = FlowOptions(size=info.input_size, test_pairs=count, items=info.task_options.get("items", "none"))
    pairs = held_out_pairs(options)
    out = {"pairs": count, "size": info.input_size, "mean_true_flow_px": round(mean_true_flow(pairs), 3),
           "held_out": measured(network, pairs), "real": {}}
    for downscale in (4, 2):
        pair = motorcycle_pair(downscale)
        out["real"][f"motorcycle 1/{downscale}"] = {
            "size": list(pair.image1.shape[-2:]), "mean_true_flow_px": round(mean_true_flow([pair]), 2),
            **measured(network, [pair])}
    return out


def print_quality(title: str, result: dict) -> None:
    print(f"{title}: {result['pairs']} held-out pairs at {result['size']}x{result['size']}, mean true flow "
          f"{result['mean_true_flow_px']} px")
    for name, row in result["held_out"].items():
        print(f"  {name:12s} EPE {row['epe']['all']:.3f} px (visible {row['epe']['visible']:.3f}, occluded "
              f"{row['epe']['occluded']:.3f}), {row['ms_per_pair']:8.1f} ms per pair")
    for pair, rows in result["real"].items():
        print(f"  {pair} ({rows['size'][1]}x{rows['size'][0]}, mean true flow {rows['mean_true_flow_px']} px): "
              + ", ".join(f"{m} {rows[m]['epe']['all']:.2f}" for m in rows if isinstance(rows[m], dict)
                          and "epe" in rows[m]))


def reproduce() -> dict:
    folder = shipped_flow_model()
    record = json.loads((folder / "reproduce.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        args = shlex.split(record["command"])[1:] + ["--out", tmp, "-q"]
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnnkit", *args], check=True)
        seconds = time.perf_counter() - began
        run = Path(tmp) / record["run_name"]
        same = (run / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    return {"command": record["command"], "commit": record["commit"], "seconds": round(seconds, 1),
            "bitwise_identical": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a run of 'cnnkit flow train' (default: the shipped model)")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=None)
    parser.add_argument("--reproduce", action="store_true")
    args = parser.parse_args()
    source = flow_model_path(args.model)
    network = open_flow_model(source)
    info = ModelInfo.from_file(source / "model.json")
    result: dict = {"environment": environment(), "published_chairs_epe": PUBLISHED, "tvl1_tuned": TVL1_TUNED,
                    "model": {"source": str(source), "architecture": info.architecture, "kwargs": info.kwargs,
                              "parameters": sum(p.numel() for p in network.parameters()),
                              "training_seconds": info.training.get("seconds")}}
    result["quality"] = evaluate(network, info, args.pairs)
    print_quality(f"{info.architecture} ({result['model']['parameters']:,} parameters, trained "
                  f"{result['model']['training_seconds']} s)", result["quality"])
    result["speed"] = speed(args.repeats)
    print("speed at 128x128 (untrained networks):")
    for name, row in result["speed"].items():
        print(f"  {name:10s} {row['parameters']:>11,} parameters, {row['ms_per_pair_inference_fp32']:7.1f} ms per pair "
              f"inference, {row['ms_per_pair_training_bf16']:7.1f} ms per pair training")
    if args.runs is not None:
        result["trained"] = {}
        for run in sorted(p for p in args.runs.iterdir() if (p / "model.json").is_file()):
            run_info = ModelInfo.from_file(run / "model.json")
            if run_info.task == "flow":
                result["trained"][run.name] = evaluate(open_flow_model(run), run_info, args.pairs)
                print_quality(f"{run.name} ({run_info.architecture})", result["trained"][run.name])
    if args.reproduce:
        result["reproduce"] = reproduce()
        print(result["reproduce"])
    print(write_result("flow", result))


if __name__ == "__main__":
    main()
