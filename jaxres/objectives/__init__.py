"""What a model predicts and how it is judged, for the three target kinds the tasks use.

An objective turns records into training examples, owns the loss, maps outputs back to
original-image pixels (or classes), computes the field's metrics and the trivial baseline, draws
predictions, and writes prediction tables. Tasks pick one by `config["objective"]["kind"]` and
configure it; none of this knows about faces or shirts.
"""

from jaxres.errors import ConfigError
from jaxres.objectives.boxes import BoxObjective
from jaxres.objectives.classification import ClassificationObjective
from jaxres.objectives.keypoints import KeypointObjective

KINDS = {"keypoints": KeypointObjective, "box": BoxObjective, "classification": ClassificationObjective}


def create(options: dict):
    kind = options.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"unknown objective.kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind](options)


__all__ = ["BoxObjective", "ClassificationObjective", "KINDS", "KeypointObjective", "create"]
