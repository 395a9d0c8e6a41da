"""The one geometry (`jaxres.data.affine`): the same matrices in numpy and jax.numpy, pixels and points
agreeing through `warp_image`, the views, the flip maps, and colour jitter."""

import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_device_augment import _run

from jaxres import objectives
from jaxres.data import affine as A
from jaxres.data import flip_maps, photometric
from jaxres.data.records import Record
from tasks.synthetic import faces
from jaxres.errors import ConfigError

S = 64


def _noise_image(rng, w=90, h=70, c=3):
    return rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)


def _face_record(w=120, h=100, angle=0.0):
    """A mirror-symmetric face template placed in a w×h noise image, with its landmark box."""
    pts = faces.landmarks() * 25 + np.array([w / 2, h / 2])
    if angle:
        pts = A.apply_points(pts, A.compose(A.translate(-w / 2, -h / 2), A.rotate(angle), A.translate(w / 2, h / 2)))
    box = np.concatenate([pts.min(0), pts.max(0)])
    image = _noise_image(np.random.default_rng(0), w, h)
    return Record(image=image, source="test:0", keypoints=pts.astype(np.float32), box=box.astype(np.float32))


def test_ibug_flip_map_is_an_involution_that_mirrors_a_symmetric_face():
    perm = flip_maps.IBUG_68
    assert np.array_equal(perm[perm], np.arange(68))
    assert sorted(perm) == list(range(68))
    for shape in (faces.MEAN_SHAPE, faces.random_shape(np.random.default_rng(3))):
        face = faces.landmarks(shape)
        mirrored = face * np.array([-1.0, 1.0])
        np.testing.assert_allclose(mirrored[perm], face, atol=1e-12)
    on_axis = [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    assert [int(i) for i in np.flatnonzero(perm == np.arange(68))] == on_axis


def test_the_matrices_are_the_same_in_numpy_and_in_the_step():
    for xp_matrix in (lambda xp: A.compose(A.translate(-3.0, 4.5, xp), A.rotate(23.0, xp), A.scale(1.3, 0.7, xp),
                                           A.hflip(48, xp)),):
        host, device = xp_matrix(np), np.asarray(jax.jit(lambda: xp_matrix(jnp))())
        np.testing.assert_allclose(device, host, rtol=1e-6, atol=1e-5)
        points = np.array([[1.0, 2.0], [30.0, -4.0], [np.nan, np.nan]])
        np.testing.assert_allclose(np.asarray(A.apply_points(jnp.asarray(points, jnp.float32), jnp.asarray(device), jnp)),
                                   A.apply_points(points, host), rtol=1e-5, atol=1e-4)
        box = np.array([5.0, 6.0, 20.0, 11.0])
        np.testing.assert_allclose(np.asarray(A.apply_box(jnp.asarray(box, jnp.float32), jnp.asarray(device), jnp)),
                                   A.apply_box(box, host), rtol=1e-5, atol=1e-4)


def _assert_face_reads_left_to_right(p):
    assert p[0, 0] < p[8, 0] < p[16, 0]  # jaw
    assert p[17, 0] < p[21, 0] < p[22, 0] < p[26, 0]  # brows
    assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]  # eyes: outer, inner, inner, outer
    assert p[48, 0] < p[51, 0] < p[54, 0]  # mouth corners


def test_flipped_face_keeps_its_left_eye_on_the_left():
    rec = _face_record()
    objective = objectives.create({"kind": "keypoints", "image_size": S, "crop": "box", "flip_map": "ibug68",
                                   "augment": {"flip_prob": 1.0}, "loss": "l1"})
    _, out = _run(objective, [rec], train=True)
    points = out["keypoints"][0]
    mirrored_x = (S - A.apply_points(rec.keypoints.astype(np.float64), objective.frames(rec, 120, 100)[0])[:, 0]) / S
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(mirrored_x), atol=1e-4)  # it was flipped
    _assert_face_reads_left_to_right(points)


def test_flip_map_on_real_dlib_faces(shared_data):
    root = ET.parse(shared_data / "dlib_faces" / "training_with_face_landmarks.xml").getroot()
    for box in root.iter("box"):
        pts = np.array([[float(p.get("x")), float(p.get("y"))] for p in box.iter("part")])
        mirrored = (pts * np.array([-1.0, 1.0]))[flip_maps.IBUG_68]
        _assert_face_reads_left_to_right(pts)
        _assert_face_reads_left_to_right(mirrored)


