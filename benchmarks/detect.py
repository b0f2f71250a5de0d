"""Detection: R-CNN and Fast R-CNN on held-out generated scenes, selective search's recall, seconds per
image in each stage, and the published figures beside.

    .venv/bin/python benchmarks/detect.py [--model RUN] [--runs DIR] [--count 200] [--repeats 3]

  * Quality on held-out 128x128 scenes: seeds from 10^9 on (training draws below), the held-out
    photographs (chelsea, coffee, motorcycle) and Fashion-MNIST's test items; VOC mAP at IoU 0.5
    (all-point and 11-point), COCO mAP@[.5:.95], AP per class: for the shipped detector and each
    detector run in ``--runs`` (e.g. 'cnnkit detect train --model fast_rcnn').
  * Proposals: selective search's recall at IoU 0.5 and 0.7 against the number of proposals on
    the same scenes, fast and quality modes, and its seconds per image.
  * Speed: seconds per image in each stage (proposals, warp, CNN, NMS) for R-CNN and Fast R-CNN on
    the same images and the same proposals, the two alternating over ``--repeats`` passes; the
    ratio of R-CNN's per-image time to Fast R-CNN's, with and without the shared proposal stage.
Writes benchmarks/results/detect.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import environment, summary, write_result

from cnnkit.apps.detect.files import detector_path, open_detector
from cnnkit.apps.detect.inference import StageTimes, detect_image
from cnnkit.apps.detect.metrics import GroundTruth, coco_average_precision, voc_average_precision
from cnnkit.apps.detect.networks import FastRCNN, RCNN
from cnnkit.apps.detect.proposals import proposal_recall, selective_search
from cnnkit.apps.detect.task import DetectOptions, scene_set
from cnnkit.runs.format import ModelInfo

PUBLISHED = {
    "R-CNN (Girshick et al., 2014), VOC 2012 test mAP@0.5": 0.533,
    "R-CNN seconds per image, GPU (VGG-16 era: AlexNet, Fast R-CNN paper's table)": 13.0,
    "R-CNN seconds per image, CPU": 53.0,
    "Fast R-CNN (Girshick, 2015), VOC 2007 test mAP@0.5": 0.669,
    "Fast R-CNN test-time speed-up over R-CNN, VGG-16, GPU": 213,
    "Selective search fast mode recall (Uijlings et al., 2013), VOC 2007, 2,134 boxes": 0.980,
}
COUNTS = (10, 30, 100, 300, 1000, 2000)


def quality(network: torch.nn.Module, test) -> dict:
    found = [detect_image(network, s.image, p) for s, p in zip(test.scenes, test.proposals)]
    truths = [GroundTruth(s.boxes, s.labels) for s in test.scenes]
    k = network.num_classes
    voc = voc_average_precision(found, truths, k)
    coco = coco_average_precision(found, truths, k)
    return {"map50_voc_all_point": round(float(np.nanmean(voc)), 4),
            "map50_voc_11_point": round(float(np.nanmean(voc_average_precision(found, truths, k, eleven_point=True))), 4),
            "map_coco": round(float(np.nanmean(coco)), 4), "map75_coco": round(float(np.nanmean(coco[5])), 4),
            "ap50_per_class": [round(float(v), 4) for v in voc]}


def proposals(test, repeats: int) -> dict:
    out = {}
    truths = [s.boxes for s in test.scenes]
    sample = test.scenes[:40]
    for mode in ("fast", "quality"):
        found = test.proposals if mode == "fast" else [selective_search(s.image, mode=mode) for s in sample]
        boxes = truths if mode == "fast" else [s.boxes for s in sample]
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            for scene in sample[:20]:
                selective_search(scene.image, mode=mode)
            seconds.append((time.perf_counter() - began) / 20)
        out[mode] = {"images": len(found), "proposals_per_image": round(float(np.mean([len(p) for p in found])), 1),
                     "recall_iou_0.5": {str(n): round(float(r), 4) for n, r in zip(COUNTS, proposal_recall(found, boxes, COUNTS))},
                     "recall_iou_0.7": {str(n): round(float(r), 4)
                                        for n, r in zip(COUNTS, proposal_recall(found, boxes, COUNTS, 0.7))},
                     "seconds_per_image": summary(seconds)}
    return out


def speed(networks: dict[str, torch.nn.Module], scenes: list, proposals: list, repeats: int) -> dict:
    """Seconds per image in each stage after the proposals, the networks alternating over ``repeats``."""
    times = {name: [] for name in networks}
    for name, net in networks.items():   # warm-up
        detect_image(net, scenes[0].image, proposals[0])
    for _ in range(repeats):
        for name, net in networks.items():
            stage = StageTimes()
            for scene, boxes in zip(scenes, proposals):
                detect_image(net, scene.image, boxes, times=stage)
            times[name].append(stage.per_image())
    return {name: {stage: summary([t[stage] for t in runs]) for stage in runs[0] if stage != "proposals"}
            for name, runs in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a run of 'cnnkit detect train' (default: the shipped one)")
    parser.add_argument("--runs", type=Path, default=None, help="a folder of detection runs to measure too")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sources = {"shipped" if args.model is None else Path(args.model).name: detector_path(args.model)}
    if args.runs is not None:
        sources.update({p.name: p for p in sorted(args.runs.iterdir()) if (p / "model.json").is_file()
                        and ModelInfo.from_file(p / "model.json").task == "detect"})
    detectors = {name: open_detector(path) for name, path in sources.items()}
    test = scene_set(DetectOptions(test_images=args.count), "test")
    result: dict = {"environment": environment(), "published": PUBLISHED, "scenes": args.count, "detectors": {}}
    for name, detector in detectors.items():
        info = ModelInfo.from_file(sources[name] / "model.json")
        row = {"architecture": info.architecture, "parameters": sum(p.numel() for p in detector.network.parameters()),
               "training_seconds": info.training.get("seconds"), **quality(detector.network, test)}
        result["detectors"][name] = row
        print(f"{name:12s} {row['architecture']:10s} mAP@0.5 {row['map50_voc_all_point']:.3f} (11-point "
              f"{row['map50_voc_11_point']:.3f}), COCO mAP {row['map_coco']:.3f}, trained {row['training_seconds']} s")
    result["proposals"] = proposals(test, args.repeats)
    for mode, row in result["proposals"].items():
        print(f"selective search {mode}: {row['proposals_per_image']} proposals, recall@0.5 {row['recall_iou_0.5']}, "
              f"{1000 * row['seconds_per_image']['median']:.0f} ms per image")
    # one R-CNN and one Fast R-CNN (the first of each kind), timed on the same images and proposals
    pair = {}
    for kind, cls in (("rcnn", RCNN), ("fast_rcnn", FastRCNN)):
        chosen = [n for n, d in detectors.items() if isinstance(d.network, cls)]
        pair[kind] = detectors[chosen[0]].network if chosen else cls()
    result["speed"] = {}
    sample = test.scenes[:40]
    for mode in ("fast", "quality"):
        boxes = test.proposals[:40] if mode == "fast" else [selective_search(s.image, mode=mode) for s in sample]
        stages = speed(pair, sample, boxes, args.repeats)
        proposal_seconds = result["proposals"][mode]["seconds_per_image"]["median"]
        totals = {k: sum(s["median"] for s in v.values()) for k, v in stages.items()}
        result["speed"][mode] = {
            "proposals_per_image": round(float(np.mean([len(b) for b in boxes])), 1),
            "seconds_per_image_by_stage": stages, "proposals_seconds_per_image": proposal_seconds,
            "speed_up_without_proposals": round(totals["rcnn"] / totals["fast_rcnn"], 2),
            "speed_up_with_proposals": round((totals["rcnn"] + proposal_seconds) / (totals["fast_rcnn"] + proposal_seconds), 2)}
        print(f"{mode} proposals ({result['speed'][mode]['proposals_per_image']} per image):")
        for kind, row in stages.items():
            print(f"  {kind:10s} " + ", ".join(f"{stage} {1000 * s['median']:.1f} ms" for stage, s in row.items())
                  + f" per image (+ proposals {1000 * proposal_seconds:.0f} ms)")
        print(f"  Fast R-CNN speed-up: {result['speed'][mode]['speed_up_without_proposals']}x after proposals, "
              f"{result['speed'][mode]['speed_up_with_proposals']}x with them")
    print(write_result("detect", result))


if __name__ == "__main__":
    main()
