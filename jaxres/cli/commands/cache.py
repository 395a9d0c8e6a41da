"""`cache`: decode every split a training would read into the frame cache, so `train` with the same options
reuses it (prepare data where CPUs are cheap).
On a `--workdir` holding a run, that run's config is used, as `train --workdir` resumes it; W is only read."""

from __future__ import annotations

import pathlib

from jaxres.train import assembly
from jaxres.platform import cache_paths
from jaxres.cli.commands.resume import refuse_another_run, refuse_other_facts, saved_run
from jaxres.cli.commands.splits import resolve_data_path, training_splits
from jaxres.cli.commands.train import build_config, join_processes
from jaxres.config.checks import check_config, check_process


def cache_command(task, args) -> int:
    check_process(args.num_processes, args.process_id)
    workdir = pathlib.Path(args.workdir).expanduser()
    saved = saved_run(workdir) if workdir.is_dir() else None
    config = check_config(build_config(task, args, saved), where=args.config)
    if saved is not None:
        refuse_another_run(task, workdir, saved, config)
    join_processes(args)
    splits = training_splits(task, resolve_data_path(task, config), config, args.skip_bad)
    built = assembly.for_training(config, splits.train)
    if saved is not None:
        refuse_other_facts(task, workdir, saved, built)
    for name, dataset in (("train", splits.train), ("val", splits.val), (splits.eval_name, splits.eval)):
        frames = built.load_frames(dataset.records, log=print)
        spec = frames.spec
        print(f"{name}: {len(frames)} frames of {spec.side}×{spec.side}×{spec.channels} "
              f"({spec.side * spec.side * spec.channels / 1024:.0f} KiB each)")
    print(f"cache folder: {cache_paths.frames_dir(config['data']['cache_dir'])}")
    return 0
