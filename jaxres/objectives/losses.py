"""Training losses `loss(pred, target) -> float32 scalar`, computed in float32 (a bf16 sum loses small
errors) and averaged over every element like torch's `reduction="mean"`; `get` picks one by name."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxres.errors import ConfigError


def _f32(pred, target) -> tuple[jnp.ndarray, jnp.ndarray]:
    pred, target = jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: pred {pred.shape}, target {target.shape}")
    return pred, target


def masked(loss: Callable) -> Callable:
    """`loss` over the targets' finite elements only: NaN (unlabelled) targets add nothing to it or its gradient."""

    def apply(pred, target, **kwargs):
        pred, target = _f32(pred, target)
        labelled = jnp.isfinite(target)
        count = jnp.maximum(labelled.sum(), 1)
        value = loss(jnp.where(labelled, pred, 0.0), jnp.where(labelled, target, 0.0), **kwargs)
        return value * (target.size / count)

    return apply


def mse(pred, target) -> jnp.ndarray:
    """Mean squared error (torch `MSELoss`)."""
    return jnp.mean(optax.squared_error(*_f32(pred, target)))


def l1(pred, target) -> jnp.ndarray:
    """Mean absolute error (torch `L1Loss`)."""
    pred, target = _f32(pred, target)
    return jnp.mean(jnp.abs(pred - target))


def smooth_l1(pred, target, beta: float = 1.0) -> jnp.ndarray:
    """torch `SmoothL1Loss` (optax's Huber loss with δ = β, divided by β); β = 0 is plain L1."""
    _check(beta=beta)
    if beta == 0:
        return l1(pred, target)
    return jnp.mean(optax.huber_loss(*_f32(pred, target), delta=beta)) / beta


def wing(pred, target, w: float = 10.0, epsilon: float = 2.0) -> jnp.ndarray:
    """Wing loss (Feng et al. 2018): w·ln(1 + |x|/ε) where |x| < w, else |x| − C; w and ε are in the
    targets' units (the paper's 10 and 2 are pixels: scale them by 1/image size for [0, 1] targets)."""
    _check(w=w, epsilon=epsilon)
    pred, target = _f32(pred, target)
    x = jnp.abs(pred - target)
    c = w - w * jnp.log1p(w / epsilon)
    return jnp.mean(jnp.where(x < w, w * jnp.log1p(x / epsilon), x - c))


def giou(pred, target, l1_weight: float = 2.5) -> jnp.ndarray:
    """Mean (1 − generalised IoU) of corner boxes (..., 4) plus `l1_weight` × mean absolute corner error
    (DETR's box loss); a prediction's corners are read as its min/max extent."""
    _check(l1_weight=l1_weight)
    pred, target = _f32(pred, target)
    if pred.shape[-1] != 4:
        raise ValueError(f"giou needs corner boxes (..., 4); got {pred.shape}")
    lo, hi = jnp.minimum(pred[..., :2], pred[..., 2:]), jnp.maximum(pred[..., :2], pred[..., 2:])
    t_lo, t_hi = target[..., :2], target[..., 2:]
    eps = 1e-9
    inter = jnp.prod(jnp.clip(jnp.minimum(hi, t_hi) - jnp.maximum(lo, t_lo), 0.0, None), axis=-1)
    union = jnp.prod(hi - lo, axis=-1) + jnp.prod(jnp.clip(t_hi - t_lo, 0.0, None), axis=-1) - inter
    hull = jnp.prod(jnp.maximum(hi, t_hi) - jnp.minimum(lo, t_lo), axis=-1)
    generalised = inter / (union + eps) - (hull - union) / (hull + eps)
    return jnp.mean(1.0 - generalised) + l1_weight * jnp.mean(jnp.abs(pred - target))


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0) -> jnp.ndarray:
    """Mean cross-entropy of logits (N, C) against labels (N,), label smoothing as torch's `CrossEntropyLoss`."""
    _check(label_smoothing=label_smoothing)
    logits = jnp.asarray(logits, jnp.float32)
    labels = jnp.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"need logits (N, C) and labels (N,); got {logits.shape} and {labels.shape}")
    if label_smoothing == 0.0:
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[1]), label_smoothing)
    return jnp.mean(optax.softmax_cross_entropy(logits, targets))


# Each loss parameter's valid values, checked by the losses and by `get`, so a bad config fails when it is read.
_VALID: dict[str, tuple[Callable[[float], bool], str]] = {
    "beta": (lambda v: v >= 0, ">= 0"),
    "w": (lambda v: v > 0, "> 0"),
    "epsilon": (lambda v: v > 0, "> 0"),
    "l1_weight": (lambda v: v >= 0, ">= 0"),
    "label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


def _check(**params) -> None:
    for key, value in params.items():
        test, rule = _VALID[key]
        if not (isinstance(value, numbers.Real) and test(value)):
            raise ValueError(f"{key} must be {rule}; got {key}={value!r}")


LOSSES: dict[str, Callable] = {"mse": mse, "l1": l1, "smooth_l1": smooth_l1, "wing": wing, "giou": giou,
                               "softmax_cross_entropy": softmax_cross_entropy}
# Losses that fit one objective kind only; every other loss is element-wise and fits any regression.
ONLY_FOR: dict[str, str] = {"giou": "box", "softmax_cross_entropy": "classification"}


def for_kind(kind: str, name: str, options: dict) -> Callable:
    """`get(name, **options)` for an objective of `kind` ("box", "keypoints", ...): a loss made for
    another kind is a ConfigError naming the losses this one takes."""
    if name in LOSSES and ONLY_FOR.get(name, kind) != kind:
        fits = sorted(n for n in LOSSES if ONLY_FOR.get(n, kind) == kind)
        raise ConfigError(f"loss {name!r} is for {ONLY_FOR[name]} objectives; a {kind} objective takes "
                          f"{', '.join(fits)}")
    try:
        return get(name, **options)
    except ConfigError as err:  # most often the previous loss's options, left behind by a new objective.loss
        if name not in LOSSES:
            raise
        raise ConfigError(f"{err} (objective.loss_options are the loss's parameters; "
                          f"--set 'objective.loss_options={{}}' takes its defaults)") from None


def get(name: str, **kwargs) -> Callable:
    """The loss `name` with its parameters bound, or a ConfigError for an unknown name, parameter or value."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; valid losses: {', '.join(sorted(LOSSES))}")
    fn = LOSSES[name]
    params = list(inspect.signature(fn).parameters)[2:]  # after (pred, target)
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"loss {name!r} takes no parameter {', '.join(unknown)}; "
                          f"its parameters: {', '.join(params) or 'none'}")
    try:
        _check(**kwargs)
    except ValueError as err:
        raise ConfigError(f"loss {name!r}: {err}") from None
    return functools.partial(fn, **kwargs) if kwargs else fn
