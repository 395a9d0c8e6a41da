"""The decode-once frame cache: keys, reuse, atomic segments, several processes, JPEG draft decoding."""

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

import frame_cache_worker as W
from jaxres.data import affine, images
from jaxres.data.frame_cache import FrameSpec, decode_frame, in_memory, load_or_build
from jaxres.data.records import Record
from jaxres.errors import DataError

TESTS = pathlib.Path(__file__).resolve().parent


def write_images(folder: pathlib.Path, count: int, seed: int = 0) -> list[Record]:
    """`count` small PNG and JPEG files of different sizes, as the worker's records."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (int(rng.integers(20, 70)), int(rng.integers(20, 70)), 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}{'.png' if i % 2 else '.jpg'}")
    return W.records_in(folder)


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth gradients, shapes and lines: compresses and scales like a photo, unlike noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([200 * x + 30, 180 * y + 40, 60 + 120 * (1 - x * y) + 40 * np.sin(12 * x) * np.cos(9 * y)], -1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(w / 80, w / 6)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([cx - r, cy - 0.7 * r, cx + r, cy + 0.7 * r], fill=fill)
        draw.line([tuple(rng.uniform(0, w, 2)), tuple(rng.uniform(0, h, 2))], fill=fill, width=int(rng.integers(2, 12)))
    return img


def build(records, root, **kwargs):
    """(frames, how many records the log says were decoded)."""
    lines = []
    frames = load_or_build(records, W.SPEC, W.frame_of, root=root, log=lines.append, **kwargs)
    return frames, W.decoded_count(lines)


def all_pixels(frames):
    return frames.take(np.arange(len(frames)))


def test_round_trip_reuse_and_in_memory(tmp_path):
    records = write_images(tmp_path / "images", 8)
    records[3] = Record(records[3].image, records[3].source, box=np.array([5.0, 4.0, 18.0, 15.0]))
    frames, decoded = build(records, tmp_path / "cache", workers=2)
    assert decoded == 8 and len(frames) == 8
    order = np.array([7, 0, 3, 3, 5, 1, 0])
    expected = [decode_frame(records[i], W.SPEC, W.frame_of) for i in order]
    np.testing.assert_array_equal(frames.take(order), np.stack([e[0] for e in expected]))
    np.testing.assert_array_equal(frames.matrices[order], np.stack([e[1] for e in expected]))
    np.testing.assert_array_equal(frames.sizes[order], np.array([e[2] for e in expected]))
    memory = in_memory(records, W.SPEC, W.frame_of)
    np.testing.assert_array_equal(all_pixels(memory), all_pixels(frames))
    np.testing.assert_array_equal(memory.matrices, frames.matrices)

    again, decoded = build(records, tmp_path / "cache")
    assert decoded == 0
    np.testing.assert_array_equal(all_pixels(again), all_pixels(frames))
    other_split = [records[1], records[6], *write_images(tmp_path / "more", 2, seed=1)]
    frames, decoded = build(other_split, tmp_path / "cache")  # splits share the folder: only the new ones
    assert decoded == 2  # and its frames come from two segments
    np.testing.assert_array_equal(frames.take([3, 0, 2, 1, 3]), in_memory(other_split, W.SPEC, W.frame_of).take([3, 0, 2, 1, 3]))


def test_changed_box_keypoints_or_image_is_decoded_again(tmp_path):
    records = write_images(tmp_path / "images", 6)
    records[0] = Record(records[0].image, records[0].source, box=np.array([2.0, 2.0, 12.0, 12.0]))
    records[1] = Record(records[1].image, records[1].source, keypoints=np.zeros((3, 2)))
    build(records, tmp_path / "cache")
    records[0] = Record(records[0].image, records[0].source, box=np.array([3.0, 2.0, 12.0, 12.0]), label=4)
    records[1] = Record(records[1].image, records[1].source, keypoints=np.ones((3, 2)))
    path = pathlib.Path(records[2].image)
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(path, format=Image.open(path).format)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    records[4] = Record(records[4].image, records[4].source, label=2, meta={"id": "x"})  # not in the key
    frames, decoded = build(records, tmp_path / "cache")
    assert decoded == 3
    np.testing.assert_array_equal(all_pixels(frames), all_pixels(in_memory(records, W.SPEC, W.frame_of)))
    assert tuple(frames.sizes[2]) == (40, 30)


def test_array_records_like_hdf5_sets(tmp_path):
    rng = np.random.default_rng(3)
    arrays = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    records = [Record(a, f"test_signs.h5[test_set_x][{i}]", label=i % 6) for i, a in enumerate(arrays)]
    frames, decoded = build(records, tmp_path / "cache")
    assert decoded == 5
    np.testing.assert_array_equal(all_pixels(frames), all_pixels(in_memory(records, W.SPEC, W.frame_of)))
    assert (frames.sizes == 64).all()
    changed = arrays[2].copy()
    changed[0, 0, 0] ^= 1
    records[2] = Record(changed, records[2].source)
    assert build(records, tmp_path / "cache")[1] == 1


def test_an_image_that_fails_only_at_decode_names_its_record(tmp_path):
    records = write_images(tmp_path / "images", 4)
    png = pathlib.Path(records[1].image)
    body = bytearray(png.read_bytes())
    body[len(body) // 2 : len(body) // 2 + 64] = bytes(64)  # a damaged body; header and end are intact
    png.write_bytes(body)
    images.image_size(png)
    with pytest.raises(DataError, match="cannot decode image") as err:
        build(records, tmp_path / "cache")
    assert err.value.where == records[1].source and str(png) in str(err.value)
    os.remove(records[2].image)
    with pytest.raises(DataError) as err:
        build(records[2:], tmp_path / "cache")
    assert err.value.where == records[2].source


def segment_files(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in root.glob("*/*") if p.name != "spec.json")


def test_damaged_segments_are_never_trusted(tmp_path):
    records = write_images(tmp_path / "images", 6)
    root = tmp_path / "cache"
    expected = all_pixels(in_memory(records, W.SPEC, W.frame_of))
    for damage in ("truncate data", "remove data", "garble index", "remove index"):
        build(records, root)
        data = next(p for p in segment_files(root) if p.suffix == ".bin")
        index = data.with_suffix(".npz")
        if damage == "truncate data":
            os.truncate(data, data.stat().st_size - 1)
        elif damage == "remove data":
            data.unlink()
        elif damage == "garble index":
            index.write_bytes(b"PK\x03\x04 not a zip")
        else:
            index.unlink()
        old = time.time() - 120  # an abandoned writer's leftovers are removed once a minute old
        for path in segment_files(root):
            os.utime(path, (old, old))
        frames, decoded = build(records, root)
        assert decoded == 6, damage
        np.testing.assert_array_equal(all_pixels(frames), expected)
        assert len(segment_files(root)) == 2, (damage, segment_files(root))
        for path in segment_files(root):
            path.unlink()


@contextlib.contextmanager
def workers(*argvs: list[str]):
    """frame_cache_worker.py processes, one per argument list (stdout and stderr piped together);
    whatever still runs at the end is killed."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, str(TESTS / "frame_cache_worker.py"), *map(str, argv)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for argv in argvs]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()


