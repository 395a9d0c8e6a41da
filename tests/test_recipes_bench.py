"""The recipes benchmark's fold selection and table, without training anything."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the benchmarks package
from benchmarks import recipe_sets, recipes  # noqa: E402

LABELS = np.repeat(np.arange(3), 10)


def test_a_part_of_the_folds_holds_out_what_the_whole_split_does():
    whole = {(r, f): (train.tolist(), test.tolist()) for r, f, train, test in recipe_sets.folds(LABELS, 5, 2)}
    assert len(whole) == 10
    part = {(r, f): (train.tolist(), test.tolist())
            for r, f, train, test in recipe_sets.folds(LABELS, 5, 2, only_repeats=[1], only_folds=[0, 3])}
    assert part == {key: whole[key] for key in ((1, 0), (1, 3))}
    for repeat in (0, 1):  # every sample held out once per repeat
        held = sorted(i for (r, _), (_, test) in whole.items() if r == repeat for i in test)
        assert held == list(range(len(LABELS)))


def test_the_table_keeps_networks_apart_and_reads_rows_without_one():
    rows = [{"set": "signs", "recipe": "default", "arch": "resnet18", "repeat": 0, "top1": 0.5, "seconds": 1},
            {"set": "signs", "recipe": "default", "arch": "resnet18", "repeat": 1, "top1": 1.0, "seconds": 3},
            {"set": "signs", "recipe": "default", "arch": "resnet50", "repeat": 0, "top1": 0.75, "seconds": 5},
            {"set": "signs", "recipe": "svm", "repeat": 0, "top1": 0.25, "seconds": 1}]
    lines = recipes.table(rows).splitlines()[2:]
    assert lines == ["| signs | default | resnet18 | 2 | 75.0 ± 25.0 | 2 |",
                     "| signs | default | resnet50 | 1 | 75.0 ± 0.0 | 5 |",
                     "| signs | svm | — | 1 | 25.0 ± 0.0 | 1 |"]
    assert recipes.table(rows, repeats=1).splitlines()[2].startswith("| signs | default | resnet18 | 1 | 50.0")


def test_a_cut_training_part_is_stratified_seeded_and_never_takes_a_held_out_image():
    labels = np.repeat(np.arange(4), 50)
    for _, fold, train, test in recipe_sets.folds(labels, 5, 1):
        cut = recipe_sets.subsample(train, labels, 40, fold)
        assert len(cut) == 40 and set(cut) <= set(train) and not set(cut) & set(test)
        assert np.bincount(labels[cut]).tolist() == [10, 10, 10, 10]
        assert cut.tolist() == recipe_sets.subsample(train, labels, 40, fold).tolist()
    assert recipe_sets.subsample(train, labels, None, 0) is train


def test_only_a_whole_digits_fold_caps_the_epochs():
    assert "train.epochs=20" in recipe_sets.set_overrides("digits", 1198)
    assert not any(o.startswith("train.epochs") for o in recipe_sets.set_overrides("digits", 96))
    assert recipe_sets.set_overrides("signs", 1198) == recipe_sets.SET_OVERRIDES["signs"]
    assert "objective.image_size=32" in recipe_sets.set_overrides("digits", 96)
    assert "objective.image_size=64" in recipe_sets.set_overrides("digits", 96, digits_size=64)


def test_a_development_split_scores_on_the_training_part_only():
    labels = np.repeat(np.arange(3), 45)  # 90 training images a fold: 30 of them held out, 10 a class
    for _, fold, train, test in recipe_sets.folds(labels, 3, 1):
        kept, held = recipe_sets.development_split(train, labels, fold)
        assert sorted([*kept, *held]) == sorted(train) and not set(kept) & set(held)
        assert not (set(kept) | set(held)) & set(test)  # the fold's held-out images are never read
        assert np.bincount(labels[held]).tolist() == [10, 10, 10] and len(kept) == 2 * len(held)
        assert held.tolist() == recipe_sets.development_split(train, labels, fold)[1].tolist()



def test_folds_without_labels_hold_out_every_box_once_and_develop_on_the_training_part():
    whole = list(recipe_sets.folds(None, 3, 2, n=20))
    assert len(whole) == 6
    for repeat in (0, 1):
        assert sorted(i for r, _, _, test in whole if r == repeat for i in test) == list(range(20))
    for _, fold, train, test in whole:
        kept, held = recipe_sets.development_split(train, None, fold)
        assert sorted([*kept, *held]) == sorted(train) and not (set(kept) | set(held)) & set(test)
        assert abs(len(kept) - 2 * len(held)) <= 2
        assert held.tolist() == recipe_sets.development_split(train, None, fold)[1].tolist()


def test_a_box_fold_is_the_bbox_tasks_csv_and_reads_back_the_same_boxes(tmp_path):
    from jaxres.data import readers

    images = tmp_path / "photos"
    (images / "sub").mkdir(parents=True)
    files = tuple(str(images / name) for name in ("a.jpg", "sub/b.jpg", "c, with a comma.jpg"))
    boxes = np.array([[1, 2, 11, 22], [0.5, 3, 40, 30.25], [5, 5, 6, 9]], np.float32)
    data = recipe_sets.RealSet("boxes", np.zeros((3, 4, 4, 3), np.uint8), boxes=boxes, files=files)
    keys = recipes.write_fold(tmp_path, data, np.array([0, 2]), np.array([1]))
    assert keys == [f"data.images={str(images)!r}"]
    for split, part in (("train", [0, 2]), ("test", [1])):
        read = readers.read_box_csv(tmp_path / f"{split}.csv", images).records
        assert [r.image for r in read] == [files[i] for i in part]
        np.testing.assert_allclose([r.box for r in read], boxes[part])


def test_box_baselines_score_mean_iou_and_kernel_ridge_finds_a_box_drawn_in_the_pixels():
    from benchmarks import classical

    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 24, (48, 2, 2)), axis=1).transpose(0, 2, 1).reshape(48, 4)[:, [0, 2, 1, 3]]
    boxes[:, 2:] += 6  # x0, y0, x1, y1 with sides of 6 px or more
    images = np.zeros((48, 32, 32, 3), np.uint8)
    for image, (x0, y0, x1, y1) in zip(images, boxes.round().astype(int)):
        image[y0:y1, x0:x1] = 255
    mean = classical.regress_boxes("mean-box", images[:36], boxes[:36], images[36:], boxes[36:])
    from jaxres.metrics.boxes import mean_iou
    assert mean["mean_iou"] == mean_iou(np.repeat(boxes[:36].mean(0, keepdims=True), 12, 0), boxes[36:])
    ridge = classical.regress_boxes("kernel-ridge", images[:36], boxes[:36], images[36:], boxes[36:])
    assert ridge["mean_iou"] > mean["mean_iou"] + 0.1 and set(ridge["chosen"]) == {
        "regressor__kernelridge__alpha", "regressor__kernelridge__gamma"}


def test_the_tshirt_box_set_spans_each_photos_keypoints(shared_data):
    from jaxres.data import readers

    data = recipe_sets.tshirt_boxes(size=32)
    records = readers.read_keypoint_csv(shared_data / "tshirt_points_24" / "points_24.csv").records
    assert data.kind == "boxes" and data.images.shape == (74, 32, 32, 3) and len(data.files) == 74
    for record, box, file in zip(records, data.boxes, data.files):
        assert file == record.image
        np.testing.assert_array_equal(box, [*record.keypoints.min(0), *record.keypoints.max(0)])
    assert (data.boxes[:, 2:] > data.boxes[:, :2]).all() and data.boxes.min() >= 0 and data.boxes.max() <= 224


def test_the_table_shows_box_rows_as_mean_iou():
    rows = [{"set": "tshirt-boxes", "recipe": "mean-box", "repeat": 0, "mean_iou": 0.7, "seconds": 0},
            {"set": "tshirt-boxes", "recipe": "mean-box", "repeat": 0, "mean_iou": 0.8, "seconds": 0}]
    assert recipes.table(rows).splitlines()[2] == "| tshirt-boxes | mean-box | — | 2 | 0.750 ± 0.050 | 0 |"


def test_a_recipe_name_no_set_knows_exits_2_naming_it(capsys):
    with pytest.raises(SystemExit) as stopped:
        recipes.main(["--sets", "signs", "--recipes", "default", "svn"])
    assert stopped.value.code == 2 and "unknown recipe(s) svn" in capsys.readouterr().err


def test_a_points_fold_is_the_tshirt_tasks_folder_with_its_test_csv(tmp_path):
    from PIL import Image

    from benchmarks import recipe_fit
    from jaxres.commands.splits import training_splits
    from tasks.tshirt import TASK

    images = tmp_path / "photos"
    images.mkdir()
    files = tuple(str(images / f"{i}.jpg") for i in range(5))
    for file in files:
        Image.new("RGB", (224, 224)).save(file)
    points = np.random.default_rng(0).uniform(-3, 200, (5, 12, 2)).round(2).astype(np.float32)
    data = recipe_sets.RealSet("points", np.zeros((5, 4, 4, 3), np.uint8), points=points, files=files)
    folder = tmp_path / "fold"
    folder.mkdir()
    keys = recipes.write_fold(folder, data, np.array([0, 1, 3, 4]), np.array([2]))
    config = recipe_fit.resolved_config("configs/tshirt.py", [*keys, "data.val_fraction=0.25"], str(folder))
    splits = training_splits(TASK, folder, config, False)
    # the held-out part is the task's test split, scored by eval; validation comes out of the training part
    assert splits.eval_name == "test" and [r.image for r in splits.eval.records] == [files[2]]
    np.testing.assert_allclose(splits.eval.records[0].keypoints, points[2])
    trained = {r.image: r.keypoints for r in [*splits.train.records, *splits.val.records]}
    assert sorted(trained) == sorted(files[i] for i in (0, 1, 3, 4))
    for i in (0, 1, 3, 4):
        np.testing.assert_allclose(trained[files[i]], points[i])


def test_point_baselines_score_pixel_error_and_kernel_ridge_finds_a_point_drawn_in_the_pixels():
    from benchmarks import classical
    from jaxres.metrics.keypoints import mean_point_error

    rng = np.random.default_rng(0)
    points = rng.uniform(2, 28, (48, 1, 2))
    images = np.zeros((48, 32, 32, 3), np.uint8)
    for image, ((x, y),) in zip(images, points.round().astype(int)):
        image[y - 2:y + 3, x - 2:x + 3] = 255
    mean = classical.regress_points("mean-shape", images[:36], points[:36], images[36:], points[36:])
    assert mean["mean_error_px"] == mean_point_error(np.repeat(points[:36].mean(0, keepdims=True), 12, 0),
                                                     points[36:])
    ridge = classical.regress_points("kernel-ridge", images[:36], points[:36], images[36:], points[36:])
    assert ridge["mean_error_px"] < mean["mean_error_px"] / 2 and set(ridge["chosen"]) == {
        "regressor__kernelridge__alpha", "regressor__kernelridge__gamma"}


def test_the_tshirt_point_set_is_the_photos_annotations(shared_data):
    from jaxres.data import readers

    data = recipe_sets.tshirt_points(size=32)
    records = readers.read_keypoint_csv(shared_data / "tshirt_points_24" / "points_24.csv").records
    assert data.kind == "points" and data.images.shape == (74, 32, 32, 3) and data.points.shape == (74, 12, 2)
    for record, shape, file in zip(records, data.points, data.files):
        assert file == record.image
        np.testing.assert_array_equal(shape, record.keypoints)


def test_the_table_shows_point_rows_as_pixels():
    rows = [{"set": "tshirt-points", "recipe": "mean-shape", "repeat": 0, "mean_error_px": 17.0, "seconds": 0},
            {"set": "tshirt-points", "recipe": "mean-shape", "repeat": 0, "mean_error_px": 18.0, "seconds": 0}]
    assert recipes.table(rows).splitlines()[2] == "| tshirt-points | mean-shape | — | 2 | 17.5 ± 0.5 | 0 |"


def test_grouped_folds_hold_out_each_photo_whole_and_develop_on_the_training_part():
    photos = np.repeat(np.arange(9), [7, 6, 3, 2, 7, 7, 6, 3, 2])
    whole = list(recipe_sets.folds(None, 3, 2, groups=photos))
    assert len(whole) == 6
    for repeat in (0, 1):
        assert sorted(i for r, _, _, test in whole if r == repeat for i in test) == list(range(len(photos)))
    for _, fold, train, test in whole:
        assert not set(photos[train]) & set(photos[test])
        kept, held = recipe_sets.development_split(train, None, fold, photos)
        assert sorted([*kept, *held]) == sorted(train) and not set(photos[kept]) & set(photos[held])
    assert [t.tolist() for *_, t in whole[:3]] != [t.tolist() for *_, t in whole[3:]]  # repeats differ


def test_a_face_fold_is_dlib_xml_the_face_task_reads_back(tmp_path):
    from PIL import Image

    from benchmarks import recipe_fit
    from jaxres.commands.splits import training_splits
    from tasks.face import TASK

    files = []
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (120, 100)).save(tmp_path / name)
        files.append(str(tmp_path / name))
    files = (files[0], files[0], files[1])  # two faces in one photo
    boxes = np.array([[10, 10, 50, 50], [60, 20, 100, 62.5], [5, 5, 45, 45]], np.float32)
    points = np.random.default_rng(0).uniform(0, 100, (3, 68, 2)).round(1).astype(np.float32)
    data = recipe_sets.RealSet("faces", np.zeros((3, 4, 4, 1), np.uint8), points=points, files=files,
                               face_boxes=boxes, photos=np.array([0, 0, 1]))
    folder = tmp_path / "fold"
    folder.mkdir()
    keys = recipes.write_fold(folder, data, np.array([0, 1]), np.array([2]))
    config = recipe_fit.resolved_config("configs/face.py", [*keys, "data.val_fraction=0.5"], str(folder))
    splits = training_splits(TASK, folder, config, False)
    assert splits.eval_name == "test" and [r.image for r in splits.eval.records] == [files[2]]
    read = sorted([*splits.train.records, *splits.val.records], key=lambda r: r.box[0])
    for record, i in zip([*read, splits.eval.records[0]], (0, 1, 2)):
        np.testing.assert_allclose(record.box, boxes[i])
        np.testing.assert_allclose(record.keypoints, points[i], atol=1e-4)


def test_the_face_set_is_dlibs_faces_in_the_tasks_crop(shared_data):
    from jaxres.data import affine, readers

    data = recipe_sets.faces(size=32)
    records = [r for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml")
               for r in readers.read_dlib_xml(shared_data / "dlib_faces" / xml).records]
    assert data.kind == "faces" and data.images.shape == (43, 32, 32, 1) and len(set(data.photos)) == 9
    for record, shape, box in zip(records, data.shapes, data.face_boxes):
        np.testing.assert_array_equal(box, record.box)
        np.testing.assert_allclose(shape, affine.apply_points(record.keypoints, affine.crop_to_box(box, 32)))
    # the face fills the crop's middle two thirds: margin 0.25 of its side on each side
    assert 0.1 * 32 < data.shapes[..., 0].mean() < 0.9 * 32


def test_face_baselines_score_the_nme_of_the_crop():
    from benchmarks import classical
    from jaxres.metrics.keypoints import nme_inter_ocular

    shapes = np.random.default_rng(0).normal(16, 4, (12, 68, 2))
    mean = classical.regress_points("mean-shape", np.zeros((8, 4, 4, 1)), shapes[:8], np.zeros((4, 4, 4, 1)),
                                    shapes[8:], metric="nme_io")
    expected = nme_inter_ocular(np.repeat(shapes[:8].mean(0, keepdims=True), 4, 0), shapes[8:]).mean()
    assert mean["nme_io"] == pytest.approx(expected)
