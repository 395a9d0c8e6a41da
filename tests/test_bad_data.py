"""Bad data must fail fast with a DataError whose one-line message names the file and the row."""

import io
import os
import shutil
import time

import h5py
import numpy as np
import pytest
from PIL import Image

from jaxres.data import readers
from jaxres.data.records import Dataset, Record
from jaxres.data.validate import validate
from jaxres.errors import DataError


def _raises(fn, *args, where: str, match: str | None = None, **kwargs) -> DataError:
    """Call and check: a DataError, one line, starting with `where:` (file or file:row)."""
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert "\n" not in text, text
    assert text.startswith(f"{where}:"), f"{text!r} should start with {where!r}:"
    return info.value


def _jpeg(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (1, 2, 3)).save(path)
    return path


def _truncated_jpeg(path):
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[:-300])
    return path


def _points_csv(tmp_path, *rows: str):
    csv = tmp_path / "points.csv"
    csv.write_text("filename,points\n" + "\n".join(rows) + "\n")
    return csv


# ---- keypoint CSV ----------------------------------------------------------------------------------


def test_wrong_coordinate_count_names_the_row(tmp_path):
    csv = _points_csv(tmp_path, '1.jpg,"[1, 2, 3, 4]"', '2.jpg,"[1, 2, 3, 4]"', '3.jpg,"[1, 2]"')
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:4", match="2 coordinates, but the first row has 4")


def test_odd_coordinate_count(tmp_path):
    csv = _points_csv(tmp_path, '1.jpg,"[1, 2, 3]"')
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:2", match="odd")


def test_non_numeric_point(tmp_path):
    csv = _points_csv(tmp_path, "1.jpg,\"['1', '2']\"", "2.jpg,\"['1', 'abc']\"")
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:3", match="'abc' is not a number")


def test_nan_point(tmp_path):
    csv = _points_csv(tmp_path, '1.jpg,"[1, nan]"')
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:2", match="finite")


def test_wide_csv_missing_and_extra_cells(tmp_path):
    csv = tmp_path / "wide.csv"
    csv.write_text("f,x0,y0\n1.jpg,1,2\n2.jpg,3,\n")
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:3", match="missing")
    csv.write_text("f,x0,y0\n1.jpg,1,2\n2.jpg,3,4,5\n")
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:3", match="not a readable CSV")


def test_csv_with_one_column_and_empty_csv(tmp_path):
    csv = tmp_path / "one.csv"
    csv.write_text("filename\n1.jpg\n")
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:1", match="filename,points")
    csv.write_text("")
    _raises(readers.read_keypoint_csv, csv, where=str(csv), match="empty")
    _raises(readers.read_keypoint_csv, tmp_path / "none.csv", where=str(tmp_path / "none.csv"), match="not found")


