"""dlib / iBUG 300-W landmark XML (`labels_ibug_300W_train.xml`):

    <dataset><images><image file='a.jpg'><box top= left= width= height= [ignore='1']>
      <part name='00' x='201' y='107'/> ...

Every `<box>` is a record, box = (left, top, left + width, top + height), points by part number;
`ignore='1'` boxes are skipped. A DTD or entity declaration is refused before parsing, and image
paths stay in the XML's folder unless `allow_absolute_paths`; errors say "file.xml:line"."""

from __future__ import annotations

import dataclasses
import os
from xml.parsers import expat

import numpy as np

from jaxres.data.readers._common import corner_box, resolve_image_path, to_float
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError

_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")
_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
_BOX_KEYS = ("left", "top", "width", "height")


@dataclasses.dataclass
class _Box:
    attrs: dict
    line: int
    parts: list = dataclasses.field(default_factory=list)  # (attrs, line)


@dataclasses.dataclass
class _Image:
    attrs: dict
    line: int
    boxes: list = dataclasses.field(default_factory=list)


def read_dlib_xml(
    xml_path: str | os.PathLike, *, num_points: int = 68, allow_absolute_paths: bool = False
) -> Dataset:
    """One record per face box; image paths are relative to the XML's folder."""
    xml_path = os.path.abspath(os.fspath(xml_path))
    images = _parse(xml_path)
    root = os.path.dirname(xml_path)
    records = []
    for image in images:
        where = f"{xml_path}:{image.line}"
        path = resolve_image_path(root, image.attrs.get("file", ""), where, allow_absolute=allow_absolute_paths)
        for index, box in enumerate(image.boxes):
            if box.attrs.get("ignore", "0").strip() not in ("", "0"):
                continue
            records.append(_record(path, image, index, box, xml_path, num_points))
    if not records:
        raise DataError("no <image><box> elements with landmarks found", where=xml_path)
    return Dataset(records, source=xml_path)


def refuse_dtd(data: bytes, where: str) -> None:
    """Raise DataError if the document declares a DTD or entities (checked before any parsing)."""
    upper = data.upper()
    for encoding in _ENCODINGS:
        for needle in _FORBIDDEN:
            if needle.decode().encode(encoding) in upper:
                raise DataError(
                    f"XML with {needle.decode()} declarations is refused (entity expansion can exhaust "
                    "memory); remove the DTD from the file",
                    where=where,
                )


def _parse(xml_path: str) -> list[_Image]:
    try:
        with open(xml_path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataError(f"cannot read XML file ({err.strerror or err})", where=xml_path) from None
    refuse_dtd(data, xml_path)
    parser = expat.ParserCreate()
    collector = _Collector(parser, xml_path)
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.StartDoctypeDeclHandler = collector.refuse  # defence in depth behind refuse_dtd
    parser.EntityDeclHandler = collector.refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise DataError(
            f"not a well-formed XML file ({expat.ErrorString(err.code)}, column {err.offset})",
            where=f"{xml_path}:{err.lineno}",
        ) from None
    if collector.root != "dataset":
        raise DataError(f"root element is <{collector.root}>, expected dlib's <dataset>", where=f"{xml_path}:1")
    return collector.images


class _Collector:
    """Keeps only dataset/images/image/box/part, with the line each element starts on."""

    def __init__(self, parser, where: str):
        self.parser, self.where = parser, where
        self.stack: list[str] = []
        self.images: list[_Image] = []
        self.root: str | None = None

    def start(self, tag: str, attrs: dict) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(tag)
        line = self.parser.CurrentLineNumber
        if parent is None:
            self.root = tag
        elif tag == "image" and parent == "images":
            self.images.append(_Image(attrs, line))
        elif tag == "box" and parent == "image":
            self.images[-1].boxes.append(_Box(attrs, line))
        elif tag == "part" and parent == "box":
            self.images[-1].boxes[-1].parts.append((attrs, line))

    def end(self, tag: str) -> None:
        self.stack.pop()

    def refuse(self, *args) -> None:
        raise DataError("XML with a DTD or entity declarations is refused", where=self.where)


def _record(path: str, image: _Image, index: int, box: _Box, xml_path: str, num_points: int) -> Record:
    where = f"{xml_path}:{box.line}"
    left, top, width, height = (to_float(box.attrs.get(k), where, f"box {k}") for k in _BOX_KEYS)
    meta = {"image_file": image.attrs.get("file"), "box_index": index}
    return Record(
        image=path,
        source=where,
        keypoints=_keypoints(box, image, index, where, num_points),
        box=corner_box(left, top, width, height),
        meta=meta,
    )


def _keypoints(box: _Box, image: _Image, index: int, where: str, num_points: int) -> np.ndarray:
    what = f"image {image.attrs.get('file')!r} box {index}"
    points: dict[int, tuple[float, float]] = {}
    for attrs, line in box.parts:
        here = f"{where.rsplit(':', 1)[0]}:{line}"
        name = attrs.get("name", "")
        if not name.strip().isdigit() or int(name) >= num_points:
            raise DataError(f"{what}: part name {name!r} is not a number below {num_points}", where=here)
        if int(name) in points:
            raise DataError(f"{what}: part {name!r} appears twice", where=here)
        points[int(name)] = tuple(to_float(attrs.get(k), here, f"part {name} {k}") for k in ("x", "y"))
    missing = [f"{k:02d}" for k in range(num_points) if k not in points]
    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise DataError(f"{what}: {len(missing)} of {num_points} parts missing ({shown})", where=where)
    return np.asarray([points[k] for k in range(num_points)], dtype=np.float32)
