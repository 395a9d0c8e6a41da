"""`cache`: decode every split a training would read into the frame cache, so `train` with the same options
reuses it (prepare data where CPUs are cheap).
"""

from __future__ import annotations

from jaxres.train import assembly
from jaxres.platform import cache_paths
from jaxres.cli.commands.splits import resolve_data_path, training_splits
from jaxres.cli.commands.train import build_config, join_processes
from jaxres.config.checks import check_config, check_process


def cache_command(task, args) -> int:
    check_process(args.num_processes, args.process_id)
    config = check_config(build_config(task, args), where=args.config)
    join_processes(args)
    splits = training_splits(task, resolve_data_path(task, config), config, args.skip_bad)
    built = assembly.for_training(config, splits.train)
    for name, dataset in (("train", splits.train), ("val", splits.val), (splits.eval_name, splits.eval)):
        frames = built.load_frames(dataset.records, log=print)
        spec = frames.spec
        print(f"{name}: {len(frames)} frames of {spec.side}×{spec.side}×{spec.channels} "
              f"({spec.side * spec.side * spec.channels / 1024:.0f} KiB each)")
    print(f"cache folder: {cache_paths.frames_dir(config['data']['cache_dir'])}")
    return 0
