"""Face landmarks on iBUG 300-W: ResNet-18, 1-channel input, 68 points, NME per 300-W subset.

Data: dlib's `ibug_300W_large_face_landmark_dataset` folder (labels_ibug_300W_train/_test.xml), one
dlib XML file, the original 300-W tree (afw/ helen/ lfpw/ ibug/ with .pts files), or a COCO-style
keypoint JSON. Every face box of an image is a sample (the original read only the first).
"""

from __future__ import annotations

import pathlib

from jaxres.cli.entry import main
from jaxres.data import readers
from .synthetic import faces as synthetic_faces
from jaxres.errors import DataError
from jaxres.config.task import Task, task_config

face_config = task_config(__package__, "face")  # configs/face.py, beside this package

TRAIN_XML = ("labels_ibug_300W_train.xml", "training_with_face_landmarks.xml")
TEST_XML = ("labels_ibug_300W_test.xml", "testing_with_face_landmarks.xml")
SUBSETS_300W = ("afw", "helen", "lfpw", "ibug")


def read(path: pathlib.Path, split: str, config: dict):
    trusted = bool(config["data"]["allow_absolute_paths"])
    if path.is_file():
        return _read_file(path, trusted) if split == "train" else None
    if split not in ("train", "test"):
        return None  # val is held out from train by seed; there is no other split
    xml = next((path / n for n in (TRAIN_XML if split == "train" else TEST_XML) if (path / n).exists()), None)
    if xml is not None:
        return readers.read_dlib_xml(xml, allow_absolute_paths=trusted)
    if any((path / name).is_dir() for name in SUBSETS_300W):
        return readers.read_300w_tree(path, "train" if split == "train" else "full")
    if split == "train":
        raise DataError(f"no face data: expected {TRAIN_XML[0]}, a 300-W tree (afw/ helen/ lfpw/ ibug/) "
                        "or pass the XML/JSON file itself", where=str(path))
    return None


def _read_file(path: pathlib.Path, trusted: bool):
    if path.suffix.lower() == ".json":
        return readers.read_coco_keypoints(path, allow_absolute_paths=trusted)
    if path.suffix.lower() == ".xml":
        return readers.read_dlib_xml(path, allow_absolute_paths=trusted)
    raise DataError("expected a dlib XML, a COCO keypoint JSON or a data folder", where=str(path))


def synthesize(root: pathlib.Path, config: dict) -> pathlib.Path:
    return synthetic_faces.make(root, seed=int(config["train"]["seed"]), **config["synthetic"]["generator"])


TASK = Task("face", face_config.get_config, read, synthesize, description=__doc__.splitlines()[0])

if __name__ == "__main__":
    raise SystemExit(main(TASK))
