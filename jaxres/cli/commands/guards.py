"""A command checks its targets before computing anything; `--force` replaces earlier outputs of the same
command, never a folder that is not a workdir nor a workdir's own files."""

from __future__ import annotations

import os
import pathlib

from jaxres.platform import files
from jaxres.train import workdir as workdir_files
from jaxres.errors import UserError
from jaxres.train.workdir import LOCK_NAME, WorkdirLock


def training_workdir(text: str, task: str, force: bool = False) -> pathlib.Path:
    """The --workdir of `train`, absolute and writable: a workdir of `task`, or a folder holding none of a
    workdir's own files (with `--force`, also a non-empty one; its output-named files are replaced)."""
    if not str(text).strip():
        raise UserError("--workdir is empty; name a folder for the run (e.g. --workdir runs/mine)")
    path = pathlib.Path(text).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UserError("--workdir is a file, not a folder; choose another --workdir", where=str(path))
    if path.is_dir():
        entries = {p.name for p in path.iterdir()}
        if entries & set(workdir_files.OWN_FILES) - {LOCK_NAME}:
            owner = workdir_files.task_of(path)  # a UserError for a folder that only looks like one
            if owner not in (None, task):
                raise UserError(f"--workdir holds a {owner} training, not {task}; run `jaxres {owner} train "
                                f"--workdir {path}` or choose another --workdir", where=str(path))
        elif entries - {LOCK_NAME} and not force:
            raise UserError(
                f"--workdir is a folder with {len(entries)} other file(s) and no jaxres run; training would write "
                "loss.png, metrics.png, pictures/ and checkpoints/ into it. Choose a new or empty folder "
                "(or add --force)", where=str(path))
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write here ({existing} is read-only); choose another --workdir", where=str(path))
    return path


def refuse_if_locked(workdir: pathlib.Path) -> None:
    """Fail now, before data is read or anything written, when another training holds the workdir."""
    if workdir.is_dir():
        with WorkdirLock(workdir):
            pass


def save_config_locked(workdir: pathlib.Path, config: dict, save) -> None:
    """`save(workdir, config)` under the workdir's lock: a run refused by the lock writes nothing."""
    with WorkdirLock(workdir):
        save(workdir, config)


def new_outputs(paths, force: bool, what: str = "output") -> None:
    """Refuse to replace any existing file of `paths` unless `force`."""
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UserError(f"{what} exists{more}; remove it, choose another --out, or add --force to replace it",
                        where=existing[0])


def outside_workdir(target: pathlib.Path, workdir: pathlib.Path) -> None:
    """An export or prediction never lands on a workdir's own files (`workdir.OWN_FILES`)."""
    target, workdir = target.expanduser().resolve(), workdir.expanduser().resolve()
    for name in workdir_files.OWN_FILES:
        own = workdir / name
        if target == own or own in target.parents:
            raise UserError(f"would overwrite the workdir's own {name}; choose an --out outside it", where=str(target))


def export_target(out: pathlib.Path, workdir: pathlib.Path, fmt: str, force: bool) -> None:
    """`export --out`: a file path outside the workdir's own files (its `<out>.sha256` too); an existing
    file (or the StableHLO sidecar `<out>.json`) only with --force."""
    if not str(out).strip() or out.is_dir():
        raise UserError("--out must name a file, not a folder", where=str(out) or "--out")
    targets = [out, out.with_name(out.name + ".json")] if fmt == "stablehlo" else [out]
    for target in targets + [files.checksum_path(out)]:
        outside_workdir(target, workdir)
    new_outputs(targets, force, "the export target")


def distinct_names(names: list[str], sources: list[str], what: str) -> None:
    """Two inputs that would write the same output file are refused, naming both."""
    seen: dict[str, str] = {}
    for name, source in zip(names, sources):
        if name in seen:
            raise UserError(f"{source} and {seen[name]} would both write {what} {name!r}; "
                            "rename one or predict them in separate runs", where=source)
        seen[name] = source
