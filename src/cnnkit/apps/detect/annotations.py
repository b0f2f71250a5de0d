"""Detection annotations in the two layouts the field uses: PASCAL VOC (one XML file per image under
Annotations/, images under JPEGImages/, splits under ImageSets/Main/) and COCO (one JSON file with
images, categories and annotations). Read with every field checked, so a bad file fails with one
line naming the file and the problem; written atomically (the tests and ``cnnkit detect`` export).

Boxes come out as (x1, y1, x2, y2) in continuous pixels (see boxes.py): VOC's 1-based inclusive
corners lose one pixel at the top left (x1 = xmin - 1), COCO's [x, y, w, h] become [x, y, x + w, y + h].
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import CorruptDataError, MissingDataError

__all__ = ["Annotation", "VOC_CLASSES", "read_voc_xml", "read_voc", "write_voc_xml", "read_coco", "write_coco",
           "read_annotated", "voc_class_names"]

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


@dataclass
class Annotation:
    """One image's objects: boxes (G, 4) float32, labels (G,) indices into the class list, ``difficult``
    (G,) boxes that evaluation ignores (VOC's difficult, COCO's crowds), the image's (height, width)."""

    image: Path
    size: tuple[int, int]
    boxes: Tensor
    labels: Tensor
    difficult: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))


def _checked_box(where: str, box: list[float], size: tuple[int, int]) -> list[float]:
    """A box inside the image with positive area, or CorruptDataError naming ``where``."""
    if not all(math.isfinite(v) for v in box):
        raise CorruptDataError(f"{where}: box {box} is not four finite numbers")
    x1, y1, x2, y2 = box
    height, width = size
    if x2 <= x1 or y2 <= y1:
        raise CorruptDataError(f"{where}: box {box} has zero area")
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise CorruptDataError(f"{where}: box {box} lies outside the {width}x{height} image")
    return box


def _annotation(image: Path, size: tuple[int, int], objects: list[tuple[list[float], int, bool]]) -> Annotation:
    boxes = torch.tensor([o[0] for o in objects], dtype=torch.float32).reshape(-1, 4)
    return Annotation(image, size, boxes, torch.tensor([o[1] for o in objects], dtype=torch.long),
                      torch.tensor([o[2] for o in objects], dtype=torch.bool))


def _text(node: ElementTree.Element, tag: str, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise CorruptDataError(f"{where}: missing <{tag}>")
    return child.text.strip()


def _number(node: ElementTree.Element, tag: str, where: str) -> float:
    text = _text(node, tag, where)
    try:
        return float(text)
    except ValueError:
        raise CorruptDataError(f"{where}: <{tag}> is {text!r}, not a number") from None


def read_voc_xml(path: str | Path, classes: tuple[str, ...] = VOC_CLASSES, image_dir: str | Path | None = None
                 ) -> Annotation:
    """One VOC annotation file; ``image_dir`` (default: JPEGImages beside Annotations/) holds its image."""
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise CorruptDataError(f"{path}: malformed XML ({error})") from None
    except OSError as error:
        raise MissingDataError(f"{path}: cannot read ({error.strerror})") from None
    if root.tag != "annotation":
        raise CorruptDataError(f"{path}: the root element is <{root.tag}>, not <annotation>")
    size_node = root.find("size")
    if size_node is None:
        raise CorruptDataError(f"{path}: missing <size>")
    width, height = _number(size_node, "width", str(path)), _number(size_node, "height", str(path))
    if not (width >= 1 and height >= 1 and width == int(width) and height == int(height)):
        raise CorruptDataError(f"{path}: image size {width}x{height} is not two positive integers")
    size = (int(height), int(width))
    objects = []
    for k, node in enumerate(root.findall("object")):
        where = f"{path}: object {k + 1}"
        name = _text(node, "name", where)
        if name not in classes:
            raise CorruptDataError(f"{where}: unknown class {name!r} (known: {', '.join(classes)})")
        box_node = node.find("bndbox")
        if box_node is None:
            raise CorruptDataError(f"{where}: missing <bndbox>")
        xmin, ymin, xmax, ymax = (_number(box_node, t, where) for t in ("xmin", "ymin", "xmax", "ymax"))
        box = _checked_box(where, [xmin - 1, ymin - 1, xmax, ymax], size)
        difficult = node.find("difficult") is not None and _text(node, "difficult", where) == "1"
        objects.append((box, classes.index(name), difficult))
    folder = Path(image_dir) if image_dir is not None else path.parent.parent / "JPEGImages"
    return _annotation(folder / _text(root, "filename", str(path)), size, objects)


def read_voc(root: str | Path, split: str | None = None, classes: tuple[str, ...] = VOC_CLASSES) -> list[Annotation]:
    """A VOC year folder (VOCdevkit/VOC2007: Annotations/, JPEGImages/, ImageSets/Main/SPLIT.txt); every
    annotation when ``split`` is None."""
    root = Path(root)
    folder = root / "Annotations"
    if not folder.is_dir():
        raise MissingDataError(f"{root}: not a PASCAL VOC folder (no Annotations/)")
    if split is None:
        return [read_voc_xml(p, classes) for p in sorted(folder.glob("*.xml"))]
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        raise MissingDataError(f"{listing}: no such split file")
    names = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
    return [read_voc_xml(folder / f"{name}.xml", classes) for name in names]


def write_voc_xml(annotation: Annotation, path: str | Path, classes: tuple[str, ...] = VOC_CLASSES) -> Path:
    """The VOC XML file of ``annotation`` (boxes written back to 1-based inclusive corners)."""
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "filename").text = annotation.image.name
    size = ElementTree.SubElement(root, "size")
    for tag, value in (("width", annotation.size[1]), ("height", annotation.size[0]), ("depth", 3)):
        ElementTree.SubElement(size, tag).text = str(value)
    for box, label, difficult in zip(annotation.boxes.tolist(), annotation.labels.tolist(),
                                     annotation.difficult.tolist()):
        node = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(node, "name").text = classes[label]
        ElementTree.SubElement(node, "difficult").text = str(int(difficult))
        bndbox = ElementTree.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), (box[0] + 1, box[1] + 1, box[2], box[3])):
            ElementTree.SubElement(bndbox, tag).text = f"{value:g}"
    ElementTree.indent(root)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, ElementTree.tostring(root, encoding="unicode") + "\n")


