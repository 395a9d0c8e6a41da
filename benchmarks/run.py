"""jaxres against PyTorch, side by side, in one command; results go to docs/BENCHMARKS.md.

    python -m benchmarks.run                      # everything (< 10 min on a 2-core CPU)
    python -m benchmarks.run --quick              # smoke test: tiny batches, one repeat, docs untouched
    python -m benchmarks.run --only train face    # a section and/or a setting
    python -m benchmarks.run --threads 1          # pin both frameworks to 1 CPU
    python -m benchmarks.run --only train face --size 32 --batch 2 --no-write   # the smallest run (a smoke test)

Sections: peak (float32 matmul GFLOP/s, jnp.dot vs torch.mm), train and infer (images/s per setting),
finetune (stem..layer3 frozen vs the full step), compile (first-step compile time, cold and with a
warm persistent cache, and peak RSS of each framework's process). Settings: face (ResNet-18, 1x224x224, batch 64, 136 outputs, MSE, Adam), tshirt
(ResNet-50, 224, batch 32, 24 outputs, MSE, Adam), signs (ResNet-50, 64x64, batch 32, 6 classes, CE,
Adam). The input side (decode once, augment on the device) is `benchmarks.input_bench`.

Every measurement runs in its own subprocess (thread settings and RSS stay per measurement), both
frameworks on the same CPUs with the same thread count (XLA sizes its pool from the affinity mask,
torch.set_num_threads follows it). Within a subprocess the jaxres and PyTorch steps alternate, and
the numbers are medians over repeats after a warm-up; the load average is recorded with each.
"jaxres" is the library as shipped: its convolution dispatch, max-pool and per-step XLA options
(the changes docs/BENCHMARKS.md's experiments found) are its defaults, nothing is patched in.

On a GPU the same command measures jaxres in bfloat16 and PyTorch with channels_last and
bfloat16 autocast, and records the device.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

from benchmarks import common
from jaxres.platform import system

DOC = common.REPO / "docs" / "BENCHMARKS.md"
JSON_RE = re.compile(r"<!-- results-json\n(.*?)\n-->", re.S)
SECTIONS = ("peak", "train", "infer", "finetune", "compile")
# compile/memory subprocesses run a full step or two; on 2 cores the ResNet-50 224 one is left out
# of the default run to stay under 10 minutes (`--only compile tshirt` measures it).
COMPILE_SETTINGS = ("face", "signs")


# =========================================================================================== workers
def _pin(threads: int) -> None:
    if threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])


def worker_peak(args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    threads = common.set_torch_threads()
    n = args.matmul_size
    device = common.torch_device()
    # The steps compute in bfloat16 on a GPU, so that is the peak to compare them with (a float32
    # jnp.dot would run in TF32 there and torch.mm would not: two different peaks).
    dtype = "bfloat16" if device == "cuda" else "float32"
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32), dtype=dtype)
    jdot = jax.jit(jnp.dot).lower(a, a).compile()
    t = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))

    def torch_mm():
        torch.mm(t, t)
        if device == "cuda":
            torch.cuda.synchronize()

    timing = common.interleaved({"jax": lambda: jdot(a, a).block_until_ready(), "torch": torch_mm},
                                repeats=args.repeats + 2)
    flop = 2 * n**3
    return {"n": n, "dtype": dtype, "threads": threads, "load": timing["jax"]["load"],
            "jax_dot_gflops": round(flop / timing["jax"]["min_s"] / 1e9, 1),
            "torch_mm_gflops": round(flop / timing["torch"]["min_s"] / 1e9, 1)}


def _jax_steps(setting, kind: str) -> dict:
    """{"jaxres": step} for kind "train" or "eval": the library's step, with the library's XLA options."""
    build = common.jax_train_step if kind == "train" else common.jax_eval_step
    return {"jaxres": build(setting)}


def _summarise(setting, steps: dict, timing: dict) -> dict:
    out = {}
    for name, t in timing.items():
        entry = {"img_s": round(setting.batch / t["median_s"], 2), "median_s": round(t["median_s"], 4),
                 "times_s": t["times_s"]}
        if name in steps:
            entry["compile_s"] = round(steps[name].lower_s + steps[name].compile_s, 2)
            entry["gflop_per_step"] = round((steps[name].flops or 0) / 1e9, 2)
        out[name] = entry
    out["load"] = timing["torch"]["load"]
    return out


def worker_setting(args) -> dict:
    """Train (and infer) for one setting: jaxres and PyTorch, interleaved."""
    if args.cache_dir:
        from jaxres.train import cache

        cache.enable_compilation_cache(args.cache_dir, min_compile_secs=0)
    setting = _setting(args)
    threads = common.set_torch_threads()
    result = {"setting": setting.name, "arch": setting.arch, "size": setting.size, "batch": setting.batch,
              "channels": setting.channels, "frozen": list(setting.frozen), "threads": threads,
              "backend": common.backend(), "torch_device": common.torch_device()}
    if "train" in args.parts:
        steps = _jax_steps(setting, "train")
        runs = {name: step.run for name, step in steps.items()}
        runs["torch"] = common.torch_train_step(setting)
        result["train"] = _summarise(setting, steps, common.interleaved(runs, args.repeats, args.warmup))
        del steps, runs
    if "infer" in args.parts:
        steps = _jax_steps(setting, "eval")
        runs = {name: step.run for name, step in steps.items()}
        runs["torch"] = common.torch_eval_step(setting)
        result["infer"] = _summarise(setting, steps, common.interleaved(runs, args.repeats, args.warmup))
    return result


def worker_compile(args) -> dict:
    """The train step's compile time with the persistent cache at `--cache-dir`; RSS.

    With `--run-step 1` it also runs the first step (the warm run: its RSS is the process's training
    peak; the cold run's RSS is the compiler's peak, without a step, which would add little).
    """
    from jaxres.train import cache

    setting = _setting(args)
    cache.enable_compilation_cache(args.cache_dir, min_compile_secs=0)
    cached_before = sum(1 for _ in pathlib.Path(args.cache_dir).rglob("*") if _.is_file())
    start = time.perf_counter()
    step = common.jax_train_step(setting)
    if args.run_step:
        step.run()
    first_step = time.perf_counter() - start
    return {"setting": setting.name, "lower_s": round(step.lower_s, 2), "compile_s": round(step.compile_s, 2),
            "build_compile_step_s": round(first_step, 2), "ran_step": bool(args.run_step),
            "cache_entries_before": cached_before, "rss_mb": round(common.rss_peak_mb()), "load": common.load()}


def worker_torch_memory(args) -> dict:
    setting = _setting(args)
    common.set_torch_threads()
    step = common.torch_train_step(setting)
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    step()  # Adam's moments exist from the first optimizer step on: the second step is the peak
    return {"setting": setting.name, "first_step_s": round(first, 2), "rss_mb": round(common.rss_peak_mb()),
            "load": common.load()}


def _setting(args):
    setting = (common.FINETUNE if args.setting == "finetune" else common.SETTINGS[args.setting])
    changes = {key: value for key, value in (("batch", args.batch), ("size", args.size)) if value}
    return setting.with_(**changes)


WORKERS = {"peak": worker_peak, "setting": worker_setting, "compile": worker_compile,
           "torch_memory": worker_torch_memory}


# ====================================================================================== orchestration
def worker_env() -> dict:
    """A worker's environment. Both frameworks share one process, so on a GPU JAX must not take the
    75% of its memory it preallocates by default: each gets under half (no effect on CPU)."""
    return {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.45", **os.environ}


def spawn(kind: str, args, timeout: float = 1200, **extra) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", kind, "--repeats", str(args.repeats),
           "--warmup", str(args.warmup), "--threads", str(args.threads),
           "--matmul-size", str(args.matmul_size)]
    for flag, value in (("--batch", args.batch), ("--size", args.size)):
        if value:
            cmd += [flag, str(value)]
    for key, value in extra.items():
        flag = "--" + key.replace("_", "-")
        cmd += [flag, *value] if isinstance(value, (list, tuple)) else [flag, str(value)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, timeout=timeout, env=worker_env())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit {proc.returncode}")[:300]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def machine() -> dict:
    import importlib.metadata as md

    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text() if pathlib.Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    flags = set((re.search(r"flags\s*:\s*(.*)", cpuinfo) or re.search("()", "")).group(1).split())
    versions = {}
    for package in ("jax", "jaxlib", "flax", "optax", "torch", "numpy"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "-"
    info = {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(), "cores_used": system.usable_cpus(),
        "isa": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in flags],
        "python": platform.python_version(), "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    try:
        out = subprocess.run([sys.executable, "-c", "import jax, torch; d = jax.devices()[0]; "
                              "print(d.platform, '|', getattr(d, 'device_kind', ''), '|', "
                              "torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"],
                             capture_output=True, text=True, timeout=120).stdout.strip().split(" | ")
        info["jax_device"], info["jax_device_kind"], info["torch_device"] = out
    except Exception:  # noqa: BLE001 - the description is best effort
        info["jax_device"] = "?"
    return info


def run_all(args, wanted_sections, wanted_settings) -> dict:
    results: dict = {"machine": machine(), "settings": {}, "compile": {}, "quick": args.quick}
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if "peak" in wanted_sections:
        log("peak")
        results["peak"] = spawn("peak", args)
    parts = [p for p in ("train", "infer") if p in wanted_sections]
    # One persistent cache for the setting workers of this run: a model's init and optimizer-state
    # programs are then compiled once, not once per measured variant (the steps differ anyway).
    with tempfile.TemporaryDirectory(prefix="jaxres-run-cache-") as run_cache:
        for name in wanted_settings:
            if parts:
                log(f"{name}: {' + '.join(parts)}")
                results["settings"][name] = spawn("setting", args, setting=name, parts=parts, cache_dir=run_cache)
        if "finetune" in wanted_sections:
            log("finetune: stem..layer3 frozen")
            results["settings"]["finetune"] = spawn("setting", args, setting="finetune", parts=["train"],
                                                    cache_dir=run_cache)
    if "compile" in wanted_sections:
        for name in [s for s in wanted_settings if s in COMPILE_SETTINGS or args.only]:
            log(f"{name}: compile cold / warm, memory")
            with tempfile.TemporaryDirectory(prefix="jaxres-cache-") as cache_dir:
                cold = spawn("compile", args, setting=name, cache_dir=cache_dir)
                warm = spawn("compile", args, setting=name, cache_dir=cache_dir, run_step=1)
            results["compile"][name] = {"cold": cold, "warm": warm,
                                        "torch": spawn("torch_memory", args, setting=name)}
    results["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


# ============================================================================================ report
def _f(value, digits=1, suffix="") -> str:
    if value is None or value == "":
        return "–"
    return f"{value:.{digits}f}{suffix}" if isinstance(value, (int, float)) else str(value)


def _peak(results) -> float | None:
    peak = results.get("peak") or {}
    values = [peak.get("jax_dot_gflops"), peak.get("torch_mm_gflops")]
    values = [v for v in values if v]
    return max(values) if values else None


def render(results: dict) -> str:
    m = results["machine"]
    peak = _peak(results)
    lines = []
    quick = " (--quick: smoke-test sizes, not representative)" if results.get("quick") else ""
    lines += [f"Measured {m['date']}{quick} on **{m['cpu']}**, {m['cores_used']} of {m['cores']} cores used "
              f"({', '.join(m.get('isa', [])) or 'no AVX2'}); jax device `{m.get('jax_device', '?')}` "
              f"{m.get('jax_device_kind', '')}, torch device `{m.get('torch_device', '?')}`. "
              f"Load average (1/5/15 min) {m['load_at_start']} at start, {m.get('load_at_end')} at end"
              + (f"; the run took {m['run_s']} s." if m.get("run_s") else ".")]
    v = m["versions"]
    lines += [f"Python {m['python']}, jax {v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}, optax {v['optax']}, "
              f"torch {v['torch']}, numpy {v['numpy']}. XLA_FLAGS=`{m['xla_flags'] or '(none)'}`.", ""]
    if results.get("peak"):
        p = results["peak"]
        lines += [f"{p.get('dtype', 'float32').capitalize()} matmul peak ({p.get('n')}x{p.get('n')}, best of repeats, {p.get('threads')} threads, "
                  f"load {p.get('load')}): jnp.dot **{_f(p.get('jax_dot_gflops'))} GFLOP/s**, torch.mm "
                  f"**{_f(p.get('torch_mm_gflops'))} GFLOP/s**." if "error" not in p else f"Peak: {p['error']}", ""]

    def table(kind: str, title: str) -> None:
        rows = [(n, r) for n, r in results["settings"].items() if kind in r or "error" in r]
        rows = [(n, r) for n, r in rows if (n == "finetune") == (title.startswith("Fine"))]
        if not rows:
            return
        lines.extend([f"### {title}", "",
                      "| setting | model · input · batch | jaxres img/s | PyTorch img/s | jaxres / PyTorch | "
                      "XLA GFLOP/img | GFLOP/s jaxres · PyTorch (% of peak) | load |",
                      "|---|---|---|---|---|---|---|---|"])
        for name, r in rows:
            if "error" in r:
                lines.append(f"| {name} | error: {r['error']} |" + " |" * 6)
                continue
            d = r[kind]
            jax_r, tor = d.get("jaxres", {}), d.get("torch", {})
            flop = jax_r.get("gflop_per_step")
            per_img = flop / r["batch"] if flop else None

            def gflops(e):
                if not flop or not e.get("median_s"):
                    return "–"
                g = flop / e["median_s"]
                return f"{g:.0f}" + (f" ({100 * g / peak:.0f}%)" if peak else "")

            def ratio(e):
                if not (e.get("median_s") and tor.get("median_s")):
                    return "–"
                return _f(tor["median_s"] / e["median_s"], 2, "×")

            desc = f"{r['arch']} · {r['channels']}×{r['size']}² · {r['batch']}"
            desc += " · frozen to layer3" if r["frozen"] else ""
            lines.append(f"| {name} | {desc} | {_f(jax_r.get('img_s'))} | {_f(tor.get('img_s'))} | "
                         f"**{ratio(jax_r)}** | {_f(per_img, 2)} | {gflops(jax_r)} · {gflops(tor)} | {d.get('load')} |")
        lines.append("")

    table("train", "Training step (images/s, median; ratio > 1: jaxres faster)")
    table("infer", "Inference (eval forward, images/s, median)")
    ft, full = results["settings"].get("finetune"), results["settings"].get("tshirt")
    if ft and "train" in ft:
        table("train", "Fine-tuning step, stem..layer3 frozen (ResNet-50 224, batch 32)")
        if full and "train" in full:
            f_t, u_t = ft["train"], full["train"]
            lines.append("Frozen vs full step (same setting): " + ", ".join(
                f"{name} time {f_t[name]['median_s'] / u_t[name]['median_s']:.2f}×"
                for name in ("jaxres", "torch") if name in f_t and name in u_t)
                + (f"; XLA FLOPs {f_t['jaxres']['gflop_per_step'] / u_t['jaxres']['gflop_per_step']:.2f}× "
                   f"({f_t['jaxres']['gflop_per_step']:.0f} vs {u_t['jaxres']['gflop_per_step']:.0f} GFLOP)"
                   if u_t.get("jaxres", {}).get("gflop_per_step") else "") + ".")
            lines.append("")
    if results.get("compile"):
        lines += ["### First-step compile time and peak host memory", "",
                  "| setting | jaxres compile, cold cache (s) | warm persistent cache (s) | jaxres build + compile "
                  "(cold) · build + compile + first step (warm) (s) | jaxres peak RSS: compiling cold · training "
                  "(MB) | PyTorch first step (s) | PyTorch peak RSS, training (MB) | load |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, c in results["compile"].items():
            cold, warm, tor = c["cold"], c["warm"], c["torch"]
            errors = [x["error"] for x in (cold, warm, tor) if "error" in x]
            if errors:
                lines.append(f"| {name} | error: {errors[0]} |" + " |" * 6)
                continue
            build = f"{_f(cold.get('build_compile_step_s'))} · {_f(warm.get('build_compile_step_s'))}"
            lines.append(f"| {name} | {_f(cold['lower_s'] + cold['compile_s'])} | "
                         f"{_f(warm['lower_s'] + warm['compile_s'])} | {build} | {cold['rss_mb']} · {warm['rss_mb']} | "
                         f"{_f(tor['first_step_s'])} | {tor['rss_mb']} | {cold['load']} |")
        lines += ["", "Compile time = tracing + lowering + XLA compilation of the train step (`jitted.lower(...)"
                  ".compile()`); \"warm\" is a second process reading the same JAX persistent cache "
                  "(`jaxres.train.cache.enable_compilation_cache`). RSS = `ru_maxrss` of the process: "
                  "imports, model, optimizer state, and the compiler (cold) or one training step (warm; PyTorch: "
                  "two steps, its Adam state exists from the first optimizer step on).", ""]
    return "\n".join(lines)


def markers(device: str) -> tuple[str, str]:
    """The comments around a device's results: a GPU run gets its own block and leaves the CPU's alone."""
    tag = "results" if device in ("cpu", "?") else f"{device} results"
    return f"<!-- benchmarks.run: {tag} start -->", f"<!-- benchmarks.run: {tag} end -->"


def _device(results: dict) -> str:
    return results.get("machine", {}).get("jax_device", "cpu")


def write_doc(results: dict, text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else ""
    device = _device(results)
    start, end = markers(device)
    block = f"{start}\n{text}\n<!-- results-json\n{json.dumps(results, indent=None)}\n-->\n{end}"
    cpu_end = markers("cpu")[1]
    if start in doc and end in doc:
        doc = doc[: doc.index(start)] + block + doc[doc.index(end) + len(end):]
    elif device != "cpu" and cpu_end in doc:  # a first GPU run: its section goes after the CPU results
        at = doc.index(cpu_end) + len(cpu_end)
        doc = doc[:at] + f"\n\n## Results on a GPU\n\n{block}" + doc[at:]
    else:
        doc = ("# Benchmarks: jaxres and PyTorch side by side\n\n"
               "Regenerate the results with `python -m benchmarks.run` (see benchmarks/run.py).\n\n"
               f"## Results\n\n{block}\n" + doc)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(doc)
    tmp.replace(DOC)


def previous_results(device: str) -> dict | None:
    """The results last written for `device` (to merge a partial run into), or None."""
    doc = DOC.read_text() if DOC.exists() else ""
    start, end = markers(device)
    if start not in doc or end not in doc:
        return None
    match = JSON_RE.search(doc[doc.index(start): doc.index(end)])
    return json.loads(match.group(1)) if match else None


def merge(old: dict | None, new: dict) -> dict:
    """A partial run (--only) replaces what it measured and keeps the rest of the last full run."""
    if not old or old.get("quick") != new.get("quick"):
        return new
    merged = dict(old)
    for key in ("settings", "compile"):
        merged[key] = {**old.get(key, {}), **new.get(key, {})}
    if "peak" in new:
        merged["peak"] = new["peak"]
    merged["machine"] = new["machine"]
    return merged


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches and one repeat: a smoke test")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help=f"sections {SECTIONS} and/or settings {tuple(common.SETTINGS)}")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement (default 3; --quick 1)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, help="override every setting's batch size")
    parser.add_argument("--size", type=int, help="override every setting's input size (a smoke test's)")
    parser.add_argument("--threads", type=int, default=0, help="CPUs for every measurement (default: all)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md even with --quick")
    parser.add_argument("--json", help="also write the raw results here")
    # worker-side arguments (internal)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--parts", nargs="*", default=["train", "infer"], help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--run-step", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--matmul-size", type=int, default=4096, help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> None:
    parse = parser()
    args = parse.parse_args(argv)

    if args.worker:
        _pin(args.threads)
        print(json.dumps(WORKERS[args.worker](args)))
        return
    if args.quick:
        args.repeats = args.repeats or 1
        args.batch = args.batch or 4
        args.matmul_size = 1024
    args.repeats = args.repeats or 3
    unknown = [n for n in args.only if n not in SECTIONS and n not in common.SETTINGS]
    if unknown:
        parse.error(f"--only: unknown {unknown}; sections {SECTIONS}, settings {tuple(common.SETTINGS)}")
    wanted_sections = [s for s in SECTIONS if s in args.only] or list(SECTIONS)
    wanted_settings = [s for s in common.SETTINGS if s in args.only] or list(common.SETTINGS)
    if any(s in args.only for s in common.SETTINGS) and not any(s in args.only for s in SECTIONS):
        wanted_sections = ["train", "infer", "compile"]
    _pin(args.threads)
    start = time.perf_counter()
    results = run_all(args, wanted_sections, wanted_settings)
    results["machine"]["run_s"] = round(time.perf_counter() - start)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    write = (args.write or not args.quick) and not args.no_write
    final = merge(previous_results(_device(results)), results) if (write and args.only) else results
    text = render(final)
    print(text)
    print(f"\n(total {results['machine']['run_s']} s)", file=sys.stderr)
    if write:
        write_doc(final, text)
        print(f"wrote {DOC.relative_to(common.REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
