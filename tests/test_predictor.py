"""`jaxres.load(workdir)`: the predictor, and the commands that work from it (predict, eval) on the
task's own annotation files: real sample photos with several faces each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import jaxres
from cli_helpers import run, trained, use_session_cache

XY = [f"{axis}{i}" for i in range(68) for axis in "xy"]


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        use_session_cache(patch, tmp_path_factory)
        workdir = trained("face", tmp_path_factory).workdir
        yield workdir, jaxres.load(workdir)


@pytest.fixture(scope="module")
def predicted(face, shared_data, tmp_path_factory):
    """`predict` on the face task's own XML (several faces per photo) and one bare photo."""
    workdir, _ = face
    faces = shared_data / "dlib_faces"
    out = tmp_path_factory.mktemp("predicted")
    done = run("face", ["predict", "--workdir", workdir, "--out", out, faces / "testing_with_face_landmarks.xml",
                        faces / "2008_001009.jpg"])
    assert done.rc == 0, done.err
    return done, out, pd.read_csv(out / "predictions.csv")


def test_predict_writes_a_row_per_face_and_an_overlay_per_photo(predicted):
    done, out, table = predicted
    assert len(table) == 25 + 1  # 25 faces on 5 photos, and the bare photo
    overlays = sorted(p.name for p in out.glob("*_pred.png"))
    assert len(overlays) == 6 == table["image"].nunique()
    assert done.err.count("the whole photo is taken as the box") == 1
    bare = table[table["image"] == "2008_001009"].iloc[0]
    assert (bare.box_left, bare.box_top, bare.box_width, bare.box_height) == (0, 0, 360, 480)


def test_load_predicts_the_numbers_of_the_predict_command(face, predicted, shared_data):
    _, predictor = face
    _, _, table = predicted
    faces = shared_data / "dlib_faces"
    rows = table.iloc[[0, 1, 7, 25]]  # two faces of one photo, a face of another, the bare photo
    images = [faces / (name if name.endswith(".jpg") else f"{name}.jpg") for name in rows["image"]]
    boxes = [[r.box_left, r.box_top, r.box_width, r.box_height] for r in rows.itertuples()]
    boxes[-1] = None  # no box: the whole photo, as the command took it
    got = predictor.predict([str(images[0]), Image.open(images[1]), np.asarray(Image.open(images[2])), str(images[3])],
                            boxes)
    for prediction, (_, row) in zip(got, rows.iterrows()):
        assert prediction.keypoints.shape == (68, 2)
        np.testing.assert_allclose(prediction.keypoints.reshape(-1), row[XY].to_numpy(float), atol=1e-3)
    np.testing.assert_allclose(got[-1].box_used, [0, 0, 360, 480])


def test_the_same_shapes_never_trace_again(face, shared_data):
    _, predictor = face
    photo = str(shared_data / "dlib_faces" / "2008_002470.jpg")
    predictor.predict(photo, box=[100, 50, 120, 120])
    before = dict(predictor.traces)
    for left in (90, 110, 130):
        predictor.predict(photo, box=[left, 50, 120, 120])
    assert dict(predictor.traces) == before


def test_flip_test_averages_the_mirror_images_points(face, shared_data):
    workdir, plain = face
    flipped = jaxres.load(workdir, {"objective.flip_test": True})
    photo = np.asarray(Image.open(shared_data / "dlib_faces" / "2008_002470.jpg").convert("L"))
    width, box = photo.shape[1], [274.0, 181.0, 52.0, 53.0]
    mirror_box = [width - box[0] - box[2], box[1], box[2], box[3]]
    direct = plain.predict(photo, box).keypoints
    mirrored = plain.predict(np.ascontiguousarray(photo[:, ::-1]), mirror_box).keypoints
    back = mirrored[plain.objective.flip_permutation()] * [-1, 1] + [width, 0]
    np.testing.assert_allclose(flipped.predict(photo, box).keypoints, (direct + back) / 2, atol=2e-3)
    assert np.abs(flipped.predict(photo, box).keypoints - direct).max() > 1e-3


def test_eval_on_a_file_scores_every_record_and_says_so(face, shared_data):
    workdir, predictor = face
    xml = shared_data / "dlib_faces" / "testing_with_face_landmarks.xml"
    done = run("face", ["eval", "--workdir", workdir, "--data", xml])
    assert done.rc == 0, done.err
    result = done.last_json()
    assert result["n"] == 25 and result["step"] == predictor.step
    head = done.out.splitlines()[0]
    assert xml.name in head and "25 records" in head and f"step {predictor.step}" in head


def test_a_missing_split_names_the_splits_there_are(face, shared_data):
    workdir, _ = face
    xml = shared_data / "dlib_faces" / "testing_with_face_landmarks.xml"
    done = run("face", ["eval", "--workdir", workdir, "--data", xml, "--split", "test"])
    assert done.rc == 2
    assert "no split 'test'; it has: train, val (held out of train)" in done.err


def test_only_inference_keys_can_be_set(face):
    workdir, _ = face
    done = run("face", ["eval", "--workdir", workdir, "--set", "model.arch=resnet50"])
    assert done.rc == 2 and "takes only objective.flip_test" in done.err
