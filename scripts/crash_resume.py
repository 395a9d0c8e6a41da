"""Crash and resume: SIGKILL a training at random moments, resume it each time, compare with a clean run.

    python scripts/crash_resume.py --trials 12 [--seed 0] [--root DIR] [--devices 8]

A tiny `tasks.signs` training on its embedded synthetic set runs once uninterrupted (the reference),
then again in a second workdir where each launch of the same command is killed with SIGKILL at a
seeded moment of one of three kinds, in turn: once the run reaches a random step (the targets spread
over the whole run), while orbax is writing a checkpoint (its temporary directory exists), and
during start-up (imports, data, restore). Moments are counted in steps rather than seconds so that
the load of a shared machine does not push them past the end of the run.

After each kill the checkpoints are inspected the way the engine sees them: the step orbax calls
latest must be finalised and readable, and the next launch must resume from exactly that step. A
last launch runs to the end; its final state (params, BatchNorm statistics, optimizer state, RNG,
step) must equal the reference's bit for bit, and its final evaluation must be the same.

Exit status 0 when every check passes, 1 otherwise. The trial logic is importable
(`tests/test_crash_resume.py` runs a short version of it).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
PARTIAL = ".orbax-checkpoint-tmp"  # orbax writes a step here, then renames it to the step number
TASK = "signs"
# Small enough for seconds per launch on a 2-core CPU; a checkpoint every 2 steps and a log line per
# step, so kills land between, during and right after saves.
TINY = ["--batch-size", "8", "--set", "objective.image_size=32", "--set", "model.arch=resnet18",
        "--set", "synthetic.generator.n_train=48", "--set", "synthetic.generator.n_val=16",
        "--set", "checkpoint.every_steps=2", "--set", "train.log_every=1"]
RESUMED = re.compile(r"(?:resuming from step|the checkpoint at step) (\d+)")
PROGRESS = re.compile(r"^epoch (\d+)/\d+ (\d+)/(\d+) loss")  # the loop's line after each logged step
MODES = ("steps", "save", "steps", "startup")  # trial i uses MODES[i % 4]
ERROR = re.compile(r"Traceback|^(?:internal )?error:|^ERROR:")


@dataclasses.dataclass
class Plan:
    trials: int = 12
    epochs: int = 4
    seed: int = 0

    def command(self, workdir: pathlib.Path) -> list[str]:
        return [sys.executable, "-m", f"tasks.{TASK}", "train", "--workdir", str(workdir),
                "--epochs", str(self.epochs), *TINY]


class Launch:
    """One child training process; its merged stdout/stderr is read as it comes, with timestamps."""

    def __init__(self, command: list[str], env: dict, log: pathlib.Path):
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, args=(log,), daemon=True)
        self._reader.start()

    def _read(self, log: pathlib.Path) -> None:
        with log.open("w") as out:
            for line in self.proc.stdout:
                self.lines.append((self.elapsed(), line.rstrip("\n")))
                out.write(line)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def first(self, pattern: re.Pattern | str) -> tuple[float, re.Match] | None:
        for seconds, line in list(self.lines):
            match = re.search(pattern, line)
            if match:
                return seconds, match
        return None

    def finish(self, timeout: float) -> int:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        return self.proc.returncode

    def steps(self) -> list[int]:
        """The global steps this launch has logged so far (one progress line per step here)."""
        found = [PROGRESS.match(line) for _, line in list(self.lines)]
        return [(int(m[1]) - 1) * int(m[3]) + int(m[2]) for m in found if m]

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def error(self) -> str:
        """The first error line this launch printed ("" when none)."""
        found = self.first(ERROR)
        return found[1].string if found else ""

    def last_json(self) -> dict | None:
        for _, line in reversed(self.lines):
            if line.startswith("{"):
                return json.loads(line)
        return None


@dataclasses.dataclass
class Reference:
    workdir: pathlib.Path
    seconds: float  # launch to exit
    startup: float  # launch to the first training step's line
    steps_per_epoch: int
    result: dict | None


@dataclasses.dataclass
class Trial:
    mode: str  # one of MODES
    killed: bool
    delay: float  # launch to SIGKILL (or to exit when it ended first)
    rc: int
    step_at_kill: int | None  # the last step this launch logged
    in_save: bool  # this launch left a temporary checkpoint directory: it died during a write
    partial: list[str]  # all temporary checkpoint directories now in the folder
    latest: int | None  # the step orbax calls latest after the kill
    latest_problem: str  # why that step is not a usable checkpoint ("" when it is)
    resumed_from: int | None = None  # what this launch said it resumed from
    expected_resume: int | None = None  # latest after the previous launch
    error: str = ""  # the first error line this launch printed


def child_env(root: pathlib.Path, devices: int | None = None) -> dict:
    """The children's environment: their own synthetic-data cache, the repo's compile cache."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAXRES_CACHE": str(root / "jaxres-cache")}
    env.setdefault("JAXRES_COMPILATION_CACHE", str(REPO / ".jax_cache"))
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def reference_run(plan: Plan, root: pathlib.Path, env: dict) -> Reference:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    launch = Launch(plan.command(root / "reference"), env, root / "logs" / "reference.log")
    rc = launch.finish(timeout=1800)
    if rc != 0:
        raise RuntimeError(f"the reference run failed ({rc}):\n{launch.output()[-3000:]}")
    first_step, shape = launch.first(PROGRESS), launch.first(r"epochs × (\d+) steps")
    if not first_step or not shape:
        raise RuntimeError(f"the reference run printed no progress lines:\n{launch.output()[-3000:]}")
    return Reference(root / "reference", launch.elapsed(), first_step[0], int(shape[1][1]), launch.last_json())


