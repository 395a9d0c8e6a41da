"""Decode any image file (or array) into (H, W, C) uint8: transparency on black (what crops pad with),
16-bit scaled by 1/257, EXIF orientation applied, a truncated file an error."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from jaxres.errors import DataError

_MODES = ("RGB", "L")
# EXIF orientations 5..8 rotate by 90 degrees, so width and height swap.
_SWAPS_AXES = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
# Everything Pillow raises for a file it cannot decode (UnidentifiedImageError is an OSError).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def load_image(src: str | os.PathLike | np.ndarray, mode: str = "RGB") -> np.ndarray:
    """uint8 (H, W, 3) for mode "RGB" or (H, W, 1) for "L" from a path or an (H, W[, 1|3|4]) array; a
    missing or undecodable file is a DataError naming it."""
    return load_image_reduced(src, mode)[0]


def load_image_reduced(src: str | os.PathLike | np.ndarray, mode: str = "RGB",
                       max_reduction: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(array, matrix): `load_image`, but a JPEG decoded 2, 4 or 8 times smaller (≤ `max_reduction`) in
    the DCT domain; the 3x3 matrix maps `load_image`'s pixels to the array's."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if isinstance(src, np.ndarray):
        return _from_array(src, mode), np.eye(3)
    img, reduction = _open_decoded(os.fspath(src), mode, max_reduction)
    return _to_array(img, mode), reduction


def image_size(path: str | os.PathLike | np.ndarray) -> tuple[int, int]:
    """(width, height) as `load_image` returns the image, from the file header only; a JPEG or PNG cut
    short is found from its last bytes."""
    if isinstance(path, np.ndarray):
        return int(path.shape[1]), int(path.shape[0])
    path = _existing(os.fspath(path))  # outside the try: a DataError is a ValueError, not a decode error
    try:
        with Image.open(path) as img:
            w, h = img.size
            orientation = _orientation(img)
            image_format = img.format
    except _DECODE_ERRORS as err:
        raise DataError(f"cannot read image header ({_reason(err)})", where=path) from None
    if not _ends_complete(path, image_format):
        raise DataError(f"{image_format} file is truncated (its end marker is missing)", where=path)
    return (h, w) if orientation in _SWAPS_AXES else (w, h)


# How a complete file of each format ends, and how far from the end to look for it. Writers may
# pad after a JPEG's end-of-image marker; inside the compressed data a 0xFF byte is always followed
# by 0x00 or a restart marker, so FF D9 there means the end. A PNG ends with its IEND chunk.
_END_MARKERS = {"JPEG": (b"\xff\xd9", 4096), "MPO": (b"\xff\xd9", 4096), "PNG": (b"IEND\xaeB`\x82", 4096)}


def _ends_complete(path: str, image_format: str | None) -> bool:
    marker, window = _END_MARKERS.get(image_format or "", (None, 0))
    if marker is None:
        return True
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(f.tell() - window, 0))
        return marker in f.read()


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation in the header; a PNG's eXIf chunk only where it precedes the pixels, so
    nothing is decoded."""
    if img.format == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        return exif.get(_EXIF_ORIENTATION, 1)
    return img.getexif().get(_EXIF_ORIENTATION, 1)


def _existing(path: str) -> str:
    if not os.path.exists(path):
        raise DataError("image file not found", where=path)
    if not os.path.isfile(path):
        raise DataError("image path is not a file", where=path)
    return path


def _open_decoded(path: str, mode: str, max_reduction: int) -> tuple[Image.Image, np.ndarray]:
    """Open and fully decode (the lazy `Image.open` alone would not notice a truncated body); also
    the matrix from full-size to decoded pixels (see `_draft`), both after EXIF orientation."""
    path = _existing(path)
    try:
        with Image.open(path) as img:
            reduction = _draft(img, mode, max_reduction)
            img.load()
            return ImageOps.exif_transpose(img), reduction
    except _DECODE_ERRORS as err:
        raise DataError(f"cannot decode image ({_reason(err)})", where=path) from None


def _draft(img: Image.Image, mode: str, max_reduction: int) -> np.ndarray:
    """Ask a JPEG for a 1/2, 1/4 or 1/8 decode; the matrix from full-size to decoded displayed pixels,
    through both orientations because a partial last pixel moves under a flip."""
    w, h = img.size
    r = max((s for s in (8, 4, 2) if s <= max_reduction and s <= min(w, h)), default=1)
    drafted = img.draft(mode, (w // r, h // r)) if r > 1 else None
    if drafted is None:  # not a JPEG, or nothing to reduce
        return np.eye(3)
    _, (_, _, rw, rh) = drafted  # the full image's extent in decoded pixels: (w / r, h / r)
    orientation = _orientation(img)
    scale = np.diag([rw / w, rh / h, 1.0])
    return _displayed(orientation, *img.size) @ scale @ np.linalg.inv(_displayed(orientation, w, h))


def _displayed(orientation: int, w: int, h: int) -> np.ndarray:
    """Stored pixel coordinates of a w x h image -> displayed ones (after `ImageOps.exif_transpose`)."""
    rows = {
        2: [[-1, 0, w], [0, 1, 0]],   # mirrored left-right
        3: [[-1, 0, w], [0, -1, h]],  # turned 180 degrees
        4: [[1, 0, 0], [0, -1, h]],   # mirrored top-bottom
        5: [[0, 1, 0], [1, 0, 0]],    # transposed
        6: [[0, -1, h], [1, 0, 0]],   # turned 90 degrees clockwise
        7: [[0, -1, h], [-1, 0, w]],  # transversed
        8: [[0, 1, 0], [-1, 0, w]],   # turned 90 degrees counter-clockwise
    }.get(orientation, [[1, 0, 0], [0, 1, 0]])
    return np.array([*rows, [0, 0, 1]], np.float64)


def _reason(err: BaseException) -> str:
    """Pillow's message, first line only: DataError messages are one line."""
    return str(err).splitlines()[0] if str(err).strip() else type(err).__name__


def _to_array(img: Image.Image, mode: str) -> np.ndarray:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 0..65535 -> 0..255, to nearest (65535 / 257 = 255)
        gray = ((np.clip(np.asarray(img).astype(np.int64), 0, 65535) * 2 + 257) // 514).astype(np.uint8)[..., None]
        return np.repeat(gray, 3, axis=-1) if mode == "RGB" else gray
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = Image.alpha_composite(Image.new("RGBA", img.size, (0, 0, 0, 255)), img.convert("RGBA"))  # onto black
    out = np.asarray(img.convert(mode), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def _from_array(arr: np.ndarray, mode: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype not in (np.uint8, np.uint16):
        raise DataError(f"image arrays must be uint8 or uint16, got {arr.dtype}", where="<array>")
    if arr.ndim != 2 and (arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.dtype != np.uint8):
        raise DataError(f"image array must be (H, W[, 1|3|4]) uint8 or (H, W) uint16, got shape {arr.shape} "
                        f"{arr.dtype}", where="<array>")
    return _to_array(Image.fromarray(np.ascontiguousarray(arr)), mode)
