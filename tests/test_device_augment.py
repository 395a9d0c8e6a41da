"""The step's geometry: pixels and targets move together, flips permute by the flip map, and the
cached-frame resampling reproduces the reference (`warp_image` of the original photo through the same
numpy matrices) to interpolation tolerance; evaluation targets decode back to the records'."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxres import objectives
from jaxres.data import affine, device_augment, framed
from jaxres.data.records import Record

OUT = 48


class _Frames:
    """The frame cache's interface, built in memory with the host warp (what the cache stores)."""

    def __init__(self, objective, records):
        spec = objective.frame_spec()
        self.spec = spec
        images = [r.image for r in records]
        self.sizes = np.array([[im.shape[1], im.shape[0]] for im in images], np.int64)
        self.matrices = np.stack([objective.frame_of(r, w, h) for r, (w, h) in zip(records, self.sizes)])
        self.pixels = np.stack([affine.warp_image(im, m, spec.side) for im, m in zip(images, self.matrices)])

    def __len__(self):
        return len(self.pixels)

    def take(self, indices):
        return self.pixels[np.asarray(indices)]


def _dots(w, h, points, channels=3, radius=1):
    image = np.zeros((h, w, channels), np.uint8)
    for x, y in points:
        xi, yi = int(x), int(y)
        image[max(yi - radius, 0):yi + radius + 1, max(xi - radius, 0):xi + radius + 1] = 255
    return image


def _keypoint_objective(**augment):
    options = {"kind": "keypoints", "image_size": OUT, "channels": 3, "crop": "box", "margin": 0.25,
               "augment": {"rotate": 10.0, "scale": 0.1, "translate": 0.05, "flip_prob": 0.0, "jitter": None, **augment},
               "flip_map": [[0, 1]], "loss": "l1", "metrics": {}}
    return objectives.create(options)


def _run(objective, records, train, step_key=jax.random.key(3)):
    frames = _Frames(objective, records)
    batch = framed.build(objective, records, frames, train=train).batch(np.arange(len(records)))
    device = jax.jit(lambda b, k: jax.vmap(lambda ex, kk: objective.device_example(ex, kk, train))(
        b, device_augment.example_keys(k, b["index"])))
    return batch, jax.device_get(device(batch, step_key))


def _peaks(image, n):
    """Centres of the n brightest blobs (one per dot), by successive masking."""
    img = np.asarray(image, np.float64).mean(-1)
    found = []
    for _ in range(n):
        y, x = np.unravel_index(np.argmax(img), img.shape)
        lo_y, lo_x = max(y - 3, 0), max(x - 3, 0)
        patch = img[lo_y:y + 4, lo_x:x + 4]
        ys, xs = np.mgrid[lo_y:lo_y + patch.shape[0], lo_x:lo_x + patch.shape[1]]
        found.append(((xs * patch).sum() / patch.sum() + 0.5, (ys * patch).sum() / patch.sum() + 0.5))
        img[lo_y:y + 4, lo_x:x + 4] = 0
    return np.array(found)


def test_dots_drawn_at_keypoints_land_on_the_augmented_keypoints():
    rng = np.random.default_rng(0)
    records = []
    for i in range(6):
        w, h = 320 + 40 * i, 240 + 10 * i
        points = np.stack([rng.uniform(0.3 * w, 0.7 * w, 3), rng.uniform(0.3 * h, 0.7 * h, 3)], 1).astype(np.float32)
        box = np.array([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h], np.float32)
        records.append(Record(_dots(w, h, points, radius=2), f"mem:{i}", keypoints=points, box=box))
    objective = _keypoint_objective(rotate=20.0, scale=0.2, translate=0.1)
    _, out = _run(objective, records, train=True)
    for image, points in zip(out["image"], out["keypoints"] * OUT):
        peaks = _peaks(image, 3)
        distance = np.linalg.norm(peaks[:, None] - points[None], axis=-1).min(1)
        assert distance.max() < 1.5, (peaks, points)


