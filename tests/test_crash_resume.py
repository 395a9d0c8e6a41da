"""Crash and resume of the real command (issue #7): SIGKILL at random moments and during a checkpoint
write, and a second SIGTERM during the preemption save; each workdir then trains to the end and must
equal an uninterrupted run bit for bit. A short version of `scripts/crash_resume.py`."""

import importlib.util
import pathlib
import re
import signal
import sys
import time

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "crash_resume.py"
_spec = importlib.util.spec_from_file_location("crash_resume", SCRIPT)
crash = sys.modules.setdefault("crash_resume", importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(crash)

# One kill of each kind that matters here: after some steps, and during a checkpoint write (the
# script's longer plans add kills during start-up and at more moments).
PLAN = crash.Plan(trials=2, epochs=1, seed=0)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("crash_resume")


@pytest.fixture(scope="module")
def env(root):
    """The children use conftest's compile cache but one CPU device: eight fake ones on two cores make
    a step about five times slower, and the crash checks need no sharding."""
    env = crash.child_env(root)
    env["XLA_FLAGS"] = re.sub(r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", ""))
    return env


@pytest.fixture(scope="module")
def reference(root, env):
    return crash.reference_run(PLAN, root, env)


def test_sigkill_anywhere_then_resume_is_bit_identical(root, env, reference):
    trials, problems = crash.check(PLAN, root, env, reference)
    assert not problems, crash.table(trials) + "\n" + "\n".join(problems)
    assert sum(t.killed for t in trials) == PLAN.trials and any(t.in_save for t in trials), crash.table(trials)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_second_sigterm_during_the_preemption_save(root, env, reference):
    workdir = root / "sigterm"
    checkpoints = workdir / "checkpoints"
    launch = crash.Launch(PLAN.command(workdir), env, root / "logs" / "sigterm.log")
    try:
        wait_for(lambda: len(launch.steps()) >= 3 or launch.proc.poll() is not None, 300, "step 3")
        before = crash.partial_dirs(checkpoints)
        launch.proc.send_signal(signal.SIGTERM)  # mid-epoch: finish the step, then save synchronously
        wait_for(lambda: crash.partial_dirs(checkpoints) - before or launch.proc.poll() is not None, 60,
                 "the preemption save")
        writing = crash.partial_dirs(checkpoints) - before
        launch.proc.send_signal(signal.SIGTERM)
        landed = any((checkpoints / name).exists() for name, _ in writing)
    finally:
        rc = launch.finish(timeout=120)
    output = launch.output()
    assert writing and landed, f"the second SIGTERM did not arrive during a save:\n{output[-2000:]}"
    assert rc == 0 and not launch.error(), output[-2000:]
    assert output.count("SIGTERM received: finishing") == 2 and "to resume:" in output, output[-2000:]
    stopped = int(re.search(r"stopped after step (\d+)", output)[1])
    latest, problem = crash.inspect(checkpoints)
    assert latest == stopped and not problem, (latest, stopped, problem)
    problems = crash.resume_to_the_end(PLAN, workdir, env, reference, expected=stopped,
                                       log=root / "logs" / "sigterm-final.log")
    assert not problems, "\n".join(problems)
