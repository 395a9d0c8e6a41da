"""Metrics against values worked out by hand (and, where installed, against scikit-learn)."""

import math
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from jaxres import objectives
from jaxres.data.records import Dataset, Record
from jaxres.metrics import baselines, boxes, classification as cls, keypoints as kp


# --- keypoints -----------------------------------------------------------------------------------

def _face(n=2):
    """68 points where the outer eye corners are 100 px apart and the eye centres 80 px apart."""
    rng = np.random.default_rng(0)
    face = rng.uniform(50, 250, size=(68, 2))
    face[36:42] = [(100, 100), (105, 96), (115, 96), (120, 100), (115, 104), (105, 104)]  # centre (110, 100)
    face[42:48] = [(180, 100), (185, 96), (195, 96), (200, 100), (195, 104), (185, 104)]  # centre (190, 100)
    return np.stack([face] * n)


def test_nme_of_a_known_offset():
    true = _face()
    pred = true + np.array([3.0, 4.0])  # every point 5 px off
    np.testing.assert_allclose(kp.point_errors(pred, true), 5.0)
    np.testing.assert_allclose(kp.inter_ocular(true), [100.0, 100.0])
    np.testing.assert_allclose(kp.inter_pupil(true), [80.0, 80.0])
    np.testing.assert_allclose(kp.nme_inter_ocular(pred, true), [0.05, 0.05])
    np.testing.assert_allclose(kp.nme_inter_pupil(pred, true), [0.0625, 0.0625])
    np.testing.assert_allclose(kp.nme(pred, true, 50.0), [0.1, 0.1])


def test_normaliser_comes_from_the_truth_and_indices_are_configurable():
    true = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]]])
    pred = np.array([[[0.0, 0.0], [0.0, 0.0], [0.0, 20.0]]])  # collapsing the pair cannot hide the error
    assert kp.nme_inter_ocular(pred, true, indices=(0, 1))[0] == pytest.approx(10 / 3 / 10)
    assert kp.nme_inter_ocular(pred, true, indices=(0, 2))[0] == pytest.approx(10 / 3 / 20)
    assert kp.nme_inter_pupil(pred, true, left=[0], right=[1, 2])[0] == pytest.approx(
        10 / 3 / math.hypot(5, 10))


def test_mean_point_error_pixels():
    true = np.zeros((2, 3, 2))
    pred = np.concatenate([np.full((1, 3, 2), [3.0, 4.0]), np.full((1, 3, 2), [6.0, 8.0])])
    assert kp.mean_point_error(pred, true) == pytest.approx(7.5)


def test_reference_lengths():
    assert kp.image_diagonal((3, 4)) == pytest.approx(5.0)
    np.testing.assert_allclose(kp.image_diagonal((3, 4), n=2), [5.0, 5.0])
    np.testing.assert_allclose(kp.image_diagonal([[3, 4], [6, 8]]), [5.0, 10.0])


def test_pck_at_image_diagonal():
    diagonal = kp.image_diagonal((224, 224))  # 316.78 px: alpha 0.05 → 15.8, 0.1 → 31.7, 0.2 → 63.4
    true = np.zeros((1, 4, 2))
    pred = np.array([[[10.0, 0], [31.0, 0], [32.0, 0], [100.0, 0]]])
    assert kp.pck(pred, true, diagonal, 0.05) == 0.25
    assert kp.pck(pred, true, diagonal, 0.1) == 0.5
    assert kp.pck(pred, true, diagonal, 0.2) == 0.75
    assert kp.pck(pred, true, 10.0, 1.0) == 0.25  # an error equal to the threshold counts as correct


def test_auc_and_failure_rate_of_a_known_distribution():
    errors = np.array([0.0, 0.02, 0.04, 0.1])
    # each sample adds (0.08 - e)+ / 0.08: 1, 0.75, 0.5, 0 → mean 0.5625
    assert kp.auc(errors) == pytest.approx(0.5625)
    assert kp.failure_rate(errors) == 0.25
    assert kp.failure_rate([0.08, 0.0800001]) == 0.5  # equal to the threshold is not a failure
    ts, curve = kp.ced(errors, num=80001)
    trapezoid = np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(ts))  # what papers integrate
    assert trapezoid / 0.08 == pytest.approx(0.5625, abs=1e-4)
    ts, curve = kp.ced(errors, num=5)
    np.testing.assert_allclose(ts, [0, 0.02, 0.04, 0.06, 0.08])
    np.testing.assert_allclose(curve, [0.25, 0.5, 0.75, 0.75, 0.75])