def partial_dirs(directory: pathlib.Path) -> set[tuple[str, int]]:
    """(name, inode) of orbax's temporary step directories: a re-save of a step reuses the name."""
    try:
        return {(entry.name, entry.inode()) for entry in os.scandir(directory) if PARTIAL in entry.name}
    except FileNotFoundError:
        return set()


def kill_after(launch: Launch, seconds: float) -> bool:
    """SIGKILL `seconds` after launch; False when the process ended by itself first."""
    try:
        launch.proc.wait(max(seconds - launch.elapsed(), 0))
        return False
    except subprocess.TimeoutExpired:
        launch.proc.send_signal(signal.SIGKILL)
        return True


def kill_after_steps(launch: Launch, step: int, extra: float, timeout: float) -> bool:
    """SIGKILL `extra` seconds after the launch has logged a step >= `step` (and at least one step)."""
    def reached() -> bool:
        steps = launch.steps()
        return bool(steps) and steps[-1] >= step

    while launch.proc.poll() is None and not reached() and launch.elapsed() < timeout:
        time.sleep(0.01)
    return kill_after(launch, launch.elapsed() + extra)


def kill_in_save(launch: Launch, directory: pathlib.Path, saves: int, extra: float, timeout: float) -> bool:
    """SIGKILL `extra` seconds after the `saves`-th checkpoint write starts (or at `timeout`)."""
    seen = partial_dirs(directory)
    started = 0
    while launch.proc.poll() is None and launch.elapsed() < timeout:
        now = partial_dirs(directory)
        started += len(now - seen)
        seen = now
        if started >= saves:
            time.sleep(extra)
            break
        time.sleep(0.002)
    if launch.proc.poll() is not None:
        return False
    launch.proc.send_signal(signal.SIGKILL)
    return True


def inspect(directory: pathlib.Path) -> tuple[int | None, str]:
    """(the step the engine would resume from, "" or why that step is not a complete checkpoint)."""
    if not directory.is_dir():
        return None, ""

    from jaxres.train.checkpoint import Checkpoints

    checkpoints = Checkpoints(directory, keep=10**6, async_save=False)  # keep: never deletes here
    try:
        latest = checkpoints.latest_step()
        if latest is None:
            return None, ""
        step_dir = directory / str(latest)
        if not (step_dir / "commit_success.txt").is_file():
            return latest, f"{step_dir.name} has no commit_success.txt"
        try:
            checkpoints.read_json(latest, "position")
            restore_here(step_dir / "state")
        except Exception as err:  # noqa: BLE001 -- any failure to read it back is the finding
            return latest, f"step {latest} does not restore: {err}"
        return latest, ""
    finally:
        checkpoints.close()


