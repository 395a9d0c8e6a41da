"""Box regression: ResNet-50 from scratch (as the original), targets normalised per image."""


def get_config() -> dict:
    return {
        "model": {"arch": "resnet50", "weights": "none", "dtype": "auto", "head_options": {}},
        "objective": {
            "kind": "box",
            "image_size": 224,
            "channels": 3,
            "keep_aspect": True,
            "augment": {"flip_prob": 0.5, "scale": 0.1, "translate": 0.05, "jitter": 0.2},
            "loss": "smooth_l1",
            "loss_options": {"beta": 0.05},
        },
        "data": {"path": None, "images": None, "val_fraction": 0.1, "eval_split": "test", "workers": None,
                 "skip_bad": False,
                 # Image paths in the annotation file may leave its folder only when this is true.
                 "allow_absolute_paths": False},
        "train": {"epochs": 30, "batch_size": 32, "seed": 0, "log_every": 20},
        "optim": {"name": "adam", "lr": 1e-3, "schedule": "cosine"},
        "checkpoint": {"keep": 2, "best_metric": "mean_iou", "best_mode": "max"},
        # The embedded default run: ResNet-18 at 48 px with batch 16, so 16 epochs fit in a few CPU
        # minutes (mean IoU 0.65 against the mean box's 0.19; 64 px, batch 32, 10 epochs gave 0.45).
        "synthetic": {
            "generator": {"n_train": 320, "n_val": 64, "size": 128},
            "overrides": {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 16,
                          "train.batch_size": 16},
        },
    }
