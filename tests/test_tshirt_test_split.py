"""The T-shirt layout's held-out split: `points_24_test.csv` beside `points_24.csv` is the task's
`test` split, row for row (the original project had none; without it there is no test split, and a
run and `eval` score the validation split instead). The engine's choice of `test` when a task has one
is tested through the face task (tests/test_tasks_cli.py)."""

import numpy as np
from PIL import Image

from jaxres.config import defaults
from tasks.tshirt import TASK


def write_folder(folder, rows: dict[str, list[str]]) -> dict[str, np.ndarray]:
    images = folder / "t-shirt_resized_train"
    images.mkdir(parents=True)
    rng, points = np.random.default_rng(0), {}
    for csv, names in rows.items():
        lines = ["filename,points"]
        for name in names:
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(images / name)
            points[name] = rng.uniform(-3, 60, (12, 2)).round(2)
            lines.append(f'{name},"{[f"{v:g}" for v in points[name].reshape(-1)]}"')
        (folder / csv).write_text("\n".join(lines) + "\n")
    return points


def test_points_24_test_csv_is_the_test_split_and_nothing_else_is(tmp_path):
    config = defaults.complete(TASK.get_config())
    points = write_folder(tmp_path, {"points_24.csv": [f"train{i}.jpg" for i in range(4)],
                                     "points_24_test.csv": ["held0.jpg", "held1.jpg"]})
    test = TASK.read(tmp_path, "test", config)
    assert [r.image for r in test.records] == [str(tmp_path / "t-shirt_resized_train" / n) for n in ("held0.jpg", "held1.jpg")]
    for record, name in zip(test.records, ("held0.jpg", "held1.jpg")):
        np.testing.assert_allclose(record.keypoints, points[name], rtol=1e-6)
    train = TASK.read(tmp_path, "train", config)
    assert sorted(r.image.rsplit("/", 1)[-1] for r in train.records) == [f"train{i}.jpg" for i in range(4)]
    assert TASK.read(tmp_path, "val", config) is None  # no points_24_val.csv: validation comes out of train

    (tmp_path / "points_24_test.csv").unlink()
    assert TASK.read(tmp_path, "test", config) is None
