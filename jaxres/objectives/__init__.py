"""What a model predicts and how it is judged: target kinds, each implementing `TargetKind`.

A target kind turns records into training examples (cached frames and device transforms, or host
examples), owns the loss, maps outputs back to original-image pixels (or classes), computes the
field's metrics and the trivial baseline, draws predictions, and writes prediction tables. Tasks pick
one by `config["objective"]["kind"]`; a task with a target of its own registers its kind
(`register`) from its module, without touching the library. None of this knows about faces or shirts.
"""

from jaxres.config import defaults
from jaxres.errors import ConfigError
from jaxres.objectives.boxes import BoxObjective
from jaxres.objectives.classification import ClassificationObjective
from jaxres.objectives.keypoints import KeypointObjective
from jaxres.objectives.protocol import TargetKind

KINDS: dict[str, type] = {"keypoints": KeypointObjective, "box": BoxObjective, "classification": ClassificationObjective}
defaults.KIND_DEFAULTS.update({kind: cls.DEFAULTS for kind, cls in KINDS.items()})


def register(kind: str, cls: type) -> type:
    """Make `objective.kind = kind` build `cls(options, facts)`; returns `cls` (usable as a decorator's body)."""
    missing = [name for name in ["DEFAULTS", *_required()] if not hasattr(cls, name)]
    if missing:
        raise TypeError(f"target kind {kind!r} ({cls.__name__}) lacks {', '.join(missing)} of jaxres.objectives.TargetKind")
    if KINDS.get(kind, cls) is not cls:
        raise ValueError(f"target kind {kind!r} is already {KINDS[kind].__name__}")
    KINDS[kind] = cls
    defaults.KIND_DEFAULTS[kind] = cls.DEFAULTS
    return cls


def create(options: dict, facts: dict | None = None) -> TargetKind:
    """The target kind `options["kind"]` with its options completed (jaxres.config.defaults), given what its
    training split decided (`facts_of`; none for a kind that needs none)."""
    return kind_class(options)(defaults.objective(options), facts or {})


def facts_of(options: dict, train) -> dict:
    """What the training split decides for the kind `options["kind"]` (classes, number of points)."""
    return kind_class(options).facts_of(train)


def kind_class(options: dict) -> type:
    kind = options.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"unknown objective.kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind]


def _required() -> list[str]:
    return [name for name in dir(TargetKind) if not name.startswith("_") and callable(getattr(TargetKind, name))]


__all__ = ["BoxObjective", "ClassificationObjective", "KINDS", "KeypointObjective", "TargetKind", "create", "facts_of", "kind_class", "register"]
