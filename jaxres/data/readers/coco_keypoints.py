"""COCO-style keypoint JSON (as mmpose ships 300-W, WFLW, COCO-WholeBody faces).

`images`: [{id, file_name, width, height}], `annotations`: [{image_id, keypoints: [x, y, v] * K,
bbox: [x, y, w, h]}]; one record per annotation, box as corners, v in meta["visibility"]. A point
with v = 0 is unlabelled (NaN); an annotation with none labelled, a duplicate image id or an id that
is not an integer or string is refused; crowd annotations are skipped. `validate` checks one point count
per set. `source` is "<json>:annotations[i]"."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from jaxres.data.readers._common import annotation_paths, corner_box, read_bytes, resolve_image_path
from jaxres.data.records import Dataset, Record
from jaxres.errors import DataError


def read_coco_keypoints(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None, *,
                        allow_absolute_paths: bool = False) -> Dataset:
    """Read the file; image paths are joined to `images_dir` (default: the JSON's folder)."""
    json_path, images_dir = annotation_paths(json_path, images_dir)
    doc = _load_json(json_path)
    files = _image_files(doc, json_path, images_dir, allow_absolute_paths)
    records = []
    for i, ann in enumerate(_list(doc, "annotations", json_path)):
        where = f"{json_path}:annotations[{i}]"
        if not isinstance(ann, dict):
            raise DataError("an annotation must be a JSON object", where=where)
        if not ann.get("iscrowd"):
            records.append(_record(ann, files, where))
    if not records:
        raise DataError("no annotations", where=json_path)
    return Dataset(records, source=json_path)


def _load_json(path: str) -> dict:
    try:
        doc = json.loads(read_bytes(path))
    except RecursionError:
        raise DataError("JSON nested too deeply to be a COCO file", where=path) from None
    except json.JSONDecodeError as err:
        raise DataError(f"not a JSON file ({err.msg}, column {err.colno})", where=f"{path}:{err.lineno}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"not a readable JSON file ({err})", where=path) from None
    if not isinstance(doc, dict):
        raise DataError("expected a COCO object with 'images' and 'annotations'", where=path)
    return doc


def _list(doc: dict, key: str, path: str) -> list:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DataError(f"missing the COCO list {key!r} (keys present: {sorted(doc)})", where=path)
    return value


def _image_files(doc: dict, path: str, images_dir: str, allow_absolute: bool) -> dict:
    files = {}
    for i, image in enumerate(_list(doc, "images", path)):
        where = f"{path}:images[{i}]"
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DataError("an image entry needs 'id' and 'file_name'", where=where)
        _check_id(image["id"], "id", where)
        if not isinstance(image["file_name"], str):
            raise DataError(f"'file_name' must be a string, got {type(image['file_name']).__name__}", where=where)
        if image["id"] in files:
            raise DataError(f"image id {image['id']!r} appears twice in 'images'; ids must be unique", where=where)
        files[image["id"]] = resolve_image_path(images_dir, image["file_name"], where, allow_absolute=allow_absolute)
    return files


def _check_id(value, key: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{key!r} must be an integer or a string, got {type(value).__name__} {str(value)[:40]}",
                        where=where)


def _record(ann: dict, files: dict, where: str) -> Record:
    _check_id(ann.get("image_id"), "image_id", where)
    if ann.get("image_id") not in files:
        raise DataError(f"image_id {ann.get('image_id')!r} is not in 'images'", where=where)
    flat = _numbers(ann.get("keypoints"), "keypoints", where)
    if not flat or len(flat) % 3:
        raise DataError(f"keypoints must be [x, y, v] * K, got {len(flat)} numbers", where=where)
    triples = np.asarray(flat, dtype=np.float32).reshape(-1, 3)
    if (triples[:, 2] == 0).all():
        raise DataError("every keypoint has visibility 0 (not labelled): nothing to learn; drop this annotation",
                        where=where)
    points = triples[:, :2].copy()
    points[triples[:, 2] == 0] = np.nan  # not labelled: masked out of the loss and the metrics
    box = _numbers(ann.get("bbox"), "bbox", where)
    if len(box) != 4:
        raise DataError(f"bbox must be [x, y, w, h], got {len(box)} numbers", where=where)
    meta = {"visibility": triples[:, 2].astype(np.int32), "image_id": ann["image_id"], "annotation_id": ann.get("id")}
    return Record(image=files[ann["image_id"]], source=where, keypoints=points, box=corner_box(*box), meta=meta)


def _numbers(value, key: str, where: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise DataError(f"{key!r} must be a list of numbers", where=where)
    if not all(math.isfinite(v) for v in value):
        raise DataError(f"{key!r} holds NaN or infinity", where=where)
    return [float(v) for v in value]