def test_keypoint_errors_are_clear():
    with pytest.raises(ValueError, match=r"differ in shape.*\(2, 68, 2\).*\(2, 12, 2\)"):
        kp.point_errors(np.zeros((2, 68, 2)), np.zeros((2, 12, 2)))
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        kp.point_errors(np.zeros((2, 136)), np.zeros((2, 136)))
    with pytest.raises(ValueError, match="out of range for 12 keypoints"):
        kp.nme_inter_ocular(np.zeros((1, 12, 2)), np.zeros((1, 12, 2)))
    with pytest.raises(ValueError, match="sample 1"):
        true = _face()
        true[1, 45] = true[1, 36]  # coincident eye corners → no scale
        kp.nme_inter_ocular(true, true)
    with pytest.raises(ValueError, match="alpha"):
        kp.pck(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), 1.0, 0.0)


def _dlib_faces(path):
    faces, boxes_ = [], []
    for box in ET.parse(path).getroot().iter("box"):
        parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
        faces.append([(float(p.get("x")), float(p.get("y"))) for p in parts])
        boxes_.append([float(box.get(k)) for k in ("left", "top", "width", "height")])
    return np.array(faces), np.array(boxes_)


def test_real_300w_layout_eye_indices(shared_data):
    """On real dlib/iBUG faces, points 36 and 45 are the outer eye corners: the inter-ocular distance
    is a plausible share of the face box, and wider than the distance between the eye centres."""
    faces, face_boxes = _dlib_faces(shared_data / "dlib_faces" / "testing_with_face_landmarks.xml")
    assert faces.shape == (25, 68, 2)
    iod, ipd = kp.inter_ocular(faces), kp.inter_pupil(faces)
    ratio = iod / face_boxes[:, 2]
    assert np.all((ratio > 0.3) & (ratio < 0.8)), ratio
    assert np.all(ipd < iod)
    assert np.all(kp.nme_inter_ocular(faces, faces) == 0)
    shifted = faces + [0.0, 2.0]
    np.testing.assert_allclose(kp.nme_inter_ocular(shifted, faces), 2.0 / iod)


# --- boxes ---------------------------------------------------------------------------------------

BOX_PRED = [[0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 2, 1], [0, 0, 4, 1]]
BOX_TRUE = [[0, 0, 1, 1], [1, 1, 3, 3], [0, 0, 1, 1], [0, 0, 3, 1]]


def test_iou_by_hand():
    # identical; overlap 1 of union 4+4-1; half; three quarters
    np.testing.assert_allclose(boxes.iou(BOX_PRED, BOX_TRUE), [1.0, 1 / 7, 0.5, 0.75])
    assert boxes.mean_iou(BOX_PRED, BOX_TRUE) == pytest.approx((1 + 1 / 7 + 0.5 + 0.75) / 4)
    summary = boxes.summarize(BOX_PRED, BOX_TRUE)
    assert summary["iou@0.5"] == 0.75 and summary["iou@0.75"] == 0.5 and summary["count"] == 4


def test_box_mean_abs_error_pixels():
    # |diffs|: 0 0 0 0 | 1 1 1 1 | 0 0 1 0 | 0 0 1 0 → 6 / 16
    assert boxes.mean_abs_error(BOX_PRED, BOX_TRUE) == pytest.approx(6 / 16)


