"""Face landmarks (iBUG 300-W): the original recipe, corrected (ImageNet conv1 summed to gray)."""


def get_config() -> dict:
    return {
        "model": {"arch": "resnet18", "weights": "imagenet", "dtype": "auto", "head_options": {}},
        "objective": {
            "kind": "keypoints",
            "image_size": 224,
            "channels": 1,
            "crop": "box",
            "margin": 0.25,
            "augment": {"rotate": 10.0, "scale": 0.1, "translate": 0.05, "flip_prob": 0.5, "jitter": 0.3},
            "flip_map": "ibug68",
            "loss": "mse",  # or "wing" with loss_options {"w": 0.05, "epsilon": 0.01} on [0, 1] coordinates
            "loss_options": {},
            "metrics": {"nme": ["inter_ocular", "inter_pupil"]},
            "outline": None,
        },
        "data": {"path": None, "images": None, "val_fraction": 0.1, "eval_split": "test", "workers": None,
                 "skip_bad": False,
                 # Image paths in the annotation file may leave its folder only when this is true.
                 "allow_absolute_paths": False},
        "train": {"epochs": 30, "batch_size": 64, "seed": 0, "log_every": 20},
        "optim": {"name": "adam", "lr": 1e-4},
        "checkpoint": {"keep": 2, "best_metric": "nme_io", "best_mode": "min"},
        # The embedded default run: small enough for a few CPU minutes, same code path. From random
        # weights, landmark regression needs steps more than pixels: 48 px runs ~3x faster than 64 px,
        # batch 16 doubles the updates per epoch, the cosine decay settles the noisy last epochs, and
        # L1 keeps pulling on small errors where MSE's gradient fades (NME 0.05, MSE 0.066, against
        # the mean shape's 0.17), and starting at the mean shape leaves only each face's offset to
        # learn (0.040; README, "Default runs").
        "synthetic": {
            "why": (
                "a few CPU minutes from random weights: 48 px, batch 16, lr 1e-3 with a 1-epoch warmup and "
                "cosine decay, an L1 loss, the head started at the mean shape (README: Default runs)"),
            "generator": {"n_train": 320, "n_val": 64, "size": 128},
            "overrides": {"objective.image_size": 48, "train.epochs": 16, "train.batch_size": 16,
                          "optim.lr": 1e-3, "optim.schedule": "cosine", "objective.loss": "l1",
                          "objective.augment.rotate": 5.0,
                          # the head starts at the mean shape; the warmup keeps Adam's first full-rate
                          # step from throwing its zero kernel off (README, "Recipes")
                          "model.head_init": "mean_target", "optim.warmup_epochs": 1},
        },
    }