def test_keypoint_folder_with_two_csvs(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.csv").write_text("x")
    _raises(readers.read_keypoint_folder, tmp_path, where=str(tmp_path), match="exactly one")


# ---- validate: images and targets ------------------------------------------------------------------


def test_missing_image_names_the_csv_row_and_the_image(tmp_path):
    _jpeg(tmp_path / "1.jpg")
    csv = _points_csv(tmp_path, '1.jpg,"[1, 2]"', '2.jpg,"[1, 2]"')
    err = _raises(validate, readers.read_keypoint_csv(csv), where=f"{csv}:3", match="not found")
    assert str(tmp_path / "2.jpg") in str(err)


def test_truncated_jpeg_found_by_the_header_pass_and_by_full_decode(tmp_path):
    _truncated_jpeg(tmp_path / "1.jpg")
    csv = _points_csv(tmp_path, '1.jpg,"[1, 2]"')
    ds = readers.read_keypoint_csv(csv)
    for full_decode in (False, True):
        err = _raises(validate, ds, full_decode=full_decode, where=f"{csv}:2", match="truncated")
        assert str(tmp_path / "1.jpg") in str(err)


def test_keypoints_far_outside_the_image(tmp_path):
    _jpeg(tmp_path / "1.jpg", size=(40, 30))
    csv = _points_csv(tmp_path, '1.jpg,"[-19, 44, 59, 0]"', '1.jpg,"[1, 2, 61, 3]"')
    ds = readers.read_keypoint_csv(csv)
    # row 2 is within 0.5 x size of the border (x in [-20, 60], y in [-15, 45]); row 3 has x = 61
    _raises(validate, ds, where=f"{csv}:3", match=r"keypoint 1 at \(61, 3\).*40x30")
    good, bad = validate(ds, max_outside=1.0)
    assert len(good) == 2 and bad == []


def test_skip_bad_returns_good_records_and_reasons(tmp_path):
    _jpeg(tmp_path / "1.jpg")
    csv = _points_csv(tmp_path, '1.jpg,"[1, 2]"', '2.jpg,"[1, 2]"', '1.jpg,"[900, 2]"', '1.jpg,"[3, 4]"')
    ds = readers.read_keypoint_csv(csv)
    err = _raises(validate, ds, where=f"{csv}:3", match="and 1 more bad records")
    assert "skip_bad" in str(err)
    good, bad = validate(ds, skip_bad=True)
    assert [r.source for r in good.records] == [f"{csv}:2", f"{csv}:5"]
    assert len(bad) == 2
    assert bad[0].startswith(f"{csv}:3: image {tmp_path / '2.jpg'}")
    assert bad[1].startswith(f"{csv}:4: keypoint 0 at (900, 2)")


def test_empty_and_all_bad_datasets():
    _raises(validate, Dataset([], source="x.csv"), where="x.csv", match="no records")
    bad = Dataset([Record(image="/nope/a.jpg", source="x.csv:2")], source="x.csv")
    _raises(validate, bad, skip_bad=True, where="x.csv", match="all 1 records are bad")


def test_bad_boxes_labels_and_nan_targets():
    image = np.zeros((10, 20, 3), np.uint8)
    cases = [
        (Record(image, "s.csv:2", box=np.array([5, 5, 5, 9], np.float32)), "width 0"),
        (Record(image, "s.csv:3", box=np.array([0, 0, np.nan, 9], np.float32)), "not finite"),
        (Record(image, "s.csv:4", keypoints=np.array([[1, np.inf]], np.float32)), "not finite"),
        (Record(image, "s.csv:5", label=7), "outside the 2 classes"),
        (Record(image, "s.csv:6", keypoints=np.zeros((3,), np.float32)), r"\(K, 2\)"),
    ]
    for record, reason in cases:
        _raises(validate, Dataset([record], classes=("a", "b")), where=record.source, match=reason)


def test_image_checks_can_be_skipped(tmp_path):
    ds = Dataset([Record(image=str(tmp_path / "missing.jpg"), source="f.csv:2", keypoints=np.ones((1, 2)))])
    assert len(validate(ds, check_images=False)[0]) == 1


def test_validate_reads_each_image_header_once_per_call(tmp_path, monkeypatch):
    import jaxres.data.validate as module

    path = str(_jpeg(tmp_path / "a.jpg"))
    calls = []
    monkeypatch.setattr(module, "image_size", lambda p: calls.append(p) or (40, 30))
    ds = Dataset([Record(path, f"f.xml:{i}", box=np.array([1, 1, 5, 5], np.float32)) for i in range(20)])
    validate(ds)
    assert calls == [path]


# ---- dlib XML --------------------------------------------------------------------------------------


def _xml(path, body: str):
    path.write_text("<?xml version='1.0'?>\n<dataset><images>\n" + body + "\n</images></dataset>\n")
    return path


def _box(parts=68, left="5"):
    inner = "".join(f"<part name='{k:02d}' x='{k}' y='{k}'/>" for k in range(parts))
    return f"<box top='1' left='{left}' width='20' height='20'>{inner}</box>"


def test_missing_parts_name_the_box_line_and_image(tmp_path):
    xml = _xml(tmp_path / "f.xml", f"<image file='a.jpg'>\n{_box()}\n{_box(parts=66)}\n</image>")
    reason = r"image 'a.jpg' box 1: 2 of 68 parts missing \(66, 67\)"
    _raises(readers.read_dlib_xml, xml, where=f"{xml}:5", match=reason)


def test_non_numeric_box_attribute(tmp_path):
    xml = _xml(tmp_path / "f.xml", f"<image file='a.jpg'>\n{_box(left='left')}\n</image>")
    _raises(readers.read_dlib_xml, xml, where=f"{xml}:4", match="box left: 'left' is not a number")


def test_billion_laughs_is_refused_quickly(tmp_path):
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doc = "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n" + "\n".join(entities) + "\n]>\n<dataset>&lol9;</dataset>\n"
    xml = tmp_path / "bomb.xml"
    xml.write_text(doc)
    start = time.perf_counter()
    _raises(readers.read_dlib_xml, xml, where=str(xml), match="DOCTYPE")
    assert time.perf_counter() - start < 1.0


def test_utf16_doctype_is_refused_too(tmp_path):
    xml = tmp_path / "bomb16.xml"
    xml.write_bytes("<?xml version='1.0' encoding='utf-16'?><!DOCTYPE d [<!ENTITY a 'b'>]><dataset/>".encode("utf-16"))
    _raises(readers.read_dlib_xml, xml, where=str(xml), match="refused")


def test_csv_given_as_xml(tmp_path, shared_data):
    fake = tmp_path / "points.xml"
    shutil.copy(shared_data / "tshirt_points_24" / "points_24.csv", fake)
    _raises(readers.read_dlib_xml, fake, where=f"{fake}:1", match="not a well-formed XML")


def test_xml_of_another_schema(tmp_path):
    xml = tmp_path / "voc.xml"
    xml.write_text("<annotation><object/></annotation>")
    _raises(readers.read_dlib_xml, xml, where=f"{xml}:1", match="<dataset>")


@pytest.mark.parametrize("name", ["../outside.jpg", "/etc/passwd", "sub/../../x.jpg"])
def test_image_path_escaping_the_data_root(tmp_path, name):
    xml = _xml(tmp_path / "f.xml", f"<image file='{name}'>\n{_box()}\n</image>")
    _raises(readers.read_dlib_xml, xml, where=f"{xml}:3", match="leaves the data folder")


# ---- 300-W .pts ------------------------------------------------------------------------------------


def test_pts_count_mismatch_and_bad_number(tmp_path):
    pts = tmp_path / "a.pts"
    pts.write_text("version: 1\nn_points: 68\n{\n1 2\n3 4\n}\n")
    _raises(readers.read_pts, pts, where=f"{pts}:3", match="n_points is 68 but 2 points")
    pts.write_text("version: 1\nn_points: 2\n{\n1 2\n3 x\n}\n")
    _raises(readers.read_pts, pts, where=f"{pts}:5", match="'x' is not a number")
    pts.write_text("filename,points\n")
    _raises(readers.read_pts, pts, where=f"{pts}:1", match="n_points")


def test_300w_tree_missing_folder_and_image(tmp_path):
    _raises(readers.read_300w_tree, tmp_path, "challenging", where=str(tmp_path), match="ibug/ not found")
    (tmp_path / "ibug").mkdir()
    pts = tmp_path / "ibug" / "x.pts"
    pts.write_text("version: 1\nn_points: 1\n{\n1 2\n}\n")
    _raises(readers.read_300w_tree, tmp_path, "challenging", where=str(pts), match="no image x")
    _raises(readers.read_300w_tree, tmp_path, "val", where=str(tmp_path), match="unknown 300-W split")


# ---- COCO JSON -------------------------------------------------------------------------------------


def test_coco_not_json_and_bad_annotations(tmp_path, shared_data):
    fake = tmp_path / "a.json"
    shutil.copy(shared_data / "dlib_faces" / "training_with_face_landmarks.xml", fake)
    _raises(readers.read_coco_keypoints, fake, where=f"{fake}:1", match="not a JSON file")
    fake.write_text('{"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 2}]}')
    _raises(readers.read_coco_keypoints, fake, where=f"{fake}:annotations[0]", match="image_id 2")
    fake.write_text(
        '{"images": [{"id": 1, "file_name": "a.png"}], "annotations": ['
        '{"image_id": 1, "keypoints": [1, 2, 1], "bbox": [0, 0, 1, 1]},'
        '{"image_id": 1, "keypoints": [1, NaN, 1], "bbox": [0, 0, 1, 1]}]}'
    )
    _raises(readers.read_coco_keypoints, fake, where=f"{fake}:annotations[1]", match="NaN")
    fake.write_text('{"images": [{"id": 1, "file_name": "../a.png"}], "annotations": []}')
    _raises(readers.read_coco_keypoints, fake, where=f"{fake}:images[0]", match="leaves the data folder")


# ---- box CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1,a.jpg,1,2,3,-4", "must both be positive"),
        ("1,a.jpg,1,2,0,4", "must both be positive"),
        ("1,a.jpg,1,nan,3,4", "y is nan"),
        ("1,a.jpg,1,two,3,4", "y: 'two' is not a number"),
        ("1,a.jpg,1,2,,4", "height is missing"),
    ],
)
def test_box_csv_bad_rows(tmp_path, row, reason):
    csv = tmp_path / "b.csv"
    csv.write_text(f"i,path,x,y,h,w\n0,ok.jpg,1,2,3,4\n{row}\n")
    _raises(readers.read_box_csv, csv, where=f"{csv}:3", match=reason)


