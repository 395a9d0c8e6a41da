"""Pictures: written atomically as valid PNGs, with the colours where the data says they are."""

import ast
import collections

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from jaxres import viz

RED, GREEN, BLACK, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 0), (255, 255, 255)
TSHIRT_OUTLINE = (0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11)


def _png(path, size):
    """Open `path`, check it is a complete PNG of `size`, return it as RGB."""
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size
        im.verify()  # fails on a truncated file
    return Image.open(path).convert("RGB")


def _pixels(image):
    return [tuple(p) for p in np.asarray(image).reshape(-1, 3).tolist()]


def _only(folder, *names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # no .tmp left behind


def test_keypoints_red_pred_green_true():
    image = np.zeros((40, 50, 3), np.uint8)
    out = viz.draw_keypoints(image, pred=[[10, 20]], true=[[30, 15]], radius=2)
    assert out.size == (50, 40)
    assert out.getpixel((10, 20)) == RED and out.getpixel((11, 21)) == RED
    assert out.getpixel((30, 15)) == GREEN
    assert out.getpixel((0, 0)) == BLACK and out.getpixel((20, 30)) == BLACK
    assert not image.any()  # the caller's array is untouched


def test_keypoint_outline_closes_the_polyline():
    gray = np.zeros((30, 30), np.uint8)
    points = [[5, 5], [25, 5], [25, 25]]
    out = viz.draw_keypoints(gray, true=points, outline=[0, 1, 2], radius=1)
    assert out.getpixel((15, 5)) == GREEN   # 0 → 1
    assert out.getpixel((25, 15)) == GREEN  # 1 → 2
    assert out.getpixel((15, 15)) == GREEN  # 2 → 0 closes the ring
    assert out.getpixel((5, 25)) == BLACK
    with pytest.raises(ValueError, match=r"outline indices \[5\] out of range for 3"):
        viz.draw_keypoints(gray, true=points, outline=[0, 5])


def test_boxes_edges_in_colour():
    out = viz.draw_boxes(np.zeros((40, 40, 3), np.uint8), pred=[10, 10, 30, 30], true=[[2, 2, 8, 8]], width=1)
    assert out.getpixel((10, 20)) == RED and out.getpixel((30, 20)) == RED
    assert out.getpixel((20, 20)) == BLACK  # outline only
    assert out.getpixel((2, 5)) == GREEN
    inverted = viz.draw_boxes(np.zeros((40, 40, 3), np.uint8), pred=[30, 30, 10, 10], width=1)
    assert inverted.getpixel((10, 20)) == RED


def test_contact_sheet_tiles(tmp_path):
    tiles = [np.full((10, 20, 3), v, np.uint8) for v in (50, 100, 150)]
    sheet = viz.contact_sheet(tiles, cols=2, pad=4, path=tmp_path / "sheet.png")
    assert sheet.size == (2 * 20 + 3 * 4, 2 * 10 + 3 * 4)
    png = _png(tmp_path / "sheet.png", sheet.size)
    assert png.getpixel((4, 4)) == (50,) * 3
    assert png.getpixel((4 + 20 + 4, 4)) == (100,) * 3
    assert png.getpixel((4, 4 + 10 + 4)) == (150,) * 3
    assert png.getpixel((28 + 5, 18 + 5)) == WHITE  # the empty fourth cell
    _only(tmp_path, "sheet.png")


def test_save_png_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "a.png"
    viz.save_png(np.full((8, 6, 3), 7, np.uint8), target)
    assert _png(target, (6, 8)).getpixel((0, 0)) == (7, 7, 7)

    def dies_halfway(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG\r\n\x1a\n half")
        raise KeyboardInterrupt  # a killed run
    monkeypatch.setattr(Image.Image, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        viz.save_png(np.zeros((8, 6, 3), np.uint8), target)
    monkeypatch.undo()
    assert _png(target, (6, 8)).getpixel((0, 0)) == (7, 7, 7)  # the old picture survives whole
    _only(target.parent, "a.png")


def test_plot_curves(tmp_path):
    history = {"train_loss": [(s, 1.0 / (1 + s)) for s in range(0, 200, 5)],
               "val_nme": [(s, 0.2 + 0.001 * s) for s in (50, 100, 150, 199)] + [(210, float("nan"))]}
    viz.plot_curves(history, tmp_path / "curves.png", "training", size=(640, 400))
    colours = collections.Counter(_pixels(_png(tmp_path / "curves.png", (640, 400))))
    assert colours[viz.PALETTE[0]] > 100 and colours[viz.PALETTE[1]] > 50  # both series and the legend
    assert colours[BLACK] > 200  # axes, ticks and labels
    _only(tmp_path, "curves.png")
    with pytest.raises(ValueError, match="no finite"):
        viz.plot_curves({"a": [(0, float("nan"))]}, tmp_path / "x.png")


def test_plot_confusion_cells(tmp_path):
    matrix = np.array([[5, 0, 0], [0, 4, 1], [2, 0, 3]])
    shares = [[1, 0, 0], [0, 0.8, 0.2], [0.4, 0, 0.6]]
    names = ["rock", "paper", "scissors"]
    image = viz.plot_confusion(matrix, names, tmp_path / "cm.png")
    grid = viz.confusion_grid(names)
    png = _png(tmp_path / "cm.png", (grid.width, grid.height))
    assert image.size == png.size and grid.counts
    c = grid.cell
    for i in range(3):
        for j in range(3):
            x0, y0 = grid.left + j * c, grid.top + i * c
            centre = _pixels(png.crop((x0 + c // 4, y0 + c // 4, x0 + 3 * c // 4, y0 + 3 * c // 4)))
            fill = collections.Counter(centre).most_common(1)[0][0]  # the count's text is a minority
            assert fill == viz.heat_color(shares[i][j]), (i, j)
            assert len(set(centre)) > 1, "a count is printed in the cell"
    assert viz.heat_color(1.0) == (8, 48, 107) and viz.heat_color(0.0) == WHITE
    right_of_grid = (grid.left + 3 * c + 10, grid.top + c // 2)
    below_rows = png.crop((grid.left, grid.top + 3 * c + 1, grid.left + 3 * c, grid.top + 3 * c + 5))
    assert png.getpixel(right_of_grid) == WHITE  # exactly three columns
    assert viz.GRID not in set(_pixels(below_rows))  # exactly three rows
    _only(tmp_path, "cm.png")
    with pytest.raises(ValueError, match="does not match 2 class names"):
        viz.plot_confusion(matrix, names[:2], tmp_path / "bad.png")


def test_real_tshirt_overlay(shared_data, tmp_path):
    folder = shared_data / "tshirt_points_24"
    row = pd.read_csv(folder / "points_24.csv").iloc[0]
    true = np.array([float(v) for v in ast.literal_eval(row["points"])]).reshape(12, 2)
    image = np.asarray(Image.open(folder / "t-shirt_resized_train" / row["filename"]).convert("RGB"))
    overlay = viz.draw_keypoints(image, pred=true + 6, true=true, outline=TSHIRT_OUTLINE, radius=3)
    path = viz.save_png(viz.contact_sheet([image, overlay], cols=2), tmp_path / "tshirt.png")
    png = _png(path, (2 * 224 + 3 * 4, 224 + 2 * 4))
    x, y = true[0] + 6
    assert png.getpixel((int(4 + 224 + 4 + x), int(4 + y))) == RED
