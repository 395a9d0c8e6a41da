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


def test_every_key_a_classifier_reads_is_declared_so_set_accepts_it():
    """`objective.predict_topk` was read by predict but refused by --set: now declared in the configs."""
    import importlib

    from jaxres.config import apply_overrides

    for task in ("signs", "sketch"):
        config = importlib.import_module(f"configs.{task}").get_config()
        changed = apply_overrides(config, ["objective.predict_topk=2", "objective.predict_format=topk"])
        assert changed["objective"]["predict_topk"] == 2 and changed["objective"]["predict_format"] == "topk"
