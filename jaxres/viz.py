"""Pictures (overlays, contact sheets, curves, confusion maps) with Pillow, written atomically; keypoints
(K, 2) as (x, y), boxes (x0, y0, x1, y1), in the drawn image's pixels; predictions red, truth green."""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jaxres.platform import files

PRED_COLOR = (255, 0, 0)
TRUE_COLOR = (0, 255, 0)
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
GRID = (210, 210, 210)
# The ten colours of the common "tab10" palette: distinguishable, and familiar from other plots.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
HEAT_LOW, HEAT_HIGH = (255, 255, 255), (8, 48, 107)


# --- files ---------------------------------------------------------------------------------------

def save_png(image, path) -> pathlib.Path:
    """Write `image` (PIL image or uint8 array) to `path` as PNG, atomically; returns the path."""
    image = to_image(image)
    with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
        image.save(f, format="PNG")
    return pathlib.Path(path)


def to_image(image) -> Image.Image:
    """An RGB PIL image from a PIL image or a uint8 array (H, W), (H, W, 1) or (H, W, 3)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array; got dtype {array.dtype} "
                         f"(undo the input normalisation and convert with .astype(np.uint8))")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3); got {array.shape}")
    return Image.fromarray(array).convert("RGB")


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


# --- overlays ------------------------------------------------------------------------------------

def box_region(image, box, margin: float = 0.3, min_side: int = 256) -> tuple[Image.Image, np.ndarray, float]:
    """The part of `image` around `box`, widened by `margin` and enlarged to ≥ `min_side` px, with its
    offset and scale (a point p lands at (p - offset) * scale)."""
    canvas = to_image(image)
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, np.float64)[:4])
    pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
    left, top = max(int(np.floor(x0 - pad_x)), 0), max(int(np.floor(y0 - pad_y)), 0)
    right, bottom = min(int(np.ceil(x1 + pad_x)), canvas.width), min(int(np.ceil(y1 + pad_y)), canvas.height)
    if right <= left or bottom <= top:  # a box outside the image: show the whole image
        return canvas, np.zeros(2), 1.0
    part = canvas.crop((left, top, right, bottom))
    scale = max(1.0, min_side / max(part.size))
    if scale > 1.0:
        part = part.resize((round(part.width * scale), round(part.height * scale)), Image.BILINEAR)
    return part, np.array([left, top], np.float64), scale


def draw_keypoints(image, pred=None, true=None, *, outline: Sequence[int] | None = None,
                   radius: int | None = None) -> Image.Image:
    """A copy of `image` with true points green and predicted red on top; `outline` joins an index order as a
    closed polyline; non-finite points are skipped."""
    canvas = to_image(image).copy()
    r = radius if radius is not None else max(1, round(min(canvas.size) / 100))
    order = None if outline is None else [int(i) for i in outline]

    def draw_points(draw, points, color):
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"keypoints must have shape (K, 2) as (x, y) pixels; got {points.shape}")
        if order is not None:
            bad = [i for i in order if not 0 <= i < len(points)]
            if bad:
                raise ValueError(f"outline indices {bad} out of range for {len(points)} keypoints")
            ring = points[order + order[:1]]
            for a, b in zip(ring[:-1], ring[1:]):
                if np.isfinite(a).all() and np.isfinite(b).all():
                    draw.line((tuple(a), tuple(b)), fill=color, width=max(1, r // 2))
        for x, y in points[np.isfinite(points).all(axis=1)]:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)

    return _overlay(canvas, pred, true, draw_points)


def draw_boxes(image, pred=None, true=None, *, width: int = 2) -> Image.Image:
    """A copy of `image` with true boxes green and predicted boxes red; boxes (4,) or (M, 4)."""

    def draw_rectangles(draw, boxes, color):
        if boxes.shape != (4,) and (boxes.ndim != 2 or boxes.shape[1] != 4):
            raise ValueError(f"boxes must have shape (4,) or (M, 4) as (x0, y0, x1, y1); got {boxes.shape}")
        boxes = boxes.reshape(-1, 4)
        for x0, y0, x1, y1 in boxes[np.isfinite(boxes).all(axis=1)]:
            # A regression head may emit x1 < x0; Pillow refuses such rectangles, so sort corners.
            draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), outline=color, width=width)

    return _overlay(to_image(image).copy(), pred, true, draw_rectangles)


def _overlay(canvas: Image.Image, pred, true, draw_one) -> Image.Image:
    """`draw_one(draw, float64 array, colour)` for the truth in green, then the prediction in red on top."""
    draw = ImageDraw.Draw(canvas)
    for values, color in ((true, TRUE_COLOR), (pred, PRED_COLOR)):
        if values is not None:
            draw_one(draw, np.asarray(values, dtype=np.float64), color)
    return canvas


def contact_sheet(images: Sequence, cols: int, *, pad: int = 4, path=None) -> Image.Image:
    """Images tiled row by row, `cols` per row, in cells as large as the largest; written to `path` when
    given."""
    tiles = [to_image(im) for im in images]
    if not tiles or cols < 1:
        raise ValueError(f"contact_sheet needs at least one image and cols >= 1; got "
                         f"{len(tiles)} images, cols={cols}")
    cols = min(cols, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    cw, ch = max(t.width for t in tiles), max(t.height for t in tiles)
    sheet = Image.new("RGB", (cols * cw + (cols + 1) * pad, rows * ch + (rows + 1) * pad), BACKGROUND)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet.paste(tile, (pad + c * (cw + pad), pad + r * (ch + pad)))
    if path is not None:
        save_png(sheet, path)
    return sheet


# --- line charts ---------------------------------------------------------------------------------

def nice_ticks(lo: float, hi: float, target: int = 6) -> np.ndarray:
    """Round ticks (1, 2, 2.5, 5 × 10^k) enclosing [lo, hi], about `target` of them; the ends double as axis
    limits."""
    if not hi > lo:
        half = abs(lo) * 0.1 or 1.0
        lo, hi = lo - half, hi + half
    raw = (hi - lo) / max(1, target - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return np.arange(first, last + 1) * step


def _tick_label(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or step < 1e-3:
        return f"{value:.3g}"
    exponent = math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10.0 ** exponent
    decimals = max(0, -exponent + (abs(mantissa - round(mantissa)) > 1e-6))  # 0.25 needs one more
    return f"{value:.{decimals}f}"


def _series(values) -> np.ndarray:
    """(step, value) pairs, or bare values stepped 0, 1, 2 …, as finite (M, 2) float rows."""
    rows = [(i, v) if np.ndim(v) == 0 else tuple(v) for i, v in enumerate(values)]
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return data[np.isfinite(data).all(axis=1)]


def plot_curves(history: Mapping[str, Sequence], path=None, title: str = "", *, size: tuple[int, int] = (800, 480),
                xlabel: str = "step", ylabel: str = "value", hlines: Mapping[str, float] | None = None,
                mark_x: float | None = None) -> Image.Image:
    """A line chart of `{name: [(step, value), ...]}`, written to `path` as PNG when given; non-finite values
    skipped, short series marked. `hlines` {name: y} are dashed reference lines (a baseline), `mark_x` a
    vertical line at one step (the best checkpoint); both widen the axes to show."""
    series = {name: data for name, data in ((name, _series(values)) for name, values in history.items()) if len(data)}
    if not series:
        raise ValueError(f"plot_curves: no finite (step, value) points in {list(history)}")
    refs = {k: float(v) for k, v in (hlines or {}).items()  # numbers only: a baseline may hold a table
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    every = np.concatenate(list(series.values()))
    xs = np.append(every[:, 0], [] if mark_x is None else [mark_x])
    ys = np.append(every[:, 1], list(refs.values()))
    xticks, yticks = nice_ticks(xs.min(), xs.max()), nice_ticks(ys.min(), ys.max())
    left, top, right, bottom = box = (72, 40, size[0] - 20, size[1] - 50)  # the plot area in pixels

    def x_px(x):
        return left + (x - xticks[0]) / (xticks[-1] - xticks[0]) * (right - left)

    def y_px(y):
        return bottom - (y - yticks[0]) / (yticks[-1] - yticks[0]) * (bottom - top)

    canvas = Image.new("RGB", size, BACKGROUND)
    draw, font = ImageDraw.Draw(canvas), _font(12)
    xstep, ystep = xticks[1] - xticks[0], yticks[1] - yticks[0]
    for x in xticks:
        px = x_px(x)
        draw.line((px, top, px, bottom), fill=GRID)
        draw.line((px, bottom, px, bottom + 5), fill=INK)
        draw.text((px, bottom + 8), _tick_label(x, xstep), fill=INK, font=font, anchor="mt")
    for y in yticks:
        py = y_px(y)
        draw.line((left, py, right, py), fill=GRID)
        draw.line((left - 5, py, left, py), fill=INK)
        draw.text((left - 8, py), _tick_label(y, ystep), fill=INK, font=font, anchor="rm")
    draw.rectangle(box, outline=INK)
    draw.text(((left + right) / 2, size[1] - 6), xlabel, fill=INK, font=font, anchor="md")
    draw.text(((left + right) / 2, 8), title, fill=INK, font=_font(15), anchor="mt")
    _vertical_text(canvas, ylabel, font, (6, int((top + bottom - font.getlength(ylabel)) / 2) - 2), 16)
    entries = [(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate([*series, *refs])]  # the legend
    for (name, data), (_, color) in zip(series.items(), entries):
        points = list(zip(x_px(data[:, 0]), y_px(data[:, 1])))
        if len(points) > 1:
            draw.line(points, fill=color, width=2, joint="curve")
        if len(points) <= 40:
            for px, py in points:
                draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=color)
    for value, (_, color) in zip(refs.values(), entries[len(series):]):
        _dashed(draw, (left, y_px(value)), (right, y_px(value)), color)
    if mark_x is not None:
        _dashed(draw, (x_px(mark_x), top), (x_px(mark_x), bottom), INK)
        draw.text((x_px(mark_x) + 4, bottom - 4), "best", fill=INK, font=font, anchor="lb")
    width = max(draw.textlength(name, font=font) for name, _ in entries) + 40
    x, y = right - 8 - width, top + 8  # the legend, top right
    draw.rectangle((x, y, right - 8, y + 18 * len(entries) + 6), fill=BACKGROUND, outline=GRID)
    for i, (name, color) in enumerate(entries):
        draw.line((x + 6, y + 12 + 18 * i, x + 26, y + 12 + 18 * i), fill=color, width=3)
        draw.text((x + 32, y + 12 + 18 * i), name, fill=INK, font=font, anchor="lm")
    if path is not None:
        save_png(canvas, path)
    return canvas


def _vertical_text(canvas: Image.Image, text: str, font, corner: tuple[int, int], height: int) -> None:
    """`text` reading bottom to top in a strip `height` px wide whose top-left corner is at `corner`."""
    strip = Image.new("RGBA", (int(font.getlength(text)) + 4, height), (0, 0, 0, 0))
    ImageDraw.Draw(strip).text((2, height / 2), text, fill=INK, font=font, anchor="lm")
    strip = strip.rotate(90, expand=True)
    canvas.paste(strip, corner, strip)


def _dashed(draw: ImageDraw.ImageDraw, start, end, color, dash: float = 8.0) -> None:
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    for a in np.arange(0.0, length, 2 * dash):
        t0, t1 = a / length, min(a + dash, length) / length
        draw.line((x0 + t0 * (x1 - x0), y0 + t0 * (y1 - y0), x0 + t1 * (x1 - x0), y0 + t1 * (y1 - y0)),
                  fill=color, width=2)


def plot_panels(history: Mapping[str, Sequence], path, title: str = "", *,
                baselines: Mapping[str, float] | None = None, best_step: float | None = None,
                panel_size: tuple[int, int] = (520, 320), baseline_label: str = "baseline") -> Image.Image:
    """One chart per metric, each on its own axis (NME's 0-1 and pixel errors never share one), two a row,
    with the metric's baseline as a dashed line and the best checkpoint's step marked; `path` PNG."""
    baselines = baselines or {}
    panels = [plot_curves({name: values}, None, f"{title}: {name}" if title else name, size=panel_size,
                          hlines={baseline_label: baselines.get(name)}, mark_x=best_step)
              for name, values in history.items() if len(_series(values))]
    if not panels:
        raise ValueError(f"plot_panels: no finite (step, value) points in {list(history)}")
    return contact_sheet(panels, cols=min(2, len(panels)), path=path)


# --- training curves -----------------------------------------------------------------------------

# a record count, and the per-class table (hundreds of classes: per_class.csv, not charts)
NOT_CHARTED = ("count", "per_class")


def charted(record: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a metrics.jsonl record for charts and TensorBoard: nested dicts as 'key/inner';
    where the record sits (step, epoch, split), strings, lists, the count and the per-class table left out."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key not in ("step", "epoch", "split", *NOT_CHARTED):
            out.update(_numbers(key, value))
    return out


def _numbers(prefix: str, value) -> dict[str, float]:
    if isinstance(value, dict):
        return {k: v for name, inner in value.items() for k, v in _numbers(f"{prefix}/{name}", inner).items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool) or hasattr(value, "dtype") and value.ndim == 0:
        return {prefix: float(value)}
    return {}


def draw_curves(history: list[dict], workdir: pathlib.Path, title: str, *, baselines: dict | None = None,
                best_step: int | None = None, baseline_label: str = "baseline") -> tuple[list[pathlib.Path], list[str]]:
    """loss.png and metrics.png (each validation metric with its baseline and best step): (paths written,
    problems); a plotting problem is returned, not raised."""
    written, problems = [], []
    for name, series in curve_series(history).items():
        path = pathlib.Path(workdir) / f"{name}.png"
        try:
            if name == "metrics":
                panels = {key.split(" ", 1)[-1]: values for key, values in series.items()}
                plot_panels(panels, path, title, baselines=baselines, best_step=best_step,
                            baseline_label=baseline_label)
            else:
                plot_curves(series, path, f"{title}: {name}")
            written.append(path)
        except Exception as err:  # noqa: BLE001
            problems.append(f"could not draw {path.name}: {err}")
    return written, problems


def curve_series(records: list[dict]) -> dict[str, dict[str, list]]:
    """metrics.jsonl records -> {"loss": {"train loss": [(step, v)], ...}, "metrics": {...}}: losses share a
    chart, other metrics (another scale) get their own."""
    charts: dict[str, dict[str, list]] = {"loss": {}, "metrics": {}}
    for record in records:
        for key, value in charted(record).items():
            if key in ("images_per_s", "data_wait") or "/" in key:  # throughput, and nested tables (lr groups)
                continue
            chart = "loss" if "loss" in key else "metrics"
            charts[chart].setdefault(f"{record['split']} {key}", []).append((record["step"], value))
    return {name: series for name, series in charts.items() if series}


# --- confusion matrix ----------------------------------------------------------------------------

class ConfusionGrid(NamedTuple):
    """Where `plot_confusion` puts its cells: cell (i, j) spans
    [left + j·cell, left + (j+1)·cell) × [top + i·cell, top + (i+1)·cell)."""
    cell: int
    left: int
    top: int
    width: int
    height: int
    labels: bool  # whether class names fit beside the cells
    counts: bool  # whether counts fit inside the cells


def confusion_grid(class_names: Sequence[str]) -> ConfusionGrid:
    """The layout of a confusion picture: cells shrink with many classes (at most ~720 px of grid)."""
    n = len(class_names)
    cell = int(np.clip(720 // max(n, 1), 4, 56))
    labels, counts = cell >= 10, cell >= 24
    font = _font(_label_size(cell))
    longest = max((font.getlength(str(name)) for name in class_names), default=0) if labels else 0
    left, top = int(longest) + 40, 56
    return ConfusionGrid(cell, left, top, left + n * cell + 20, top + n * cell + int(longest) + 40,
                         labels, counts)


def _label_size(cell: int) -> int:
    return int(np.clip(cell * 0.5, 8, 13))


def heat_color(share: float) -> tuple[int, int, int]:
    """White (0) to dark blue (1), linearly: the fill of a confusion cell holding `share` of its row."""
    share = float(np.clip(share, 0.0, 1.0))
    return tuple(round(lo + (hi - lo) * share) for lo, hi in zip(HEAT_LOW, HEAT_HIGH))


def plot_confusion(matrix, class_names: Sequence[str], path, *, title: str = "confusion matrix") -> Image.Image:
    """A confusion-matrix heat map (rows true) with counts and class names as PNG at `path`, coloured by
    the share of the true class's row so rare classes show their errors."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix shape {matrix.shape} does not match {n} class names")
    grid = confusion_grid(class_names)
    canvas = Image.new("RGB", (grid.width, grid.height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    count_font = _font(int(np.clip(grid.cell * 0.35, 8, 14)))
    for i in range(n):
        for j in range(n):
            x0, y0 = grid.left + j * grid.cell, grid.top + i * grid.cell
            draw.rectangle((x0, y0, x0 + grid.cell - 1, y0 + grid.cell - 1), fill=heat_color(shares[i, j]),
                           outline=GRID if grid.cell >= 8 else None)
            if grid.counts:
                draw.text((x0 + grid.cell / 2, y0 + grid.cell / 2), str(int(matrix[i, j])), anchor="mm",
                          font=count_font, fill=BACKGROUND if shares[i, j] > 0.5 else INK)
    font, label_font = _font(12), _font(_label_size(grid.cell))
    draw.text((grid.left, 8), title, fill=INK, font=_font(15))
    draw.text((grid.left, 30), "rows: true class · columns: predicted", fill=INK, font=font)
    for k, name in enumerate(map(str, class_names) if grid.labels else []):
        draw.text((grid.left - 6, grid.top + k * grid.cell + grid.cell / 2), name, fill=INK, font=label_font,
                  anchor="rm")
        _vertical_text(canvas, name, label_font, (grid.left + k * grid.cell, grid.top + n * grid.cell + 6), grid.cell)
    save_png(canvas, path)
    return canvas
