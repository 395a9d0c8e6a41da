"""Host work per training image, and end-to-end training against the step alone, on the one data path.

Each image is decoded once into the frame cache (`jaxres.data.frame_cache`) and every random
transform runs inside the jitted step. What is measured (medians of repeats):
1. Per task recipe (`configs/<task>.py`, real image sizes), on photo-like 1600x1200 and 1920x1080
   JPEGs (64x64 arrays for signs, as its HDF5 records are): CPU ms per image of the first epoch
   (`Assembly.load_frames`: decode into the cache, JPEG draft decoding) and of later epochs
   (`Assembly.loader(..., frames=...)`: gathers only), and the cache's size per image. The target:
   <= 0.25 ms of host CPU per image after the first epoch (one core feeds >= 4,000 img/s).
2. End to end, face and sketch: the engine's pieces (`Assembly.train_step` with the device
   transform, the loader with a thread per core) for a few epochs, against the same step run back to
   back on one prepared batch. Face also on the same faces pre-cropped to 256 px JPEGs. On a CPU a
   cheap model (ResNet-18, 32 px, batch 32); with `--recipe-size` the recipe's own network, size and
   batch (random weights): the figure that says whether the host keeps an accelerator fed.
3. PyTorch: the same photos through a `torch.utils.data.DataLoader` (a worker per core, Pillow
   decode and the torchvision-style transforms of the recipe), in a child process that never imports JAX.

CPU time (`time.process_time`, `resource.getrusage` for DataLoader workers) is the primary figure of
1 and 3: wall time moves with whatever else runs on the machine, so every row carries the load average.

Run: `python -m benchmarks.input_bench [--quick] [--no-torch] [--no-e2e | --e2e-only] [--e2e face sketch]
[--recipe-size] [--e2e-records N] [--json FILE]`; one JSON line per measurement, then markdown tables
(docs/BENCHMARKS.md, "Input: decode once, augment on the device").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import math

import numpy as np
from PIL import Image

from benchmarks.common import REPO, load
from jaxres.platform import system

TASKS = ("face", "tshirt", "bbox", "sketch", "signs")
E2E_TASKS = ("face", "sketch")
PHOTO_SIZES = ((1600, 1200), (1920, 1080))
TARGET_MS = 0.25  # issue 13: host CPU per training image after the first epoch
SKETCH_IMAGES = 50_889  # ImageNet-Sketch
PRECROP = 256  # side of the pre-cropped faces of the end-to-end comparison
SIGNS_SIDE = 64


@dataclasses.dataclass(frozen=True)
class Scale:
    photos: int  # per photo size
    repeats: int
    gather_records: int  # records per later-epoch measurement (the photos' records repeated)
    faces_per_photo: int  # end to end
    e2e_records: int  # end to end: records an epoch (the photos' records repeated)
    epochs: int  # end to end
    step_repeats: int  # end to end, step alone


DEFAULT = Scale(photos=16, repeats=5, gather_records=1024, faces_per_photo=4, e2e_records=128, epochs=5,
                step_repeats=8)
QUICK = Scale(photos=1, repeats=1, gather_records=64, faces_per_photo=2, e2e_records=64, epochs=2, step_repeats=1)


def emit(row: dict) -> dict:
    row = {"load": load(), **row}
    print(json.dumps(row), flush=True)
    return row


def timed(fn):
    """(result, CPU seconds of this process, wall seconds) of `fn()`."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


# ------------------------------------------------------------------------------------------- data
def write_photos(folder: pathlib.Path, per_size: int, sizes=PHOTO_SIZES) -> list[pathlib.Path]:
    """`per_size` photo-like JPEGs (quality 90) of each size: smooth colour fields plus sensor-like
    noise. Pure noise would decode slower than real photos (every DCT coefficient set), flat colour
    faster; this sits between, close to natural images in file size."""
    files = []
    for seed, (w, h) in enumerate(sizes):
        sub = folder / f"{w}x{h}"
        sub.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for i in range(per_size):
            coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), np.int16)
            pixels = np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(sub / f"{i:04d}.jpg", quality=90)
        files += sorted(sub.glob("*.jpg"))
    return files


