"""dlib / iBUG 300-W landmark XML (`labels_ibug_300W_train.xml`):

    <dataset><images><image file='a.jpg'><box top= left= width= height= [ignore='1']>
      <part name='00' x='201' y='107'/> ...

Every `<box>` is a record, box = (left, top, left + width, top + height), points by part number;
`ignore='1'` boxes are skipped. A DOCTYPE is refused where the parser meets it (before any entity), and image
paths stay in the XML's folder unless `allow_absolute_paths`; errors say "file.xml:line"."""

from __future__ import annotations

import dataclasses
import os
from xml.parsers import expat

import numpy as np

from jaxres.data.readers._common import corner_box, read_bytes, resolve_image_path, to_float
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_BOX_KEYS = ("left", "top", "width", "height")


@dataclasses.dataclass
class _Node:
    """An <image>, <box> or <part>: its attributes, the line it starts on, its kept children."""

    attrs: dict
    line: int
    children: list = dataclasses.field(default_factory=list)


def read_dlib_xml(xml_path: str | os.PathLike, *, num_points: int = 68, allow_absolute_paths: bool = False) -> Dataset:
    """One record per face box; image paths are relative to the XML's folder."""
    xml_path = os.path.abspath(os.fspath(xml_path))
    root, records = os.path.dirname(xml_path), []
    for image in _parse(xml_path):
        where = f"{xml_path}:{image.line}"
        path = resolve_image_path(root, image.attrs.get("file", ""), where, allow_absolute=allow_absolute_paths)
        for index, box in enumerate(image.children):
            if box.attrs.get("ignore", "0").strip() not in ("", "0"):
                continue
            records.append(_record(path, image, index, box, xml_path, num_points))
    if not records:
        raise DataError("no <image><box> elements with landmarks found", where=xml_path)
    return Dataset(records, source=xml_path)


def _parse(xml_path: str) -> list[_Node]:
    """The <image> elements of dataset/images, with their <box>es and those boxes' <part>s."""
    data = read_bytes(xml_path)
    parser = expat.ParserCreate()
    stack, images = [], []

    def start(tag: str, attrs: dict) -> None:
        if not stack and tag != "dataset":
            raise DataError(f"root element is <{tag}>, expected dlib's <dataset>", where=f"{xml_path}:1")
        stack.append(tag)
        node = _Node(attrs, parser.CurrentLineNumber)
        # by the whole path: a <box> counts only inside an <image> that was kept
        if stack == ["dataset", "images", "image"]:
            images.append(node)
        elif stack == ["dataset", "images", "image", "box"]:
            images[-1].children.append(node)
        elif stack == ["dataset", "images", "image", "box", "part"]:
            images[-1].children[-1].children.append(node)

    def refuse(*args) -> None:  # met before any entity is declared or expanded, in whatever encoding
        raise DataError("XML with DOCTYPE or ENTITY declarations is refused (entity expansion can exhaust memory); "
                        "remove the DTD from the file", where=f"{xml_path}:{parser.CurrentLineNumber}")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except DataError:  # raised by the handlers above
        raise
    except expat.ExpatError as err:
        raise DataError(
            f"not a well-formed XML file ({expat.ErrorString(err.code)}, column {err.offset})",
            where=f"{xml_path}:{err.lineno}",
        ) from None
    except ValueError as err:  # e.g. an encoding expat does not know
        raise DataError(f"not a readable XML file ({err})", where=xml_path) from None
    return images


def _record(path: str, image: _Node, index: int, box: _Node, xml_path: str, num_points: int) -> Record:
    where, what = f"{xml_path}:{box.line}", f"image {image.attrs.get('file')!r} box {index}"
    left, top, width, height = (to_float(box.attrs.get(k), where, f"box {k}") for k in _BOX_KEYS)
    points: dict[int, tuple[float, float]] = {}
    for part in box.children:
        here, name = f"{xml_path}:{part.line}", part.attrs.get("name", "")
        if not name.strip().isdigit() or int(name) >= num_points:
            raise DataError(f"{what}: part name {name!r} is not a number below {num_points}", where=here)
        if int(name) in points:
            raise DataError(f"{what}: part {name!r} appears twice", where=here)
        points[int(name)] = tuple(to_float(part.attrs.get(k), here, f"part {name} {k}") for k in ("x", "y"))
    missing = [f"{k:02d}" for k in range(num_points) if k not in points]
    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise DataError(f"{what}: {len(missing)} of {num_points} parts missing ({shown})", where=where)
    keypoints = np.asarray([points[k] for k in range(num_points)], np.float32)
    meta = {"image_file": image.attrs.get("file"), "box_index": index}
    return Record(image=path, source=where, keypoints=keypoints, box=corner_box(left, top, width, height), meta=meta)
