"""Shared pieces of the training-engine tests: one small ResNet-18 setup per pytest process.

Compiling a ResNet train step costs seconds on the CI's two cores, so the model, its variables and
the jitted steps are built once (cached here) and reused by every test module that asks for the
same configuration.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxres import models
from jaxres.train import optim, parallel, steps

IMAGE = 32
CLASSES = 4
BACKBONE = ("stem", "layer1", "layer2", "layer3", "layer4")

# The ImageNet-Sketch recipe in miniature: backbone frozen, layer4 thawed after one epoch.
STAGED = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine_restarts",
          "restart_epochs": 1, "group_lr": {"layer4": 0.01}, "frozen": list(BACKBONE), "unfreeze": {"layer4": 1}}
PLAIN = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}


def cross_entropy(outputs, batch):
    return optax.softmax_cross_entropy_with_integer_labels(outputs, batch["label"]).mean()


@functools.lru_cache(maxsize=None)
def model_and_variables(arch: str = "resnet18"):
    model = models.create(arch, num_outputs=CLASSES)
    return model, jax.device_get(models.init(model, 0, IMAGE))


@functools.lru_cache(maxsize=None)
def mesh(devices: int | None = None):
    """A data mesh over the first `devices` devices (all of them by default: one in the main suite,
    eight in tests/multi_device)."""
    return parallel.make_mesh(jax.devices()[:devices])


@functools.lru_cache(maxsize=None)
def optimizer(kind: str, steps_per_epoch: int, epochs: int):
    return optim.make_optimizer({"staged": STAGED, "plain": PLAIN}[kind], steps_per_epoch, epochs)


@functools.lru_cache(maxsize=None)
def train_step(kind: str, steps_per_epoch: int, epochs: int, devices: int | None = None):
    model, _ = model_and_variables()
    tx = optimizer(kind, steps_per_epoch, epochs).tx
    return steps.make_train_step(model, cross_entropy, tx, mesh=mesh(devices))


def dataset(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n).astype(np.int32)
    images = rng.integers(0, 256, (n, IMAGE, IMAGE, 3)).astype(np.uint8)
    images[..., 0] = np.clip(images[..., 0].astype(int) // 2 + 60 * labels[:, None, None], 0, 255)  # learnable
    return {"image": images, "label": labels}


def batch_source(data, batch_size: int, mesh_, seed: int = 0, on_batch=None):
    """`batches(epoch, start)`: a seeded shuffle per epoch, resumable at any batch index."""
    n = len(data["label"]) // batch_size

    def batches(epoch, start):
        order = np.random.default_rng([seed, epoch]).permutation(len(data["label"]))
        for i in range(start, n):
            if on_batch is not None:
                on_batch(epoch, i)
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield parallel.shard_batch({k: v[idx] for k, v in data.items()}, mesh_)

    return batches


def local_rows(global_batch_size: int, mesh_) -> slice:
    """The rows of each global batch that this process must load (its devices' shards, contiguous)."""
    parallel.local_batch_size(global_batch_size, mesh_)
    indices = parallel.batch_sharding(mesh_).addressable_devices_indices_map((global_batch_size,)).values()
    starts = [index[0].start or 0 for index in indices]
    stops = [global_batch_size if index[0].stop is None else index[0].stop for index in indices]
    return slice(min(starts), max(stops))


def tree_equal(a, b) -> bool:
    a, b = jax.device_get(a), jax.device_get(b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def max_abs_diff(a, b) -> float:
    a, b = jax.device_get(a), jax.device_get(b)
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def zeros_like_batch(batch_size: int):
    return {"image": jnp.zeros((batch_size, IMAGE, IMAGE, 3), jnp.uint8), "label": jnp.zeros((batch_size,), jnp.int32)}


# --- one small staged run, shared by the checkpoint/resume and loop tests ---------------------------

SPE, EPOCHS, BATCH = 3, 2, 8
RUN_CONFIG = {"model": {"arch": "resnet18", "num_outputs": CLASSES}, "optim": STAGED,
              "train": {"epochs": EPOCHS, "batch_size": BATCH, "log_every": 2},
              "checkpoint": {"keep": 2, "best_metric": "top1", "best_mode": "max"}}


def fake_top1(state) -> dict:
    """An 'evaluation' that needs no compile: better after epoch 1 than after epoch 2."""
    return {"top1": 0.7 if int(jax.device_get(state.step)) == SPE else 0.4}


def fresh_state(variables=None):
    from jaxres.train import state as state_lib

    variables = model_and_variables()[1] if variables is None else variables
    return state_lib.create(variables, optimizer("staged", SPE, EPOCHS).tx, 0, mesh())


def fit_run(workdir, on_batch=None, state=None, config=None, **kwargs):
    from jaxres.train import loop

    opt = optimizer("staged", SPE, EPOCHS)
    kwargs.setdefault("learning_rate", optim.group_schedule(STAGED, "head", SPE, EPOCHS))
    return loop.fit(
        fresh_state() if state is None else state, train_step("staged", SPE, EPOCHS),
        batch_source(dataset(SPE * BATCH), BATCH, mesh(), on_batch=on_batch),
        steps_per_epoch=SPE, config=config or RUN_CONFIG, workdir=workdir,
        frozen_at_epoch=opt.frozen_at_epoch, evaluate=fake_top1, **kwargs)


@functools.lru_cache(maxsize=None)
def reference_run():
    """An uninterrupted run: (workdir, result), kept for the whole pytest process."""
    import atexit
    import io
    import shutil
    import tempfile

    workdir = tempfile.mkdtemp(prefix="jaxres-reference-run-")
    atexit.register(shutil.rmtree, workdir, True)
    stream = io.StringIO()
    result = fit_run(workdir, stream=stream)
    return workdir, result, stream.getvalue()