def crash_and_resume(plan: Plan, workdir: pathlib.Path, reference: Reference, env: dict,
                     logs: pathlib.Path) -> list[Trial]:
    """Launch, kill, inspect, until `plan.trials` kills; every launch is the same train command."""
    rng = random.Random(plan.seed)
    directory = workdir / "checkpoints"
    trials: list[Trial] = []
    expected: int | None = None  # what orbax called latest after the previous launch
    # The reference compiled the step; later launches read the compile cache and start faster (on an
    # H100 a start-up kill 14 s in, within the reference's start-up, came after a whole resumed run).
    startup = reference.startup
    while sum(t.killed for t in trials) < plan.trials and len(trials) < 2 * plan.trials:
        before = partial_dirs(directory)
        mode = MODES[len(trials) % len(MODES)]
        kills = sum(t.killed for t in trials)
        target = math.ceil((kills + 1) * plan.epochs * reference.steps_per_epoch / (plan.trials + 1))
        launch = Launch(plan.command(workdir), env, logs / f"trial-{len(trials):02d}.log")
        try:
            killed = kill(launch, mode, rng, dataclasses.replace(reference, startup=startup), directory, target)
            delay = launch.elapsed()
            rc = launch.finish(timeout=3 * reference.seconds)
        finally:
            if launch.proc.poll() is None:
                launch.proc.kill()
        after = partial_dirs(directory)
        latest, problem = inspect(directory)
        resumed, steps, first_step = launch.first(RESUMED), launch.steps(), launch.first(PROGRESS)
        startup = min(startup, first_step[0]) if first_step else startup
        trials.append(Trial(mode, killed, delay, rc, steps[-1] if steps else None, bool(after - before),
                            sorted(name for name, _ in after), latest, problem,
                            int(resumed[1][1]) if resumed else None, expected, launch.error()))
        expected = latest
    return trials


def kill(launch: Launch, mode: str, rng: random.Random, reference: Reference, directory: pathlib.Path,
         target: int) -> bool:
    """Kill `launch` at a seeded moment of the kind `mode` names; False when it finished first.

    "steps" kills once the run has reached about global step `target` (the targets of successive
    trials are spread evenly over the run, so the kills reach its end) and a little more time passed.
    """
    timeout = 3 * reference.seconds
    if mode == "save":
        return kill_in_save(launch, directory, saves=rng.choice([1, 2, 3]), extra=rng.uniform(0, 0.05),
                            timeout=timeout)
    if mode == "startup":
        return kill_after(launch, rng.uniform(0.2, 1.0) * reference.startup)
    target = max(target + rng.randint(-1, 1), 1)
    return kill_after_steps(launch, target, extra=rng.uniform(0, 0.3), timeout=timeout)


def restore_here(state_dir: pathlib.Path):
    """A saved train state on this process's first device, whatever mesh the child saved it from
    (with --devices 8 the children shard over 8 fake devices; this process has one)."""
    import jax
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    saved = checkpointer.metadata(state_dir)
    tree = getattr(getattr(saved, "item_metadata", saved), "tree", saved)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device), tree)
    return checkpointer.restore(state_dir, target)


def latest_state(workdir: pathlib.Path) -> tuple[int | None, dict]:
    """The latest checkpoint's whole train state as {"params/fc/kernel": numpy array}."""
    import jax
    import numpy as np

    step, _ = inspect(workdir / "checkpoints")
    if step is None:
        return None, {}
    restored = restore_here(workdir / "checkpoints" / str(step) / "state")
    leaves = jax.tree_util.tree_flatten_with_path(restored)[0]
    return step, {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def differing_arrays(a: dict, b: dict) -> list[str]:
    import numpy as np

    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not np.array_equal(a[k], b[k]))


