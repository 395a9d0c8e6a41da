"""What `benchmarks.run` measures: settings, the two frameworks' steps, interleaved timing.

A setting is one of the original projects' training configurations. For each, `jax_train_step`
builds the jaxres step exactly as the engine does (`models.create` -> `optim.make_optimizer` ->
`state.create` -> `steps.make_train_step`) and `torch_train_step` the equivalent PyTorch eager loop
on torchvision's own ResNet class (same architecture, optimizer, loss, batch and input size).

Timing is interleaved: one jaxres step, one torch step, one jaxres step, ... so that load from
other processes on a shared machine hits both frameworks alike; the ratio of medians is the number
to trust, the absolute images/s only as much as the load average printed next to it.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from jaxres.platform import system

REPO = pathlib.Path(__file__).resolve().parent.parent
FROZEN = ("stem", "layer1", "layer2", "layer3")


@dataclass(frozen=True)
class Setting:
    name: str
    arch: str
    size: int
    batch: int
    channels: int
    outputs: int
    loss: str  # "mse" | "ce"
    project: str = ""
    frozen: tuple[str, ...] = field(default=())

    def with_(self, **changes) -> "Setting":
        return replace(self, **changes)


SETTINGS = {
    "face": Setting("face", "resnet18", 224, 64, 1, 136, "mse", "face landmarks (iBUG 300-W)"),
    "tshirt": Setting("tshirt", "resnet50", 224, 32, 3, 24, "mse", "T-shirt keypoints"),
    "signs": Setting("signs", "resnet50", 64, 32, 3, 6, "ce", "SIGNS from scratch"),
}
# The fine-tuning step (ImageNet-Sketch's first stage): ResNet-50 224, stem..layer3 frozen.
FINETUNE = SETTINGS["tshirt"].with_(name="finetune", frozen=FROZEN, project="fine-tuning, stem..layer3 frozen")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def backend() -> str:
    import jax

    return jax.default_backend()


def synthetic_batch(setting: Setting, seed: int = 0):
    """Float32 NHWC images (already normalised, as a data loader hands them over) and targets."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.standard_normal((setting.batch, setting.size, setting.size, setting.channels), np.float32)
    if setting.loss == "ce":
        targets = rng.integers(0, setting.outputs, setting.batch).astype(np.int32)
    else:
        targets = rng.standard_normal((setting.batch, setting.outputs), np.float32)
    return images, targets


# ----------------------------------------------------------------------------------------- jaxres
@dataclass
class JaxStep:
    """A compiled jaxres train (or eval) step with its arguments, ready to time."""

    run: Callable[[], Any]  # one step, blocks until done
    lower_s: float
    compile_s: float
    flops: float | None


def _flops(compiled) -> float | None:
    """FLOPs of the compiled step; none on a GPU, where XLA's count of the compiled step leaves out
    the convolutions it hands to cuDNN and the lowered step has no count at all (jax 0.11.2)."""
    if backend() != "cpu":
        return None
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return (cost or {}).get("flops")


def _compiled(jitted, *args) -> tuple[Any, float, float]:
    """`jitted` lowered and compiled ahead of time for `args`: (compiled, lowering s, compile s)."""
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    return compiled, lowered_at - start, time.perf_counter() - lowered_at


def jax_train_step(setting: Setting) -> JaxStep:
    """The engine's train step for `setting`, lowered and compiled once (AOT), then run repeatedly;
    bfloat16 on a GPU (the engine's `model.dtype: auto`), float32 elsewhere."""
    import jax
    import jax.numpy as jnp

    from jaxres import models
    from jaxres.train import optim, state, steps
    from jaxres.objectives import losses

    model = _create(setting)
    variables = models.init(model, 0, setting.size)
    opt_config = {"name": "adam", "lr": 1e-4}
    if setting.frozen:
        opt_config["frozen"] = list(setting.frozen)
    tx, frozen_at_epoch = optim.make_optimizer(opt_config, steps_per_epoch=100, epochs=1)
    train_state = state.create(variables, tx, seed=0)
    if setting.loss == "ce":
        loss_fn = lambda outputs, batch: losses.softmax_cross_entropy(outputs, batch["target"])  # noqa: E731
    else:
        loss_fn = lambda outputs, batch: losses.mse(outputs, batch["target"])  # noqa: E731
    step = steps.make_train_step(model, loss_fn, tx)
    images, targets = synthetic_batch(setting)
    batch = {"image": jnp.asarray(images), "target": jnp.asarray(targets)}
    metrics = steps.empty_metrics()
    compiled, lower_s, compile_s = _compiled(step, train_state, batch, metrics, frozen_at_epoch(0))
    carry = {"state": train_state, "metrics": metrics}

    def run():
        carry["state"], carry["metrics"] = compiled(carry["state"], batch, carry["metrics"])
        jax.block_until_ready(carry["metrics"])

    return JaxStep(run, lower_s, compile_s, _flops(compiled))