@pytest.mark.parametrize("name", ["../outside.jpg", "/etc/passwd", "sub/../../x.jpg"])
def test_csv_image_paths_stay_in_the_data_folder_unless_allowed(tmp_path, name):
    data = tmp_path / "data"
    data.mkdir()
    points, boxes = data / "points.csv", data / "boxes.csv"
    points.write_text(f'filename,points\nok.jpg,"[1, 2]"\n{name},"[3, 4]"\n')
    boxes.write_text(f"i,path,x,y,h,w\n0,ok.jpg,1,2,3,4\n1,{name},1,2,3,4\n")
    for read, csv in ((readers.read_keypoint_csv, points), (readers.read_box_csv, boxes)):
        err = _raises(read, csv, where=f"{csv}:3", match="leaves the data folder")
        assert "--set data.allow_absolute_paths=true" in str(err)
        trusted = read(csv, allow_absolute_paths=True)
        assert trusted.records[1].image == os.path.abspath(os.path.join(data, name))


def test_box_csv_too_few_columns(tmp_path):
    csv = tmp_path / "b.csv"
    csv.write_text("0,a.jpg,1,2\n")
    _raises(readers.read_box_csv, csv, where=f"{csv}:1", match="expected 6 columns")


# ---- SIGNS HDF5 ------------------------------------------------------------------------------------


