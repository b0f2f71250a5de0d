"""Speed of the model zoo at 224x224 against timm (or torchvision where timm lacks the network).

    python benchmarks/zoo_speed.py [--repeats 3] [--threads 2] [--models resnet18,...]

Forward (eval, inference mode) and forward+backward (train mode) images/s, batch 8,
float32, channels_last on both sides, alternating cnnkit and the peer in each repeat.
Each model's throughput is also given as multiply-adds per second (cnnkit.analysis's
GMACs x images/s) against the machine's measured float32 matmul peak.

timm and torchvision need a newer torch than cnnkit's pinned 2.13.0, so this runs in a
separate benchmark venv:  python -m venv /tmp/benchvenv &&
/tmp/benchvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm &&
/tmp/benchvenv/bin/pip install --no-deps -e . (plus cnnkit's other dependencies).
Writes benchmarks/results/zoo_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import environment, summary, write_result

from cnnkit.analysis import summary as model_summary
from cnnkit.models import create_model

# cnnkit name -> (library, peer name): the same architecture and parameter count
PEERS = {
    "alexnet": ("torchvision", "alexnet"),
    "vgg16": ("timm", "vgg16"),
    "googlenet": ("torchvision", "googlenet"),
    "resnet18": ("timm", "resnet18"),
    "resnet50": ("timm", "resnet50"),
    "coatnet_0": ("timm", "coatnet_0_224"),
}
BATCH = 8


def peer_model(library: str, name: str) -> torch.nn.Module:
    if library == "timm":
        import timm

        return timm.create_model(name, num_classes=1000)
    import torchvision

    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    return getattr(torchvision.models, name)(weights=None, **kwargs)


def images_per_s(model: torch.nn.Module, *, train: bool, runs: int) -> float:
    x = torch.randn(BATCH, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    model = model.to(memory_format=torch.channels_last).train(train)

    def step() -> None:
        if train:
            model.zero_grad(set_to_none=True)
            model(x).sum().backward()
        else:
            with torch.inference_mode():
                model(x)

    step()  # warm-up: oneDNN primitive creation, allocations
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return BATCH / statistics.median(times)


def matmul_peak_macs() -> float:
    """Measured float32 multiply-adds per second of a large matmul (the machine's practical peak)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    times = []
    for _ in range(5):
        began = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - began)
    return 2048**3 / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="timed steps per side and repeat")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", default=",".join(PEERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_macs()
    result = {"benchmark": "zoo_speed", "batch": BATCH, "matmul_peak_gmacs_per_s": peak / 1e9,
              "peers": {}, "environment": environment()}
    rows = []
    for name in args.models.split(","):
        library, peer_name = PEERS[name]
        torch.manual_seed(0)
        ours, theirs = create_model(name), peer_model(library, peer_name)
        gmacs = model_summary(create_model(name), 224).gmacs
        sides = {"fwd": ([], []), "fwd_bwd": ([], [])}
        for _ in range(args.repeats):
            for mode, (mine, peer) in sides.items():
                mine.append(images_per_s(ours, train=mode == "fwd_bwd", runs=args.runs))
                peer.append(images_per_s(theirs, train=mode == "fwd_bwd", runs=args.runs))
        entry = {"peer": f"{library}.{peer_name}", "gmacs": gmacs,
                 "parameters": sum(p.numel() for p in ours.parameters()),
                 "peer_parameters": sum(p.numel() for p in theirs.parameters())}
        for mode, (mine, peer) in sides.items():
            ratio = [a / b for a, b in zip(mine, peer)]
            entry[mode] = {"cnnkit_images_per_s": summary(mine), "peer_images_per_s": summary(peer),
                           "ratio": summary(ratio),
                           "cnnkit_macs_share_of_peak": statistics.median(mine) * gmacs * 1e9 * (3 if mode == "fwd_bwd" else 1) / peak}
            rows.append((name, entry["peer"], mode, statistics.median(mine), statistics.median(peer),
                         statistics.median(ratio), entry[mode]["cnnkit_macs_share_of_peak"]))
        result["peers"][name] = entry
        print(f"{name}: " + "  ".join(f"{r[2]} {r[3]:.1f}/{r[4]:.1f} img/s ({r[5]:.2f}x)" for r in rows[-2:]), flush=True)
    path = write_result("zoo_speed", result)
    print(f"\nmatmul peak: {peak / 1e9:.1f} GMAC/s (float32, {args.threads} threads)")
    print(f"{'model':<11}{'peer':<24}{'mode':<9}{'cnnkit img/s':>13}{'peer img/s':>12}{'ratio':>8}{'of peak':>9}")
    for name, peer, mode, mine, theirs, ratio, share in rows:
        print(f"{name:<11}{peer:<24}{mode:<9}{mine:>13.1f}{theirs:>12.1f}{ratio:>7.2f}x{share:>8.0%}")
    print("of peak: multiply-adds per second (forward+backward counted as 3x the forward) / matmul peak")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
