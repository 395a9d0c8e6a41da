"""Every distinct convolution of a ResNet, alone: XLA:CPU (what jaxres compiles to) against PyTorch (oneDNN).

    python -m benchmarks.conv_bench --arch resnet18 --size 224 --batch 16 --channels 1 [--threads 1]

For each (kernel, stride, in, out, input size) that the architecture contains, times the forward
convolution and its backward (input and filter gradients) in both frameworks, interleaved,
and reports the *minimum* over repeats (on a shared machine the minimum is the least disturbed
sample), with the count of such convolutions in the network, so that the last column sums to the
whole network's convolution time. This is where a train-step gap is, or is not, explained.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time


def conv_shapes(arch: str, size: int, channels: int) -> collections.Counter:
    """(kernel, stride, cin, cout, input hw) -> how many times the network has it."""
    from jaxres.models.factory import ARCHS

    block, stages = ARCHS[arch]
    shapes = collections.Counter()
    hw = size
    shapes[(7, 2, channels, 64, hw)] += 1
    hw = (hw + 1) // 2
    hw = (hw + 1) // 2  # max-pool
    cin = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), stages)):
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            out = width * (4 if block == "bottleneck" else 1)
            if block == "basic":
                shapes[(3, stride, cin, width, hw)] += 1
                shapes[(3, 1, width, width, hw // stride)] += 1
            else:
                shapes[(1, 1, cin, width, hw)] += 1
                shapes[(3, stride, width, width, hw)] += 1
                shapes[(1, 1, width, out, hw // stride)] += 1
            if b == 0 and (stride != 1 or cin != out):
                shapes[(1, stride, cin, out, hw)] += 1
            cin, hw = out, hw // stride
    return shapes


def _interleaved_best(fns: dict, repeats: int) -> dict:
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(kernel, stride, cin, cout, hw, batch, repeats, as_dot=False, options=None) -> dict:
    """Seconds (min over repeats, all four interleaved): forward, and forward + both gradients."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    pad = (kernel - 1) // 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, hw, hw, cin), np.float32)
    w = (rng.standard_normal((kernel, kernel, cin, cout)) * 0.05).astype(np.float32)

    def conv(x, w):
        if as_dot and kernel == 1:
            return jax.lax.dot_general(x[:, ::stride, ::stride, :], w[0, 0], (((3,), (0,)), ((), ())))
        return jax.lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    xj, wj = jnp.asarray(x), jnp.asarray(w)
    g = rng.standard_normal(jax.eval_shape(conv, xj, wj).shape, np.float32)
    gj = jnp.asarray(g)
    fwd = jax.jit(conv).lower(xj, wj).compile(compiler_options=options)
    both = jax.jit(lambda x, w, g: jax.vjp(conv, x, w)[1](g)).lower(xj, wj, gj).compile(compiler_options=options)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
    gt = torch.from_numpy(g).permute(0, 3, 1, 2).contiguous()

    def torch_fwd():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, stride=stride, padding=pad)

    def torch_both():
        out = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=pad)
        return torch.autograd.grad(out, (xt, wt), gt)

    best = _interleaved_best({
        "jax_fwd": lambda: jax.block_until_ready(fwd(xj, wj)),
        "torch_fwd": torch_fwd,
        # A convolution is linear: XLA drops the forward from this program, only the two gradients remain.
        "jax_bwd": lambda: jax.block_until_ready(both(xj, wj, gj)),
        "torch_fwd_bwd": torch_both,
    }, repeats)
    best["torch_bwd"] = best.pop("torch_fwd_bwd") - best["torch_fwd"]
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--as-dot", action="store_true", help="1x1 convolutions as dot_general on the JAX side")
    parser.add_argument("--only-1x1", action="store_true")
    parser.add_argument("--ynn-off", action="store_true", help="XLA's Eigen convolutions instead of YNNPACK")
    args = parser.parse_args(argv)
    if args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    totals = collections.Counter()
    print(f"{'k':>2} {'s':>2} {'cin':>5} {'cout':>5} {'hw':>4} {'n':>2} | {'jax fwd':>8} {'torch':>8} | "
          f"{'jax bwd':>8} {'torch':>8} | ms, min of {args.repeats}; load {os.getloadavg()[0]:.1f}")
    for (k, s, cin, cout, hw), n in sorted(conv_shapes(args.arch, args.size, args.channels).items()):
        if args.only_1x1 and k != 1:
            continue
        options = {"xla_cpu_experimental_ynn_fusion_type": ""} if args.ynn_off else None
        r = measure(k, s, cin, cout, hw, args.batch, args.repeats, args.as_dot, options)
        for key, v in r.items():
            totals[key] += n * v
        print(f"{k:2d} {s:2d} {cin:5d} {cout:5d} {hw:4d} {n:2d} | {r['jax_fwd']*1e3:8.1f} {r['torch_fwd']*1e3:8.1f} | "
              f"{r['jax_bwd']*1e3:8.1f} {r['torch_bwd']*1e3:8.1f}", flush=True)
    print("network total (ms):", json.dumps({k: round(v * 1e3, 1) for k, v in totals.items()}),
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
