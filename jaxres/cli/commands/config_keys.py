"""`config`: every key `--set` accepts, with its value and type after --config and --set."""

from __future__ import annotations

from jaxres import objectives  # noqa: F401 - objectives registers its kinds' defaults
from jaxres.config import defaults
from jaxres.config import apply_overrides, key_table, load_config_file


def config_command(task, args) -> int:
    config = defaults.complete(load_config_file(args.config) if args.config else task.get_config())
    config = apply_overrides(config, list(args.set))
    print(f"config keys of {task.name} (--set KEY=VALUE; the embedded demo run's own values are under synthetic.):")
    print(key_table(config), flush=True)
    return 0
