"""Box regression: ResNet-50 from scratch, targets normalised per image, a small-data recipe
(the original's: configs/bbox_original.py)."""


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
        "optim": {
            "name": "adamw",  # decoupled weight decay, masked off BatchNorm and biases (optim.decay_mask)
            "lr": 1e-3,
            "weight_decay": 0.05,  # from scratch on a few hundred images: the regulariser that matters
            "schedule": "cosine",
            "warmup_epochs": 2,  # from scratch, BatchNorm statistics settle before full-size steps
            "ema_epochs": 2.0,  # evaluate an average of the last ~2 epochs' weights: steadier boxes
        },
        "checkpoint": {"keep": 2, "best_metric": "mean_iou", "best_mode": "max"},
        # The embedded default run: ResNet-18 at 48 px with batch 16, so 16 epochs fit in a few CPU
        # minutes (mean IoU 0.65 against the mean box's 0.19; 64 px, batch 32, 10 epochs gave 0.45).
        "synthetic": {
            "generator": {"n_train": 320, "n_val": 64, "size": 128},
            "overrides": {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 16,
                          "train.batch_size": 16},
        },
    }
