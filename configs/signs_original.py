"""SIGNS, the course's recipe exactly: Adam 1e-3 constant, batch 32, 20 epochs, no weight decay, no EMA.

Every recipe key of `configs/signs.py` is set here, so a change to the default never changes this.
"""

from configs import signs


def get_config() -> dict:
    config = signs.get_config()
    config["model"]["zero_init_residual"] = False
    config["objective"]["augment"] = {"rrc_scale": [0.7, 1.0], "flip_prob": 0.0, "jitter": None,
                                      "rotate": None, "scale": None, "translate": None}
    config["objective"]["label_smoothing"] = 0.0
    config["train"]["epochs"] = 20
    config["train"]["batch_size"] = 32
    config["optim"] = {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant",
                       "warmup_epochs": 0, "ema_epochs": 0.0}
    config["checkpoint"] = {"keep": 2, "best_metric": "top1", "best_mode": "max"}
    config["synthetic"]["overrides"] = {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 8}
    config["synthetic"]["why"] = "a few CPU minutes: ResNet-18 at 48 px, 8 epochs"
    return config
