import pathlib

import pytest

from jaxres.config import apply_overrides
from jaxres.errors import ConfigError

BASE = {"optim": {"lr": 0.1, "name": "sgd", "unfreeze": {"layer4": 15}, "frozen": ["stem"], "clip": None}, "train": {"epochs": 3, "bf16": False}}


def test_overrides_parse_literals_and_keep_types():
    cfg = apply_overrides(BASE, ["optim.lr=1", "optim.name=adam", "train.epochs=5", "optim.frozen=['stem','layer1']", "optim.clip=1.0", "train.bf16=True"])
    assert cfg["optim"]["lr"] == 1.0 and isinstance(cfg["optim"]["lr"], float)
    assert cfg["optim"]["name"] == "adam" and cfg["train"]["epochs"] == 5
    assert cfg["optim"]["frozen"] == ["stem", "layer1"] and cfg["optim"]["clip"] == 1.0 and cfg["train"]["bf16"] is True
    assert BASE["optim"]["lr"] == 0.1  # the defaults are not mutated


@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("TRUE", True), ("False", False)])
def test_shell_style_booleans(text, value):
    # the README's own example is --set data.allow_absolute_paths=true
    assert apply_overrides(BASE, [f"train.bf16={text}"])["train"]["bf16"] is value


@pytest.mark.parametrize(
    "item, match",
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'"),
        ("nope.x=1", "unknown config key 'nope.x'"),
        ("train.epochs=many", "'train.epochs' takes an int"),
        ("train.epochs=true", "'train.epochs' takes an int"),
        ("train.bf16=1", "'train.bf16' takes a bool"),
        ("optim.lr", "key=value"),
    ],
)
def test_bad_overrides_name_the_key(item, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(BASE, [item])


TASKS = ("face", "tshirt", "bbox", "signs", "sketch")


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("task", TASKS)
def test_set_accepts_every_key_the_engine_and_the_kind_declare(task):
    """A key the engine or the target kind reads has a declared default (jaxres.config.defaults, the kind's
    DEFAULTS), so `--set` takes it on every task even when the task's config leaves it out."""
    import importlib

    from jaxres import objectives
    from jaxres.config import defaults
    from jaxres.config import get_path

    config = defaults.complete(importlib.import_module(f"configs.{task}").get_config())
    kind = objectives.kind_class(config["objective"])
    declared = [f"{section}.{key}" for section, keys in defaults.ENGINE.items() for key, _ in _leaves(keys)]
    declared += [f"objective.{key}" for key, _ in _leaves(kind.DEFAULTS)]
    missing = object()
    for key in declared:  # present, and each accepts its own value back
        value = get_path(config, key, missing)
        assert value is not missing, key
        assert apply_overrides(config, [f"{key}={value!r}"]) == config, key
    with pytest.raises(ConfigError, match="unknown config key 'objective.no_such_key'"):
        apply_overrides(config, ["objective.no_such_key=1"])


def test_every_key_a_classifier_reads_is_declared_so_set_accepts_it():
    """`objective.predict_topk` was read by predict but refused by --set; `rrc_ratio` was read with a
    default of its own: both are the classification kind's declared keys now."""
    import importlib

    from jaxres.config import defaults

    for task in ("signs", "sketch"):
        config = defaults.complete(importlib.import_module(f"configs.{task}").get_config())
        changed = apply_overrides(config, ["objective.predict_topk=2", "objective.predict_format=topk",
                                           "objective.augment.rrc_ratio=[1.0, 1.0]"])
        assert changed["objective"]["predict_topk"] == 2 and changed["objective"]["predict_format"] == "topk"
        assert changed["objective"]["augment"]["rrc_ratio"] == [1.0, 1.0]


def test_the_engine_reads_settings_without_defaults_of_its_own():
    """One place for each default: no `config[...].get(key, default)` / `options.get(key, default)` in
    jaxres/ outside jaxres/config/defaults.py (and the reader of older workdirs)."""
    import ast
    import pathlib
    import re

    import jaxres

    root = pathlib.Path(jaxres.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name in ("defaults.py", "workdir.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                receiver = ast.unparse(node.func.value)
                if re.fullmatch(r"(self\.)?(config|options)(\[[^]]*\])*", receiver) and len(node.args) > 1:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)



CONFIG_FILES = sorted(p.stem for p in pathlib.Path(__file__).resolve().parents[1].joinpath("configs").glob("*.py")
                      if not p.stem.startswith("_"))


@pytest.mark.parametrize("config_file", CONFIG_FILES)
def test_every_embedded_run_override_is_a_key_of_the_right_type(config_file):
    """The `synthetic` overrides go through `--set`'s checks when a task runs without --data; a float
    where the key takes an int (optim.warmup_epochs=1.0) would stop the default run at its first line."""
    import importlib

    from jaxres.config import defaults
    from jaxres.config import get_path, synthetic_overrides

    config = defaults.complete(importlib.import_module(f"configs.{config_file}").get_config())
    overrides = synthetic_overrides(config)
    applied = apply_overrides(config, [f"{k}={v!r}" for k, v in overrides.items()])
    assert all(get_path(applied, key) == value for key, value in overrides.items())
