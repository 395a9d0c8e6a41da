"""Where a train step's time goes, per operation category, in jaxres and in PyTorch.

    python -m benchmarks.profile_step --setting face --batch 16 [--threads 1] [--steps 3]
        [--variants matmul_autodiff ...] [--top 25] [--hlo-out step.hlo.txt]

jaxres: `jax.profiler` traces `--steps` steps; each XLA:CPU thunk (a convolution handed to
YNNPACK, a loop fusion, ...) appears as one event per step. An operation's time is its *minimum*
over the traced steps (a preempted sample on a shared machine only ever makes an event longer),
and operations are put into categories by the op_name metadata XLA keeps from the JAX program
(`transpose(jvp(...))` marks the backward pass). PyTorch: `torch.profiler` over the same number of
steps, self CPU time per aten operator, the minimum over steps likewise.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import math
import os
import re
import tempfile


def hlo_ops(hlo_text: str) -> dict[str, tuple[str, str, str, list[str]]]:
    """instruction name -> (result shape, op_name metadata, the called computation's root opcode,
    operand names)."""
    roots, root_meta = {}, {}
    current = None
    for line in hlo_text.splitlines():
        head = re.match(r"^%?([\w.\-]+) .*\{$", line)
        if head and not line.startswith(" "):
            current = head.group(1)
        root = re.match(r"\s*ROOT %?[\w.\-]+ = \S+ ([\w\-]+)\(", line)
        if root and current:
            roots[current] = root.group(1)
            meta = re.search(r'op_name="([^"]*)"', line)
            root_meta[current] = meta.group(1) if meta else ""
    ops = {}
    for line in hlo_text.splitlines():
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ([\w\-]+)\(", line)
        if not m:
            continue
        meta = re.search(r'op_name="([^"]*)"', line)
        called = re.search(r"calls=%?([\w.\-]+)", line)
        root = roots.get(called.group(1), m.group(3)) if called else m.group(3)
        op_name = meta.group(1) if meta else (root_meta.get(called.group(1), "") if called else "")
        operands = re.findall(r"%([\w.\-]+)", line.split("(", 1)[1].split(")", 1)[0]) if "(" in line else []
        ops[m.group(1)] = (m.group(2), op_name, root, operands)
    return ops


UNKNOWN = ("", "", "", [])  # an operation missing from the HLO text


def elements(shape: str) -> int:
    """Element count of an HLO array shape such as `f32[64,56,56,64]{3,2,1,0}` (0 if not an array)."""
    dims = re.match(r"\(?\w+\[([\d,]*)\]", shape)
    return 0 if dims is None else math.prod(int(d) for d in dims.group(1).split(",") if d)


def jax_category(name: str, info: tuple, ops: dict | None = None) -> str:
    """The operation's category; convolutions and matmuls (1x1 convolutions run as `dot`, as does the
    head) are one group, as in PyTorch, and their backward ops are split by what they produce: a
    filter gradient is smaller than each of its operands (two activations), an input gradient is not
    (one operand is the filter)."""
    shape, op, root, operands = info
    backward = "transpose(" in op
    if root in ("convolution", "dot") or name.startswith(("ynn_fusion", "xnn_fusion", "convolution", "dot")):
        sizes = [elements((ops or {}).get(o, ("",))[0]) for o in operands]
        if sizes and all(elements(shape) < size for size in sizes):  # also when XLA left no op_name
            return "conv backward: filter gradient"
        return "conv backward: input gradient" if backward else "conv forward"
    if "select-and-scatter" in name or "max_pool" in op or "maxpool" in op.lower():
        return "max-pool (incl. its gradient)"
    if "reduce_window" in op or "reduce-window" in name:
        # XLA:CPU rewrites a large reduction (BatchNorm's mean and variance) into reduce-window trees
        return "BN statistics (reduce-window trees)"
    if "transpose" in name:
        return "layout transposes (+ fused elementwise)"
    if "adam" in op.lower() or "optax" in op.lower() or "/update" in op:
        return "optimizer"
    if op:
        return "elementwise/BN backward" if backward else "elementwise/BN forward"
    return "other (copies, broadcasts, unattributed)"


def profile_jax(setting, steps: int, hlo_out: str | None = None, options: dict | None = None, conv=None) -> dict:
    import jax

    from benchmarks import common

    step = common.jax_train_step(setting, conv=conv, compiler_options=options)
    step.run()
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder)
        for _ in range(steps):
            step.run()
        jax.profiler.stop_trace()
        trace = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)[0]
        data = jax.profiler.ProfileData.from_file(trace)
    per_op = collections.defaultdict(list)
    for plane in data.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_XLA"):
                continue
            for event in line.events:
                if event.name.startswith(("ThunkExecutor", "SlinkyThreadPool", "ThreadpoolListener", "end: ")):
                    continue
                per_op[event.name].append(event.duration_ns / 1e6)
    hlo = step.hlo_text
    if hlo_out:
        with open(hlo_out, "w") as f:
            f.write(hlo)
    ops = hlo_ops(hlo)
    rows = {name: min(times) * len(times) / steps for name, times in per_op.items()}  # ms per step
    return {"ops": rows, "info": ops}


def torch_category(name: str) -> str:
    if "convolution_backward" in name:  # one operator computes both gradients
        return "conv backward: input + filter gradient"
    if "convolution" in name:
        return "conv forward"
    if "batch_norm_backward" in name:
        return "elementwise/BN backward"
    if "batch_norm" in name or "clamp" in name or "relu" in name:
        return "elementwise/BN forward"
    if "threshold_backward" in name:
        return "elementwise/BN backward"
    if "max_pool" in name:
        return "max-pool (incl. its gradient)"
    if name in ("aten::addcdiv_", "aten::addcmul_", "aten::lerp_", "aten::sqrt", "aten::mul_", "aten::div",
                "aten::_foreach_add_", "aten::add_") or "Adam" in name:
        return "optimizer & grad accumulation"
    if name in ("aten::mm", "aten::addmm"):  # the fc head; jaxres counts it with the convolutions too
        return "conv forward"
    return "other (copies, fills, allocation, autograd)"


def profile_torch(setting, steps: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from benchmarks import common

    step = common.torch_train_step(setting)
    step()
    step()
    best = {}
    for _ in range(steps):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        totals = collections.Counter()
        for avg in prof.key_averages():
            totals[avg.key] += avg.self_cpu_time_total / 1e3
        for key, value in totals.items():
            best[key] = min(best.get(key, float("inf")), value)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="face")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--variants", nargs="*", default=[], help="convolution variants (benchmarks/variants.py)")
    parser.add_argument("--top", type=int, default=0, help="also list the N slowest jaxres operations")
    parser.add_argument("--hlo-out", help="write the compiled step's HLO here")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--category", help="list only operations of this category with --top")
    parser.add_argument("--options", default="{}", help="XLA debug options as JSON, for this compilation")
    args = parser.parse_args(argv)
    if args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    from benchmarks import common, variants

    conv = variants.conv_with(args.variants)
    common.set_torch_threads()
    setting = common.SETTINGS[args.setting]
    if args.batch:
        setting = setting.with_(batch=args.batch)
    jax_prof = profile_jax(setting, args.steps, args.hlo_out, json.loads(args.options), conv)
    jax_cat = collections.Counter()
    for name, ms in jax_prof["ops"].items():
        jax_cat[jax_category(name, jax_prof["info"].get(name, UNKNOWN), jax_prof["info"])] += ms
    torch_cat = collections.Counter()
    if not args.no_torch:
        for name, ms in profile_torch(setting, args.steps).items():
            torch_cat[torch_category(name)] += ms
    print(f"{setting.name} batch {setting.batch}, threads {len(os.sched_getaffinity(0))}, variants {args.variants}, "
          f"ms per step (sum of per-op minima over {args.steps} steps; all threads), load {common.load()}")
    for cat in sorted(set(jax_cat) | set(torch_cat), key=lambda c: -max(jax_cat[c], torch_cat[c])):
        print(f"  {cat:45s} jaxres {jax_cat[cat]:9.1f}   torch {torch_cat[cat]:9.1f}")
    backward = [c for c in set(jax_cat) | set(torch_cat) if c.startswith("conv backward")]
    print(f"  {'conv backward, both gradients':45s} jaxres {sum(jax_cat[c] for c in backward):9.1f}   "
          f"torch {sum(torch_cat[c] for c in backward):9.1f}")
    print(f"  {'total':45s} jaxres {sum(jax_cat.values()):9.1f}   torch {sum(torch_cat.values()):9.1f}")
    if args.top:
        print("slowest jaxres operations (ms per step):")
        rows = sorted(jax_prof["ops"].items(), key=lambda kv: -kv[1])
        if args.category:
            info = jax_prof["info"]
            rows = [(n, ms) for n, ms in rows
                    if jax_category(n, info.get(n, UNKNOWN), info) == args.category]
        for name, ms in rows[: args.top]:
            shape, op, root = jax_prof["info"].get(name, ("?", *UNKNOWN[1:]))[:3]
            print(f"  {ms:8.1f}  {name:30s} {root:14s} {shape[:34]:34s} {op[-60:]}")
    print(json.dumps({"jaxres": dict(jax_cat), "torch": dict(torch_cat)}))


if __name__ == "__main__":
    main()
