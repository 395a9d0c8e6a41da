"""Decode each image once into a cache of pre-framed uint8 pixels on disk, shared by splits and runs:
decoding and resampling is most of the host's work, and augmentation runs on the device.

Row i of `load_or_build(records, spec, frame_of, root=...)` is record i's image warped by
`frame_of(record, w, h)` into a side x side frame. A row's key covers all that shapes its pixels (the
spec, `_FORMAT`, the file's path, size and mtime_ns or an array's bytes, the box and keypoints), so a
frame is never stale. root/<spec digest>/ holds segments: rows (`seg-*.bin`), then their index
(`seg-*.npz`), each written under a temporary name and renamed: the index commits the segment, so a
killed writer leaves nothing a reader trusts, and a row failing its checksum is decoded again."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import re
import socket
import time
import uuid
import zipfile
from typing import Any, Callable, Sequence

import numpy as np

from jaxres.data import affine, images
from jaxres.data.records import Record
from jaxres.errors import DataError
from jaxres.platform import files
from jaxres.platform.system import process_gone, usable_cpus

FrameOf = Callable[[Record, int, int], np.ndarray]
"""(record, width, height of its original image as load_image returns it, i.e. after EXIF orientation) -> float64 3x3
matrix from original-image pixels to cached-frame pixels (jaxres.data.affine conventions: pixel i covers [i, i+1))."""

_FORMAT = 2  # part of every key: bump it when decoding or the layout changes, so old frames are never reused
_MODES = {1: "L", 3: "RGB"}
_DATA, _INDEX, _TEMP = ".bin", ".npz", ".tmp"
_STALE_SECONDS = 60.0  # an unfinished file this old has lost its writer


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    side: int  # every cached frame is side x side
    channels: int  # 1 (gray, "L") or 3 ("RGB")
    settings: dict  # JSON-able: everything else that shapes the frame (the objective's framing parameters)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.side, self.side, self.channels)


class Frames:
    """A split's decoded frames, memory-mapped (or in memory), in the order of the records given."""

    def __init__(self, spec: FrameSpec, matrices: np.ndarray, sizes: np.ndarray,
                 segments: Sequence[np.ndarray], segment_of: np.ndarray, row_of: np.ndarray):
        self.spec, self.matrices, self.sizes = spec, matrices, sizes
        self._segments, self._segment_of, self._row_of = list(segments), segment_of, row_of

    def __len__(self) -> int:
        return len(self._row_of)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), side, side, channels) uint8, a fresh array; one gather per segment."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        out = np.empty((len(indices), *self.spec.shape), np.uint8)
        segments, rows = self._segment_of[indices], self._row_of[indices]
        for s in np.unique(segments):
            where = np.flatnonzero(segments == s)
            where = where[np.argsort(rows[where], kind="stable")]  # ascending offsets: sequential reads
            out[where] = self._segments[s][rows[where]]
        return out


