"""Reading TensorBoard event files back without TensorFlow: TFRecord framing around Event protos."""

from __future__ import annotations

import pathlib
import struct


def read_events(logdir) -> list:
    """Every `Event` of every events.out.tfevents.* file in `logdir`, in file order."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            start = offset + 12  # length, then its masked CRC32
            events.append(event_pb2.Event.FromString(data[start:start + length]))
            offset = start + length + 4  # the payload's masked CRC32
    return events


def scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of the scalar summaries."""
    out: dict[str, list] = {}
    for event in read_events(logdir):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def image_tags(logdir) -> set[str]:
    return {v.tag for e in read_events(logdir) for v in e.summary.value if v.HasField("image")}