def _field(record: dict, key: str, kind: type | tuple[type, ...], where: str):
    if not isinstance(record, dict) or key not in record:
        raise CorruptDataError(f"{where}: missing {key!r}")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorruptDataError(f"{where}: {key!r} is {value!r}")
    return value


def read_coco(path: str | Path, image_dir: str | Path | None = None) -> tuple[list[Annotation], tuple[str, ...]]:
    """A COCO instances file: one Annotation per image (in the file's order) and the class names, in the
    order of their category ids. Crowd annotations are kept as ``difficult`` (COCO's evaluation ignores them)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise MissingDataError(f"{path}: cannot read ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptDataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path}: the top level is not a JSON object")
    where = str(path)
    categories = sorted(_field(data, "categories", list, where), key=lambda c: _field(c, "id", int, f"{where}: category"))
    ids = {c["id"]: k for k, c in enumerate(categories)}
    names = tuple(str(_field(c, "name", str, f"{where}: category {c['id']}")) for c in categories)
    folder = Path(image_dir) if image_dir is not None else path.parent
    images: dict[int, tuple[Path, tuple[int, int]]] = {}
    for record in _field(data, "images", list, where):
        image_id = _field(record, "id", int, f"{where}: image")
        at = f"{where}: image {image_id}"
        images[image_id] = (folder / _field(record, "file_name", str, at),
                            (_field(record, "height", int, at), _field(record, "width", int, at)))
    objects: dict[int, list[tuple[list[float], int, bool]]] = {i: [] for i in images}
    for record in _field(data, "annotations", list, where):
        at = f"{where}: annotation {record.get('id', '?') if isinstance(record, dict) else '?'}"
        image_id = _field(record, "image_id", int, at)
        if image_id not in images:
            raise CorruptDataError(f"{at}: unknown image_id {image_id}")
        category = _field(record, "category_id", int, at)
        if category not in ids:
            raise CorruptDataError(f"{at}: unknown category_id {category} (known: {sorted(ids)})")
        bbox = _field(record, "bbox", list, at)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise CorruptDataError(f"{at}: bbox {bbox!r} is not [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        box = _checked_box(at, [x, y, x + w, y + h], images[image_id][1])
        objects[image_id].append((box, ids[category], bool(record.get("iscrowd", 0))))
    return [_annotation(file, size, objects[i]) for i, (file, size) in images.items()], names


def write_coco(annotations: list[Annotation], classes: tuple[str, ...], path: str | Path) -> Path:
    """A COCO instances file of ``annotations``; image ids count from 1, category ids are class index + 1."""
    images, records = [], []
    for i, a in enumerate(annotations, start=1):
        images.append({"id": i, "file_name": a.image.name, "height": a.size[0], "width": a.size[1]})
        for box, label, crowd in zip(a.boxes.tolist(), a.labels.tolist(), a.difficult.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            records.append({"id": len(records) + 1, "image_id": i, "category_id": label + 1,
                            "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": int(crowd)})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps({"images": images, "annotations": records,
                                                 "categories": categories}))


def voc_class_names(root: str | Path) -> tuple[str, ...]:
    """The classes a VOC folder's annotations name: VOC's 20 in VOC's order when they are among them,
    otherwise every name found, sorted."""
    names: set[str] = set()
    for path in sorted((Path(root) / "Annotations").glob("*.xml")):
        try:
            tree = ElementTree.parse(path).getroot()
        except ElementTree.ParseError as error:
            raise CorruptDataError(f"{path}: malformed XML ({error})") from None
        names.update(n.text.strip() for n in tree.iter("name") if n.text and n.text.strip())
    return VOC_CLASSES if names <= set(VOC_CLASSES) else tuple(sorted(names))


def read_annotated(data: str | Path, images: str | Path | None = None, classes: tuple[str, ...] | None = None
                   ) -> tuple[list[Annotation], tuple[str, ...]]:
    """The annotations of a PASCAL VOC year folder (Annotations/, JPEGImages/) or of a COCO instances
    JSON file, and the class list their labels index. With ``classes`` (a trained detector's), labels
    follow that list and an object of another class is an error; without, the file's classes."""
    data = Path(data)
    if data.is_dir():
        known = classes if classes is not None else voc_class_names(data)
        annotations = read_voc(data, None, known)
        if images is not None:
            for a in annotations:
                a.image = Path(images) / a.image.name
        return annotations, known
    if data.suffix.lower() != ".json":
        raise MissingDataError(f"{data}: not a PASCAL VOC folder (with Annotations/) or a COCO .json file")
    annotations, names = read_coco(data, images)
    if classes is None:
        return annotations, names
    used = {names[int(label)] for a in annotations for label in a.labels}
    unknown = sorted(used - set(classes))
    if unknown:
        raise CorruptDataError(f"{data}: class {unknown[0]!r} is not one the detector knows ({', '.join(classes)})")
    mapping = torch.tensor([classes.index(n) if n in classes else -1 for n in names], dtype=torch.long)
    for a in annotations:
        a.labels = mapping[a.labels] if len(a.labels) else a.labels
    return annotations, tuple(classes)
