"""load_image / image_size: every Pillow mode, EXIF rotation, arrays, and files that must fail."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from jaxres.data.images import image_size, load_image
from jaxres.errors import DataError


def _save(img: Image.Image, path, **kwargs):
    img.save(path, **kwargs)
    return str(path)


# ---- real files ------------------------------------------------------------------------------------


def test_real_jpeg_shapes_and_modes(shared_data):
    path = shared_data / "dlib_faces" / "2007_007763.jpg"
    rgb = load_image(path)
    gray = load_image(path, mode="L")
    assert rgb.shape == (375, 500, 3) and rgb.dtype == np.uint8
    assert gray.shape == (375, 500, 1) and gray.dtype == np.uint8
    assert image_size(path) == (500, 375)
    expected = np.asarray(Image.open(path).convert("L"))
    np.testing.assert_array_equal(gray[..., 0], expected)


def test_real_palette_png_is_expanded_through_its_palette(shared_data):
    # The mmpose 300-W sample photos are palette ("P") PNGs without transparency.
    path = shared_data / "mmpose_300w" / "indoor_029.png"
    assert Image.open(path).mode == "P"
    rgb = load_image(path)
    assert rgb.shape == (845, 960, 3)
    np.testing.assert_array_equal(rgb, np.asarray(Image.open(path).convert("RGB")))
    assert rgb.std(axis=2).max() > 10  # a colour photo, not a grey index map


# ---- every mode, built here ------------------------------------------------------------------------


def test_gray_L_to_rgb_repeats_the_channel(tmp_path):
    values = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    rgb = load_image(_save(Image.fromarray(values, "L"), tmp_path / "g.png"))
    assert rgb.shape == (8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], values)


def test_LA_composites_on_black(tmp_path):
    la = Image.new("LA", (3, 1))
    la.putdata([(200, 0), (200, 255), (200, 128)])
    out = load_image(_save(la, tmp_path / "la.png"), mode="L")[0, :, 0]
    assert out[0] == 0 and out[1] == 200 and abs(int(out[2]) - 100) <= 1


def test_RGBA_composites_on_black_not_the_hidden_colour(tmp_path):
    rgba = Image.new("RGBA", (2, 1))
    rgba.putdata([(255, 0, 0, 0), (10, 20, 30, 255)])
    out = load_image(_save(rgba, tmp_path / "a.png"))
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [10, 20, 30])


def test_palette_with_transparency_composites_on_black(tmp_path):
    p = Image.new("P", (2, 1))
    p.putpalette([255, 255, 255, 0, 200, 0] + [0] * 762)
    p.putdata([0, 1])
    path = _save(p, tmp_path / "p.png", transparency=0)  # index 0 (white) is transparent
    assert "transparency" in Image.open(path).info
    out = load_image(path)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [0, 200, 0])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = _save(Image.new("CMYK", (8, 8), (0, 255, 0, 0)), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = load_image(path)
    assert out.shape == (8, 8, 3)
    np.testing.assert_allclose(out[4, 4], [255, 0, 255], atol=3)  # pure magenta ink


def test_16bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 32768]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")
    out = load_image(path, mode="L")[0, :, 0]
    # Pillow's own convert("L") would clip 25700 and 32768 to 255.
    np.testing.assert_array_equal(out, [0, 100, 255, 128])
    rgb = load_image(path)
    np.testing.assert_array_equal(rgb[0, 1], [100, 100, 100])


def test_1bit_image_is_black_and_white(tmp_path):
    img = Image.new("1", (2, 1))
    img.putdata([0, 1])
    out = load_image(_save(img, tmp_path / "b.png"))
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [255, 255, 255]])


def _exif_rotated_jpeg(path, orientation: int) -> str:
    """A 40 x 20 (w x h) photo, red on its stored left half, tagged with an EXIF orientation."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(path, exif=exif, quality=95)
    return str(path)


def test_exif_orientation_is_applied(tmp_path):
    path = _exif_rotated_jpeg(tmp_path / "rot.jpg", 6)  # 6: display rotated 90 degrees clockwise
    assert Image.open(path).size == (40, 20)
    out = load_image(path)
    assert out.shape == (40, 20, 3)  # now 20 wide, 40 tall
    # Clockwise: the stored left half ends up on top.
    assert out[5, 10, 0] > 200 and out[5, 10, 1] < 60
    assert out[35, 10, 0] < 60
    assert image_size(path) == (20, 40)  # the header-only size agrees with the decoded frame


