"""What a training leaves beside its checkpoints: `config.json` (the user's config), `data_facts.json`
(what the training split decided), the `.jaxres-workdir` marker and the `.lock` of the one training running
there (`WorkdirLock`); `OWN_FILES` lists them for the guards."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import socket
import time

from jaxres import objectives
from jaxres.config import defaults
from jaxres.errors import UserError
from jaxres.platform import files, system

CONFIG_FILE = "config.json"
FACTS_FILE = "data_facts.json"
MARKER_FILE = ".jaxres-workdir"
CHECKPOINTS = "checkpoints"
LOCK_NAME = ".lock"
# Files only `train` writes, never replaced by an export or prediction (`commands.guards`).
OWN_FILES = (MARKER_FILE, CONFIG_FILE, FACTS_FILE, CHECKPOINTS, "metrics.jsonl", LOCK_NAME)


@dataclasses.dataclass(frozen=True)
class DataFacts:
    """What the training split decided: `target` for the objective (e.g. {"classes": [...]} or
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


def checkpoint_dir(workdir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(workdir).resolve() / CHECKPOINTS


def save(workdir: pathlib.Path, config: dict, facts: DataFacts, task: str) -> None:
    """The marker and both records, each written atomically (facts before config: a config.json
    marks a workdir complete)."""
    files.write_text(workdir / MARKER_FILE, json.dumps({"jaxres_workdir": 1, "task": task}) + "\n")
    files.write_text(workdir / FACTS_FILE, json.dumps(dataclasses.asdict(facts), indent=2, sort_keys=True))
    files.write_text(workdir / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True))


def task_of(workdir: pathlib.Path) -> str | None:
    """The task whose train wrote `workdir` (its marker's), None for an older workdir without one;
    a UserError for a folder that is no workdir."""
    workdir = pathlib.Path(workdir)
    marker = workdir / MARKER_FILE
    if marker.is_file():
        record = _read_json(marker, "train into a new --workdir")
        if record.get("jaxres_workdir") != 1 or not isinstance(record.get("task"), str):
            raise UserError(f"unreadable {MARKER_FILE}: not a jaxres workdir marker", where=str(marker))
        return record["task"]
    config = workdir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"not a jaxres workdir (no {MARKER_FILE} or {CONFIG_FILE}); train into it first",
                        where=str(workdir))
    if not (workdir / CHECKPOINTS).is_dir() or not isinstance(_read_json(config, ""), dict):
        raise UserError(f"not a jaxres workdir: no {MARKER_FILE}, and its {CONFIG_FILE} has no trained checkpoints "
                        "beside it; choose the folder a training wrote, or a new one to train into", where=str(workdir))
    return None


def load_config(workdir: pathlib.Path) -> dict:
    """The config.json of a folder that is a workdir (`task_of`), a JSON object."""
    task_of(workdir)
    config = _read_json(pathlib.Path(workdir) / CONFIG_FILE, "train into it first")
    if not isinstance(config, dict):
        raise UserError(f"{CONFIG_FILE} holds a JSON {type(config).__name__}, not an object; train into a new "
                        "--workdir", where=str(pathlib.Path(workdir) / CONFIG_FILE))
    return config


def load_facts(workdir: pathlib.Path, config: dict) -> DataFacts:
    """The workdir's data facts; a workdir written before they had their own file keeps them in its
    config (`model.resolved`, `model.classes`, `objective.num_keypoints`), read from there."""
    path = pathlib.Path(workdir) / FACTS_FILE
    if path.exists():
        record = _read_json(path, "train again into a new --workdir")
        if not (isinstance(record, dict) and isinstance(record.get("target"), dict)
                and isinstance(record.get("model"), dict)):
            raise UserError(f"{FACTS_FILE} is not a {{\"target\": {{...}}, \"model\": {{...}}}} object; train again "
                            "into a new --workdir", where=str(path))
        return _checked(DataFacts(record["target"], record["model"]), config, str(path))
    model, objective = config.get("model", {}), config.get("objective", {})
    if "resolved" in model:  # trained before data_facts.json: the facts sat in config.json
        target = {"classes": list(model["classes"])} if model.get("classes") else {}
        if objective.get("num_keypoints"):
            target["num_keypoints"] = int(objective["num_keypoints"])
        return _checked(DataFacts(target, dict(model["resolved"])), config, str(workdir / CONFIG_FILE))
    # Trained before the facts were recorded anywhere: a kind whose data decides nothing (a box)
    # rebuilds them from its options; one whose data decides classes or points cannot.
    model = _model_options(config, {})
    if model is None or not _count(model.get("num_outputs")):
        raise UserError(f"holds no {FACTS_FILE} and its config.json does not say what the data decided "
                        "(classes, points); train again into a new --workdir", where=str(workdir))
    return DataFacts({}, model)


def _model_options(config: dict, target: dict) -> dict | None:
    """What the config's objective makes of `target` for the model; None when it cannot (a kind that needs
    facts `target` lacks, or facts of another kind)."""
    try:
        return objectives.create(defaults.complete(without_facts(config))["objective"], target).model_options()
    except Exception:  # noqa: BLE001
        return None


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _checked(facts: DataFacts, config: dict, where: str) -> DataFacts:
    """`facts` when they are what their objective makes of them (so the head the model gets is the
    one the checkpoint holds), else a UserError naming the file."""
    classes, points = facts.target.get("classes"), facts.target.get("num_keypoints")
    valid = classes is None or (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
                                and len(set(classes)) == len(classes))
    valid = valid and (points is None or _count(points))
    if not valid or _model_options(config, facts.target) != facts.model or not _count(facts.model.get("num_outputs")):
        kind = (config.get("objective") or {}).get("kind")
        raise UserError(f"{pathlib.Path(where).name} does not hold facts of a {kind} training "
                        f"(target {json.dumps(facts.target)[:80]}, model {json.dumps(facts.model)[:80]}); train again "
                        "into a new --workdir", where=where)
    return DataFacts(dict(facts.target), dict(facts.model))


def without_facts(config: dict) -> dict:
    """A config of an older workdir without the data facts it used to hold."""
    config = json.loads(json.dumps(config))
    for key in ("resolved", "classes"):
        config.get("model", {}).pop(key, None)
    config.get("objective", {}).pop("num_keypoints", None)
    return config


def _read_json(path: pathlib.Path, advice: str):
    if not path.is_file():
        raise UserError(f"not a jaxres workdir (no {path.name}); {advice}", where=str(path.parent))
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"unreadable {path.name} ({type(err).__name__}: {str(err)[:100]}); {advice or 'train again'}",
                        where=str(path)) from None


class WorkdirLock:
    """Context manager holding an exclusive lock on `<workdir>/.lock`, one training per workdir (the system
    releases it when the process dies); raises `UserError` when taken."""

    def __init__(self, workdir: str | os.PathLike):
        self.workdir = pathlib.Path(workdir).resolve()
        self.path = self.workdir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "WorkdirLock":
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not system.try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(f"another training ({holder}) is running in this workdir; wait for it to finish, stop it, "
                            "or choose another --workdir", where=str(self.workdir)) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def __enter__(self) -> "WorkdirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            system.unlock(self._fd)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)  # a positional read is not portable (Windows)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, OSError):
        return "unknown process"