def decode_frame(record: Record, spec: FrameSpec, frame_of: FrameOf) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(pixels uint8 (side, side, C), matrix float64 3x3, (w, h)) of one record; a JPEG much larger than
    its frame is decoded at the smallest of 1/2, 1/4, 1/8 scale that loses nothing (`_max_reduction`)."""
    try:
        w, h = images.image_size(record.image)
        matrix = np.asarray(frame_of(record, w, h), np.float64)
        image, reduction = images.load_image_reduced(record.image, _MODES[spec.channels], _max_reduction(matrix))
    except DataError as err:  # an image fails only when decoded: name the record's file and row
        if not record.source or str(err).startswith(f"{record.source}:"):
            raise
        raise DataError(str(err), where=record.source) from None
    return affine.warp_image(image, matrix @ np.linalg.inv(reduction), spec.side), matrix, (w, h)


def in_memory(records: Sequence[Record], spec: FrameSpec, frame_of: FrameOf, *, workers: int | None = None) -> Frames:
    """The frames of `records` decoded into memory, nothing on disk (the reference the cache is checked against)."""
    rows = np.empty((len(records), *spec.shape), np.uint8)
    matrices, sizes = _decode_into(rows, records, spec, frame_of, workers)
    return Frames(spec, matrices, sizes, [rows], np.zeros(len(records), np.int64), np.arange(len(records)))


def load_or_build(records: Sequence[Record], spec: FrameSpec, frame_of: FrameOf, *, root: pathlib.Path,
                  workers: int | None = None, process_index: int = 0, process_count: int = 1,
                  barrier: Callable[[str], None] | None = None, log: Callable[[str], None] | None = None,
                  progress: Callable[[str, int], Any] | None = None) -> Frames:
    """The frames of `records` from the cache under `root`, decoding (and caching) only those missing;
    `progress(what, total)` gives what each decoded record ticks (then `close()`s), as a decode can take
    minutes. With process_count > 1 every process must pass the same records: process i decodes the
    missing ones at positions i::process_count of the distinct keys, calls `barrier("frame_cache:<digest>")`,
    then decodes whatever it still does not find."""
    directory = _spec_dir(pathlib.Path(root), spec)
    keys = [_record_key(r, directory.name) for r in records]
    distinct = sorted({key: i for i, key in reversed(list(enumerate(keys)))}.values())  # each key's first record

    def decode(indices: list[int]) -> int:
        ticker = progress("decoding into the frame cache", len(indices)) if progress and indices else None
        try:
            return _write_segment(directory, [records[i] for i in indices], [keys[i] for i in indices],
                                  spec, frame_of, workers, ticker.tick if ticker else lambda: None)
        finally:
            if ticker:
                ticker.close()

    wanted = [keys[i] for i in distinct]
    catalog, decoded = _Catalog.read(directory, spec, wanted), 0
    damaged = catalog.damaged
    if process_count > 1:  # shares by position among all distinct keys: the same whatever each process sees
        shares = distinct[process_index::process_count]
        decoded += decode([i for i in shares if keys[i] not in catalog.where])
        if barrier is not None:
            barrier(f"frame_cache:{directory.name}")
        catalog = _Catalog.read(directory, spec, wanted)
    rest = [i for i in distinct if keys[i] not in catalog.where]
    if rest:
        decoded += decode(rest)
        catalog = _Catalog.read(directory, spec, wanted)
        still = [records[i] for i in rest if keys[i] not in catalog.where]
        if still:  # failing its checksum even as just written: the disk, not the cache, is at fault
            raise DataError(f"the frame of {still[0].image} is still damaged after decoding it again into "
                            f"{directory} ({len(still)} record(s)): the disk may be failing; move the cache "
                            "elsewhere (data.cache_dir or $JAXRES_CACHE)",
                            where=still[0].source or str(still[0].image))
    if decoded and log is not None:
        again = f", {damaged} of them damaged in the cache" if damaged else ""
        log(f"frame cache: {decoded} of {len(records)} records decoded ({len(records) - decoded} reused{again}) "
            f"into {directory} ({catalog.data_bytes / 1e6:.1f} MB)")
    return catalog.frames(keys, spec)


def _max_reduction(matrix: np.ndarray) -> int:
    """The largest r in {1, 2, 4, 8} with r * (the strongest per-axis scale of `matrix`) <= 1."""
    strongest = float(np.linalg.norm(matrix[:2, :2], axis=0).max())
    return max((r for r in (2, 4, 8) if r * strongest <= 1.0 + 1e-9), default=1)


def _decode_into(rows: np.ndarray, records: Sequence[Record], spec: FrameSpec, frame_of: FrameOf,
                 workers: int | None, done: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """Decode record i into rows[i] on a thread pool (Pillow decodes outside the GIL), calling `done`
    after each; rows are written as they finish, so a memory-mapped `rows` is never all in memory."""
    matrices, sizes = np.empty((len(records), 3, 3)), np.empty((len(records), 2), np.int64)

    def one(i: int) -> None:
        rows[i], matrices[i], sizes[i] = decode_frame(records[i], spec, frame_of)

    with concurrent.futures.ThreadPoolExecutor(workers or usable_cpus()) as pool:
        for _ in pool.map(one, range(len(records))):  # the first error cancels what has not started
            done()
    return matrices, sizes


def _spec_dir(root: pathlib.Path, spec: FrameSpec) -> pathlib.Path:
    described = json.dumps({"format": _FORMAT, "side": spec.side, "channels": spec.channels,
                            "settings": spec.settings}, sort_keys=True)
    directory = root / hashlib.blake2b(described.encode(), digest_size=10).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "spec.json").exists():  # for people looking at the cache; never read
        files.write_text(directory / "spec.json", described)
    return directory


def _record_key(record: Record, spec_digest: str) -> str:
    digest = hashlib.blake2b(spec_digest.encode(), digest_size=16)
    if isinstance(record.image, np.ndarray):
        array = np.ascontiguousarray(record.image)
        digest.update(f"array {array.shape} {array.dtype.str}".encode())
        digest.update(array.tobytes())
    else:
        path = os.path.abspath(record.image)
        try:
            stat = os.stat(path)
        except OSError as err:
            raise DataError(f"{path}: cannot read the image file ({err.strerror})", where=record.source) from None
        digest.update(f"file {path} {stat.st_size} {stat.st_mtime_ns}".encode())
    for name, value in (("box", record.box), ("keypoints", record.keypoints)):
        values = None if value is None else np.asarray(value, np.float64)
        digest.update(f" {name} {None if values is None else values.shape} ".encode())
        digest.update(b"" if values is None else values.tobytes())
    return digest.hexdigest()


def _write_segment(directory: pathlib.Path, records: Sequence[Record], keys: Sequence[str], spec: FrameSpec,
                   frame_of: FrameOf, workers: int | None, tick: Callable[[], None]) -> int:
    """Decode `records` into a new committed segment of `directory`; return how many."""
    if not records:
        return 0
    name = f"seg-{os.getpid()}-{uuid.uuid4().hex[:12]}-{_host()}"
    with files.atomic_path(directory / f"{name}{_DATA}") as data_temp:
        rows = np.memmap(data_temp, np.uint8, "w+", shape=(len(records), *spec.shape))
        touched = [time.monotonic()]

        def done() -> None:  # touch the file now and then: a reader elsewhere must not take it for abandoned
            if time.monotonic() - touched[0] > _STALE_SECONDS / 6:
                os.utime(data_temp)
                touched[0] = time.monotonic()
            tick()

        matrices, sizes = _decode_into(rows, records, spec, frame_of, workers, done)
        rows.flush()
        checksums = np.stack([_checksum(row) for row in rows])
        del rows
    index = {"keys": np.array(keys, "S32"), "matrices": matrices, "sizes": sizes, "checksums": checksums,
             "shape": np.array(spec.shape), "data_bytes": np.array(len(records) * int(np.prod(spec.shape)))}
    with files.atomic_path(directory / f"{name}{_INDEX}") as index_temp, open(index_temp, "wb") as f:
        np.savez(f, **index)
    return len(records)


def _checksum(row: np.ndarray) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(np.ascontiguousarray(row)).digest()[:16], np.uint8)


@dataclasses.dataclass
class _Segment:
    data: pathlib.Path
    keys: np.ndarray
    matrices: np.ndarray
    sizes: np.ndarray
    checksums: np.ndarray  # (rows, 16) uint8
    shape: tuple[int, int, int]

    @functools.cached_property
    def rows(self) -> np.ndarray:
        return np.memmap(self.data, np.uint8, "r", shape=(len(self.keys), *self.shape))


@dataclasses.dataclass
class _Catalog:
    """The committed segments of a spec folder, and where each wanted key's intact row is."""

    segments: list[_Segment]
    where: dict[str, tuple[int, int]]  # key -> (segment, row) whose bytes match their checksum
    data_bytes: int
    damaged: int  # wanted keys whose every cached row failed its checksum

    @classmethod
    def read(cls, directory: pathlib.Path, spec: FrameSpec, wanted: Sequence[str]) -> _Catalog:
        _sweep(directory)
        segments = [s for p in sorted(directory.glob(f"seg-*{_INDEX}")) if (s := _read_segment(p, spec))]
        copies: dict[str, list[tuple[int, int]]] = {}
        for s, seg in enumerate(segments):
            for row, key in enumerate(seg.keys):
                copies.setdefault(key.decode(), []).append((s, row))
        where, damaged = {}, 0  # each wanted key's first copy whose bytes match its checksum
        for key in wanted:
            for s, row in copies.get(key, ()):
                if np.array_equal(_checksum(segments[s].rows[row]), segments[s].checksums[row]):
                    where[key] = (s, row)
                    break
            else:
                damaged += key in copies
        return cls(segments, where, sum(len(s.keys) for s in segments) * int(np.prod(spec.shape)), damaged)

    def frames(self, keys: Sequence[str], spec: FrameSpec) -> Frames:
        where = np.array([self.where[k] for k in keys], np.int64).reshape(-1, 2)
        used, segment_of = np.unique(where[:, 0], return_inverse=True)
        matrices, sizes = np.empty((len(keys), 3, 3)), np.empty((len(keys), 2), np.int64)
        for s in used:
            rows, segment = where[:, 0] == s, self.segments[s]
            matrices[rows], sizes[rows] = segment.matrices[where[rows, 1]], segment.sizes[where[rows, 1]]
        return Frames(spec, matrices, sizes, [self.segments[s].rows for s in used], segment_of.reshape(-1), where[:, 1])


