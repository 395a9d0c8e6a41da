"""The GPU check in one command: parity with torch on the accelerator, jaxres against PyTorch on it,
and end-to-end training against the step alone for face and sketch.

    python -m benchmarks.device_check --out "$OUT"              # one H100/H200: at most 8 minutes
    python -m benchmarks.device_check --out DIR --cpu-smoke     # the same steps at their smallest, on a CPU
    python -m benchmarks.device_check --out DIR --dry-run       # print the steps only

Why one script: a GPU is lent for minutes, so what runs there is prepared and checked beforehand.
Each step is its own process with a time limit (the whole stays under `--budget` seconds) and
writes into OUT: `<step>.log` (its output), `parity.xml` (pytest's JUnit report), `run.json`
(`benchmarks.run`'s results), `input_bench.json` (the end-to-end rows), and `summary.json` (every
step's command, exit status and wall time). A step that fails or runs out of time does not stop
the next one. Exit status: 0 when every step passed, 1 otherwise.

- parity: `tests/test_parity_torchvision.py` with JAX on the accelerator (`pytest --platform cuda`) and
  true float32 matmuls (`jax_default_matmul_precision=highest`; TF32 otherwise);
- run: `benchmarks.run`'s training rows for face (ResNet-18) and tshirt (ResNet-50),
  jaxres in bfloat16 against PyTorch eager with channels_last and bfloat16 autocast;
- e2e: `benchmarks.input_bench --e2e-only --recipe-size`: face and sketch at their recipes' network,
  size and batch, epochs through the frame cache and the loader against the step alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
PARITY_TESTS = "tests/test_parity_torchvision.py"


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # after `python`
    limit_s: int
    env: tuple[tuple[str, str], ...] = ()


def plan(out: pathlib.Path, smoke: bool) -> list[Step]:
    """The steps, on an accelerator or (`smoke`) at their smallest on the CPU."""
    platform = "cpu" if smoke else "cuda"
    # the suite's conftest sets the platform from --platform (it clears JAX_* from the environment)
    # and, off the CPU, jax_default_matmul_precision="highest"; one process, so no xdist workers
    parity = ["-m", "benchmarks.device_check", "--parity-on", platform, "--", "-q", "-p", "no:cacheprovider",
              "-o", "addopts=", "--platform", platform, PARITY_TESTS, f"--junitxml={out / 'parity.xml'}"]
    run = ["-m", "benchmarks.run", "--no-write", "--json", str(out / "run.json")]
    e2e = ["-m", "benchmarks.input_bench", "--e2e-only", "--json", str(out / "input_bench.json")]
    if smoke:
        parity += ["-k", "test_eval_logits_and_every_stage_match_torchvision and resnet18 and 97"]
        run += ["--only", "train", "face", "--size", "32", "--batch", "2", "--repeats", "1"]
        e2e += ["--quick", "--e2e", "face"]
    else:
        run += ["--only", "train", "face", "tshirt"]
        e2e += ["--recipe-size", "--e2e-records", "1024"]
    describe = ("import jax, torch; d = jax.devices(); print(jax.default_backend(), d[0].device_kind, len(d), "
                "'| torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')")
    return [Step("device", ("-c", describe), 45, (("JAX_PLATFORMS", platform),)),
            Step("parity", tuple(parity), 110),
            Step("run", tuple(run), 150),
            Step("e2e", tuple(e2e), 175)]


def run_step(step: Step, out: pathlib.Path, limit_s: float) -> dict:
    env = {**os.environ, **dict(step.env), "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    with open(out / f"{step.name}.log", "w") as log:
        try:
            status = subprocess.run([sys.executable, *step.argv], cwd=REPO, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=limit_s).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    wall = round(time.perf_counter() - start, 1)
    tail = (out / f"{step.name}.log").read_text(errors="replace").strip().splitlines()[-3:]
    return {"step": step.name, "command": " ".join(["python", *step.argv]), "env": dict(step.env),
            "limit_s": round(limit_s), "status": status, "wall_s": wall, "tail": tail}


def parity(platform: str, pytest_args: list[str]) -> int:
    """pytest in this process, then a check that JAX ran where it was asked to: a test set-up that
    chose the CPU on its own would otherwise pass the GPU parity check without touching the GPU."""
    import pytest

    status = pytest.main(pytest_args)
    import jax

    ran_on = jax.default_backend()
    print(f"parity ran on {ran_on} ({jax.devices()[0].device_kind}), "
          f"jax_default_matmul_precision={jax.config.jax_default_matmul_precision}")
    if platform != "cpu" and ran_on == "cpu":
        print(f"asked for {platform}, ran on the CPU", file=sys.stderr)
        return 3
    return int(status)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for the logs and results (the device tool's $OUT)")
    parser.add_argument("--cpu-smoke", action="store_true", help="every step at its smallest, on the CPU")
    parser.add_argument("--budget", type=float, default=480, help="seconds for all steps together (default 480)")
    parser.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    parser.add_argument("--parity-on", help=argparse.SUPPRESS)
    parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parity_on:
        return parity(args.parity_on, args.pytest_args)
    if not args.out:
        parser.error("--out is required")
    out = pathlib.Path(args.out).resolve()
    steps = plan(out, args.cpu_smoke)
    if args.dry_run:
        for step in steps:
            env = " ".join(f"{k}={v}" for k, v in step.env)
            print(f"{step.name} (≤ {step.limit_s} s): {env + ' ' if env else ''}python {' '.join(step.argv)}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    deadline, results = time.perf_counter() + args.budget, []
    for step in steps:
        left = deadline - time.perf_counter()
        if left < 10:
            results.append({"step": step.name, "status": "skipped: budget spent"})
            continue
        results.append(run_step(step, out, min(step.limit_s, left)))
        print(json.dumps(results[-1]), flush=True)
        (out / "summary.json").write_text(json.dumps(results, indent=1))
    (out / "summary.json").write_text(json.dumps(results, indent=1))
    for name in ("run.json", "input_bench.json"):
        if (out / name).exists():
            print(f"\n== {name}\n{(out / name).read_text()[-3000:]}")
    return 0 if all(r["status"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
