"""VOC XML and COCO JSON: written and read back, and each kind of bad file rejected with its file named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnkit.apps.detect.annotations import Annotation, read_coco, read_voc, read_voc_xml, write_coco, write_voc_xml
from cnnkit.errors import CorruptDataError

CLASSES = ("circle", "shirt", "square")


def _annotation(name="a.png"):
    return Annotation(Path(name), (60, 80), torch.tensor([[0.0, 0, 10, 20], [30.5, 12, 80, 60]]),
                      torch.tensor([2, 0]), torch.tensor([False, True]))


def test_voc_round_trip_and_split(tmp_path):
    root = tmp_path / "VOC2007"
    write_voc_xml(_annotation("000001.jpg"), root / "Annotations" / "000001.xml", CLASSES)
    write_voc_xml(_annotation("000002.jpg"), root / "Annotations" / "000002.xml", CLASSES)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "val.txt").write_text("000002\n")
    back = read_voc(root, "val", CLASSES)
    assert len(back) == 1 and back[0].image == root / "JPEGImages" / "000002.jpg"
    assert back[0].size == (60, 80)
    torch.testing.assert_close(back[0].boxes, _annotation().boxes)
    assert back[0].labels.tolist() == [2, 0] and back[0].difficult.tolist() == [False, True]
    assert len(read_voc(root, None, CLASSES)) == 2


def test_voc_boxes_are_one_based_inclusive_in_the_file(tmp_path):
    path = write_voc_xml(_annotation(), tmp_path / "a.xml", CLASSES)
    text = path.read_text()
    assert "<xmin>1</xmin>" in text and "<xmax>10</xmax>" in text and "<xmin>31.5</xmin>" in text


_GOOD_OBJECT = "<object><name>circle</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"


@pytest.mark.parametrize("body, problem", [
    ("<annotation><filename>a.png</filename><size><width>8</width><height>8</height>", "malformed XML"),
    ("<notes/>", "not <annotation>"),
    ("<annotation><filename>a.png</filename></annotation>", "missing <size>"),
    (f"<annotation><filename>a.png</filename><size><width>8</width><height>8</height></size>"
     f"{_GOOD_OBJECT.replace('circle', 'dragon')}</annotation>", "unknown class 'dragon'"),
    (f"<annotation><filename>a.png</filename><size><width>8</width><height>8</height></size>"
     f"{_GOOD_OBJECT.replace('<xmax>5', '<xmax>20')}</annotation>", "outside the 8x8 image"),
    (f"<annotation><filename>a.png</filename><size><width>8</width><height>8</height></size>"
     f"{_GOOD_OBJECT.replace('<xmax>5', '<xmax>0')}</annotation>", "zero area"),
    (f"<annotation><filename>a.png</filename><size><width>8</width><height>8</height></size>"
     f"{_GOOD_OBJECT.replace('<ymin>1', '<ymin>top')}</annotation>", "not a number"),
])
def test_bad_voc_files_name_the_file_and_the_problem(tmp_path, body, problem):
    path = tmp_path / "bad.xml"
    path.write_text(body)
    with pytest.raises(CorruptDataError, match=problem) as caught:
        read_voc_xml(path, CLASSES)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_coco_round_trip(tmp_path):
    path = write_coco([_annotation("a.png"), _annotation("b.png")], CLASSES, tmp_path / "instances.json")
    back, names = read_coco(path)
    assert names == CLASSES and [a.image.name for a in back] == ["a.png", "b.png"]
    torch.testing.assert_close(back[1].boxes, _annotation().boxes)
    assert back[1].labels.tolist() == [2, 0] and back[1].difficult.tolist() == [False, True]


def _coco(**changes):
    data = {"images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 10}],
            "categories": [{"id": 7, "name": "circle"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 4, 4]}]}
    data["annotations"][0].update(changes)
    return data


@pytest.mark.parametrize("data, problem", [
    ("{not json", "not valid JSON"),
    (json.dumps([1, 2]), "not a JSON object"),
    (json.dumps(_coco(category_id=3)), "unknown category_id 3"),
    (json.dumps(_coco(image_id=9)), "unknown image_id 9"),
    (json.dumps(_coco(bbox=[1, 1, 0, 4])), "zero area"),
    (json.dumps(_coco(bbox=[8, 1, 4, 4])), "outside the 10x10 image"),
    (json.dumps(_coco(bbox=[1, 1, 4])), "not \\[x, y, width, height\\]"),
    (json.dumps({"images": [], "annotations": []}), "missing 'categories'"),
])
def test_bad_coco_files_name_the_file_and_the_problem(tmp_path, data, problem):
    path = tmp_path / "instances.json"
    path.write_text(data)
    with pytest.raises(CorruptDataError, match=problem) as caught:
        read_coco(path)
    assert str(path) in str(caught.value)


def test_coco_category_ids_become_class_indices_in_id_order(tmp_path):
    data = _coco()
    data["categories"] = [{"id": 9, "name": "square"}, {"id": 7, "name": "circle"}]
    path = tmp_path / "i.json"
    path.write_text(json.dumps(data))
    back, names = read_coco(path)
    assert names == ("circle", "square") and back[0].labels.tolist() == [0]
    torch.testing.assert_close(back[0].boxes, torch.tensor([[1.0, 1, 5, 5]]))
