"""Unlabelled keypoints (COCO visibility 0): read as NaN, accepted only where the annotation says so,
and masked out of the loss, its gradient, the metrics and the mean-shape baseline; a face training
on such a COCO file trains and reports finite metrics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bad_inputs as B
import cli_helpers as C
from jaxres import metrics
from jaxres.data import readers
from jaxres.data.records import Dataset, Record
from jaxres.data.validate import validate
from jaxres.errors import DataError
from jaxres.metrics import baselines
from jaxres.objectives import losses


def _coco_with_unlabelled(tmp_path, hidden=((0, 5), (3, 0), (3, 36))):
    doc = B.coco(tmp_path / "f.json")
    for ann, point in hidden:
        flat = doc["annotations"][ann]["keypoints"]
        flat[3 * point: 3 * point + 3] = [0, 0, 0]
    return B.write_json(tmp_path / "f.json", doc)


def test_a_point_with_visibility_zero_reads_as_nan_and_passes_validation(tmp_path):
    dataset = readers.read_coco_keypoints(_coco_with_unlabelled(tmp_path))
    first = dataset.records[0]
    assert np.isnan(first.keypoints[5]).all() and np.isfinite(np.delete(first.keypoints, 5, 0)).all()
    assert first.meta["visibility"][5] == 0
    good, bad = validate(dataset)
    assert len(good) == len(dataset) and not bad


def test_a_nan_point_the_annotation_does_not_mark_unlabelled_is_still_refused(tmp_path):
    B.png(tmp_path / "a.png")
    points = np.tile(np.array([[10.0, 10.0]], np.float32), (3, 1))
    points[1] = np.nan
    dataset = Dataset([Record(str(tmp_path / "a.png"), "points.csv:2", keypoints=points)])
    with pytest.raises(DataError, match=r"points.csv:2: keypoint 1 is \[nan, nan\]"):
        validate(dataset)


def test_the_masked_loss_is_the_loss_over_labelled_elements_and_ignores_the_rest():
    rng = np.random.default_rng(0)
    pred = jnp.asarray(rng.normal(size=(4, 5, 2)), jnp.float32)
    target = rng.normal(size=(4, 5, 2)).astype(np.float32)
    target[1, 2] = np.nan
    target[3, 0] = np.nan
    labelled = np.isfinite(target)
    for name in ("mse", "l1", "smooth_l1"):
        loss = losses.masked(losses.get(name))
        expected = losses.get(name)(pred[labelled], jnp.asarray(target[labelled]))
        np.testing.assert_allclose(loss(pred, jnp.asarray(target)), expected, rtol=1e-6)
        grad = jax.grad(lambda p: loss(p, jnp.asarray(target)))(pred)
        assert np.isfinite(grad).all()
        assert (np.asarray(grad)[~labelled] == 0).all()
    full = target.copy()
    full[~labelled] = 0.0
    np.testing.assert_allclose(losses.masked(losses.mse)(pred, jnp.asarray(full)), losses.mse(pred, jnp.asarray(full)))


def test_metrics_leave_unlabelled_true_points_out_but_keep_nan_predictions():
    true = np.zeros((2, 3, 2))
    true[:, :, 0] = [0, 10, 20]
    pred = true + np.array([3.0, 4.0])  # every error is 5 px
    true[0, 1] = np.nan
    pred[0, 1] = 1000.0  # far off, but its truth is unlabelled: not counted
    assert metrics.mean_point_error(pred, true) == 5.0
    np.testing.assert_allclose(metrics.nme(pred, true, 10.0), [0.5, 0.5])
    assert metrics.pck(pred, true, 10.0, 0.6) == 1.0
    pred[1, 2] = np.nan  # a diverged prediction at a labelled point shows
    assert np.isnan(metrics.mean_point_error(pred, true))


def test_the_mean_shape_baseline_averages_labelled_points_only():
    targets = np.array([[[1.0, 1.0], [2.0, 2.0]], [[3.0, 3.0], [np.nan, np.nan]]])
    np.testing.assert_allclose(baselines.mean_target(targets), [[2.0, 2.0], [2.0, 2.0]])


def test_face_trains_on_a_coco_file_with_unlabelled_points(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    path = _coco_with_unlabelled(tmp_path / "data", hidden=[(i, p) for i in range(0, 10, 2) for p in (5, 40)])
    result = C.run("face", ["train", "--data", path, "--workdir", tmp_path / "run", *C.TINY,
                            "--weights", "none", "--set", "data.val_fraction=0.2"])
    assert result.rc == 0, result.err
    metrics_ = result.last_json()
    assert np.isfinite(metrics_["mean_error_px"]) and np.isfinite(metrics_["nme_io"])
