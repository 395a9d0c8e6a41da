"""How many training images per second one CPU core turns into 224x224 random-resized-crop samples.

Why: the input pipeline must keep the accelerator fed ("device waiting on data < 5% of step time");
images/s per core tells how many cores a given step rate needs. The measurement runs the real
`jaxres.data.pipeline.Loader` (threads, prefetch, batching) over JPEG files: decode, crop, resize,
flip, exactly the per-example work of ImageNet-style training.

Run: `python -m benchmarks.pipeline_bench [--images DIR] [--n 2000] [--workers 1 2]`.
Without --images, ~200 synthetic 500x375 JPEGs (the ImageNet median size) are written to a
temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import tempfile
import time

import numpy as np
from PIL import Image

from jaxres.data.pipeline import Loader

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def measure_pipeline(image_dir_or_generated: str | os.PathLike | None = None, *, n: int, workers: int,
                     out_size: int = 224, batch_size: int = 32) -> dict:
    """Time the Loader producing `n` crop+flip samples of `out_size` with `workers` threads.

    `image_dir_or_generated`: a folder of images, or None to generate synthetic JPEGs. Returns the
    throughput overall, per core used (min(workers, cores available)) and per CPU-second consumed.
    """
    if image_dir_or_generated is None:
        with tempfile.TemporaryDirectory(prefix="jaxres-bench-") as folder:
            write_synthetic_jpegs(folder)
            return measure_pipeline(folder, n=n, workers=workers, out_size=out_size, batch_size=batch_size)
    files = sorted(str(p) for p in pathlib.Path(image_dir_or_generated).rglob("*")
                   if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images found in {image_dir_or_generated}")

    def make_example(index, rng):
        return _rrc_sample(files[index % len(files)], rng, out_size)

    loader = Loader(n, make_example, batch_size=batch_size, seed=0, drop_last=False, workers=workers)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in loader.epoch(0):
        pass
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    cores = min(workers, len(os.sched_getaffinity(0)))
    return {
        "images": n, "files": len(files), "workers": workers, "cores": cores, "out_size": out_size,
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 1),
        "images_per_s_per_core": round(n / seconds / cores, 1),
        # CPU time of the whole process (workers + batching): robust to cores shared with other jobs.
        "cpu_seconds": round(cpu_seconds, 3),
        "images_per_cpu_s": round(n / cpu_seconds, 1),
        "wait_fraction": round(loader.stats.wait_fraction, 3),
    }


def _rrc_sample(path: str, rng: np.random.Generator, out_size: int) -> dict[str, np.ndarray]:
    """torchvision-style RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) + horizontal flip, in Pillow.

    Cropping through `resize(box=...)` resamples only the box, so the crop costs one resize.
    """
    with Image.open(path) as img:
        img = img.convert("RGB")
    box = _rrc_box(img.width, img.height, rng)
    img = img.resize((out_size, out_size), Image.Resampling.BILINEAR, box=box)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return {"image": np.asarray(img, dtype=np.uint8)}


def _rrc_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random box of 8-100% of the area and aspect 3/4-4/3; the centred largest box if 10 tries fail."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return x0, y0, x0 + w, y0 + h
    w, h = min(width, round(height * 4 / 3)), min(height, round(width * 4 / 3))
    x0, y0 = (width - w) // 2, (height - h) // 2
    return x0, y0, x0 + w, y0 + h


def write_synthetic_jpegs(folder: str | os.PathLike, count: int = 200, size=(500, 375), seed: int = 0) -> None:
    """Photo-like JPEGs: smooth colour fields plus sensor-like noise.

    Pure noise would decode slower than real photos (every DCT coefficient set), flat colour faster;
    this sits between, close to natural images in file size (~40-60 kB at quality 90).
    """
    rng = np.random.default_rng(seed)
    width, height = size
    for i in range(count):
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.int16)
        pixels = np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(pathlib.Path(folder) / f"{i:04d}.jpg", quality=90)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", help="folder of images (default: generate synthetic JPEGs)")
    parser.add_argument("--n", type=int, default=2000, help="samples to produce per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out-size", type=int, default=224)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jaxres-bench-") as folder:
        if args.images is None:
            write_synthetic_jpegs(folder)
        for workers in args.workers:
            print(json.dumps(measure_pipeline(args.images or folder, n=args.n, workers=workers,
                                              out_size=args.out_size)))


if __name__ == "__main__":
    main()
