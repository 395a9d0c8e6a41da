"""Resuming a workdir: its config.json with only the command line's changes; a change that makes another
run (`RUN_KEYS`, other classes or point counts) is refused before the workdir is touched."""

from __future__ import annotations

import json
import os
import pathlib
import shlex

from jaxres.config import defaults
from jaxres.train import workdir as workdir_files
from jaxres.config import get_path
from jaxres.config.checks import check_config
from jaxres.errors import ConfigError, DataError, UserError
from jaxres.train.checkpoint import Checkpoints, jsonable
from jaxres.train.loop import NonFiniteLoss

# Keys that make another run: on a workdir holding checkpoints a change is refused, with the keys
# named (the data, the model's shape, what it predicts and from which pixels).
RUN_KEYS = ("data.path", "data.images", "data.val_fraction", "synthetic.generator", "model.arch",
            "model.head_options", "objective.kind", "objective.image_size", "objective.channels")


def resume_command(task, workdir: pathlib.Path) -> str:
    """The command that resumes `workdir`'s run from any folder (the installed console command)."""
    return f"jaxres {task.name} train --workdir {shlex.quote(str(pathlib.Path(workdir).absolute()))}"


def absolute_data_path(path):
    """A local data path made absolute (expanding ~); empty, `tfds:` names and non-text as given."""
    if not isinstance(path, str) or not path.strip() or path.startswith("tfds:"):
        return path
    return os.path.abspath(os.path.expanduser(path))


def saved_run(workdir: pathlib.Path) -> dict | None:
    """The config.json of the run in `workdir` when it holds a checkpoint step, else None (a new
    folder, or one whose training never saved: nothing there to lose)."""
    directory = workdir / workdir_files.CHECKPOINTS
    if not directory.is_dir() or not any(p.is_dir() and p.name.isdigit() for p in directory.iterdir()):
        return None
    where = str(workdir / workdir_files.CONFIG_FILE)
    return check_config(workdir_files.load_config(workdir), where=where)


def refuse_another_run(task, workdir: pathlib.Path, saved: dict, config: dict) -> None:
    """A ConfigError naming each of `RUN_KEYS` the command line changes from the workdir's run."""
    before = defaults.complete(workdir_files.without_facts(saved))
    before["data"]["path"] = absolute_data_path(before["data"].get("path"))
    differing = [k for k in RUN_KEYS if jsonable(get_path(before, k)) != jsonable(get_path(config, k))]
    if differing:
        shown = "; ".join(f"{k}: {_short(get_path(before, k))} there, {_short(get_path(config, k))} now"
                          for k in differing)
        _refuse(task, workdir, shown)


def refuse_other_facts(task, workdir: pathlib.Path, saved: dict, built) -> None:
    """The same refusal when the data now decides other classes or another point count."""
    facts = workdir_files.load_facts(workdir, saved)
    if facts.model != built.facts.model or facts.target != built.facts.target:
        keys = sorted(k for k in facts.target.keys() | built.facts.target.keys()
                      if facts.target.get(k) != built.facts.target.get(k)) or ["model head"]
        _refuse(task, workdir, "; ".join(f"the data's {k}: {_short(facts.target.get(k))} there, "
                                         f"{_short(built.facts.target.get(k))} now" for k in keys))


def _refuse(task, workdir: pathlib.Path, shown: str) -> None:
    raise ConfigError(f"--workdir holds another run ({shown}); resuming it with these would replace its checkpoints. "
                      f"Resume it as it was with `{resume_command(task, workdir)}`, or choose a new --workdir",
                      where=str(workdir))


def _short(value) -> str:
    text = json.dumps(jsonable(value))
    return text if len(text) <= 60 else text[:57] + "..."


def resume_point(workdir: pathlib.Path, steps_per_epoch: int, records: int, data) -> int | None:
    """The step the run resumes from (the newest intact one), refusing a position the training split
    no longer has (it shrank, or train.batch_size grew, since the checkpoint was saved)."""
    checkpoints = Checkpoints(workdir_files.checkpoint_dir(workdir), async_save=False)
    try:  # the damaged steps are named (and set aside) when `fit` restores
        step, position = checkpoints.first_intact(checkpoints.all_steps()[::-1],
                                                  lambda step: checkpoints.read_json(step, "position"), report=False)
    finally:
        checkpoints.close()
    batch = int(position.get("batch", 0))
    if batch > steps_per_epoch:
        raise DataError(f"the checkpoint at step {step} stopped after batch {batch} of its epoch, but the training "
                        f"split now gives {steps_per_epoch} batches ({records} records): the data or "
                        "train.batch_size changed since it was saved. Restore them, or train into a new --workdir",
                        where=str(data))
    return step


def damaged_resume(err: NonFiniteLoss, resumed: int | None) -> UserError | None:
    """A loss that turns non-finite before the resumed run saved anything says more about the
    checkpoint it started from than about the learning rate."""
    if resumed is None or err.last_good != resumed:
        return None
    folder = err.directory / str(resumed)
    return UserError(f"the loss became non-finite at step {err.step}, right after resuming from step {resumed}: "
                     f"that checkpoint may be damaged. Move {folder} away to resume from an earlier step, or "
                     "train into a new --workdir", where=str(folder))
