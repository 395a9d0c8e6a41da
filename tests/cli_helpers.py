"""Shared pieces of the command-line tests: tiny settings, an in-process runner, trained workdirs.

The CLI runs in this process (`jaxres.cli.entry.main(TASK, argv)`), so every run shares JAX's in-memory
compile caches; a trained workdir per task is built once per pytest process and memoised here, so
both CLI test modules can use the same one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import os
import pathlib
import subprocess
import sys
import time

from jaxres.cli.entry import main

REPO = pathlib.Path(__file__).resolve().parent.parent
TASK_NAMES = ("face", "tshirt", "bbox", "signs", "sketch")
IMAGE_SIZE = 32
BATCH = 8  # conftest gives 8 fake CPU devices: the global batch must divide by 8

# One epoch of a ResNet-18 at 32 px on a few dozen synthetic images.
TINY = [
    "--epochs", "1", "--batch-size", str(BATCH),
    "--set", f"objective.image_size={IMAGE_SIZE}", "--set", "model.arch=resnet18",
]
SYNTHETIC = ["--set", "synthetic.generator.n_train=32", "--set", "synthetic.generator.n_val=16"]

_TRAINED: dict[str, "Run"] = {}
SESSION_CACHE = pathlib.Path(os.environ["JAXRES_CACHE"])  # set by conftest before any test module loads


def task(name: str):
    return importlib.import_module(f"tasks.{name}").TASK


@dataclasses.dataclass
class Run:
    rc: int
    out: str
    err: str
    seconds: float
    workdir: pathlib.Path | None = None

    def last_json(self) -> dict:
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert lines, f"no stdout; stderr: {self.err}"
        result = json.loads(lines[-1])
        assert isinstance(result, dict), lines[-1]
        return result


def run(name: str, argv: list[str]) -> Run:
    """`python -m tasks.<name> ARGV`, in this process, with its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(task(name), [str(a) for a in argv])
    return Run(rc, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def run_module(name: str, argv: list[str], timeout: float = 300, env: dict | None = None) -> Run:
    """The real thing: `python -m tasks.<name> ARGV` in a child process (exit status of the module)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", f"tasks.{name}", *map(str, argv)], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def use_session_cache(monkeypatch, tmp_path_factory=None) -> pathlib.Path:
    """Back to the run's shared JAXRES_CACHE (synthetic sets, frames), which conftest sets for every
    test: for a test that changed it, or to say that a test relies on the shared sets."""
    monkeypatch.setenv("JAXRES_CACHE", str(SESSION_CACHE))
    return SESSION_CACHE


def trained(name: str, tmp_path_factory) -> Run:
    """The tiny synthetic training of task `name`, run once per pytest process."""
    if name not in _TRAINED:
        workdir = tmp_path_factory.getbasetemp() / f"trained_{name}"
        caller_cache, os.environ["JAXRES_CACHE"] = os.environ.get("JAXRES_CACHE"), str(SESSION_CACHE)
        try:  # its synthetic set in the shared cache, whichever test asks first
            result = run(name, ["train", "--workdir", workdir, *TINY, *SYNTHETIC])
        finally:
            os.environ["JAXRES_CACHE"] = caller_cache or str(SESSION_CACHE)
        result.workdir = workdir
        _TRAINED[name] = result
    result = _TRAINED[name]
    assert result.rc == 0, f"train {name} failed ({result.rc}):\n{result.err}\n{result.out[-2000:]}"
    return result