def _read_segment(index: pathlib.Path, spec: FrameSpec) -> _Segment | None:
    """The segment committed by `index`, or None (and removed once old) where anything disagrees."""
    data = index.with_suffix(_DATA)
    try:
        with np.load(index, allow_pickle=False) as z:
            segment = _Segment(data, z["keys"], z["matrices"], z["sizes"], z["checksums"], spec.shape)
            expected = int(z["data_bytes"])
            fits = tuple(z["shape"]) == spec.shape and expected == len(segment.keys) * int(np.prod(spec.shape))
        fits = fits and data.stat().st_size == expected and segment.checksums.shape == (len(segment.keys), 16)
        fits = fits and len(segment.matrices) == len(segment.sizes) == len(segment.keys)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # an unreadable index, missing data
        fits = False
    if fits:
        return segment
    if _age(index) > _STALE_SECONDS:
        index.unlink(missing_ok=True)
        data.unlink(missing_ok=True)
    return None


def _sweep(directory: pathlib.Path) -> None:
    """Remove temporary files and data without an index whose writer is gone (or slower than a minute)."""
    for path in directory.iterdir():
        unfinished = path.name.endswith(_TEMP) or (path.suffix == _DATA and not path.with_suffix(_INDEX).exists())
        if unfinished and (_age(path) > _STALE_SECONDS or _writer_gone(path.name)):
            path.unlink(missing_ok=True)


def _writer_gone(name: str) -> bool:
    """Whether the file's writer was a process of this host that no longer runs."""
    parts = name.lstrip(".").split(".")[0].split("-", 3)  # seg-<pid>-<uuid>-<host>
    if len(parts) != 4 or not parts[1].isdigit() or parts[3] != _host():
        return False
    return process_gone(int(parts[1]))


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname())


def _age(path: pathlib.Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
