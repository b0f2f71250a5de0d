"""R-CNN and Fast R-CNN through the one trainer: the warp against a brute-force crop, R-CNN's region
sampling, the multi-task loss against its definition, runs that train, resume bit for bit and reload."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnkit.apps.detect.boxes import box_iou, decode_boxes
from cnnkit.apps.detect.inference import detect_image, postprocess
from cnnkit.apps.detect.networks import FastRCNN, RCNN, context_boxes, warp_regions
from cnnkit.apps.detect.scenes import Scene
from cnnkit.apps.detect.task import DetectTask, sample_regions
from cnnkit.errors import TrainingInterrupted
from cnnkit.runs import read_metrics
from cnnkit.train import TrainConfig, fit, resume

BASE = dict(task="detect", data="scenes", model="rcnn", optimizer="adamw", lr=2e-3, weight_decay=5e-4,
            schedule="cosine", batch_size=4, epochs=2, threads=1, amp="off", channels_last=False,
            task_options={"train_images": 12, "test_images": 4, "items": "none"})


def test_context_padding_leaves_sixteen_of_227_pixels_each_side():
    box = torch.tensor([[10.0, 20, 205, 215]])   # 195 wide: the paper's 227 - 2 x 16
    assert context_boxes(box).tolist() == [[-6.0, 4.0, 221.0, 231.0]]


def test_warp_resamples_each_box_to_the_crop():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 40, 50, generator=g)
    rois = torch.tensor([[1.0, 10, 5, 30, 25], [0, 0, 0, 50, 40]])
    crops = warp_regions(images, rois, 10, context=False)
    # a box of 20 x 20 pixels to 10 x 10: bilinear at the centre of each 2 x 2 block is its mean
    torch.testing.assert_close(crops[0], F.avg_pool2d(images[1:, :, 5:25, 10:30], 2)[0])
    whole = F.interpolate(images[:1], size=(10, 10), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(crops[1], whole)


def test_sampling_keeps_the_quota_and_labels_by_overlap():
    g = torch.Generator().manual_seed(1)
    truth = Scene(torch.zeros(3, 64, 64), torch.tensor([[10.0, 10, 30, 30], [40, 40, 60, 60]]), torch.tensor([2, 4]))
    corners = torch.rand(300, 2, generator=g) * 50
    proposals = torch.cat([corners, corners + 6 + torch.rand(300, 2, generator=g) * 20], 1)
    near = truth.boxes.repeat(10, 1) + torch.randn(20, 4, generator=g)   # 20 more proposals on the objects
    rois, labels, targets = sample_regions([torch.cat([proposals, near])], [truth], 64, 0.25, g)
    assert len(rois) == 64 and int((labels > 0).sum()) == 16
    few = sample_regions([proposals[:50]], [truth], 64, 0.25, g)[1]   # fewer positives than the quota: all of them
    assert int((few > 0).sum()) == int((box_iou(torch.cat([truth.boxes, proposals[:50]]), truth.boxes).max(1).values >= 0.5).sum())
    iou, match = box_iou(rois[:, 1:], truth.boxes).max(1)
    assert ((iou >= 0.5) == (labels > 0)).all()
    assert (labels[labels > 0] == truth.labels[match[labels > 0]] + 1).all()
    torch.testing.assert_close(decode_boxes(rois[labels > 0, 1:], targets[labels > 0]), truth.boxes[match[labels > 0]])
    assert (targets[labels == 0] == 0).all()


def test_the_loss_is_cross_entropy_plus_smooth_l1_of_the_true_class():
    task = DetectTask(TrainConfig(**BASE))
    logits = torch.randn(5, 7)
    deltas = torch.randn(5, 6, 4)
    labels = torch.tensor([0, 3, 0, 1, 6])
    targets = torch.randn(5, 4)
    expected = F.cross_entropy(logits, labels) + sum(
        F.smooth_l1_loss(deltas[i, labels[i] - 1], targets[i], reduction="sum") for i in (1, 3, 4)) / 5
    torch.testing.assert_close(task.loss(None, (logits, deltas), (labels, targets)), expected)


def test_postprocess_keeps_each_class_apart_and_decodes_boxes():
    proposals = torch.tensor([[10.0, 10, 30, 30], [11, 11, 31, 31], [50, 50, 70, 70]])
    logits = torch.full((3, 3), -10.0)
    logits[0, 1] = logits[1, 1] = 5   # two overlapping class-0 detections: NMS keeps one
    logits[2, 2] = 5                  # one of class 1
    found = postprocess(proposals, logits, torch.zeros(3, 2, 4), (100, 100))
    assert sorted(found.labels.tolist()) == [0, 1]
    assert found.boxes.tolist()[found.labels.tolist().index(1)] == [50.0, 50, 70, 70]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return fit(TrainConfig(**BASE, out=str(tmp_path_factory.mktemp("detect")), name="ref"), progress=False).run_dir


def test_a_detection_run_trains_and_reloads(reference):
    info = json.loads((reference / "model.json").read_text())
    assert info["task"] == "detect" and info["architecture"] == "rcnn" and len(info["classes"]) == 6
    last = read_metrics(reference)[-1]
    assert {"train_loss", "train_acc", "test_map50", "test_map", "test_map75"} <= set(last)
    assert "Held-out scenes" in (reference / "report.html").read_text()
    assert (reference / "examples.png").is_file() and (reference / "precision_recall.png").is_file()
    from cnnkit.runs import load_run

    network = load_run(reference).network
    found = detect_image(network, torch.rand(3, 64, 80), torch.tensor([[5.0, 5, 40, 40], [20, 10, 70, 60]]))
    assert found.boxes.shape[1] == 4 and len(found.scores) == len(found.labels)


def test_a_stopped_detection_run_resumes_to_the_same_weights(reference, tmp_path, sigterm_at_step):
    with sigterm_at_step(4), pytest.raises(TrainingInterrupted):  # mid second epoch (3 steps an epoch)
        fit(TrainConfig(**BASE, out=str(tmp_path), name="run", checkpoint_every=0), progress=False)
    result = resume(tmp_path / "run", progress=False)
    assert (result.run_dir / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()


def test_fast_rcnn_and_rcnn_share_the_backbone_and_the_heads():
    fast, slow = FastRCNN(), RCNN()
    assert [(n, p.shape) for n, p in fast.named_parameters()] == [(n, p.shape) for n, p in slow.named_parameters()]
    assert fast((torch.rand(2, 3, 64, 64), torch.tensor([[1.0, 0, 0, 30, 30]])))[0].shape == (1, 7)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    from PIL import Image

    from cnnkit.apps.detect.scenes import make_scene

    folder = tmp_path_factory.mktemp("pictures")
    photo = [torch.nn.functional.avg_pool2d(torch.rand(1, 3, 100, 120, generator=torch.Generator().manual_seed(3)),
                                            5, 1, 2)[0]]
    paths = {}
    for name, seed in (("a", 1), ("b", 2)):
        scene = make_scene(seed, photo, None)
        Image.fromarray((scene.image.permute(1, 2, 0) * 255).round().byte().numpy()).save(folder / f"{name}.png")
        paths[name] = folder / f"{name}.png"
    Image.fromarray(np.zeros((20, 20), dtype=np.uint8)).save(folder / "grey.png")
    paths["grey"] = folder / "grey.png"
    (folder / "notes.png").write_text("not an image")
    paths["broken"] = folder / "notes.png"
    return paths


def test_cnnkit_detect_draws_boxes_and_prints_json(reference, pictures, tmp_path, run_cli, capfd):
    from cnnkit.apps.detect.files import detect_file, open_detector

    code, out, err = run_cli(["detect", str(pictures["a"]), "--model", str(reference), "-o", str(tmp_path / "a.png"),
                              "--json", "--threshold", "0.2"], capfd)
    assert code == 0, err
    record = json.loads(out)
    _, expected = detect_file(open_detector(reference), pictures["a"], threshold=0.2)
    assert [d["score"] for d in record[0]["detections"]] == [round(s, 4) for s in expected.scores.tolist()]
    assert (tmp_path / "a.png").is_file()
    code, out, err = run_cli(["detect", str(pictures["a"]), str(pictures["grey"]), "--model", str(reference),
                              "-o", str(tmp_path / "many")], capfd)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["a-detections.png", "grey-detections.png"]


@pytest.mark.parametrize("extra, message", [
    (["{broken}"], "notes.png"),
    (["{a}", "--threshold", "2"], "--threshold"),
    (["{a}", "{b}", "-o", "{out}/x.png"], "names a folder"),
])
def test_cnnkit_detect_bad_input_is_one_line(reference, pictures, tmp_path, run_cli, capfd, extra, message):
    args = [a.format(**pictures, out=tmp_path) for a in extra]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "x.png")]
    code, _, err = run_cli(["detect", *args, "--model", str(reference)], capfd)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_cnnkit_detect_eval_reports_map_recall_and_stage_times(reference, tmp_path, run_cli, capfd):
    code, out, err = run_cli(["detect", "eval", str(reference), "--count", "3", "-o", str(tmp_path / "e")], capfd)
    assert code == 0, err
    result = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert 0 <= result["map50_voc_all_point"] <= 1 and 0 <= result["map_coco"] <= result["map50_voc_all_point"] + 1e-9
    assert set(result["seconds_per_image"]) == {"proposals", "warp", "cnn", "nms"}
    assert (tmp_path / "e" / "precision_recall.png").is_file() and (tmp_path / "e" / "example-0.png").is_file()


@pytest.fixture(scope="module")
def annotated(pictures, tmp_path_factory):
    """Four scenes saved as a PASCAL VOC folder and as a COCO file over the same images."""
    from PIL import Image

    from cnnkit.apps.detect.annotations import Annotation, write_coco, write_voc_xml
    from cnnkit.apps.detect.scenes import CLASSES, make_scene

    root = tmp_path_factory.mktemp("voc") / "VOC2007"
    (root / "JPEGImages").mkdir(parents=True)
    photo = [torch.nn.functional.avg_pool2d(torch.rand(1, 3, 100, 120, generator=torch.Generator().manual_seed(4)),
                                            5, 1, 2)[0]]
    annotations = []
    for i in range(4):
        scene = make_scene(50 + i, photo, None)
        path = root / "JPEGImages" / f"{i:06d}.png"
        Image.fromarray((scene.image.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
        annotation = Annotation(path, (128, 128), scene.boxes, scene.labels, torch.zeros(len(scene.labels), dtype=torch.bool))
        write_voc_xml(annotation, root / "Annotations" / f"{i:06d}.xml", CLASSES)
        annotations.append(annotation)
    write_coco(annotations, CLASSES, root / "instances.json")
    return root


def test_cnnkit_detect_eval_on_voc_and_coco_files_agrees_with_a_direct_measurement(reference, annotated, tmp_path,
                                                                                  run_cli, capfd):
    from cnnkit.apps.detect.files import open_detector, read_rgb
    from cnnkit.apps.detect.metrics import GroundTruth, voc_average_precision
    from cnnkit.apps.detect.proposals import selective_search

    code, _, err = run_cli(["detect", "eval", str(reference), "--data", str(annotated), "-o", str(tmp_path / "v")], capfd)
    assert code == 0, err
    code, _, err = run_cli(["detect", "eval", str(reference), "--data", str(annotated / "instances.json"), "--images",
                            str(annotated / "JPEGImages"), "-o", str(tmp_path / "c")], capfd)
    assert code == 0, err
    voc = json.loads((tmp_path / "v" / "eval.json").read_text())
    coco = json.loads((tmp_path / "c" / "eval.json").read_text())
    assert voc["images"] == 4 and voc["map50_voc_all_point"] == coco["map50_voc_all_point"]
    assert voc["map_coco"] == coco["map_coco"] and (tmp_path / "v" / "proposal_recall.png").is_file()
    detector = open_detector(reference)
    images = [read_rgb(p) for p in sorted((annotated / "JPEGImages").iterdir())]
    from cnnkit.apps.detect.annotations import read_voc

    truths = [GroundTruth(a.boxes, a.labels) for a in read_voc(annotated, None, tuple(detector.classes))]
    found = [detect_image(detector.network, image, selective_search(image)) for image in images]
    direct = voc_average_precision(found, truths, len(detector.classes))
    assert voc["map50_voc_all_point"] == pytest.approx(float(np.nanmean(direct)), abs=1e-12)


@pytest.mark.parametrize("damage, message", [
    ("class", "unknown class 'dragon'"),
    ("size", "annotation says"),
    ("image", "000001.png"),
])
def test_cnnkit_detect_eval_bad_annotations_are_one_line(reference, annotated, tmp_path, run_cli, capfd, damage,
                                                        message):
    import shutil

    root = tmp_path / "VOC2007"
    shutil.copytree(annotated, root)
    xml = root / "Annotations" / "000001.xml"
    if damage == "class":
        text = xml.read_text()
        start = text.index("<name>") + len("<name>")
        xml.write_text(text[:start] + "dragon" + text[text.index("</name>"):])
    elif damage == "size":
        xml.write_text(xml.read_text().replace("<width>128</width>", "<width>130</width>"))
    else:
        (root / "JPEGImages" / "000001.png").write_text("not an image")
    code, _, err = run_cli(["detect", "eval", str(reference), "--data", str(root), "-o", str(tmp_path / "e")], capfd)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "e").exists()


def test_cnnkit_detect_train_on_a_voc_folder_learns_its_classes(annotated, tmp_path, run_cli, capfd):
    from cnnkit.apps.detect.annotations import read_voc
    from cnnkit.apps.detect.scenes import CLASSES

    used = sorted({CLASSES[int(label)] for a in read_voc(annotated, None, CLASSES) for label in a.labels})
    code, out, err = run_cli(["detect", "train", "--data", str(annotated), "--test-fraction", "0.25", "--epochs", "1",
                              "--threads", "1", "--out", str(tmp_path), "--name", "voc", "-q"], capfd)
    assert code == 0, err
    info = json.loads((tmp_path / "voc" / "model.json").read_text())
    assert info["classes"] == used and info["kwargs"]["num_classes"] == len(used)
    assert "annotated images" in (tmp_path / "voc" / "report.html").read_text()
    code, _, err = run_cli(["detect", "eval", str(tmp_path / "voc"), "--data", str(annotated), "-o", str(tmp_path / "e")],
                           capfd)
    assert code == 0, err
    code, _, err = run_cli(["detect", "eval", str(tmp_path / "voc"), "-o", str(tmp_path / "scenes")], capfd)
    assert code == 2 and "--data" in err and not (tmp_path / "scenes").exists()


def test_cnnkit_detect_train_refuses_scene_options_with_data(annotated, tmp_path, run_cli, capfd):
    code, _, err = run_cli(["detect", "train", "--data", str(annotated), "--images", "10", "--out", str(tmp_path)], capfd)
    assert code == 2 and "--images applies to generated scenes" in err and list(tmp_path.iterdir()) == []


def test_two_processes_under_torchrun_train_one_detector(annotated, tmp_path, torchrun_two_processes):
    args = ["detect", "train", "--data", str(annotated), "--test-fraction", "0.25", "--epochs", "1",
            "--batch-size", "2", "--threads", "1", "--out", str(tmp_path), "--name", "ddp", "-q"]
    training = torchrun_two_processes(args, tmp_path / "ddp")
    assert training["processes"] == 2 and len(set(training["weights_sha256"])) == 1


def test_cnnkit_report_rebuilds_a_detection_report(reference, tmp_path):
    import shutil

    from cnnkit.train.report import rebuild_report

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    (copy / "report.html").unlink()
    (copy / "examples.png").unlink()
    rebuild_report(copy, device="cpu")
    assert "Held-out scenes" in (copy / "report.html").read_text() and (copy / "examples.png").is_file()
