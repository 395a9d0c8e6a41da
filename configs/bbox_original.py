"""Box regression, the original recipe exactly: Adam 1e-3 with a cosine decay, 30 epochs, batch 32,
no weight decay, no warmup, no EMA, torch's head init. Every recipe key of `configs/bbox.py` is set
here, so a change to the default never changes this."""

from configs import bbox


def get_config() -> dict:
    config = bbox.get_config()
    config["objective"]["augment"] = {"flip_prob": 0.5, "scale": 0.1, "translate": 0.05, "jitter": 0.2}
    config["objective"]["loss"] = "smooth_l1"
    config["objective"]["loss_options"] = {"beta": 0.05}
    config["model"]["head_init"] = "default"
    config["train"]["epochs"] = 30
    config["train"]["batch_size"] = 32
    config["optim"] = {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "cosine",
                       "warmup_epochs": 0, "ema_epochs": 0.0}
    config["checkpoint"] = {"keep": 2, "best_metric": "mean_iou", "best_mode": "max"}
    config["synthetic"]["overrides"] = {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 16,
                                        "train.batch_size": 16}
    config["synthetic"]["why"] = "a few CPU minutes: ResNet-18 at 48 px, batch 16, 16 epochs"
    return config