def jax_eval_step(setting: Setting) -> JaxStep:
    """The engine's eval step (`train=False` forward) for `setting`."""
    import jax
    import jax.numpy as jnp

    from jaxres import models
    from jaxres.train import steps

    model = _create(setting)
    variables = models.init(model, 0, setting.size)
    images, _ = synthetic_batch(setting)
    batch = {"image": jnp.asarray(images)}
    compiled, lower_s, compile_s = _compiled(steps.make_eval_step(model), variables, batch)
    return JaxStep(lambda: jax.block_until_ready(compiled(variables, batch)), lower_s, compile_s, _flops(compiled))


def _create(setting: Setting):
    import jax.numpy as jnp

    from jaxres import models

    dtype = jnp.bfloat16 if backend() == "gpu" else jnp.float32
    return models.create(setting.arch, setting.outputs, setting.channels, "linear", dtype)


# ------------------------------------------------------------------------------------------ torch
def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_model(setting: Setting):
    """torchvision's ResNet (from the installed wheel's source), adapted like the original projects."""
    import torch

    from benchmarks.torch_models import torchvision_resnet

    model = torchvision_resnet(setting.arch, setting.outputs)
    if setting.channels != 3:
        model.conv1 = torch.nn.Conv2d(setting.channels, 64, 7, 2, 3, bias=False)
    return model


def _frozen_modules(model, frozen: tuple[str, ...]):
    names = {"stem": ("conv1", "bn1")}
    for stage in frozen:
        for name in names.get(stage, (stage,)):
            yield getattr(model, name)


def torch_train_step(setting: Setting) -> Callable[[], Any]:
    """One eager PyTorch step: zero_grad, forward, loss, backward, Adam step.

    Frozen stages as a PyTorch user writes them: requires_grad=False on their parameters, their
    BatchNorm layers in eval mode (running statistics fixed), Adam over the trainable ones only.
    On a GPU: channels_last and autocast to bfloat16, PyTorch's own fast path.
    """
    import torch

    device = torch_device()
    model = torch_model(setting).to(device).train()
    for module in _frozen_modules(model, setting.frozen):
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    images, targets = synthetic_batch(setting)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(targets).to(device)
    if setting.loss == "ce":
        y = y.long()
        loss_fn = torch.nn.functional.cross_entropy
    else:
        loss_fn = torch.nn.functional.mse_loss
    gpu = device == "cuda"
    if gpu:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)

    def run():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=gpu):
            out = model(x)
        loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()
        if gpu:
            torch.cuda.synchronize()
        return loss

    return run


def torch_eval_step(setting: Setting) -> Callable[[], Any]:
    import torch

    device = torch_device()
    model = torch_model(setting).to(device).eval()
    images, _ = synthetic_batch(setting)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    gpu = device == "cuda"
    if gpu:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=gpu):
            out = model(x)
        if gpu:
            torch.cuda.synchronize()
        return out

    return run


def set_torch_threads() -> int:
    """torch gets as many threads as XLA: the CPUs this process may run on (its affinity mask)."""
    import torch

    threads = system.usable_cpus()
    torch.set_num_threads(threads)
    return threads


# ----------------------------------------------------------------------------------------- timing
def interleaved(runs: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, dict]:
    """Warm each function up, then time them round-robin; per name: median, min, all seconds, load."""
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    loads = []
    for _ in range(repeats):
        for name, fn in runs.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
        loads.append(load())
    return {
        name: {
            "median_s": statistics.median(t),
            "min_s": min(t),
            "times_s": [round(v, 4) for v in t],
            "cpu_s": statistics.median(cpu[name]),
            "load": round(statistics.median(loads), 2),
        }
        for name, t in times.items()
    }


def rss_peak_mb() -> float:
    """This process's peak resident set (ru_maxrss is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