def test_exif_orientation_without_rotation(tmp_path):
    path = _exif_rotated_jpeg(tmp_path / "flip.jpg", 2)  # mirrored, no axis swap
    out = load_image(path)
    assert out.shape == (20, 40, 3)
    assert out[10, 35, 0] > 200 and out[10, 5, 0] < 60
    assert image_size(path) == (40, 20)


# ---- arrays ----------------------------------------------------------------------------------------


def test_arrays_of_every_layout():
    gray = np.full((4, 5), 7, np.uint8)
    assert load_image(gray).shape == (4, 5, 3)
    assert load_image(gray[..., None], mode="L").shape == (4, 5, 1)
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(rgb), rgb)
    rgba = np.zeros((1, 1, 4), np.uint8)
    rgba[0, 0] = (90, 90, 90, 0)
    np.testing.assert_array_equal(load_image(rgba)[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(load_image(np.array([[65535]], np.uint16), mode="L"), [[[255]]])


def test_bad_arrays_are_data_errors():
    with pytest.raises(DataError, match="uint8"):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(DataError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))


# ---- files that must fail --------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(DataError, match="not found") as err:
        load_image(path)
    assert str(err.value).startswith(f"{path}:")
    with pytest.raises(DataError, match="not found"):
        image_size(path)


def _truncated_jpeg(path) -> str:
    pixels = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return str(path)


def test_truncated_jpeg_is_an_error_not_grey(tmp_path):
    path = _truncated_jpeg(tmp_path / "cut.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    for read in (image_size, load_image):  # the header is intact; the end marker and pixels are not
        with pytest.raises(DataError, match="truncated") as err:
            read(path)
        assert str(err.value).startswith(f"{path}:")
        assert "\n" not in str(err.value)


def test_cut_jpeg_damaged_in_its_body_is_still_found_by_decoding(tmp_path):
    """A file cut and then padded (a partial download filled with zeros up to the expected size)
    keeps no end marker either; a body damaged in the middle is left to the decoder."""
    path = _truncated_jpeg(tmp_path / "cut.jpg")
    with open(path, "ab") as f:
        f.write(bytes(10_000))
    with pytest.raises(DataError, match="truncated"):
        image_size(path)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png")])
def test_complete_files_with_trailing_bytes_pass_the_end_check(tmp_path, fmt, suffix):
    """Some cameras and editors append bytes after the end marker; such files are complete."""
    pixels = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / f"padded.{suffix}"
    Image.fromarray(pixels).save(path, fmt)
    assert image_size(path) == (160, 120)
    with open(path, "ab") as f:
        f.write(b"\x00" * 100 + b"trailer")
    assert image_size(path) == (160, 120) and load_image(path).shape == (120, 160, 3)


def test_truncated_png_is_found_from_its_header_pass(tmp_path):
    path = tmp_path / "cut.png"
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue()[:-20])
    with pytest.raises(DataError, match="PNG file is truncated"):
        image_size(path)


@pytest.mark.parametrize("content", [b"", b"filename,points\n1.jpg,'[1, 2]'\n", b"\x89PNG\r\n\x1a\n garbage"])
def test_non_images_are_data_errors(tmp_path, content):
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_image(path)
    assert str(err.value).startswith(f"{path}:")
    with pytest.raises(DataError):
        image_size(path)


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        load_image(tmp_path)


def test_image_size_reads_only_the_header(tmp_path):
    # A PNG whose pixel data is zeroed in the middle: any decode would fail, so a size proves no
    # decode happened (its end is intact, so the end-marker check passes).
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    path = _save(Image.fromarray(noise), tmp_path / "big.png")
    data = bytearray(open(path, "rb").read())
    third = len(data) // 3
    data[third:2 * third] = bytes(third)
    open(path, "wb").write(bytes(data))
    assert image_size(path) == (300, 200)
    with pytest.raises(DataError):
        load_image(path)


def test_exif_orientation_in_png_header(tmp_path):
    img = Image.new("RGB", (30, 20))
    exif = img.getexif()
    exif[0x0112] = 8
    path = _save(img, tmp_path / "rot.png", exif=exif)
    assert image_size(path) == (20, 30)
    assert load_image(path).shape == (30, 20, 3)