def face_in(rng, region: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(box, 68 keypoints) of a face of 300-500 px (at most the region) placed inside `region`."""
    from tasks.synthetic.faces import landmarks, random_shape

    x0, y0, x1, y1 = region
    side = min(rng.uniform(300, 500), x1 - x0, y1 - y0)
    left, top = rng.uniform(x0, x1 - side), rng.uniform(y0, y1 - side)
    centre = np.array([left + side / 2, top + side / 2])
    points = centre + landmarks(random_shape(rng)) * side * 0.4  # the face frame's half-width is 1
    return np.array([left, top, left + side, top + side], np.float32), points.astype(np.float32)


def regions(w: int, h: int, count: int) -> list[tuple[float, float, float, float]]:
    """`count` (1, 4 or more) cells of a grid over a w x h image, one face per cell."""
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    return [(c * w / cols, r * h / rows, (c + 1) * w / cols, (r + 1) * h / rows)
            for r in range(rows) for c in range(cols)][:count]


def task_records(task: str, files, seed: int = 0, faces_per_photo: int = 1):
    """A Dataset fitting the task's recipe on the photos (signs: 64x64 arrays of the same kind)."""
    from jaxres.data.records import Dataset, Record

    rng = np.random.default_rng(seed)
    records, classes = [], None
    for i, path in enumerate(files):
        w, h = Image.open(path).size
        where = f"{path}:{i}"
        if task == "face":
            for cell in regions(w, h, faces_per_photo):
                box, points = face_in(rng, cell)
                records.append(Record(str(path), where, keypoints=points, box=box))
        elif task == "tshirt":
            points = rng.uniform((0.2 * w, 0.2 * h), (0.8 * w, 0.8 * h), (12, 2)).astype(np.float32)
            records.append(Record(str(path), where, keypoints=points))
        elif task == "bbox":
            bw, bh = rng.uniform(0.2, 0.6) * w, rng.uniform(0.2, 0.6) * h
            left, top = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            records.append(Record(str(path), where, box=np.array([left, top, left + bw, top + bh], np.float32)))
        else:
            classes = tuple(f"class{c}" for c in range(6 if task == "signs" else 10))
            image = np.asarray(Image.open(path).convert("RGB").resize((SIGNS_SIDE, SIGNS_SIDE))) if task == "signs" \
                else str(path)
            records.append(Record(image, where, label=int(rng.integers(len(classes)))))
    return Dataset(records, classes=classes)


def precropped_faces(dataset, folder: pathlib.Path, side: int = PRECROP):
    """The same faces cut out (a square of twice the face box around it) and resized to side x side
    JPEGs, with their boxes and keypoints moved along: the 'pre-cropped' copy of a face set."""
    from jaxres.data.records import Dataset, Record

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i, record in enumerate(dataset.records):
        x0, y0, x1, y1 = record.box
        half = (x1 - x0)  # twice the box, centred on it
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        window = (cx - half, cy - half, cx + half, cy + half)
        with Image.open(record.image) as img:
            crop = img.convert("RGB").crop(tuple(int(round(v)) for v in window)).resize((side, side), Image.BILINEAR)
        path = folder / f"{i:05d}.jpg"
        crop.save(path, quality=90)
        s = side / (2 * half)
        origin = np.array(window[:2], np.float32)
        box = (np.asarray(record.box).reshape(2, 2) - origin) * s
        records.append(Record(str(path), f"{path}:0", keypoints=(record.keypoints - origin) * s,
                              box=box.reshape(4).astype(np.float32)))
    return Dataset(records)


# ---------------------------------------------------------------------------------------- recipes
def recipe(task: str, dataset, *, cache_dir: pathlib.Path, workers: int | None = 1, overrides: dict | None = None,
           mesh=None):
    """The assembly of `configs/<task>.py` as `train` builds it for `dataset`."""
    import importlib

    from jaxres.train import assembly
    from jaxres.config import defaults
    from jaxres.config import apply_overrides

    config = defaults.complete(importlib.import_module(f"configs.{task}").get_config())
    settings = {"data.cache_dir": str(cache_dir), "data.workers": workers, **(overrides or {})}
    return assembly.for_training(apply_overrides(config, [f"{k}={v!r}" for k, v in settings.items()]), dataset, mesh)


def repeated(dataset, count: int):
    """`count` records cycling through `dataset`'s (equal records share one cached row)."""
    records = [dataset.records[i % len(dataset)] for i in range(count)]
    return dataclasses.replace(dataset, records=records)


def run_epochs(loader, epochs: int) -> int:
    images = 0
    for epoch in range(epochs):
        for batch in loader.epoch(epoch):
            images += len(batch["index"] if "index" in batch else batch["image"])
    return images


def folder_bytes(folder: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def first_epoch(task: str, dataset, cache_dir: pathlib.Path) -> tuple[object, dict]:
    """The new path's first epoch: every record decoded once into an empty cache (1 thread)."""
    built = recipe(task, dataset, cache_dir=cache_dir)
    frames, cpu, wall = timed(lambda: built.load_frames(dataset.records))
    n = len(dataset)
    return frames, {"cpu_ms": 1e3 * cpu / n, "wall_s": wall, "images": n, "side": frames.spec.side,
                    "channels": frames.spec.channels, "disk_bytes_per_image": folder_bytes(cache_dir) / n}


def later_epochs(task: str, dataset, cache_dir: pathlib.Path, records: int, epochs: int = 2) -> dict:
    """The new path after the first epoch: reopen the cache (every record found), build the loader
    (the per-record arrays), then gather-only epochs over `records` records, 1 loader thread."""
    gathered = repeated(dataset, records)
    built = recipe(task, gathered, cache_dir=cache_dir)
    batch = min(int(built.config["train"]["batch_size"]), records)
    frames, reopen_cpu, _ = timed(lambda: built.load_frames(gathered.records))
    loader, setup_cpu, _ = timed(lambda: built.loader(gathered, train=True, frames=frames, batch_size=batch))
    images, cpu, wall = timed(lambda: run_epochs(loader, epochs))
    return {"cpu_ms": 1e3 * cpu / images, "wall_s": wall, "images": images, "batch": batch,
            "reopen_ms": 1e3 * reopen_cpu / records, "setup_ms": 1e3 * setup_cpu / records}


def measure_task(task: str, dataset, root: pathlib.Path, scale: Scale) -> dict:
    """The first epoch (into an empty cache) and later epochs of one task; medians over repeats."""
    runs = {"first": [], "later": []}
    frame = {}
    for r in range(scale.repeats):
        cache = root / f"{task}-cache-{r}"
        _, first = first_epoch(task, dataset, cache)
        runs["first"].append(first)
        runs["later"].append(later_epochs(task, dataset, cache, scale.gather_records))
        frame = {k: first[k] for k in ("side", "channels", "disk_bytes_per_image")}
    med = {name: {k: statistics.median(run[k] for run in rows) for k in rows[0]} for name, rows in runs.items()}
    later = med["later"]["cpu_ms"]
    return emit({"measure": "host_cpu_per_image", "task": task, "images": len(dataset), "repeats": scale.repeats,
                 **frame, "cache_bytes_per_image": frame["side"] ** 2 * frame["channels"] + 120,
                 "first_epoch_cpu_ms": round(med["first"]["cpu_ms"], 3),
                 "later_cpu_ms": round(later, 4), "later_images_per_core_s": round(1e3 / later, 0),
                 "later_batch": med["later"]["batch"], "reopen_ms": round(med["later"]["reopen_ms"], 4),
                 "setup_ms": round(med["later"]["setup_ms"], 4), "target_met": later <= TARGET_MS})


def sketch_disk(row: dict) -> dict:
    per_image = row["cache_bytes_per_image"]
    return emit({"measure": "imagenet_sketch_cache", "images": SKETCH_IMAGES, "frame": row["side"],
                 "bytes_per_image": per_image, "gb": round(SKETCH_IMAGES * per_image / 1e9, 2)})


# ------------------------------------------------------------------------------------ end to end
@dataclasses.dataclass
class Trainer:
    """The engine's training pieces: state, compiled step and an accumulator."""

    step: object
    state: object
    metrics: object


CHEAP_MODEL = {"objective.image_size": 32, "model.arch": "resnet18", "train.batch_size": 32}


def trainer(built, steps_per_epoch: int, epochs: int) -> Trainer:
    from jaxres import models
    from jaxres.train import state as state_lib
    from jaxres.train.optim import make_optimizer
    from jaxres.train.steps import empty_metrics

    optimizer = make_optimizer(built.config["optim"], steps_per_epoch, epochs)
    variables = models.init(built.model, 0, image_size=int(built.config["objective"]["image_size"]))
    state = state_lib.create(variables, optimizer.tx, 0, built.mesh)
    return Trainer(built.train_step(optimizer.tx), state, empty_metrics(state.step.sharding))


def train_epoch(run: Trainer, loader, epoch: int) -> dict:
    import jax

    def go():
        loader.stats.reset()
        for batch in loader.epoch(epoch):
            run.state, run.metrics = run.step(run.state, batch, run.metrics, ())
        jax.block_until_ready(run.metrics)
        return loader.stats.wait_fraction

    wait, cpu, wall = timed(go)
    return {"wall_s": wall, "cpu_s": cpu, "wait_fraction": wait}


def step_only(run: Trainer, loader, repeats: int) -> float:
    """Seconds per step on one batch already made, dispatched back to back as the epochs are (the
    first call compiles and is not counted)."""
    import jax

    batches = loader.epoch(0)
    batch = next(batches)
    batches.close()  # stop the loader's threads: the step is timed alone
    run.state, run.metrics = run.step(run.state, batch, run.metrics, ())
    jax.block_until_ready(run.metrics)
    start = time.perf_counter()
    for _ in range(repeats):
        run.state, run.metrics = run.step(run.state, batch, run.metrics, ())
    jax.block_until_ready(run.metrics)
    return (time.perf_counter() - start) / repeats


def e2e_sets(task: str, files, root: pathlib.Path, scale: Scale) -> dict:
    """The sets one task trains on end to end, each `scale.e2e_records` records (repeated records
    share a cached frame): face on the photos and on the same faces pre-cropped, sketch on the photos."""
    if task == "face":
        photos = task_records("face", files, seed=1, faces_per_photo=scale.faces_per_photo)
        crops = precropped_faces(photos, root / "crops")
        return {"photos": repeated(photos, scale.e2e_records),
                f"precropped {PRECROP}": repeated(crops, scale.e2e_records)}
    return {"photos": repeated(task_records(task, files, seed=1), scale.e2e_records)}


def end_to_end(task: str, sets: dict, root: pathlib.Path, scale: Scale, recipe_size: bool) -> list[dict]:
    """One task's recipe on each of its sets, epochs interleaved, against the step alone."""
    from jaxres.train import parallel

    overrides = {"model.weights": "none", **({} if recipe_size else CHEAP_MODEL)}
    mesh, loaders, builds = parallel.make_mesh(), {}, {}
    built = recipe(task, next(iter(sets.values())), cache_dir=root / f"e2e-cache-{task}", workers=None,
                   overrides=overrides, mesh=mesh)
    batch = int(built.config["train"]["batch_size"])
    for name, dataset in sets.items():
        loaders[name], builds[name], _ = timed(lambda: built.loader(dataset, train=True))
    any_loader = loaders[name]  # the sets have as many records: the same steps, the same batch shapes
    run = trainer(built, any_loader.steps_per_epoch, scale.epochs)
    step_s = step_only(run, any_loader, scale.step_repeats)
    epochs = {name: [] for name in sets}
    for e in range(scale.epochs):
        for name in sets:
            epochs[name].append(train_epoch(run, loaders[name], e))
    model = f"{built.config['model']['arch']} {built.config['objective']['image_size']} px"
    return [e2e_row(task, model, name, sets[name], loaders[name], builds[name], epochs[name], step_s, batch)
            for name in sets]


def e2e_row(task, model, name, dataset, loader, build_cpu, epochs, step_s, batch) -> dict:
    later = epochs[1:] or epochs
    wall = statistics.median(e["wall_s"] for e in later)
    images = loader.steps_per_epoch * batch
    step_only_rate = batch / step_s
    return emit({"measure": "end_to_end", "task": task, "model": model, "set": name,
                 "records": len(dataset), "batch": batch, "cache_build_cpu_s": round(build_cpu, 2),
                 "epoch1_s": round(epochs[0]["wall_s"], 3), "epoch_s": round(wall, 3),
                 "images_per_s": round(images / wall, 1), "step_only_images_per_s": round(step_only_rate, 1),
                 "of_step_only": round(images / wall / step_only_rate, 3),
                 "wait_fraction": round(statistics.median(e["wait_fraction"] for e in later), 3),
                 "epoch_cpu_s": round(statistics.median(e["cpu_s"] for e in later), 3)})


# ---------------------------------------------------------------------------------------- PyTorch
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def torch_side(items: list[dict], task: str, repeats: int) -> dict | None:
    """The PyTorch column, measured in a child process that never imports JAX (its DataLoader forks
    workers, and getrusage counts their CPU once they are joined); None when torch is absent."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None
    spec = json.dumps({"task": task, "items": items, "repeats": repeats})
    out = subprocess.run([sys.executable, "-m", "benchmarks.input_bench", "--torch-child"], input=spec,
                         capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"the PyTorch child failed:\n{out.stderr[-2000:]}")
    return emit({"measure": "torch_dataloader", "task": task, **json.loads(out.stdout.strip().splitlines()[-1])})


def torch_items(dataset) -> list[dict]:
    return [{"path": r.image, "box": None if r.box is None else [float(v) for v in r.box],
             "keypoints": None if r.keypoints is None else np.asarray(r.keypoints).tolist()} for r in dataset.records]


def _about(matrix: np.ndarray, centre: float) -> np.ndarray:
    """`matrix` applied about the point (centre, centre) instead of the origin."""
    shift = np.array([[1, 0, centre], [0, 1, centre], [0, 0, 1]], np.float64)
    return shift @ matrix @ np.linalg.inv(shift)


def torch_face_sample(item: dict, rng) -> dict:
    """The face recipe as a PyTorch project writes it with torchvision's PIL transforms (written out
    in Pillow, as torchvision's PIL backend does them): full decode, gray, crop by the box with a 25%
    margin, resize to 224, RandomAffine (±10°, scale 0.9-1.1, shift 5%), flip, brightness and
    contrast 0.3, ToTensor + Normalize; the keypoints through the same matrix."""
    from PIL import ImageEnhance

    box = item["box"]
    side = max(box[2] - box[0], box[3] - box[1]) * 1.5
    left, top = (box[0] + box[2] - side) / 2, (box[1] + box[3] - side) / 2
    img = Image.open(item["path"]).convert("L")
    window = tuple(int(round(v)) for v in (left, top, left + side, top + side))  # may reach outside: padded
    img = img.crop(window).resize((224, 224), Image.BILINEAR)
    angle, scale = math.radians(rng.uniform(-10, 10)), rng.uniform(0.9, 1.1)
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    dx, dy = rng.uniform(-0.05, 0.05, 2) * 224
    augment = _about(np.array([[cos, -sin, dx], [sin, cos, dy], [0, 0, 1]]), 112.0)
    img = img.transform((224, 224), Image.AFFINE, tuple(np.linalg.inv(augment)[:2].reshape(-1)), Image.BILINEAR)
    crop = np.array([[224 / side, 0, -left * 224 / side], [0, 224 / side, -top * 224 / side], [0, 0, 1]])
    matrix = augment @ crop
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        matrix = np.array([[-1, 0, 224], [0, 1, 0], [0, 0, 1]]) @ matrix
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast):
        img = enhance(img).enhance(rng.uniform(0.7, 1.3))
    points = np.asarray(item["keypoints"]) @ matrix[:2, :2].T + matrix[:2, 2]
    return {"image": to_tensor(img), "keypoints": (points / 224).astype(np.float32)}


def _random_resized_crop(rng, width: int, height: int) -> tuple[float, float, float, float]:
    """torchvision's RandomResizedCrop box (8-100% of the area, aspect 3/4-4/3, 10 tries, else the
    centred largest box of an aspect in range) as (left, top, right, bottom)."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    w, h = min(width, round(height * 4 / 3)), min(height, round(width * 4 / 3))
    return (width - w) // 2, (height - h) // 2, (width + w) // 2, (height + h) // 2


def torch_sketch_sample(item: dict, rng) -> dict:
    """RandomResizedCrop(224) + RandomHorizontalFlip + ColorJitter(0.2, 0.2, 0.2) + ToTensor + Normalize,
    as torchvision's PIL backend does them."""
    from PIL import ImageEnhance

    img = Image.open(item["path"]).convert("RGB")
    img = img.resize((224, 224), Image.BILINEAR, box=_random_resized_crop(rng, img.width, img.height))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enhance(img).enhance(rng.uniform(0.8, 1.2))
    return {"image": to_tensor(img)}


def to_tensor(img):
    """ToTensor + Normalize: CHW float32."""
    import torch

    pixels = np.asarray(img, np.float32).reshape(img.height, img.width, -1) / 255.0
    mean, std = (MEAN, STD) if pixels.shape[-1] == 3 else (MEAN.mean(keepdims=True), STD.mean(keepdims=True))
    return torch.from_numpy(((pixels - mean) / std).transpose(2, 0, 1).copy())


class TorchSet:
    """A map-style dataset: item i drawn with a generator of (epoch seed, i)."""

    def __init__(self, items, sample, seed: int):
        self.items, self.sample, self.seed = items, sample, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.sample(self.items[i], np.random.default_rng([self.seed, i]))


def cpu_seconds() -> float:
    """CPU of this process and its joined children (DataLoader workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def torch_child() -> None:
    """Child process: read {task, items, repeats} on stdin, print {workers, images_per_s, cpu_ms}."""
    import torch

    spec = json.loads(sys.stdin.read())
    workers = system.usable_cpus()
    sample = torch_face_sample if spec["task"] == "face" else torch_sketch_sample
    runs = []
    for r in range(spec["repeats"]):
        data = torch.utils.data.DataLoader(TorchSet(spec["items"], sample, r), batch_size=16, shuffle=True,
                                           num_workers=workers, multiprocessing_context="fork")
        cpu, wall = cpu_seconds(), time.perf_counter()
        images = sum(len(batch["image"]) for batch in data)
        runs.append((1e3 * (cpu_seconds() - cpu) / images, images / (time.perf_counter() - wall)))
    print(json.dumps({"workers": workers, "images": len(spec["items"]), "repeats": spec["repeats"],
                      "images_per_s": round(statistics.median(r[1] for r in runs), 1),
                      "cpu_ms": round(statistics.median(r[0] for r in runs), 2)}))


# ----------------------------------------------------------------------------------------- report
def markdown(recipes: list[dict], disk: dict | None, e2e: list[dict], torch_rows: list[dict]) -> str:
    lines = []
    if recipes:
        lines += ["| task | frame | cache / image | 1st epoch: CPU ms / img | later epochs: CPU ms / img | img/s/core "
                  "| ≤ 0.25 ms |", "|" + "---|" * 7]
        lines += [f"| {r['task']} | {r['side']}²×{r['channels']} | {r['cache_bytes_per_image'] / 1e3:.0f} kB "
                  f"| {r['first_epoch_cpu_ms']:.2f} | {r['later_cpu_ms']:.3f} | {r['later_images_per_core_s']:.0f} "
                  f"| {'yes' if r['target_met'] else 'no'} |" for r in recipes]
    if disk:
        lines.append(f"\nImageNet-Sketch ({disk['images']:,} images) at the sketch frame: {disk['gb']} GB.")
    if e2e:
        lines += ["", "| task | model | set | batch | cache build (CPU s) | epoch 1 s | epoch ≥ 2 s | img/s "
                  "| step only img/s | of step only |", "|" + "---|" * 10]
        lines += [f"| {r['task']} | {r['model']} | {r['set']} | {r['batch']} | {r['cache_build_cpu_s']} | {r['epoch1_s']} "
                  f"| {r['epoch_s']} | {r['images_per_s']} | {r['step_only_images_per_s']} | {r['of_step_only']:.2f} |"
                  for r in e2e]
    if torch_rows:
        lines += ["", "| PyTorch DataLoader | workers | img/s | CPU ms / img |", "|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['workers']} | {r['images_per_s']} | {r['cpu_ms']} |" for r in torch_rows]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.input_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two photos, one repeat, two epochs (a smoke test)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--no-e2e", action="store_true", help="skip the end-to-end training")
    parts.add_argument("--e2e-only", action="store_true", help="only the end-to-end training")
    parser.add_argument("--e2e", nargs="+", choices=E2E_TASKS, default=list(E2E_TASKS), metavar="TASK",
                        help=f"the tasks trained end to end (default: {' '.join(E2E_TASKS)})")
    parser.add_argument("--recipe-size", action="store_true",
                        help="end to end with the recipe's own network, size and batch (for an accelerator)")
    parser.add_argument("--e2e-records", type=int, help="records an end-to-end epoch (default 128; --quick 64)")
    parser.add_argument("--json", help="also write every row here, as a JSON list")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.torch_child:
        return torch_child()
    scale = QUICK if args.quick else DEFAULT
    if args.e2e_records:
        scale = dataclasses.replace(scale, e2e_records=args.e2e_records)
    rows = [emit({"measure": "machine", "cores": system.usable_cpus(), "backend": _backend(),
                  "scale": dataclasses.asdict(scale), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})]
    recipes, disk, torch_rows, e2e = [], None, [], []
    with tempfile.TemporaryDirectory(prefix="jaxres-input-bench-") as tmp:
        root = pathlib.Path(tmp)
        files = write_photos(root / "photos", scale.photos)
        if not args.e2e_only:
            datasets = {task: task_records(task, files) for task in TASKS}
            recipes = [measure_task(task, datasets[task], root, scale) for task in TASKS]
            disk = sketch_disk(next(r for r in recipes if r["task"] == "sketch"))
            torch_rows = [] if args.no_torch else [
                row for task in ("face", "sketch")
                if (row := torch_side(torch_items(datasets[task]), task, scale.repeats)) is not None]
        if not args.no_e2e:
            for task in args.e2e:
                e2e += end_to_end(task, e2e_sets(task, files, root, scale), root, scale, args.recipe_size)
    rows += [*recipes, *([disk] if disk else []), *e2e, *torch_rows]
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    print(markdown(recipes, disk, e2e, torch_rows))


def _backend() -> str:
    import jax

    return f"{jax.default_backend()} ({jax.devices()[0].device_kind})"


if __name__ == "__main__":
    main()