def test_flip_map_from_pairs_checks_its_input():
    perm = flip_maps.flip_map_from_pairs([(0, 9), (6, 3)], 12)
    assert list(perm[[0, 9, 6, 3, 1]]) == [9, 0, 3, 6, 1]
    with pytest.raises(ConfigError):
        flip_maps.flip_map_from_pairs([(0, 1), (1, 2)], 4)
    with pytest.raises(ConfigError):
        flip_maps.flip_map_from_pairs([(0, 12)], 12)


def _dot_image(w, h, x, y):
    img = np.zeros((h, w, 1), np.uint8)
    img[y - 1:y + 2, x - 1:x + 2] = 255
    return img


@pytest.mark.parametrize("seed", range(6))
def test_warp_and_apply_points_agree(seed):
    rng = np.random.default_rng(seed)
    w, h = 120, 90
    x, y = int(rng.integers(30, 90)), int(rng.integers(25, 65))
    angle, zoom, (tx, ty) = rng.uniform(-30, 30), rng.uniform(0.8, 1.5), rng.uniform(-0.1, 0.1, 2) * S
    m = A.compose(A.resize_full(w, h, S), A.translate(-S / 2, -S / 2), A.rotate(angle), A.scale(zoom),
                  A.translate(S / 2 + tx, S / 2 + ty))
    if seed % 2:
        m = A.compose(m, A.hflip(S))
    out = A.warp_image(_dot_image(w, h, x, y), m, S)[:, :, 0]
    row, col = np.unravel_index(np.argmax(out), out.shape)
    (u, v), = A.apply_points([[x + 0.5, y + 0.5]], m)  # the dot's centre, in the pixel-edge convention
    assert abs(col + 0.5 - u) <= 1.0 and abs(row + 0.5 - v) <= 1.0


def test_warp_identity_is_exact_and_shrinking_keeps_thin_lines():
    img = _noise_image(np.random.default_rng(1), 40, 30)
    np.testing.assert_array_equal(A.warp_image(img, np.eye(3), (40, 30)), img)
    lines = np.full((400, 400, 1), 255, np.uint8)
    lines[:, ::8] = 0  # 1-px lines every 8 px; plain bilinear at 1/8 would hit or miss them all
    small = A.warp_image(lines, A.scale(64 / 400), 64)
    assert small.std() < 12  # evenly gray: the lines were averaged, not aliased


def test_crop_to_box_pads_where_the_box_leaves_the_image():
    w, h = 100, 80
    img = np.full((h, w, 3), 200, np.uint8)
    m = A.crop_to_box([0, 0, 30, 30], S, margin=0.25)  # top-left corner: the crop hangs off two edges
    out = A.warp_image(img, m, S)
    x0, y0, x1, y1 = A.apply_box([0, 0, w, h], m)[0:4]
    assert x0 > 1 and y0 > 1  # the image starts inside the output
    assert (out[: int(y0) - 1] == 0).all() and (out[:, : int(x0) - 1] == 0).all()
    assert (out[int(y0) + 1:, int(x0) + 1:] == 200).all()
    np.testing.assert_allclose(A.apply_points([[15, 15]], m), [[S / 2, S / 2]])  # box centre -> centre


def test_resize_full_letterbox_and_stretch():
    m = A.resize_full(200, 100, 64)
    np.testing.assert_allclose(A.apply_box([0, 0, 200, 100], m), [0, 16, 64, 48])
    m = A.resize_full(200, 100, 64, keep_aspect=False)
    np.testing.assert_allclose(A.apply_box([0, 0, 200, 100], m), [0, 0, 64, 64])


def test_the_classification_view_is_torchvisions_centre_crop():
    # Shorter side 80 -> round(64 / 0.875) = 73, then the central 64 square: the centre stays put.
    m = A.view_matrix(A.center_crop_view(100.0, 80.0, S))
    np.testing.assert_allclose(A.apply_points(np.array([[50.0, 40.0]]), m), [[32, 32]], atol=1.0)
    np.testing.assert_allclose([m[0, 0] * 100, m[1, 1] * 80], [91, 73])


def test_color_jitter_zero_is_identity_and_any_other_changes_the_pixels():
    img = np.random.default_rng(4).integers(0, 256, (10, 20, 3)).astype(np.float32)
    np.testing.assert_array_equal(photometric.apply_jitter(img, (1.3, 0.8, 1.2), (0.0, 0.0, 0.0)), img)
    out = photometric.apply_jitter(img, (1.3, 0.8, 1.2), (0.5, 0.5, 0.5))
    assert out.shape == img.shape and out.min() >= 0 and out.max() <= 255 and not np.array_equal(out, img)
