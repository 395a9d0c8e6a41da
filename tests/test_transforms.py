"""The per-sample affine: pixels and targets move together, and every map can be undone."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from jaxres.data import affine as A
from jaxres.data import flip_maps, photometric
from jaxres.data import transforms as T
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


AUG = dict(rotate=25.0, scale=(0.8, 1.25), translate=0.1, jitter=(0.3, 0.3, 0.3))


@pytest.mark.parametrize("crop", ["box", "full"])
@pytest.mark.parametrize("flip_prob", [0.0, 1.0])
def test_keypoints_round_trip(crop, flip_prob):
    rec = _face_record(angle=10.0)
    for seed in range(4):
        out = T.keypoint_sample(rec, np.random.default_rng(seed), out_size=S, crop=crop, flip_prob=flip_prob,
                                flip_map=flip_maps.IBUG_68, train=True, **AUG)
        back = T.denormalise_keypoints(out["keypoints"], out["matrix"], S, flip_map=flip_maps.IBUG_68)
        assert np.abs(back - rec.keypoints).max() <= 1e-3


def test_denormalise_broadcasts_over_a_batch():
    rec = _face_record()
    outs = [T.keypoint_sample(rec, np.random.default_rng(s), out_size=S, crop="box", flip_prob=0.5,
                              flip_map=flip_maps.IBUG_68, train=True, **AUG) for s in range(6)]
    pred = np.stack([o["keypoints"] for o in outs])
    mats = np.stack([o["matrix"] for o in outs])
    back = T.denormalise_keypoints(pred, mats, S, flip_map=flip_maps.IBUG_68)
    assert back.shape == (6, 68, 2)
    assert np.abs(back - rec.keypoints).max() <= 1e-3


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


def _assert_face_reads_left_to_right(p):
    assert p[0, 0] < p[8, 0] < p[16, 0]  # jaw
    assert p[17, 0] < p[21, 0] < p[22, 0] < p[26, 0]  # brows
    assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]  # eyes: outer, inner, inner, outer
    assert p[48, 0] < p[51, 0] < p[54, 0]  # mouth corners


def test_flipped_face_keeps_its_left_eye_on_the_left():
    rec = _face_record()
    out = T.keypoint_sample(rec, np.random.default_rng(0), out_size=S, crop="box", flip_prob=1.0,
                            flip_map=flip_maps.IBUG_68, train=True)
    assert np.linalg.det(out["matrix"][:2, :2]) < 0  # it was flipped
    _assert_face_reads_left_to_right(out["keypoints"])


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
    with pytest.raises(ConfigError):
        T.keypoint_sample(_face_record(), np.random.default_rng(0), out_size=S, flip_prob=0.5, train=True)


def _dot_image(w, h, x, y):
    img = np.zeros((h, w, 1), np.uint8)
    img[y - 1:y + 2, x - 1:x + 2] = 255
    return img


@pytest.mark.parametrize("seed", range(6))
def test_warp_and_apply_points_agree(seed):
    rng = np.random.default_rng(seed)
    w, h = 120, 90
    x, y = int(rng.integers(30, 90)), int(rng.integers(25, 65))
    m = A.compose(A.resize_full(w, h, S),
                  A.random_affine(rng, (S / 2, S / 2), 30.0, (0.8, 1.5), 0.1))
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


def _bright_box(img):
    ys, xs = np.nonzero(img[:, :, 0] > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_flipped_box_is_the_box_of_the_flipped_pixels(seed):
    w, h = 100, 80
    box = np.array([60, 20, 90, 50], np.float32)  # right of centre: a flip must move it left
    img = np.zeros((h, w, 1), np.uint8)
    img[20:50, 60:90] = 255
    rec = Record(image=img, source="test:0", box=box)
    out = T.box_sample(rec, np.random.default_rng(seed), out_size=S, channels=1, flip_prob=1.0,
                       scale=(0.9, 1.1), translate=0.05, train=True)
    got = out["box"] * S
    assert got[0] < S / 2  # moved to the left
    np.testing.assert_allclose(got, _bright_box(out["image"]), atol=1.0)
    np.testing.assert_allclose(T.denormalise_box(out["box"], out["matrix"], S), box, atol=1e-3)


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


def test_samples_are_deterministic_per_seed():
    rng = np.random.default_rng(5)
    face = _face_record()
    cls = Record(image=_noise_image(rng, 80, 60), source="test:1", label=3)
    box = Record(image=_noise_image(rng, 80, 60), source="test:2", box=np.array([10, 10, 40, 30], np.float32))
    makers = [
        lambda r: T.keypoint_sample(face, r, out_size=S, crop="box", flip_prob=0.5, flip_map=flip_maps.IBUG_68,
                                    train=True, **AUG),
        lambda r: T.classify_sample(cls, r, out_size=S, train=True, jitter=0.3),
        lambda r: T.box_sample(box, r, out_size=S, flip_prob=0.5, scale=0.1, translate=0.1, jitter=0.2, train=True),
    ]
    for make in makers:
        a, b, c = make(np.random.default_rng(7)), make(np.random.default_rng(7)), make(np.random.default_rng(8))
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a["image"], c["image"])


def test_eval_transforms_draw_nothing():
    rec = Record(image=_noise_image(np.random.default_rng(2), 100, 80), source="t:0", label=1)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = T.classify_sample(rec, rng, out_size=S, train=False)
    assert rng.bit_generator.state == state
    assert out["image"].shape == (S, S, 3) and out["label"] == 1
    # Shorter side 80 -> round(64 / 0.875) = 73, then the central 64 square: the centre stays put.
    np.testing.assert_allclose(A.apply_points([[50, 40]], out["matrix"]), [[32, 32]], atol=1.0)


def test_random_resized_crop_stays_inside():
    rng = np.random.default_rng(0)
    for _ in range(200):
        x, y, w, h = T.random_resized_crop(rng, 90, 60)
        assert 0 <= x and 0 <= y and x + w <= 90 and y + h <= 60 and w > 0 and h > 0


def test_channels_follow_the_request():
    rec = _face_record()
    out = T.keypoint_sample(rec, None, out_size=S, channels=1, crop="box")
    assert out["image"].shape == (S, S, 1) and out["image"].dtype == np.uint8
    assert out["keypoints"].dtype == np.float32 and out["matrix"].dtype == np.float32


def test_color_jitter_keeps_shape_and_zero_is_identity():
    img = _noise_image(np.random.default_rng(4), 20, 10)
    np.testing.assert_array_equal(photometric.color_jitter(np.random.default_rng(0), img), img)
    out = photometric.color_jitter(np.random.default_rng(0), img, 0.5, 0.5, 0.5)
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)