def test_a_flip_mirrors_the_pixels_and_permutes_the_points_by_the_flip_map():
    w = h = 200
    points = np.array([[70.0, 100.0], [130.0, 90.0]], np.float32)  # 0 = left eye, 1 = right eye
    image = _dots(w, h, points, radius=2)
    image[int(points[0, 1]) - 2:int(points[0, 1]) + 3, int(points[0, 0]) - 2:int(points[0, 0]) + 3, 1:] = 0  # left red
    record = Record(image, "mem:0", keypoints=points, box=np.array([50, 50, 150, 150], np.float32))
    plain = _keypoint_objective(rotate=0.0, scale=0.0, translate=0.0)
    flipped = _keypoint_objective(rotate=0.0, scale=0.0, translate=0.0, flip_prob=1.0)
    _, a = _run(plain, [record], train=True)
    _, b = _run(flipped, [record], train=True)
    np.testing.assert_allclose(b["keypoints"][0, 0, 0], 1.0 - a["keypoints"][0, 1, 0], atol=1e-5)  # point 0 takes 1's mirror
    np.testing.assert_allclose(b["keypoints"][0, :, 1], a["keypoints"][0, ::-1, 1], atol=1e-5)
    np.testing.assert_allclose(b["image"][0], a["image"][0][:, ::-1], atol=1e-3)
    # the red dot (the original left eye) is now where the new point 1 is
    red = np.asarray(b["image"][0][..., 0] - b["image"][0][..., 1])
    y, x = np.unravel_index(np.argmax(red), red.shape)
    assert np.linalg.norm(np.array([x + 0.5, y + 0.5]) - b["keypoints"][0, 1] * OUT) < 2.0


def test_a_box_follows_its_pixels():
    rng = np.random.default_rng(1)
    records = []
    for i in range(6):
        w, h = 300 + 30 * i, 200 + 20 * i
        x0, y0 = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
        x1, y1 = x0 + rng.uniform(0.3, 0.5) * w, y0 + rng.uniform(0.3, 0.5) * h
        image = np.zeros((h, w, 3), np.uint8)
        image[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))] = 255
        records.append(Record(image, f"mem:{i}", box=np.array([round(x0), round(y0), round(x1), round(y1)], np.float32)))
    objective = objectives.create({"kind": "box", "image_size": OUT, "channels": 3, "keep_aspect": True,
                                   "augment": {"flip_prob": 0.5, "scale": 0.2, "translate": 0.1, "jitter": None}})
    _, out = _run(objective, records, train=True)
    for image, box in zip(out["image"], out["box"] * OUT):
        ys, xs = np.nonzero(np.asarray(image).mean(-1) > 127)
        seen = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        np.testing.assert_allclose(seen, box, atol=1.5)


def _reference(objective, record, aug):
    """Pixels and [0, 1] points straight from the original photo through the numpy matrices."""
    base = objective.frames(record, record.image.shape[1], record.image.shape[0])[0]
    m = affine.compose(base, aug)
    points = affine.apply_points(np.asarray(record.keypoints, np.float64), m) / OUT
    return affine.warp_image(record.image, m, OUT).astype(np.float64), points


def _photo(w, h, seed):
    """A photo-like image: smooth gradients and a few soft shapes (sharp noise would make any two
    resamplings differ by more than interpolation error)."""
    ys, xs = np.mgrid[0:h, 0:w] / max(w, h)
    rng = np.random.default_rng(seed)
    channels = []
    for c in range(3):
        a, b, f = rng.uniform(0.5, 3, 3)
        channels.append(127 + 100 * np.sin(a * 6 * xs + b * 4 * ys + f))
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def test_cached_frames_resampled_in_the_step_reproduce_the_photo_through_the_same_geometry():
    records = [Record(_photo(640, 480, i), f"mem:{i}", keypoints=np.array([[300.0, 200.0], [350.0, 260.0]], np.float32),
                      box=np.array([250, 150, 420, 330], np.float32)) for i in range(3)]
    objective = _keypoint_objective(rotate=0.0, scale=0.0, translate=0.0)
    aug = affine.compose(affine.translate(-OUT / 2, -OUT / 2), affine.rotate(8.0), affine.scale(1.07),
                         affine.translate(OUT / 2 + 2.0, OUT / 2 - 1.5))
    frames = _Frames(objective, records)
    arrays = framed.build(objective, records, frames, train=True).batch(np.arange(3))
    for i, record in enumerate(records):
        host_pixels, host_points = _reference(objective, record, aug)
        to_frame = arrays["frame"][i].astype(np.float64) @ np.linalg.inv(aug)
        pixels = np.asarray(device_augment.warp(jnp.asarray(frames.take([i])[0]), jnp.asarray(to_frame, jnp.float32), OUT))
        points = affine.apply_points(arrays["keypoints"][i], aug) / OUT
        np.testing.assert_allclose(points, host_points, atol=1e-4)
        diff = np.abs(pixels - host_pixels)[4:-4, 4:-4]  # the border is padding in both
        assert diff.mean() < 2.0 and np.percentile(diff, 99) < 12, (diff.mean(), np.percentile(diff, 99))


