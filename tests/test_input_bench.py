"""The input benchmark's functions on a few tiny images, so that it keeps running as the library moves."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the benchmarks package
from benchmarks import input_bench  # noqa: E402

TINY = input_bench.Scale(photos=4, repeats=1, gather_records=32, faces_per_photo=1, epochs=1, step_repeats=1)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return input_bench.write_photos(tmp_path_factory.mktemp("photos"), 4, sizes=((160, 120), (192, 108)))


@pytest.mark.parametrize("task", input_bench.TASKS)
def test_each_recipe_is_measured_on_both_paths(task, photos, tmp_path):
    row = input_bench.measure_task(task, input_bench.task_records(task, photos), tmp_path, TINY)
    assert row["images"] == 8 and row["old_cpu_ms"] > 0 and row["first_epoch_cpu_ms"] > 0
    assert 0 < row["later_cpu_ms"] and row["disk_bytes_per_image"] >= row["side"] ** 2 * row["channels"]
    assert input_bench.markdown([row], None, [], []).count("\n") == 2


def test_precropped_faces_keep_their_points_inside(photos, tmp_path):
    faces = input_bench.task_records("face", photos, faces_per_photo=2)
    crops = input_bench.precropped_faces(faces, tmp_path)
    assert len(crops) == len(faces) == 16
    points = np.stack([r.keypoints for r in crops.records])
    assert points.min() >= 0 and points.max() <= input_bench.PRECROP


def test_torch_samples(photos):
    torch = pytest.importorskip("torch")
    for task, sample in (("face", input_bench.torch_face_sample), ("sketch", input_bench.torch_sketch_sample)):
        item = input_bench.torch_items(input_bench.task_records(task, photos[:1]))[0]
        out = sample(item, np.random.default_rng(0))
        assert out["image"].dtype == torch.float32 and out["image"].shape[1:] == (224, 224)

