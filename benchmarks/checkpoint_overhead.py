"""What exact resume costs: training time with cnnkit's checkpoints against the same training
with none, and the cost of one checkpoint against the torch.save a user writes today.

    python benchmarks/checkpoint_overhead.py [--repeats 3] [--threads 2]

Three sides, alternated in each repeat, on Fashion-MNIST:
  * ``none``: checkpointing switched off (the Trainer's save is a no-op);
  * ``default``: what `cnnkit train` does (start, every epoch, every 30 s while under 2%);
  * ``every-50``: a checkpoint every 50 steps as well, the most a user is likely to ask for.
Training time is model.json's training.seconds (data loading, training, evaluation and
checkpoints; not the report). Each run also records the time spent inside its checkpoints,
which measures the overhead without the host's drift. The peer of one checkpoint is
``torch.save({"model", "optimizer", "epoch"})`` to a file (no RNG state, no fsync, a pickle).
Writes benchmarks/results/checkpoint_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import environment, summary, write_result

import cnnkit.train.trainer as trainer
from cnnkit.train import TrainConfig, fit
from cnnkit.train.checkpoint import save_checkpoint
from cnnkit.train.recipes import apply_recipe

SETUPS = {
    "lenet5": dict(model="lenet5", data="fashion-mnist", epochs=3),
    "fast": {**apply_recipe("fast"), "data": "fashion-mnist", "epochs": 3},
}


def timed_run(setup: str, mode: str, threads: int, seed: int) -> dict:
    """Train one setup with one checkpointing mode; returns its seconds and checkpoint cost."""
    values = {**SETUPS[setup], "threads": threads, "seed": seed}
    values["checkpoint_every"] = 50 if mode == "every-50" else None
    real_save = trainer.Trainer.save
    if mode == "none":
        trainer.Trainer.save = lambda self: None
    try:
        with tempfile.TemporaryDirectory() as out:
            run = fit(TrainConfig(**values, out=out, name="run"), progress=False)
            training = json.loads((run.run_dir / "model.json").read_text())["training"]
    finally:
        trainer.Trainer.save = real_save
    return {"seconds": training["seconds"], "checkpoints": training["checkpoints"],
            "checkpoint_seconds": training["checkpoint_seconds"]}


def one_checkpoint_each_way(threads: int) -> tuple[float, float, int]:
    """Seconds for one cnnkit checkpoint and one torch.save of LeNet-5 + SGD state (median of 20)."""
    torch.set_num_threads(threads)
    from cnnkit.models import create_model

    model = create_model("lenet5")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(8, 1, 28, 28)).sum().backward()
    optimizer.step()
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for _ in range(20):
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "torch": torch.get_rng_state(), "order": torch.Generator().get_state()}
            began = time.perf_counter()
            size = save_checkpoint(folder, state, {"epoch": 1})
            ours.append(time.perf_counter() - began)
            began = time.perf_counter()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1},
                       folder / "peer.pt")
            theirs.append(time.perf_counter() - began)
    return statistics.median(ours), statistics.median(theirs), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--setups", default="lenet5,fast")
    args = parser.parse_args()
    modes = ("none", "default", "every-50")
    result = {"benchmark": "checkpoint_overhead", "setups": {}, "environment": environment()}
    for setup in args.setups.split(","):
        timed_run(setup, "none", args.threads, seed=100)  # warm-up
        runs = {mode: [] for mode in modes}
        for repeat in range(args.repeats):
            for mode in modes:
                runs[mode].append(timed_run(setup, mode, args.threads, seed=repeat))
            print(f"{setup} repeat {repeat + 1}: " + "   ".join(
                f"{mode} {runs[mode][-1]['seconds']:.2f} s ({runs[mode][-1]['checkpoints']} ckpt, "
                f"{runs[mode][-1]['checkpoint_seconds']:.3f} s)" for mode in modes), flush=True)
        seconds = {mode: [r["seconds"] for r in runs[mode]] for mode in modes}
        entry = {f"{mode}_seconds": summary(seconds[mode]) for mode in modes}
        for mode in ("default", "every-50"):
            entry[f"{mode}_ratio"] = summary([a / b for a, b in zip(seconds[mode], seconds["none"])])
            entry[f"{mode}_checkpoint_share"] = summary(
                [r["checkpoint_seconds"] / r["seconds"] for r in runs[mode]])
            entry[f"{mode}_checkpoints"] = runs[mode][0]["checkpoints"]
        result["setups"][setup] = entry
    ours, theirs, size = one_checkpoint_each_way(args.threads)
    result["one_checkpoint"] = {"cnnkit_seconds": ours, "torch_save_seconds": theirs, "ratio": ours / theirs,
                                "cnnkit_bytes": size}
    result["target_share"] = 0.03
    path = write_result("checkpoint_overhead", result)

    print(f"\n{'setup':<8}{'mode':<10}{'median s':>10}{'vs none':>9}{'ckpts':>7}{'time in ckpts':>15}")
    for setup, entry in result["setups"].items():
        print(f"{setup:<8}{'none':<10}{entry['none_seconds']['median']:>10.2f}{'':>9}{0:>7}{'':>15}")
        for mode in ("default", "every-50"):
            print(f"{setup:<8}{mode:<10}{entry[f'{mode}_seconds']['median']:>10.2f}"
                  f"{entry[f'{mode}_ratio']['median']:>8.3f}x{entry[f'{mode}_checkpoints']:>7}"
                  f"{entry[f'{mode}_checkpoint_share']['median']:>14.2%}")
    print(f"one LeNet-5 checkpoint: cnnkit {ours * 1e3:.1f} ms ({size / 1e3:.0f} kB, fsync'd, RNG included) "
          f"vs torch.save {theirs * 1e3:.1f} ms: {ours / theirs:.2f}x")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
