"""Readers on the real sample files (exact numbers) and on generated files of each layout."""

import os
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from jaxres.data import readers
from jaxres.data.validate import validate
from jaxres.errors import DataError, UserError


def _jpeg(path, size=(32, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)
    return path


# ---- T-shirt keypoint CSV --------------------------------------------------------------------------


def test_tshirt_points_24_real(shared_data):
    folder = shared_data / "tshirt_points_24"
    ds = readers.read_keypoint_csv(folder / "points_24.csv")
    assert len(ds) == 74
    first = ds.records[0]
    assert first.image == str(folder / "t-shirt_resized_train" / "1.jpg")
    assert first.source == f"{folder / 'points_24.csv'}:2"
    assert first.keypoints.shape == (12, 2) and first.keypoints.dtype == np.float32
    np.testing.assert_array_equal(first.keypoints[0], [5, 89])
    np.testing.assert_array_equal(first.keypoints[-1], [62, 69])
    second = ds.records[1]
    assert second.image.endswith("3.jpg")
    np.testing.assert_array_equal(second.keypoints[:2], [[41, 52], [63, 82]])
    good, bad = validate(ds)
    assert len(good) == 74 and bad == []


def test_tshirt_folder_reader_prefers_points_24_over_mapping_csv(shared_data):
    folder = shared_data / "tshirt_points_24"  # also holds mapping.csv
    ds = readers.read_keypoint_folder(folder)
    assert len(ds) == 74
    assert ds.records[0].image == str(folder / "t-shirt_resized_train" / "1.jpg")


def test_negative_decimal_and_exponent_points(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text(
        "filename,points\n"
        "a.jpg,\"['-5.5', '89', '1e1', '+2.25']\"\n"
        "b.jpg,\"[5.5, -3, 0.5, -0.0]\"\n"
        "c.jpg,\"3 4 5 6\"\n"
    )
    ds = readers.read_keypoint_csv(csv)
    np.testing.assert_array_equal(ds.records[0].keypoints, [[-5.5, 89], [10, 2.25]])
    np.testing.assert_array_equal(ds.records[1].keypoints, [[5.5, -3], [0.5, 0]])
    np.testing.assert_array_equal(ds.records[2].keypoints, [[3, 4], [5, 6]])
    assert [r.source for r in ds.records] == [f"{csv}:2", f"{csv}:3", f"{csv}:4"]
    assert ds.records[0].image == str(tmp_path / "a.jpg")  # no t-shirt_resized_train: the CSV's folder


def test_wide_layout_and_default_image_folder(tmp_path):
    csv = tmp_path / "kp.csv"
    csv.write_text("image,x0,y0,x1,y1\n1.jpg,1,2,3.5,-4\n\n2.jpg,5,6,7,8\n")
    (tmp_path / "t-shirt_resized_train").mkdir()
    ds = readers.read_keypoint_csv(csv)
    assert len(ds) == 2
    np.testing.assert_array_equal(ds.records[0].keypoints, [[1, 2], [3.5, -4]])
    assert ds.records[1].source == f"{csv}:4"  # the blank line 3 still counts
    assert ds.records[0].image == str(tmp_path / "t-shirt_resized_train" / "1.jpg")
    other = readers.read_keypoint_csv(csv, images_dir=tmp_path / "imgs")
    assert other.records[0].image == str(tmp_path / "imgs" / "1.jpg")


def test_keypoint_folder_with_a_single_csv_and_image_folder(tmp_path):
    (tmp_path / "labels.csv").write_text("filename,points\n1.jpg,\"[1, 2]\"\n")
    (tmp_path / "pics").mkdir()
    ds = readers.read_keypoint_folder(tmp_path)
    assert ds.records[0].image == str(tmp_path / "pics" / "1.jpg")


# ---- dlib / iBUG XML -------------------------------------------------------------------------------


def test_dlib_xml_real_train_and_test(shared_data):
    train = readers.read_dlib_xml(shared_data / "dlib_faces" / "training_with_face_landmarks.xml")
    test = readers.read_dlib_xml(shared_data / "dlib_faces" / "testing_with_face_landmarks.xml")
    assert len(train) == 18 and len(test) == 25
    first = train.records[0]
    assert first.image == str(shared_data / "dlib_faces" / "2007_007763.jpg")
    np.testing.assert_array_equal(first.box, [194, 90, 231, 127])  # left, top, left+width, top+height
    assert first.keypoints.shape == (68, 2)
    np.testing.assert_array_equal(first.keypoints[0], [201, 107])
    np.testing.assert_array_equal(first.keypoints[1], [201, 110])
    # every box of an image is a record (the original kept only the first face)
    per_image = {}
    for r in train.records:
        per_image[os.path.basename(r.image)] = per_image.get(os.path.basename(r.image), 0) + 1
    assert per_image == {"2007_007763.jpg": 7, "2008_002079.jpg": 6, "2008_001009.jpg": 2, "2008_001322.jpg": 3}
    assert len({r.source for r in train.records}) == 18  # one line per box
    assert validate(train)[1] == [] and validate(test)[1] == []


def _face_xml(path, image="a.jpg", boxes=1, parts=68, ignore_second=False):
    lines = ["<?xml version='1.0'?>", "<dataset><images>", f"<image file='{image}' width='100' height='80'>"]
    for b in range(boxes):
        flag = " ignore='1'" if ignore_second and b == 1 else ""
        lines.append(f"<box top='{10 + b}' left='5' width='40' height='30'{flag}>")
        lines += [f"<part name='{k:02d}' x='{k % 40 + b}' y='{k // 2}'/>" for k in range(parts)]
        lines.append("</box>")
    lines += ["</image>", "</images></dataset>"]
    path.write_text("\n".join(lines))
    return path


def test_dlib_xml_generated_ignore_box_and_order(tmp_path):
    xml = _face_xml(tmp_path / "faces.xml", boxes=3, ignore_second=True)
    ds = readers.read_dlib_xml(xml)
    assert len(ds) == 2
    assert [r.meta["box_index"] for r in ds.records] == [0, 2]
    np.testing.assert_array_equal(ds.records[1].box, [5, 12, 45, 42])
    np.testing.assert_array_equal(ds.records[1].keypoints[67], [67 % 40 + 2, 33])
    assert ds.records[0].source == f"{xml}:4"


def test_dlib_xml_boxes_of_an_image_outside_images_are_a_data_error(tmp_path):
    """An <image> straight under <dataset> is not dlib's layout: its boxes are not records (and do not
    land on another image's list), so the file has none, said in one DataError naming it."""
    xml = tmp_path / "faces.xml"
    xml.write_text("<?xml version='1.0'?>\n<dataset>\n<image file='a.jpg'>\n"
                   "<box top='1' left='1' width='2' height='2'/>\n</image>\n</dataset>")
    with pytest.raises(DataError, match="no <image><box> elements") as err:
        readers.read_dlib_xml(xml)
    assert str(xml) in str(err.value)


def test_dlib_xml_part_order_follows_names_not_document(tmp_path):
    xml = tmp_path / "shuffled.xml"
    parts = [f"<part name='{k:02d}' x='{k}' y='{2 * k}'/>" for k in reversed(range(68))]
    xml.write_text(
        "<dataset><images><image file='a.jpg'><box top='0' left='0' width='9' height='9'>"
        + "".join(parts)
        + "</box></image></images></dataset>"
    )
    points = readers.read_dlib_xml(xml).records[0].keypoints
    np.testing.assert_array_equal(points[:, 0], np.arange(68))


def test_dlib_xml_allows_outside_paths_when_asked(tmp_path):
    (tmp_path / "sub").mkdir()
    xml = _face_xml(tmp_path / "sub" / "f.xml", image="../a.jpg")
    ds = readers.read_dlib_xml(xml, allow_absolute_paths=True)
    assert ds.records[0].image == str(tmp_path / "a.jpg")


# ---- 300-W .pts and folder tree --------------------------------------------------------------------


def _pts(path, points):
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
    path.write_text(f"version: 1\nn_points:  {len(points)}\n{{\n{body}\n}}\n")
    return path


def test_read_pts_subtracts_one(tmp_path):
    points = np.stack([np.arange(68) + 1.5, np.arange(68) * 2 + 1], axis=1)
    path = _pts(tmp_path / "a.pts", points)
    np.testing.assert_allclose(readers.read_pts(path), points - 1)
    np.testing.assert_allclose(readers.read_pts(path, zero_based=False), points)
    assert readers.read_pts(path).shape == (68, 2)


_300W_FOLDERS = {"afw": 2, "helen/trainset": 2, "lfpw/trainset": 1, "helen/testset": 2, "lfpw/testset": 1, "ibug": 1}


def _tree(root):
    rng = np.random.default_rng(0)
    for folder, count in _300W_FOLDERS.items():
        for i in range(count):
            directory = root / folder
            _jpeg(directory / f"img{i}.{'png' if folder == 'ibug' else 'jpg'}")
            _pts(directory / f"img{i}.pts", rng.uniform(5, 20, (68, 2)))
    return root


def test_300w_tree_splits(tmp_path):
    root = _tree(tmp_path)
    sizes = {split: len(readers.read_300w_tree(root, split)) for split in ("train", "common", "challenging", "full")}
    assert sizes == {"train": 5, "common": 3, "challenging": 1, "full": 4}
    full = readers.read_300w_tree(root, "full")
    assert [r.meta["subset"] for r in full.records] == ["common"] * 3 + ["challenging"]
    assert full.records[-1].image.endswith(os.path.join("ibug", "img0.png"))
    r = full.records[0]
    np.testing.assert_allclose(r.box, [*r.keypoints.min(0), *r.keypoints.max(0)])
    assert r.source.endswith(".pts")


# ---- COCO keypoint JSON ----------------------------------------------------------------------------


def test_mmpose_300w_json_real(shared_data):
    folder = shared_data / "mmpose_300w"
    ds = readers.read_coco_keypoints(folder / "test_300w.json")
    assert len(ds) == 2
    assert [os.path.basename(r.image) for r in ds.records] == ["indoor_029.png", "indoor_020.png"]
    first = ds.records[0]
    assert first.keypoints.shape == (68, 2)
    np.testing.assert_allclose(first.keypoints[0], [268.0, 398.882], rtol=1e-6)
    np.testing.assert_allclose(first.box, [223.7298, 217.3791, 223.7298 + 531.2424, 217.3791 + 571.4508], rtol=1e-6)
    assert first.meta["visibility"].tolist() == [1] * 68
    assert first.source == f"{folder / 'test_300w.json'}:annotations[0]"
    assert validate(ds, full_decode=True)[1] == []


# ---- box CSV ---------------------------------------------------------------------------------------


def test_box_csv_height_before_width(tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text(",path,x,y,h,w\n0,imgs/a.jpg,10,20,30,40\n1,/abs/b.jpg,1.5,2.5,3,4\n")
    ds = readers.read_box_csv(csv, allow_absolute_paths=True)  # the row with /abs/b.jpg
    np.testing.assert_array_equal(ds.records[0].box, [10, 20, 50, 50])  # x + width(40), y + height(30)
    np.testing.assert_array_equal(ds.records[1].box, [1.5, 2.5, 5.5, 5.5])
    assert ds.records[0].image == str(tmp_path / "imgs" / "a.jpg")
    assert ds.records[1].image == "/abs/b.jpg"
    assert ds.records[0].source == f"{csv}:2" and ds.records[0].meta["index"] == "0"


def test_box_csv_without_header(tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text("7,a.jpg,1,2,3,4\n")
    ds = readers.read_box_csv(csv, images_dir="/data")
    assert ds.records[0].source == f"{csv}:1" and ds.records[0].image == "/data/a.jpg"
    np.testing.assert_array_equal(ds.records[0].box, [1, 2, 5, 5])


# ---- SIGNS HDF5 ------------------------------------------------------------------------------------


def test_signs_test_set_real(shared_data):
    path = shared_data / "signs" / "test_signs.h5"
    ds = readers.read_signs_h5(path)
    assert len(ds) == 120
    assert ds.classes == ("0", "1", "2", "3", "4", "5")
    assert np.bincount([r.label for r in ds.records]).tolist() == [20] * 6
    assert [r.label for r in ds.records[:5]] == [0, 0, 0, 5, 1]
    first = ds.records[0]
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8
    assert first.source == f"{path}[test_set_x][0]"
    assert readers.read_signs_h5(path, split="test").records[3].label == 5
    assert validate(ds)[1] == []


def test_signs_row_labels_and_split_choice(tmp_path):
    path = tmp_path / "both.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((3, 8, 8, 3), np.uint8)
        f["train_set_y"] = np.array([[2, 0, 1]])  # (1, m), as the old loader stored it
        f["test_set_x"] = np.zeros((1, 8, 8, 3), np.uint8)
        f["test_set_y"] = np.array([1])
        f["list_classes"] = np.array([0, 1, 2])
    assert [r.label for r in readers.read_signs_h5(path, split="train").records] == [2, 0, 1]
    assert len(readers.read_signs_h5(path, split="test")) == 1


def test_h5_with_named_classes_uses_y_as_index(tmp_path):
    path = tmp_path / "cats.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((2, 4, 4, 3), np.uint8)
        f["train_set_y"] = np.array([1, 0])
        f["list_classes"] = np.array([b"non-cat", b"cat"])
    ds = readers.read_signs_h5(path)
    assert ds.classes == ("non-cat", "cat") and [r.label for r in ds.records] == [1, 0]


# ---- class folders ---------------------------------------------------------------------------------


def test_class_folders_with_the_real_class_list(tmp_path, shared_data):
    class_csv = shared_data / "sketch_classes" / "class2category.csv"
    _jpeg(tmp_path / "train_images" / "n01484850" / "a.JPEG")
    _jpeg(tmp_path / "train_images" / "n01484850" / "b.png")
    _jpeg(tmp_path / "train_images" / "n01494475" / "c.jpg")
    (tmp_path / "train_images" / "n01494475" / "notes.txt").write_text("not an image")
    ds = readers.read_class_folders(tmp_path, "train", class_list=class_csv)
    assert len(ds.classes) == 500 and ds.classes[:2] == ("n01484850", "n01494475")
    assert [(os.path.basename(r.image), r.label) for r in ds.records] == [("a.JPEG", 0), ("b.png", 0), ("c.jpg", 1)]


def test_class_folders_split_aliases_and_sorted_classes(tmp_path):
    for split in ("train", "val_set", "test_images"):
        _jpeg(tmp_path / split / "dog" / "1.jpg")
        _jpeg(tmp_path / split / "cat" / "2.jpg")
    for split in ("train", "val", "test"):
        ds = readers.read_class_folders(tmp_path, split)
        assert ds.classes == ("cat", "dog")
        assert [r.label for r in ds.records] == [0, 1]
    ds = readers.read_class_folders(tmp_path, "train", class_list=["dog", "cat"])
    assert [r.label for r in ds.records] == [1, 0]


def test_split_folder_names(tmp_path):
    from jaxres.data.readers.folders import has_split

    assert readers.split_folder_names("train") == ("train", "train_images", "train_set")
    assert "validation_images" in readers.split_folder_names("val")
    (tmp_path / "valid_set").mkdir()
    assert has_split(tmp_path, "val") and not has_split(tmp_path, "train")


def test_flat_folder_for_prediction(tmp_path):
    _jpeg(tmp_path / "b.webp")
    _jpeg(tmp_path / "a.JPG")
    (tmp_path / "readme.md").write_text("x")
    ds = readers.read_flat_folder(tmp_path)
    assert [r.meta["id"] for r in ds.records] == ["a", "b"]
    assert all(r.label is None for r in ds.records)


# ---- TFDS ------------------------------------------------------------------------------------------


def test_tfds_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes the import fail
    with pytest.raises(UserError, match=r"pip install 'jaxres\[tfds\]'"):
        readers.read_tfds("tfds:imagenet_sketch", "train")


def test_tfds_tiny_builder(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is an optional extra (jaxres[tfds])")

    class TinySketchForTest(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = {
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=["n01", "n02"]),
                "file_name": tfds.features.Text(),
            }
            return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            return {"test": self._generate_examples()}

        def _generate_examples(self):
            for i in range(3):  # PIL images: encoded by Pillow, so TensorFlow is not needed
                yield i, {"image": Image.new("RGB", (5, 4 + i), (i, 0, 0)), "label": i % 2, "file_name": f"im{i}.JPEG"}

    # tfds looks for README/citation files beside a builder's package; give it an empty folder.
    (tmp_path / "pkg").mkdir()
    TinySketchForTest.pkg_dir_path = tfds.core.Path(tmp_path / "pkg")
    try:
        TinySketchForTest(data_dir=str(tmp_path), file_format="array_record").download_and_prepare()
    except Exception as err:  # e.g. array_record missing on this platform
        pytest.skip(f"cannot build a local TFDS set here: {err}")
    with pytest.raises(DataError, match=r"no split 'validation'; the set has \['test'\]"):
        readers.read_tfds("tfds:tiny_sketch_for_test", "validation", data_dir=tmp_path)
    ds = readers.read_tfds("tfds:tiny_sketch_for_test", "test", data_dir=tmp_path)
    assert ds.classes == ("n01", "n02") and len(ds) == 3
    by_id = {r.meta["id"]: r for r in ds.records}
    assert by_id["im2"].image.shape == (6, 5, 3) and by_id["im2"].label == 0 and by_id["im1"].label == 1


def test_tfds_mock_imagenet_sketch_by_name():
    """TFDS's own mock data for the registered `imagenet_sketch` builder: read by name, offline."""
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is an optional extra (jaxres[tfds])")
    with tfds.testing.mock_data(num_examples=5):
        ds = readers.read_tfds("tfds:imagenet_sketch", "train")
    assert len(ds) == 5 and len(ds.classes) == 1000 and ds.source == "tfds:imagenet_sketch/train"
    for record in ds.records:
        assert record.image.dtype == np.uint8 and record.image.ndim == 3 and record.image.shape[2] == 3
        assert 0 <= record.label < 1000 and isinstance(record.meta["id"], str)


def test_tfds_set_not_prepared_says_how_to_build_it(tmp_path):
    pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is an optional extra (jaxres[tfds])")
    with pytest.raises(DataError, match=r"not prepared in .*tfds build imagenet_sketch") as err:
        readers.read_tfds("tfds:imagenet_sketch", "train", data_dir=tmp_path)
    assert str(err.value).startswith("tfds:imagenet_sketch/train:")


def test_readers_import_without_jax_or_tfds():
    import subprocess

    code = (
        "import sys, jaxres.data.readers, jaxres.data.validate, jaxres.data.images; "
        "print(sorted(m for m in ('jax', 'tensorflow_datasets', 'tensorflow') if m in sys.modules))"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "[]"


def test_a_folder_of_tiff_images_reads_like_a_single_tiff(tmp_path):
    """One list of image extensions: `predict` took a .tif file but refused a folder of them."""
    from PIL import Image

    from jaxres.data.readers import read_flat_folder

    for name in ("a.tif", "b.tiff"):
        Image.new("RGB", (8, 6), (1, 2, 3)).save(tmp_path / name)
    assert sorted(r.meta["id"] for r in read_flat_folder(tmp_path).records) == ["a", "b"]
