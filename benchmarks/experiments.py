"""The experiments of docs/BENCHMARKS.md's "Experiments" section that still differ from the library, re-runnable.

    python -m benchmarks.experiments --list
    python -m benchmarks.experiments baseline ynn_off eigen_conv --setting face --batch 16 --threads 1
    python -m benchmarks.experiments --gradients matmul_autodiff

All the named experiments are compiled in ONE process (XLA flags are passed per compilation as
`compiler_options`, merged over the library's; convolution variants are the model's `conv`,
benchmarks/variants.py) and their train steps are timed round-robin together with the PyTorch
eager step: baseline, variant A, variant B, ..., torch, baseline, ... On a machine shared with
other jobs this is what makes two variants comparable: each round sees the same load. Reported per
experiment: median images/s, the ratio to PyTorch (torch time / jaxres time, > 1 means jaxres is
faster) and the speed-up over the baseline (the first experiment named). Every experiment states
its prediction before it was run; docs/BENCHMARKS.md records the outcome. What was adopted is the
library now, so "baseline" measures it; the experiments that only switched it on are gone (git
history has them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field


_YNN = "xla_cpu_experimental_ynn_fusion_type"
_CONV = "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"
_EIGEN = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"


@dataclass(frozen=True)
class Experiment:
    name: str
    prediction: str
    options: dict = field(default_factory=dict)  # XLA debug options for this compilation
    variants: tuple[str, ...] = ()  # benchmarks/variants.py: the model's convolution
    donate: bool = True


EXPERIMENTS = {e.name: e for e in [
    Experiment("baseline", "reference point: the library as it is, with its own XLA options"),
    Experiment("ynn_off", "XLA:CPU hands convolutions to YNNPACK by default; without it they go to Eigen's "
               "spatial convolution: expected slower (YNNPACK is the newer, tuned path)", {_YNN: ""}),
    Experiment("xnn_off", "--xla_cpu_use_xnnpack=false: XNNPACK is not what runs the convolutions here; ~0",
               {"xla_cpu_use_xnnpack": False}),
    Experiment("ynn_fuse_eltwise", "YNNPACK fusions may also take the elementwise ops around dots/convs "
               "(BatchNorm affine, ReLU), saving one memory pass per conv: +0-5%",
               {_YNN: f"{_CONV},LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE"}),
    Experiment("onednn_custom_call", "oneDNN (PyTorch's library) for convolutions via the custom-call rewriter: "
               "only if this jaxlib was built with it (XLA_ONEDNN/INTEL_MKL); otherwise no change",
               {"xla_cpu_use_onednn": True, "xla_cpu_experimental_onednn_custom_call": True}),
    Experiment("onednn_dot", "oneDNN for dots (a library fusion type this jaxlib has): the library's 1x1 "
               "convolutions are matmuls",
               {"xla_cpu_use_onednn": True, "xla_cpu_experimental_onednn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}),
    Experiment("xnn_graph_greedy", "XNNPACK graph fusion of eligible subgraphs: likely ~0 for convs",
               {"xla_cpu_experimental_xnn_graph_fusion_mode": "XNN_GRAPH_FUSION_MODE_GREEDY"}),
    Experiment("vector512", "LLVM codegen at 512-bit vectors (the CPU has AVX-512): faster elementwise/BatchNorm "
               "fusions, which are ~5-10% of the step: +0-5%", {"xla_cpu_prefer_vector_width": 512}),
    Experiment("fast_math", "fast-math in XLA's own kernels: only elementwise code (rsqrt, divides): <=2%, and it "
               "changes numerics, so it could not be kept anyway", {"xla_cpu_enable_fast_math": True}),
    Experiment("no_concurrency_scheduler", "the concurrency-optimised scheduler runs independent thunks at once; "
               "on 2 cores that may fight the intra-op threads: +-5%",
               {"xla_cpu_enable_concurrency_optimized_scheduler": False}),
    Experiment("no_donation", "the same step jitted without donating the state: no aliasing, so no defensive "
               "copies; fresh output buffers instead: +3-5%, more memory", donate=False),
    Experiment("eigen_conv", "YNNPACK for matmuls only (the fusion types are INDIVIDUAL_CONVOLUTION and "
               "INDIVIDUAL_DOT by default; keep the dot): spatial convolutions in Eigen (multi-threaded), 1x1 and tiny "
               "convolutions as YNNPACK matmuls (multi-threaded, fast at small sizes): the best of both on every "
               "setting (the library's choice for BasicBlock nets on several CPUs)", {_YNN: _EIGEN}),
    *[Experiment(f"eigen_conv_im2col{n}", f"eigen_conv, and 3x3 convolutions with outputs of <= {n} pixels as "
                 "im2col + YNNPACK matmul: small maps are where Eigen's convolution is weakest",
                 {_YNN: _EIGEN}, variants=(f"conv_im2col_le{n}",)) for n in (16, 64, 256)],
    *[Experiment(f"ynn_im2col{n}", f"the library's XLA options, 3x3 convolutions with outputs of <= {n} pixels as "
                 "im2col + matmul", variants=(f"conv_im2col_le{n}",)) for n in (16, 64, 256)],
    Experiment("ynn_conv_only", "matmuls (the 1x1 convolutions) to XLA's Eigen dot, which takes transposed operands "
               "without copying them: removes the transposed copies of the 1x1 filter gradients (~1 s in tshirt)",
               {_YNN: _CONV}),
    *[Experiment(f"conv_chunked_dw{n}", f"filter gradients of the spatial convolutions summed over batch chunks of {n} "
                 "images (YNNPACK's filter gradient costs more per image as the batch grows): ResNet-50 224 step "
                 "+10-20%, signs and face ~0", variants=(f"conv_chunked_dw{n}",)) for n in (8, 16)],
    Experiment("matmul_autodiff", "the 1x1 matmul's gradient by autodiff, the library's former one (XLA copies each "
               "output gradient into a (channels, pixels) layout): the library should be 1.2-1.3x faster on ResNet-50",
               variants=("matmul_autodiff",)),
    Experiment("conv_tapwise_dw", "3x3 filter gradients as one in-place dot per tap (7x7: one im2col dot), as the "
               "library does for 1x1: no transposed activations", variants=("conv_tapwise_dw",)),
]}


def build(name: str, setting):
    from benchmarks import common, variants

    exp = EXPERIMENTS[name]
    return common.jax_train_step(setting, conv=variants.conv_with(exp.variants), compiler_options=exp.options,
                                 donate=exp.donate)


def measure(names, setting, repeats: int) -> list[dict]:
    from benchmarks import common

    common.set_torch_threads()
    steps = {name: build(name, setting) for name in names}
    runs = {name: step.run for name, step in steps.items()}
    runs["torch"] = common.torch_train_step(setting)
    timing = common.interleaved(runs, repeats=repeats)
    torch_s = timing["torch"]["median_s"]
    base_s = timing[names[0]]["median_s"]
    out = []
    for name in names:
        t = timing[name]
        out.append({
            "experiment": name, "setting": setting.name, "batch": setting.batch,
            "threads": len(os.sched_getaffinity(0)),
            "img_s": round(setting.batch / t["median_s"], 2),
            "vs_torch": round(torch_s / t["median_s"], 3),
            "vs_baseline": round(base_s / t["median_s"], 3),
            "times_s": t["times_s"], "torch_s": timing["torch"]["times_s"],
            "compile_s": round(steps[name].compile_s, 1),
            "gflop_per_step": round((steps[name].flops or 0) / 1e9, 1),
            "load": t["load"],
        })
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--setting", default="face")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frozen", action="store_true", help="the fine-tuning step: stem..layer3 frozen")
    parser.add_argument("--threads", type=int, default=0,
                        help="run on this many CPUs (XLA sizes its pool from the affinity mask; torch follows)")
    parser.add_argument("--gradients", nargs="*", metavar="VARIANT",
                        help="check the variants' gradients against torchvision's (float64 reference)")
    args = parser.parse_args(argv)
    if args.threads:  # before JAX starts
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    from benchmarks import common

    if args.gradients is not None:
        from benchmarks import variants

        print(json.dumps(variants.check_gradients(args.gradients)))
        return
    if args.list or not args.names:
        for exp in EXPERIMENTS.values():
            what = ", ".join(f"{k}={v}" for k, v in exp.options.items()) or ", ".join(exp.variants) or "-"
            print(f"{exp.name:26s} {what}\n    prediction: {exp.prediction}")
        return
    unknown = [n for n in args.names if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiments {unknown}; see --list")
    setting = common.SETTINGS[args.setting]
    if args.batch:
        setting = setting.with_(batch=args.batch)
    if args.frozen:
        setting = setting.with_(frozen=common.FROZEN)
    start = time.perf_counter()
    for row in measure(args.names, setting, args.repeats):
        print(json.dumps(row), flush=True)
    print(f"# {time.perf_counter() - start:.0f} s, load {common.load()}", file=sys.stderr)


if __name__ == "__main__":
    main()
