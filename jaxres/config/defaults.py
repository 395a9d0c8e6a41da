"""Every config key the engine reads, with its default (the one place one is written); objective kinds
register theirs in `KIND_DEFAULTS`, and `complete` lays them over each other."""

from __future__ import annotations

import copy
from typing import Any

MODEL: dict[str, Any] = {
    "weights": "none",  # "none", a weights name (jaxres.weights.named) or a torchvision .pth / .safetensors path
    "dtype": "auto",  # compute dtype: bfloat16 on accelerators, float32 on CPU (jaxres.train.precision)
    "head_options": {},  # models.create's head keywords: head "linear" | "mlp" (hidden, dropout)
    # from scratch: each residual block's last BN scale starts at 0 (torchvision's keyword), so a deep
    # network starts as a shallow one; loaded weights replace it
    "zero_init_residual": False,
    # stochastic depth in training: the last residual block skips its branch for this share of the
    # samples, earlier blocks for less (linear in depth); a regulariser for deep networks on few images
    "drop_path": 0.0,
    # "mean_target" (regression): the head starts answering the training split's mean target, a zero
    # kernel and that bias, so a network from scratch starts at the mean baseline; "default": torch's init
    "head_init": "default",
}
DATA: dict[str, Any] = {
    "path": None,  # None: the task's embedded synthetic set, written in the task's own format
    "val_fraction": 0.1,  # share of train held out (seeded) when the layout has no val split
    "eval_split": "test",  # the split the end of `train` reports on ("val" when there is none)
    "workers": None,  # decoding threads; None: as many as the CPUs
    "skip_bad": False,  # skip (and list) records that fail validation instead of stopping
    "cache_dir": None,  # where decoded frames live; None: $JAXRES_CACHE/frames
}
TRAIN: dict[str, Any] = {
    "epochs": 1,
    "batch_size": 1,  # global: split over every device of every process
    "seed": 0,  # initialisation, validation split, shuffling and augmentation
    "log_every": 20,  # steps between console lines and metrics.jsonl records
    "tensorboard": True,  # event files beside metrics.jsonl
}
OPTIM: dict[str, Any] = {
    "name": "sgd",  # "sgd" | "adam" | "adamw" (decoupled weight decay)
    "lr": 0.01,
    "momentum": 0.9,
    "nesterov": False,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,  # on conv and dense kernels only (optim.decay_mask)
    "clip_norm": None,
    "schedule": "constant",  # "constant" | "cosine" | "cosine_restarts" | "step" (jaxres.train.schedules)
    "warmup_epochs": 0,
    "restart_epochs": None,
    "decay_epochs": [],
    "decay_factor": 0.1,
    "final_lr_factor": 0.0,
    "group_lr": {},  # {group: lr}: groups are stem, layer1 … layer4, head
    "frozen": [],  # groups frozen from the start
    "unfreeze": {},  # {group: epoch} at which a frozen group starts training
    "ema_epochs": 0.0,  # time constant of the weights' moving average, in epochs; 0: none (jaxres.train.ema)
}
CHECKPOINT: dict[str, Any] = {
    "keep": 2,  # the last `keep` steps, plus the best one
    "best_metric": None,  # a validation metric name; None: the last step is the one evaluated
    "best_mode": "max",
    "every_steps": 0,  # 0: a checkpoint after each epoch only
    "async": None,  # None: background saves on accelerators, foreground on CPU (loop.async_saves)
}
OBJECTIVE: dict[str, Any] = {
    "channels": 3,  # 1: grayscale input (ImageNet conv1 summed over RGB)
    "keep_aspect": True,  # a whole-photo frame letterboxes the photo into the square input instead of stretching it
}
# {kind: its objective defaults}, filled by jaxres.objectives (built-in kinds and `register`)
KIND_DEFAULTS: dict[str, dict] = {}
ENGINE: dict[str, dict] = {"model": MODEL, "data": DATA, "train": TRAIN, "optim": OPTIM, "checkpoint": CHECKPOINT,
                           "objective": OBJECTIVE}
# Keys an older config may hold, dropped where every config is read (data.pipeline: the device path is the one path).
RETIRED = (("data", "pipeline"),)


def complete(config: dict) -> dict:
    """`config` over the engine's and its objective kind's defaults, without the RETIRED keys (a new dict):
    the config's keys win, sections merge key by key, keys the config adds are kept."""
    config = {name: ({k: v for k, v in part.items() if (name, k) not in RETIRED} if isinstance(part, dict) else part)
              for name, part in config.items()}
    out = _merged(ENGINE, config)
    out["objective"] = objective(config.get("objective") or {})
    return out


def objective(options: dict) -> dict:
    """An `objective` section over the engine's and its kind's defaults (the kind's `DEFAULTS`)."""
    return _merged(_merged(OBJECTIVE, KIND_DEFAULTS.get(options.get("kind"), {})), options)


def section(config: dict, name: str) -> dict:
    """One section of `config` over its engine defaults, for callers given a partial config."""
    return _merged(ENGINE[name], config.get(name) or {})


def _merged(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and out[key]:
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