def test_degenerate_boxes_give_zero_not_nan():
    pred = [[1, 1, 1, 3], [0, 0, 0, 0], [2, 2, 0, 0], [0, 0, 1, 1], [np.nan, 0, 1, 1]]
    true = [[0, 0, 2, 4], [0, 0, 0, 0], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 1, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning either
        ious = boxes.iou(pred, true)
    np.testing.assert_array_equal(ious, [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(boxes.area(pred), [0, 0, 0, 1, 0])


def test_box_errors_are_clear():
    with pytest.raises(ValueError, match=r"differ in shape.*\(2, 4\).*\(3, 4\)"):
        boxes.iou(np.zeros((2, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        boxes.iou(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="N = 0"):
        boxes.mean_iou(np.zeros((0, 4)), np.zeros((0, 4)))


# --- classification ------------------------------------------------------------------------------

# class 3 is only ever predicted, class 2 never predicted
Y_TRUE = [0, 0, 1, 1, 1, 2]
Y_PRED = [0, 1, 1, 1, 3, 0]


def test_confusion_and_per_class_metrics_by_hand():
    m = cls.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [0, 2, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    per = cls.precision_recall_f1(m)
    np.testing.assert_allclose(per["precision"], [1 / 2, 2 / 3, 0, 0])
    np.testing.assert_allclose(per["recall"], [1 / 2, 2 / 3, 0, 0])
    np.testing.assert_allclose(per["f1"], [1 / 2, 2 / 3, 0, 0])
    np.testing.assert_array_equal(per["support"], [2, 3, 1, 0])
    np.testing.assert_allclose(cls.per_class_accuracy(m), [1 / 2, 2 / 3, 0, np.nan])
    assert cls.accuracy(Y_TRUE, Y_PRED) == 0.5


def test_macro_and_weighted_f1_by_hand():
    m = cls.confusion_matrix(Y_TRUE, Y_PRED)
    assert cls.macro_f1(m) == pytest.approx((1 / 2 + 2 / 3 + 0 + 0) / 4)  # 7/24 over y_true ∪ y_pred
    assert cls.weighted_f1(m) == pytest.approx((2 * 1 / 2 + 3 * 2 / 3) / 6)  # 0.5
    wide = cls.confusion_matrix(Y_TRUE, Y_PRED, num_classes=6)  # classes 4, 5 absent: not averaged
    assert wide.shape == (6, 6)
    assert cls.macro_f1(wide) == pytest.approx(7 / 24)
    np.testing.assert_array_equal(cls.present_classes(wide), [1, 1, 1, 1, 0, 0])


def test_f1_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 7, 200), rng.integers(1, 9, 200)  # disjoint-ish label sets
    m = cls.confusion_matrix(y_true, y_pred, num_classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cls.macro_f1(m) == pytest.approx(sk.f1_score(y_true, y_pred, average="macro"))
        assert cls.weighted_f1(m) == pytest.approx(sk.f1_score(y_true, y_pred, average="weighted"))
        assert cls.macro_f1(cls.confusion_matrix(Y_TRUE, Y_PRED)) == pytest.approx(
            sk.f1_score(Y_TRUE, Y_PRED, average="macro"))
    np.testing.assert_array_equal(m[:9, :9], sk.confusion_matrix(y_true, y_pred))


def test_top_k_by_hand():
    scores = np.array([
        [0.1, 0.5, 0.3, 0.1],      # label 2 is second
        [0.7, 0.1, 0.1, 0.1],      # label 0 is first
        [0.25, 0.25, 0.25, 0.25],  # all tied: order 0, 1, 2, 3 as argmax; label 1 is second
        [0.4, 0.3, 0.2, 0.1],      # label 3 is last
    ])
    labels = [2, 0, 1, 3]
    assert [cls.top_k_accuracy(scores, labels, k) for k in (1, 2, 3, 4)] == [0.25, 0.75, 0.75, 1.0]
    assert cls.top_k_accuracy(np.log(scores), labels, 2) == 0.75  # logits rank the same
    report = cls.summarize(scores, labels, ks=(1, 2, 5))
    assert report["top1"] == 0.25 and report["top2"] == 0.75 and "top5" not in report


def test_classification_errors_are_clear():
    with pytest.raises(ValueError, match="differ in length"):
        cls.accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match=r"k must be in \[1, 4\]"):
        cls.top_k_accuracy(np.zeros((2, 4)), [0, 1], 5)
    with pytest.raises(ValueError, match="label 4 out of range for 4 classes"):
        cls.top_k_accuracy(np.zeros((2, 4)), [0, 4], 1)
    with pytest.raises(ValueError, match="num_classes=2"):
        cls.confusion_matrix([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="integer class indices"):
        cls.accuracy([0.5, 1], [0, 1])


# --- baselines -----------------------------------------------------------------------------------

def test_baselines():
    targets = np.array([[[0.2, 0.4]], [[0.4, 0.8]]])
    mean = baselines.mean_target(targets)
    np.testing.assert_allclose(mean, [[0.3, 0.6]])
    np.testing.assert_allclose(baselines.repeat(mean, 3), np.broadcast_to(mean, (3, 1, 2)))
    assert baselines.majority_class([2, 1, 1, 2, 0]) == 1  # tie → lower index


def test_the_keypoint_objective_reports_nme_per_300w_subset():
    """300-W's protocol reports the common and challenging subsets beside the full set: each is the
    mean inter-ocular NME of its own faces (outer eye corners, points 36 and 45)."""
    rng = np.random.default_rng(0)
    truth = rng.uniform(20, 200, size=(5, 68, 2))
    predictions = truth + rng.normal(0, 3, size=truth.shape)
    subsets = ["common", "common", "challenging", "common", "challenging"]
    records = [Record(f"face{i}.png", f"faces.xml:{i}", keypoints=t, meta={"subset": s})
               for i, (t, s) in enumerate(zip(truth, subsets))]
    objective = objectives.create({"kind": "keypoints", "image_size": 32, "metrics": {"nme": ["inter_ocular"]}},
                                  {"num_keypoints": 68})
    result = objective.evaluate(predictions, Dataset(records))

    per_face = (np.linalg.norm(predictions - truth, axis=-1).mean(axis=-1)
                / np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1))
    common = np.array([s == "common" for s in subsets])
    assert result["nme_io"] == pytest.approx(per_face.mean())
    assert result["nme_io_common"] == pytest.approx(per_face[common].mean())
    assert result["nme_io_challenging"] == pytest.approx(per_face[~common].mean())
