"""SIGNS: ResNet-50 from scratch at 64×64, Adam 1e-3, batch 32, 20 epochs (the course recipe)."""


def get_config() -> dict:
    return {
        "model": {"arch": "resnet50", "weights": "none", "dtype": "auto", "head_options": {}},
        "objective": {
            "kind": "classification",
            "image_size": 64,
            "channels": 3,
            "resize_ratio": 1.0,  # the images are already 64×64: evaluate on the whole image
            "augment": {"rrc_scale": [0.7, 1.0], "flip_prob": 0.0, "jitter": None},
            "label_smoothing": 0.0,
            "topk": [1],
        },
        "data": {"path": None, "val_fraction": 0.1, "eval_split": "test", "workers": None, "skip_bad": False},
        "train": {"epochs": 20, "batch_size": 32, "seed": 0, "log_every": 10},
        "optim": {"name": "adam", "lr": 1e-3},
        "checkpoint": {"keep": 2, "best_metric": "top1", "best_mode": "max"},
        "synthetic": {
            "generator": {"n_train": 480, "n_val": 120, "size": 64},
            "overrides": {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 8},
        },
    }