def test_jpeg_renamed_h5(tmp_path):
    fake = _jpeg(tmp_path / "x.jpg").rename(tmp_path / "train_signs.h5")
    _raises(readers.read_signs_h5, fake, where=str(fake), match="not an HDF5 file")
    _raises(readers.read_signs_h5, tmp_path / "nope.h5", where=str(tmp_path / "nope.h5"), match="not found")


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def test_h5_wrong_keys_and_lengths(tmp_path):
    x = np.zeros((3, 8, 8, 3), np.uint8)
    path = _h5(tmp_path / "a.h5", images=x, labels=np.zeros(3, np.int64))
    _raises(readers.read_signs_h5, path, where=str(path), match="train_set_x / test_set_x")
    path = _h5(tmp_path / "b.h5", train_set_x=x, list_classes=np.arange(6))
    _raises(readers.read_signs_h5, path, where=str(path), match="missing key 'train_set_y'")
    path = _h5(tmp_path / "c.h5", train_set_x=x, train_set_y=np.zeros(2, np.int64))
    _raises(readers.read_signs_h5, path, where=f"{path}[train_set_y]", match="2 labels for 3 images")
    path = _h5(tmp_path / "d.h5", train_set_x=x, train_set_y=np.array([0, 9, 1]), list_classes=np.arange(6))
    _raises(readers.read_signs_h5, path, where=f"{path}[train_set_y][1]", match="label 9 is not in list_classes")
    y = np.zeros(3, np.int64)
    path = _h5(tmp_path / "e.h5", train_set_x=x, train_set_y=y, test_set_x=x, test_set_y=y)
    _raises(readers.read_signs_h5, path, where=str(path), match="split='train'")


def test_h5_split_that_the_file_lacks(shared_data):
    path = shared_data / "signs" / "test_signs.h5"
    _raises(readers.read_signs_h5, path, split="train", where=str(path), match="missing key 'train_set_x'")


# ---- class folders ---------------------------------------------------------------------------------


def test_empty_split(tmp_path):
    (tmp_path / "val" / "cat").mkdir(parents=True)
    _raises(readers.read_class_folders, tmp_path, "val", where=str(tmp_path / "val" / "cat"), match="no images")  # the empty class folder
    _jpeg(tmp_path / "test" / "1.jpg")
    _raises(readers.read_class_folders, tmp_path, "test", where=str(tmp_path / "test"), match="read_flat_folder")
    (tmp_path / "flat").mkdir()
    _raises(readers.read_flat_folder, tmp_path / "flat", where=str(tmp_path / "flat"), match="no images")


def test_class_folder_not_in_the_class_list(tmp_path, shared_data):
    _jpeg(tmp_path / "train" / "n01484850" / "a.jpg")
    _jpeg(tmp_path / "train" / "n99999999" / "b.jpg")
    class_csv = shared_data / "sketch_classes" / "class2category.csv"
    _raises(
        readers.read_class_folders, tmp_path, "train", class_list=class_csv,
        where=str(tmp_path / "train" / "n99999999"), match="not in the class list",
    )


def test_missing_and_ambiguous_split_folders(tmp_path):
    _raises(readers.read_class_folders, tmp_path, "train", where=str(tmp_path), match="train_images/")
    (tmp_path / "train").mkdir()
    (tmp_path / "train_set").mkdir()
    _raises(readers.read_class_folders, tmp_path, "train", where=str(tmp_path), match="several folders")


def test_bad_class_list_csv(tmp_path):
    _jpeg(tmp_path / "train" / "a" / "1.jpg")
    classes = tmp_path / "classes.csv"
    classes.write_text("Class,Category\na,0\nb,x\n")
    _raises(readers.read_class_folders, tmp_path, "train", class_list=classes, where=f"{classes}:3", match="'x'")
    classes.write_text("Class,Category\na,0\nb,2\n")
    _raises(
        readers.read_class_folders, tmp_path, "train", class_list=classes, where=str(classes), match="without gaps"
    )


def test_keypoint_csv_without_header_line(tmp_path):
    csv = tmp_path / "nohead.csv"
    csv.write_text('1.jpg,"[1, 2]"\n2.jpg,"[3, 4]"\n')
    _raises(readers.read_keypoint_csv, csv, where=f"{csv}:1", match="add a header line")
