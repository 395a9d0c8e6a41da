"""Cartoon faces with 68 landmarks in iBUG order, written as a dlib / 300-W XML set.

Layout of the folder `make` returns:
    labels_ibug_300W_train.xml   n_train faces     (TRAIN_XML)
    labels_ibug_300W_test.xml    n_val faces       (TEST_XML)
    images/train_00000.jpg ...   one face per image, paths in the XML relative to the folder

The features are drawn through the landmarks themselves (jaw outline, brow strokes, eye and lip
polygons, nose lines), so every point sits on something visible. Pose (place, size, turn) and
expression (brows, eye opening, mouth width and opening, smile, jaw shape) vary, and the face box
is the landmarks' square jittered like a detector's, so a network must look to beat the mean shape.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import ImageDraw

from jaxres.data.synthetic import draw
from jaxres.data.synthetic.store import build_once

TRAIN_XML = "labels_ibug_300W_train.xml"
TEST_XML = "labels_ibug_300W_test.xml"
VERSION = 1

MEAN_SHAPE = {"jaw_w": 1.0, "chin": 1.3, "brow": 0.06, "eye_open": 0.08, "mouth_w": 0.38,
              "mouth_open": 0.08, "smile": 0.02}


def random_shape(rng: np.random.Generator) -> dict[str, float]:
    """Expression and build parameters, each uniform in a range around MEAN_SHAPE."""
    ranges = {"jaw_w": (0.85, 1.15), "chin": (1.1, 1.5), "brow": (0.0, 0.14), "eye_open": (0.03, 0.13),
              "mouth_w": (0.28, 0.48), "mouth_open": (0.0, 0.2), "smile": (-0.06, 0.1)}
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}


def _eye(cx: float, half_w: float, open_: float) -> list[tuple[float, float]]:
    """Six eye points: corner, two upper lid, corner, two lower lid (iBUG runs left to right on top)."""
    y0 = -0.3
    top = [(cx - half_w / 3, y0 - open_), (cx + half_w / 3, y0 - open_)]
    bottom = [(cx + half_w / 3, y0 + open_ * 0.8), (cx - half_w / 3, y0 + open_ * 0.8)]
    return [(cx - half_w, y0), *top, (cx + half_w, y0), *bottom]


def _mouth(w: float, open_: float, smile: float) -> list[tuple[float, float]]:
    """Outer lip 48..59 then inner lip 60..67, centred at y = 0.6."""
    y, lip_up, lip_lo = 0.6, 0.07, 0.09
    up = y - open_ / 2 - lip_up
    lo = y + open_ / 2 + lip_lo
    outer = [(-w, y - smile), (-2 * w / 3, up + 0.01), (-w / 3, up - 0.015), (0.0, up + 0.01),
             (w / 3, up - 0.015), (2 * w / 3, up + 0.01), (w, y - smile),
             (2 * w / 3, lo - 0.02), (w / 3, lo), (0.0, lo + 0.01), (-w / 3, lo), (-2 * w / 3, lo - 0.02)]
    wi = 0.8 * w
    inner = [(-wi, y - smile * 0.8), (-wi / 2, y - open_ / 2), (0.0, y - open_ / 2), (wi / 2, y - open_ / 2),
             (wi, y - smile * 0.8), (wi / 2, y + open_ / 2), (0.0, y + open_ / 2), (-wi / 2, y + open_ / 2)]
    return outer + inner


def landmarks(shape: dict[str, float] = MEAN_SHAPE) -> np.ndarray:
    """(68, 2) points in the face frame: half-width 1, origin between nose and eyes, y down.

    Mirror-symmetric about x = 0 for every shape, which the flip-map tests rely on.
    """
    t = np.linspace(0.0, np.pi, 17)
    jaw = np.stack([-np.cos(t) * shape["jaw_w"], -0.2 + np.sin(t) * shape["chin"]], 1)
    k = np.arange(5)
    brow_y = -0.55 - shape["brow"] - 0.08 * np.sin(np.pi * (k + 0.5) / 5)
    brow_l = np.stack([-0.8 + 0.15 * k, brow_y], 1)  # outer 17 -> inner 21
    brow_r = np.stack([0.2 + 0.15 * k, brow_y[::-1]], 1)  # inner 22 -> outer 26
    bridge = np.stack([np.zeros(4), np.linspace(-0.35, 0.15, 4)], 1)
    nostrils = [(-0.2, 0.25), (-0.1, 0.28), (0.0, 0.3), (0.1, 0.28), (0.2, 0.25)]
    eyes = _eye(-0.45, 0.18, shape["eye_open"]) + _eye(0.45, 0.18, shape["eye_open"])
    mouth = _mouth(shape["mouth_w"], shape["mouth_open"], shape["smile"])
    return np.concatenate([jaw, brow_l, brow_r, bridge, nostrils, eyes, mouth]).astype(np.float64)


def _head_outline(shape: dict[str, float]) -> np.ndarray:
    """Forehead arc from jaw point 16 over the top back to jaw point 0 (not landmarks)."""
    t = np.linspace(0.0, np.pi, 13)[1:-1]
    return np.stack([np.cos(t) * shape["jaw_w"], -0.2 - np.sin(t) * 1.0], 1)


def _render(rng, size, pts, outline, face_scale):
    """Draw one face whose landmarks (image pixels) are `pts`."""
    skin = draw.random_color(rng, 150, 240)
    bg = draw.gradient_background(rng, size, size, draw.contrasting_color(rng, skin, 90.0))
    img = draw.to_image(bg)
    d = ImageDraw.Draw(img)
    dark = tuple(int(c * 0.55) for c in skin)
    hair = draw.random_color(rng, 10, 90)
    lw = max(1, round(face_scale * 0.05))
    d.polygon(draw.xy(np.concatenate([pts[:17], outline])), fill=skin)
    d.line(draw.xy(pts[:17]), fill=dark, width=lw)
    d.line(draw.xy(pts[17:22]), fill=hair, width=lw * 2)
    d.line(draw.xy(pts[22:27]), fill=hair, width=lw * 2)
    d.line(draw.xy(pts[27:31]), fill=dark, width=lw)
    d.line(draw.xy(pts[31:36]), fill=dark, width=lw)
    for eye in (pts[36:42], pts[42:48]):
        d.polygon(draw.xy(eye), fill=(245, 245, 245), outline=(20, 20, 20))
        c, r = eye.mean(0), max(1.0, 0.35 * float(np.linalg.norm(eye[1] - eye[5])))
        d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=(30, 20, 10))
    d.polygon(draw.xy(pts[48:60]), fill=(170, 40, 50))
    d.polygon(draw.xy(pts[60:68]), fill=(60, 10, 15))
    return draw.add_noise(rng, img, 6.0)


def _one_face(rng, size):
    """-> (image, (68, 2) int landmarks, (left, top, width, height) int box)."""
    shape = random_shape(rng)
    scale = rng.uniform(0.2, 0.28) * size
    angle = rng.uniform(-20, 20)
    center = rng.uniform(0.5 - 0.08, 0.5 + 0.08, size=2) * size
    pts = np.rint(draw.pose(landmarks(shape), scale, angle, center))
    outline = draw.pose(_head_outline(shape), scale, angle, center)
    img = _render(rng, size, pts, outline, scale)
    lo, hi = pts.min(0), pts.max(0)
    side = (hi - lo).max() * rng.uniform(0.95, 1.15)
    mid = (lo + hi) / 2 + rng.uniform(-0.08, 0.08, size=2) * side
    box = np.rint([mid[0] - side / 2, mid[1] - side / 2, side, side]).astype(int)
    return img, pts.astype(int), tuple(int(v) for v in box)


def _xml(entries, name: str) -> str:
    """dlib's imglab XML: parts inside the box, names '00'..'67', integer pixels."""
    lines = ["<?xml version='1.0' encoding='ISO-8859-1'?>",
             "<?xml-stylesheet type='text/xsl' href='image_metadata_stylesheet.xsl'?>",
             "<dataset>", f"<name>{name}</name>",
             # the module's former name, kept: the embedded set stays byte for byte what it was
             "<comment>Synthetic faces from jaxres.data.synthetic.faces; 68 iBUG 300-W landmarks.</comment>",
             "<images>"]
    for file, w, h, pts, (left, top, bw, bh) in entries:
        lines.append(f"  <image file={quoteattr(file)} width='{w}' height='{h}'>")
        lines.append(f"    <box top='{top}' left='{left}' width='{bw}' height='{bh}'>")
        lines += [f"      <part name='{i:02d}' x='{x}' y='{y}'/>" for i, (x, y) in enumerate(pts)]
        lines += ["    </box>", "  </image>"]
    lines += ["</images>", "</dataset>", ""]
    return "\n".join(lines)


def _write_split(folder: Path, split: str, n: int, rng, size: int) -> None:
    entries = []
    for i in range(n):
        img, pts, box = _one_face(rng, size)
        file = f"images/{split}_{i:05d}.jpg"
        draw.save_jpeg(img, folder / file)
        entries.append((file, size, size, pts, box))
    xml = TRAIN_XML if split == "train" else TEST_XML
    (folder / xml).write_text(_xml(entries, f"Synthetic faces ({split})"), encoding="ISO-8859-1")


def make(root, *, n_train: int = 400, n_val: int = 100, seed: int = 0, size: int = 128) -> Path:
    """Write (or find) the face set in `root`; returns `root` (see the module doc for the layout)."""
    params = {"n_train": n_train, "n_val": n_val, "seed": seed, "size": size}

    def build(folder: Path) -> None:
        train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        _write_split(folder, "train", n_train, train_rng, size)
        _write_split(folder, "test", n_val, test_rng, size)

    return build_once(root, "jaxres.synthetic.faces", VERSION, params, build)
