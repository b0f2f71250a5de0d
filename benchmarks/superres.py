"""Super-resolution: the shipped models against bicubic and Lanczos on photographs they never saw,
the networks' speed against the machine's matmul peak, and the lecture's warning measured.

    .venv/bin/python benchmarks/superres.py [--repeats 5] [--runs /work/runs/sr] [--reproduce x4]

  * Quality: each shipped model (x2, x3, x4) on scikit-image's held-out photographs (chelsea,
    coffee, the left view of stereo_motorcycle; never in training), degraded by antialiased
    bicubic: mean PSNR and SSIM on Y with ``scale`` pixels shaved, for bicubic, Lanczos-3 and the
    network, as Dong et al. (2016) measure.
  * Speed: seconds per output megapixel of each network at x3 (a 256x256 low-resolution image,
    restored in one piece), alternating the networks over the repeats; multiply-adds per output
    pixel from torch's FLOP counter; their rate against a float32 matmul's (1024^3) on the same
    threads, the most this machine's convolutions could reach.
  * With ``--runs DIR`` (the runs the training commands in BENCHMARKS.md write): the fast
    network against SRCNN 9-5-5 trained with the same recipe, and the degradation matrix:
    models trained on bicubic, blur and JPEG inputs, each evaluated on all three.
  * ``--reproduce x4`` re-runs the command in weights/superres-x4/reproduce.json (minutes) and
    compares the weights with the shipped ones, bit for bit.
Writes benchmarks/results/superres.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import environment, matmul_gmacs, summary, write_result
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.apps.superres import bicubic, restore_luminance
from cnnkit.apps.superres.files import evaluate_sr
from cnnkit.apps.superres.models import SRModel, open_sr_model, shipped_models
from cnnkit.models import create_model, get_model_entry

SPEED_NETWORKS = ("srcnn_915", "srcnn_955", "fsrcnn", "espcn", "espcn_residual")
PAPER = {"Set5 x3": {"bicubic": 30.39, "SRCNN 9-5-5": 32.75}, "Set14 x3": {"bicubic": 27.54, "SRCNN 9-5-5": 29.30}}


def quality(model: SRModel, degradation: str | None = None) -> dict:
    result = evaluate_sr(model, degradation=degradation)
    return {
        "degradation": result.degradation,
        "photographs": result.names,
        "psnr": {m: round(result.mean("psnr", m), 3) for m in result.psnr},
        "ssim": {m: round(result.mean("ssim", m), 4) for m in result.ssim},
        "gain_over_bicubic": round(result.mean("psnr", "network") - result.mean("psnr", "bicubic"), 3),
        "per_photograph": {m: [round(v, 3) for v in vals] for m, vals in result.psnr.items()},
    }


def macs_per_output_pixel(network: torch.nn.Module, scale: int, side: int = 32) -> float:
    learns = getattr(network, "learns_upsampling", False)
    x = torch.zeros(1, 1, side, side) if learns else torch.zeros(1, 1, side * scale, side * scale)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        network(x)
    return counter.get_total_flops() / 2 / (side * scale) ** 2


def _network(name: str, scale: int) -> torch.nn.Module:
    """A fresh network (speed does not depend on the weights) at ``scale`` where it has one."""
    takes_scale = "scale" in inspect.signature(get_model_entry(name).constructor).parameters
    return (create_model(name, scale=scale) if takes_scale else create_model(name)).eval()


def speed(repeats: int) -> dict:
    scale, side = 3, 256
    lr = torch.rand(1, side, side)
    networks = {name: _network(name, scale) for name in SPEED_NETWORKS}
    times: dict[str, list[float]] = {name: [] for name in [*networks, "bicubic"]}
    for name, net in networks.items():  # warm-up
        restore_luminance(net, lr, scale, tile=side)
    for _ in range(repeats):
        for name, net in networks.items():
            began = time.perf_counter()
            restore_luminance(net, lr, scale, tile=side)
            times[name].append(time.perf_counter() - began)
        began = time.perf_counter()
        bicubic(lr[None], (side * scale, side * scale))
        times["bicubic"].append(time.perf_counter() - began)
    megapixels = (side * scale) ** 2 / 1e6
    peak = matmul_gmacs(repeats)
    rows = {}
    for name, values in times.items():
        seconds = summary(values)["median"] / megapixels
        row = {"seconds_per_output_megapixel": round(seconds, 4), "times": summary(values)}
        if name in networks:
            macs = macs_per_output_pixel(networks[name], scale)
            rate = macs * 1e6 / seconds / 1e9
            row.update(macs_per_output_pixel=round(macs), gmacs_per_s=round(rate, 2),
                       share_of_matmul_peak=round(rate / peak, 3),
                       parameters=sum(p.numel() for p in networks[name].parameters()))
        rows[name] = row
    return {"scale": scale, "input": f"{side}x{side}", "matmul_gmacs_per_s": round(peak, 1), "networks": rows,
            "espcn_residual_speedup_over_srcnn_955": round(
                rows["srcnn_955"]["seconds_per_output_megapixel"] / rows["espcn_residual"]["seconds_per_output_megapixel"], 2)}


def trained_comparisons(runs: Path) -> dict:
    out: dict = {}
    fast = open_sr_model(None, scale=3)
    if (runs / "srcnn_955-x3").is_dir():
        srcnn = open_sr_model(runs / "srcnn_955-x3")
        out["fast_vs_srcnn_955"] = {
            "espcn_residual (shipped)": quality(fast), "srcnn_955 (residual, same recipe)": quality(srcnn),
            "training_seconds": {"espcn_residual": fast.info.training.get("seconds"),
                                 "srcnn_955": srcnn.info.training.get("seconds")}}
    trained = {kind: runs / f"{kind}-x3" for kind in ("bicubic32", "blur", "jpeg")}
    if all(p.is_dir() for p in trained.values()):
        matrix = {}
        for kind, path in trained.items():
            model = open_sr_model(path)
            matrix[f"trained on {kind.removesuffix('32')}"] = {
                test: quality(model, degradation=test) for test in ("bicubic", "blur", "jpeg")}
        out["degradation_matrix"] = matrix
    return out


def reproduce(name: str) -> dict:
    """Re-run the shipped model's command at the current checkout and compare the weights."""
    folder = shipped_models()[f"superres-{name}"]
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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=None)
    parser.add_argument("--reproduce", choices=("x2", "x3", "x4"), default=None)
    args = parser.parse_args()
    result: dict = {"environment": environment(), "paper_x3": PAPER, "shipped": {}}
    for name in shipped_models():
        model = open_sr_model(name)
        result["shipped"][name] = {**quality(model), "architecture": model.info.architecture,
                                   "training_seconds": model.info.training.get("seconds")}
        q = result["shipped"][name]
        print(f"{name}: bicubic {q['psnr']['bicubic']:.2f} dB, Lanczos {q['psnr']['lanczos']:.2f} dB, "
              f"network {q['psnr']['network']:.2f} dB (gain {q['gain_over_bicubic']:+.2f} dB), "
              f"SSIM {q['ssim']['bicubic']:.4f} -> {q['ssim']['network']:.4f}")
    result["speed"] = speed(args.repeats)
    print(f"x3 on a 256x256 input; float32 matmul {result['speed']['matmul_gmacs_per_s']} GMAC/s")
    for name, row in result["speed"]["networks"].items():
        extra = (f", {row['macs_per_output_pixel']:>6,} MACs/px, {row['gmacs_per_s']:6.2f} GMAC/s = "
                 f"{row['share_of_matmul_peak']:.0%} of matmul" if "macs_per_output_pixel" in row else "")
        print(f"  {name:15s} {row['seconds_per_output_megapixel']:.4f} s per output megapixel{extra}")
    if args.runs is not None:
        result["trained"] = trained_comparisons(args.runs)
        print(json.dumps(result["trained"], indent=1)[:4000])
    if args.reproduce:
        result["reproduce"] = reproduce(args.reproduce)
        print(result["reproduce"])
    print(write_result("superres", result))


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