def test_a_writer_killed_mid_write_leaves_nothing_trusted(tmp_path):
    records = write_images(tmp_path / "images", 40)
    root = tmp_path / "cache"
    with workers(["build", root, tmp_path / "images", 0.05]) as (writer,):
        deadline = time.monotonic() + 60
        while not list(root.glob("*/.seg-*.tmp")) and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # some rows written, most not
        assert writer.poll() is None, "the writer finished before it could be killed: " + writer.communicate()[0]
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert list(root.glob("*/.seg-*.tmp"))
    frames, decoded = build(records, root)
    assert decoded == 40
    np.testing.assert_array_equal(all_pixels(frames), all_pixels(in_memory(records, W.SPEC, W.frame_of)))
    assert not list(root.glob("*/.*.tmp")) and len(segment_files(root)) == 2


def test_without_a_shared_disk_a_process_decodes_the_other_share_itself(tmp_path):
    records = write_images(tmp_path / "images", 9)
    seen = []

    def barrier(name):  # the other process wrote its share elsewhere
        seen.append((name, sum(len(np.load(p)["keys"]) for p in (tmp_path / "cache").glob("*/seg-*.npz"))))

    frames, decoded = build(records, tmp_path / "cache", process_index=0, process_count=2, barrier=barrier)
    assert decoded == 9 and len(seen) == 1
    assert seen[0][0].startswith("frame_cache:") and seen[0][1] == 5  # its own share: records 0, 2, 4, 6, 8
    np.testing.assert_array_equal(all_pixels(frames), all_pixels(in_memory(records, W.SPEC, W.frame_of)))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_share_the_work(tmp_path):
    records = write_images(tmp_path / "images", 40)
    coordinator = f"127.0.0.1:{free_port()}"
    outs = [tmp_path / f"out{i}.npz" for i in range(2)]
    with workers(*(["distributed", tmp_path / "cache", tmp_path / "images", coordinator, i, outs[i]] for i in range(2))) as procs:
        logs = [proc.communicate(timeout=120)[0] for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), "\n----\n".join(log[-3000:] for log in logs)
    results = [np.load(out) for out in outs]
    assert [int(r["decoded"]) for r in results] == [20, 20]
    expected = all_pixels(in_memory(records, W.SPEC, W.frame_of))
    for r in results:
        np.testing.assert_array_equal(r["pixels"], expected)


