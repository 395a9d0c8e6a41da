"""Objectives (what a model predicts and how it is judged), picked by `objective.kind`; tasks may `register` more."""

from jaxres.config import defaults
from jaxres.errors import ConfigError
from jaxres.objectives.base import Objective
from jaxres.objectives.boxes import BoxObjective
from jaxres.objectives.classification import ClassificationObjective
from jaxres.objectives.keypoints import KeypointObjective

KINDS: dict[str, type] = {"keypoints": KeypointObjective, "box": BoxObjective, "classification": ClassificationObjective}
defaults.KIND_DEFAULTS.update({kind: cls.DEFAULTS for kind, cls in KINDS.items()})
_REQUIRED = ("model_options", "targets", "loss", "evaluate", "to_photo")  # what a registered kind must write


def register(kind: str, cls: type) -> type:
    """Make `objective.kind = kind` build `cls(options, facts)`; returns `cls`."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise TypeError(f"objective kind {kind!r} ({getattr(cls, '__name__', cls)}) is not a subclass of "
                        "jaxres.objectives.Objective")
    missing = [name for name in _REQUIRED if getattr(cls, name) is getattr(Objective, name)]
    if missing:
        raise TypeError(f"objective kind {kind!r} ({cls.__name__}) lacks {', '.join(missing)} of jaxres.objectives.Objective")
    if KINDS.get(kind, cls) is not cls:
        raise ValueError(f"objective kind {kind!r} is already {KINDS[kind].__name__}")
    KINDS[kind] = cls
    defaults.KIND_DEFAULTS[kind] = cls.DEFAULTS
    return cls


def create(options: dict, facts: dict | None = None) -> Objective:
    """The objective `options["kind"]` with its options completed (jaxres.config.defaults), given what its
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


__all__ = ["BoxObjective", "ClassificationObjective", "KINDS", "KeypointObjective", "Objective", "create", "facts_of",
           "kind_class", "register"]
