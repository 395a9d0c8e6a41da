"""The tests that need several devices (tests/multi_device: data parallelism over one and two
processes, sharded steps and transforms) in their own pytest process with eight fake CPU devices.

The main suite runs on one CPU device, as a user's CPU run does: a tiny training there compiles and
steps about three times faster than over eight fake devices sharing two cores."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

TESTS = pathlib.Path(__file__).resolve().parent


def test_the_multi_device_tests_pass_on_eight_devices(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--devices", "8",
                           "-o", "addopts=", "-rfE", str(TESTS / "multi_device")],
                          cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
