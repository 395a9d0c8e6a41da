"""Box regression: ResNet-50 from scratch, targets normalised per image, a small-data recipe
(the original's: configs/bbox_original.py)."""


def get_config() -> dict:
    return {
        # From scratch, the head starts at the mean training box: the network learns each image's
        # offset from it instead of first unlearning a random box (README, "Recipes").
        "model": {"arch": "resnet50", "weights": "none", "dtype": "auto", "head_options": {},
                  "head_init": "mean_target"},
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
        # From scratch, regression gains from more updates (docs/BENCHMARKS.md, "Recipes on real data").
        # Batch 16: a few dozen training photos still make more than one step an epoch.
        "train": {"epochs": 50, "batch_size": 16, "seed": 0, "log_every": 20},
        "optim": {
            "name": "adamw",  # decoupled weight decay, masked off BatchNorm and biases (optim.decay_mask)
            "lr": 2e-3,  # after a warmup a from-scratch ResNet takes twice the original's rate
            "weight_decay": 0.05,  # regularises the kernels only, never norms or biases
            "schedule": "cosine",  # decays to 0: the last epochs settle the boxes' fine position
            "warmup_epochs": 1,  # from scratch, BatchNorm statistics settle before full-size steps
            "ema_epochs": 1.0,  # evaluate an average of the last ~epoch's weights: steadier boxes
        },
        "checkpoint": {"keep": 2, "best_metric": "mean_iou", "best_mode": "max"},
        # The embedded default run: ResNet-18 at 48 px with batch 16, so 24 epochs fit in a few CPU
        # minutes (the original recipe's 16 epochs: mean IoU 0.63; 64 px, batch 32, 10 epochs: 0.45).
        "synthetic": {
            "why": (
                "a few CPU minutes: ResNet-18 at 48 px, batch 16, 24 epochs (README: Default runs)"),
            "generator": {"n_train": 320, "n_val": 64, "size": 128},
            "overrides": {"model.arch": "resnet18", "objective.image_size": 48, "train.epochs": 24,
                          "train.batch_size": 16},
        },
    }