def test_evaluation_frames_are_the_photo_through_the_view_and_targets_decode_back():
    image = _photo(400, 300, 7)
    record = Record(image, "mem:0", keypoints=np.array([[150.0, 120.0], [260.0, 180.0]], np.float32),
                    box=np.array([100, 80, 300, 240], np.float32), label=1)
    cases = [(_keypoint_objective(), "keypoints"),
             (objectives.create({"kind": "box", "image_size": OUT, "augment": {"scale": 0.1, "translate": 0.05}}), "box"),
             (objectives.create({"kind": "classification", "image_size": OUT, "resize_ratio": 0.875}), None)]
    for objective, target in cases:
        objective.classes = ("a", "b")
        view = objective.view(400.0, 300.0, record.box if objective.needs_box else None, np)
        expected = affine.view_matrix(view)
        _, out = _run(objective, [record], train=False)
        np.testing.assert_allclose(out["matrix"][0], expected, rtol=1e-5, atol=1e-4)
        diff = np.abs(np.asarray(out["image"][0]) - affine.warp_image(image, expected, OUT).astype(np.float64))[3:-3, 3:-3]
        assert diff.mean() < 2.0, (type(objective).__name__, diff.mean())
        if target:  # the exact target as the network's output decodes to the record's own
            decoded = objective.decode(out[target], {"matrix": out["matrix"]})[0]
            np.testing.assert_allclose(decoded, getattr(record, target), atol=1e-3)


def test_random_resized_crop_windows_fit_the_image_and_cover_the_area_range():
    keys = jax.random.split(jax.random.key(0), 2000)
    size = jnp.array([400.0, 300.0])
    windows = np.asarray(jax.vmap(lambda k: device_augment.random_resized_crop(k, size, (0.08, 1.0), (3 / 4, 4 / 3)))(keys))
    left, top, cw, ch = windows.T
    assert (left >= 0).all() and (top >= 0).all() and (left + cw <= 400).all() and (top + ch <= 300).all()
    area = cw * ch / (400 * 300)
    assert area.min() < 0.12 and area.max() > 0.9
    ratio = cw / ch
    assert (ratio > 0.7).all() and (ratio < 1.4).all()


def test_the_draws_depend_on_the_example_index_not_its_place_in_the_batch():
    records = [Record(_photo(200, 160, i), f"mem:{i}", keypoints=np.array([[80.0, 70.0], [120.0, 90.0]], np.float32),
                      box=np.array([50, 40, 150, 130], np.float32)) for i in range(4)]
    objective = _keypoint_objective(flip_prob=0.5)
    data = framed.build(objective, records, _Frames(objective, records), train=True)
    transform = jax.jit(framed.transform(objective, train=True))
    key = jax.random.key(5)
    forward = jax.device_get(transform(data.batch(np.array([0, 1, 2, 3])), key))
    backward = jax.device_get(transform(data.batch(np.array([3, 2, 1, 0])), key))
    np.testing.assert_array_equal(forward["keypoints"], backward["keypoints"][::-1])
    other_step = jax.device_get(transform(data.batch(np.array([0, 1, 2, 3])), jax.random.key(6)))
    assert not np.array_equal(forward["keypoints"], other_step["keypoints"])


def test_flip_without_a_flip_map_is_refused():
    from jaxres.errors import ConfigError

    objective = _keypoint_objective(flip_prob=0.5)
    objective.flip_spec = None
    with pytest.raises(ConfigError, match="flip_map"):
        objective.frame_spec()


def test_unlabelled_inputs_get_placeholder_targets():
    objective = _keypoint_objective()
    objective.num_keypoints = 2
    record = dataclasses.replace(Record(_photo(100, 100, 0), "mem:0"), box=np.array([10, 10, 90, 90], np.float32))
    arrays = objective.host_arrays([record], np.array([[100, 100]]), train=False)
    assert arrays["keypoints"].shape == (1, 2, 2)


def test_transforms_of_one_objective_are_equal_so_the_compiled_forward_is_reused():
    """An equal transform value keeps a jitted step compiled once; an assembly builds its forward once."""
    from jaxres.train import assembly
    from jaxres.config import defaults
    from jaxres.train.workdir import DataFacts

    objective = _keypoint_objective()
    assert framed.transform(objective, train=False) == framed.transform(objective, train=False)
    config = defaults.complete({"model": {"arch": "resnet18"}, "objective": dict(objective.options)})
    built = assembly.build(config, DataFacts({"num_keypoints": 2}, {"head": "keypoints", "num_keypoints": 2,
                                                                    "num_outputs": 4}))
    assert built.forward is built.forward
