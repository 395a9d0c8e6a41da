"""What a training leaves in its workdir besides checkpoints: the config it ran and the facts its data decided.

`config.json` is the run's config as the user gave it (task defaults, engine defaults, --set);
`data_facts.json` is what the training split decided (the target kind's facts, such as its classes
or number of points, and the model head they give). They are two files so that the user's config
never holds a value the user did not choose, and eval, predict and export rebuild the model from both.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from jaxres import files
from jaxres.errors import UserError

CONFIG_FILE = "config.json"
FACTS_FILE = "data_facts.json"
CHECKPOINTS = "checkpoints"


@dataclasses.dataclass(frozen=True)
class DataFacts:
    """What the training split decided: `target` for the target kind (e.g. {"classes": [...]} or
    {"num_keypoints": 68}), `model` for `models.create` (head and output size)."""

    target: dict
    model: dict

    @property
    def classes(self) -> list | None:
        """The training classes (a classifier's), which labels of other splits are mapped onto by name."""
        return self.target.get("classes")

    @property
    def num_keypoints(self) -> int | None:
        """The training point count (a keypoint model's), which other splits and inputs must have."""
        return self.target.get("num_keypoints")

    def to_json(self) -> dict:
        return {"target": self.target, "model": self.model}


def checkpoint_dir(workdir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(workdir).resolve() / CHECKPOINTS


def save(workdir: pathlib.Path, config: dict, facts: DataFacts) -> None:
    """Both records, each written atomically (facts first: a config.json marks a workdir complete)."""
    files.write_text(workdir / FACTS_FILE, json.dumps(facts.to_json(), indent=2, sort_keys=True))
    files.write_text(workdir / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True))


def load_config(workdir: pathlib.Path) -> dict:
    return _read_json(pathlib.Path(workdir) / CONFIG_FILE, "train into it first")


def load_facts(workdir: pathlib.Path, config: dict) -> DataFacts:
    """The workdir's data facts; a workdir written before they had their own file keeps them in its
    config (`model.resolved`, `model.classes`, `objective.num_keypoints`), read from there."""
    path = pathlib.Path(workdir) / FACTS_FILE
    if path.is_file():
        record = _read_json(path, "train again into a new --workdir")
        return DataFacts(dict(record.get("target") or {}), dict(record.get("model") or {}))
    model, objective = config.get("model", {}), config.get("objective", {})
    if "resolved" not in model:
        raise UserError(f"holds no {FACTS_FILE}; train into it first", where=str(workdir))
    target = {"classes": list(model["classes"])} if model.get("classes") else {}
    if objective.get("num_keypoints"):
        target["num_keypoints"] = int(objective["num_keypoints"])
    return DataFacts(target, dict(model["resolved"]))


def without_facts(config: dict) -> dict:
    """A config of an older workdir without the data facts it used to hold."""
    config = json.loads(json.dumps(config))
    for key in ("resolved", "classes"):
        config.get("model", {}).pop(key, None)
    config.get("objective", {}).pop("num_keypoints", None)
    return config


def _read_json(path: pathlib.Path, advice: str) -> dict:
    if not path.is_file():
        raise UserError(f"not a jaxres workdir (no {path.name}); {advice}", where=str(path.parent))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"unreadable {path.name}: {err}", where=str(path)) from err
