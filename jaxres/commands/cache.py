"""`cache`: decode every split a training would read into the frame cache, ahead of the training.

For users who prepare data where CPUs are cheap (a login node) and train where they are not: the
same config (and `--set`s) as the coming `train` gives the same frames, which `train` then reuses.
"""

from __future__ import annotations

from jaxres import cache_paths, experiment
from jaxres.commands.train import _distributed, build_config
from jaxres.data.validate import validate


def cache_command(task, args) -> int:
    _distributed(args)
    config = build_config(task, args)
    if not experiment.on_device(config):
        print("data.pipeline is 'host': nothing is cached")
        return 0
    path = experiment.resolve_data_path(task, config)
    train, val = experiment.train_val_split(task, path, config)
    eval_name, evaluated = experiment.eval_split(task, path, config, None)
    splits = {"train": train, "val": val, eval_name: evaluated}
    objective = experiment.build_objective(config)
    config = experiment.resolve_model_options(config, objective, train)
    for name, dataset in splits.items():
        good, bad = validate(dataset, skip_bad=args.skip_bad or bool(config["data"].get("skip_bad", False)))
        if bad:
            print(f"skipped {len(bad)} bad {name} record(s):\n  " + "\n  ".join(bad[:20]))
        frames = experiment.load_frames(objective, good.records, config, log=print)
        spec = frames.spec
        print(f"{name}: {len(frames)} frames of {spec.side}×{spec.side}×{spec.channels} "
              f"({spec.side * spec.side * spec.channels / 1024:.0f} KiB each)")
    print(f"cache folder: {cache_paths.frames_dir(config['data'].get('cache_dir'))}")
    return 0