def source_fingerprint() -> str:
    """The library, tasks and configs as they are now: an edit during the run voids the comparison."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in ("jaxres", "tasks", "configs") for p in (REPO / folder).rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def trial_problems(trials: list[Trial]) -> list[str]:
    problems = []
    for i, t in enumerate(trials):
        if t.rc not in (0, -signal.SIGKILL) or t.error:
            problems.append(f"trial {i}: exited {t.rc}, error {t.error!r} (see trial-{i:02d}.log)")
        if t.latest_problem:
            problems.append(f"trial {i}: latest checkpoint is not usable: {t.latest_problem}")
        if t.resumed_from != t.expected_resume and (t.resumed_from is not None or t.rc == 0):
            problems.append(f"trial {i}: resumed from {t.resumed_from}, but orbax's latest was {t.expected_resume}")
    return problems


def check(plan: Plan, root: pathlib.Path, env: dict, reference: Reference | None = None
          ) -> tuple[list[Trial], list[str]]:
    """The whole experiment in `root`: (the trials, the problems found; none means PASS)."""
    fingerprint = source_fingerprint()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    reference = reference or reference_run(plan, root, env)
    workdir = root / "crashed"
    trials = crash_and_resume(plan, workdir, reference, env, root / "logs")
    problems = trial_problems(trials)
    kills = sum(t.killed for t in trials)
    if kills < plan.trials:
        problems.append(f"only {kills} of {plan.trials} launches were killed before they finished")
    problems += resume_to_the_end(plan, workdir, env, reference, expected=trials[-1].latest if trials else None,
                                  log=root / "logs" / "final.log")
    if source_fingerprint() != fingerprint:
        problems.append("jaxres/, tasks/ or configs/ changed during the run (someone edited them): rerun")
    return trials, problems


def resume_to_the_end(plan: Plan, workdir: pathlib.Path, env: dict, reference: Reference,
                      expected: int | None, log: pathlib.Path) -> list[str]:
    """Run the train command in `workdir` once more, uninterrupted; how it differs from the reference."""
    launch = Launch(plan.command(workdir), env, log)
    rc = launch.finish(timeout=1800)
    resumed = launch.first(RESUMED)
    resumed_from = int(resumed[1][1]) if resumed else None
    problems = []
    if rc != 0 or launch.error():
        problems.append(f"the final resume exited {rc}, error {launch.error()!r} (see {log})")
    elif resumed_from != expected:
        problems.append(f"the final launch resumed from {resumed_from}, but orbax's latest was {expected}")
    (ref_step, ref_state), (step, state) = latest_state(reference.workdir), latest_state(workdir)
    differing = differing_arrays(ref_state, state)
    if step != ref_step or not ref_state or differing:
        problems.append(f"final state differs from the reference: step {step} vs {ref_step}, "
                        f"{len(differing)} of {len(ref_state)} arrays differ (e.g. {differing[:3]})")
    if launch.last_json() != reference.result:
        problems.append(f"final evaluation differs: {launch.last_json()} vs {reference.result}")
    return problems


def table(trials: list[Trial]) -> str:
    rows = ["trial  mode     delay_s  killed  step_at_kill  in_save  latest_after  resumed_from  partial_left"]
    for i, t in enumerate(trials):
        rows.append(f"{i:>5}  {t.mode:<7}  {t.delay:7.2f}  {'yes' if t.killed else 'no':>6}  "
                    f"{_dash(t.step_at_kill):>12}  {'yes' if t.in_save else 'no':>7}  {_dash(t.latest):>12}  "
                    f"{_dash(t.resumed_from):>12}  {len(t.partial):>12}")
    return "\n".join(rows)


def _dash(value) -> str:
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="SIGKILLs (default 12)")
    parser.add_argument("--epochs", type=int, default=Plan.epochs)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("--root", help="keep the workdirs and logs here (default: a temporary folder, removed)")
    parser.add_argument("--devices", type=int, default=None,
                        help="run the children on this many fake CPU devices (a data-parallel mesh; batch 8)")
    args = parser.parse_args(argv)
    plan = Plan(trials=args.trials, epochs=args.epochs, seed=args.seed)
    root = pathlib.Path(args.root or tempfile.mkdtemp(prefix="jaxres-crash-resume-")).resolve()
    start = time.monotonic()
    try:
        trials, problems = check(plan, root, child_env(root, args.devices))
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    print(table(trials))
    kills, in_save = sum(t.killed for t in trials), sum(t.in_save for t in trials)
    print(f"{kills} kills ({in_save} during a checkpoint write), {len(trials)} launches + 1 final, "
          f"{time.monotonic() - start:.0f} s")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("PASS" if not problems else "FAIL")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
