"""Shared pieces of the command-line tests: tiny settings, an in-process runner, trained workdirs.

The CLI runs in this process (`jaxres.cli.entry.main(TASK, argv)`), so every run shares JAX's in-memory
compile caches; a trained workdir per task is built once per test run (by whichever xdist worker asks
first, in the run's shared folder) and memoised here, so every test module can use the same one.
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

from jaxres.cli.commands.splits import resolve_data_path
from jaxres.cli.entry import main
from jaxres.train.workdir import load_config

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
RUN_ROOT = pathlib.Path(os.environ["JAXRES_COMPILATION_CACHE"]).parent  # conftest's folder of the run, shared by its workers


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


def trained(name: str, tmp_path_factory=None) -> Run:
    """The tiny synthetic training of task `name`, run once per test run and shared by every test that
    needs a trained workdir (a test that changes the workdir copies it first)."""
    if name not in _TRAINED:
        caller_cache, os.environ["JAXRES_CACHE"] = os.environ.get("JAXRES_CACHE"), str(SESSION_CACHE)
        try:  # its synthetic set in this process's shared cache, whichever test asks first
            _TRAINED[name] = _train_once(name, RUN_ROOT / f"trained_{name}")
        finally:
            os.environ["JAXRES_CACHE"] = caller_cache or str(SESSION_CACHE)
    result = _TRAINED[name]
    assert result.rc == 0, f"train {name} failed ({result.rc}):\n{result.err}\n{result.out[-2000:]}"
    return result


def _train_once(name: str, workdir: pathlib.Path, timeout: float = 1800) -> Run:
    """Train into `workdir` unless another xdist worker claimed it first (an atomic mkdir); then wait
    for that worker's record of the run and write the synthetic set here, where tests look for it."""
    record = workdir.with_name(workdir.name + ".json")
    try:
        os.mkdir(workdir.with_name(workdir.name + ".claimed"))
    except FileExistsError:
        deadline = time.monotonic() + timeout
        while not record.exists():
            assert time.monotonic() < deadline, f"the other worker's training of {name} never ended ({record})"
            time.sleep(0.5)
        result = Run(**json.loads(record.read_text()), workdir=workdir)
        if result.rc == 0:
            resolve_data_path(task(name), load_config(workdir))
        return result
    result = run(name, ["train", "--workdir", workdir, *TINY, *SYNTHETIC])
    result.workdir = workdir
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps({"rc": result.rc, "out": result.out, "err": result.err, "seconds": result.seconds}))
    os.replace(partial, record)  # the waiting worker sees a whole record or none
    return result
