"""The training engine: state, steps, parallelism, optimizers, checkpoints, the loop. The names below load
their submodule on first use, so `from jaxres.train import losses` does not pay for orbax.
"""

import importlib

_EXPORTS = {
    "TrainState": "state",
    "create_state": ("state", "create"),
    "make_train_step": "steps",
    "make_eval_step": "steps",
    "empty_metrics": "steps",
    "make_mesh": "parallel",
    "shard_batch": "parallel",
    "initialize_distributed": "parallel",
    "make_optimizer": "optim",
    "make_schedule": "schedules",
    "resolve_dtype": "precision",
    "Checkpoints": "checkpoint",
    "fit": "loop",
    "Completed": "loop",
    "Preempted": "loop",
    "NonFiniteLoss": "loop",
    "enable_compilation_cache": "cache",
}


def __getattr__(name):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
        return getattr(importlib.import_module(f"jaxres.train.{module}"), attr)
    raise AttributeError(f"module 'jaxres.train' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