def test_draft_decoding_matches_the_full_decode_and_is_faster(tmp_path):
    path = tmp_path / "photo.jpg"
    photo(1600, 1200).save(path, quality=90)
    record, spec = Record(str(path), "photos.csv:2"), FrameSpec(224, 3, {})

    def frame_of(record, w, h):
        return affine.resize_full(w, h, spec.side)

    times = {"full": [], "draft": []}
    for _ in range(3):
        start = time.perf_counter()
        full = affine.warp_image(images.load_image(path), frame_of(record, 1600, 1200), spec.side)
        times["full"].append(time.perf_counter() - start)
        start = time.perf_counter()
        draft, matrix, size = decode_frame(record, spec, frame_of)
        times["draft"].append(time.perf_counter() - start)
    diff = np.abs(full.astype(np.int64) - draft.astype(np.int64))
    print(f"1600x1200 JPEG -> 224: full decode {1e3 * min(times['full']):.1f} ms, draft (1/4) "
          f"{1e3 * min(times['draft']):.1f} ms, mean |diff| {diff.mean():.3f}, 99th percentile {np.percentile(diff, 99)}")
    assert size == (1600, 1200) and np.allclose(matrix, frame_of(record, 1600, 1200))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_reduced_decode_maps_exactly_in_every_exif_orientation(tmp_path, orientation):
    """203 x 149 is not a multiple of 8: the last decoded pixel is partial, so a flip shifts the picture."""
    stored = np.zeros((149, 203), np.uint8)
    stored[40:56, 136:152] = 255  # a bright square on the 8-pixel grid of the stored image
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    full = images.load_image(path, "L")[..., 0].astype(np.float64)
    reduced, matrix = images.load_image_reduced(path, "L", max_reduction=8)
    assert reduced.shape[:2] == (-(-full.shape[0] // 8), -(-full.shape[1] // 8))
    expected = affine.apply_points(centroid(full)[None], matrix)[0]
    np.testing.assert_allclose(centroid(reduced[..., 0].astype(np.float64)), expected, atol=0.1)


def centroid(gray: np.ndarray) -> np.ndarray:
    """Brightness-weighted mean of pixel centres, (x, y)."""
    ys, xs = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]] + 0.5
    return np.array([(xs * gray).sum(), (ys * gray).sum()]) / gray.sum()


def test_real_face_photos_cropped_to_their_boxes(shared_data, tmp_path):
    from jaxres.data.readers.ibug_xml import read_dlib_xml

    xml = next(p for p in sorted((shared_data / "dlib_faces").glob("*.xml")))
    records = read_dlib_xml(xml).records
    frames, decoded = build(records, tmp_path / "cache")
    assert decoded == len(records) and build(records, tmp_path / "cache")[1] == 0
    diffs = []  # where a face is small enough for a draft decode, against the full decode
    for i, record in enumerate(records):
        pixels, matrix, _ = decode_frame(record, W.SPEC, W.frame_of)
        np.testing.assert_array_equal(frames.take([i])[0], pixels)
        full = affine.warp_image(images.load_image(record.image), matrix, W.SPEC.side)
        diff = np.abs(full.astype(np.int64) - pixels.astype(np.int64)).mean()
        assert diff == 0 or np.linalg.norm(matrix[:2, :2], axis=0).max() <= 0.5
        diffs.append(diff)
    # The full path blurs more (a triangle pre-resize) than the 1/2 - 1/4 DCT scaling on these sharp 32-pixel
    # crops; against a supersampled reference the draft frames are the closer ones (4.0 vs 3.0 grey levels).
    assert 0 < max(diffs) < 6 and np.mean([d for d in diffs if d]) < 3.5
