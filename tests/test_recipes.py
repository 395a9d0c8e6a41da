"""The small-data recipes: weight decay only on kernels, EMA saved/resumed/evaluated, the original
recipes kept exactly one `--config` away."""


import jax
import jax.numpy as jnp
import numpy as np
import optax

import train_helpers as H
from configs import bbox, bbox_original, signs, signs_original
from jaxres import models
from jaxres.config import defaults
from jaxres.train.restore import _restore_variables
from jaxres.train.workdir import checkpoint_dir
from jaxres.train import ema, loop, optim, steps
from jaxres.train import state as state_lib


def test_decay_mask_takes_only_conv_and_dense_kernels_of_a_real_resnet():
    for arch, head in (("resnet18", {}), ("resnet50", {"head": "mlp", "hidden": 8})):
        model = models.create(arch, num_outputs=3, **head)
        params = jax.eval_shape(lambda: models.init(model, 0, 32))["params"]
        leaves = jax.tree_util.tree_flatten_with_path(optim.decay_mask(params))[0]
        shapes = dict(jax.tree_util.tree_flatten_with_path(params)[0])
        for path, decayed in leaves:
            names = [str(getattr(k, "key", k)) for k in path]
            is_kernel = names[-1] == "kernel" and len(shapes[path].shape) in (2, 4)
            assert decayed == is_kernel, names
            if any(n.startswith("bn") or n == "downsample_bn" for n in names) or names[-1] in ("bias", "scale"):
                assert not decayed, names
        assert sum(d for _, d in leaves) > 0


def test_adamw_leaves_norms_and_biases_alone_with_zero_gradients():
    """Only decoupled decay moves anything when the gradient is 0: kernels shrink, the rest stays."""
    params = {"conv1": {"kernel": jnp.ones((3, 3, 1, 2))}, "bn1": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
              "fc": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}}
    tx = optim.make_optimizer({"name": "adamw", "lr": 0.1, "weight_decay": 0.5}, steps_per_epoch=1).tx
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["conv1"]["kernel"], 0.95)
    np.testing.assert_allclose(new["fc"]["kernel"], 0.95)
    for leaf in (new["bn1"]["scale"], new["bn1"]["bias"], new["fc"]["bias"]):
        np.testing.assert_array_equal(leaf, 1.0)


def test_signs_original_is_the_course_recipe_key_for_key():
    config = signs_original.get_config()
    assert config["model"] == {"arch": "resnet50", "weights": "none", "dtype": "auto", "head_options": {},
                               "zero_init_residual": False}
    assert config["objective"]["image_size"] == 64 and config["objective"]["resize_ratio"] == 1.0
    assert config["objective"]["augment"] == {"rrc_scale": [0.7, 1.0], "flip_prob": 0.0, "jitter": None,
                                              "rotate": None, "scale": None, "translate": None}
    assert config["objective"]["label_smoothing"] == 0.0
    assert config["train"]["epochs"] == 20 and config["train"]["batch_size"] == 32
    assert config["optim"] == {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant",
                               "warmup_epochs": 0, "ema_epochs": 0.0}
    assert config["checkpoint"] == {"keep": 2, "best_metric": "top1", "best_mode": "max"}
    assert config["synthetic"]["overrides"] == {"model.arch": "resnet18", "objective.image_size": 48,
                                                "train.epochs": 8}
    assert signs.get_config()["optim"] != config["optim"]  # the default is the new recipe


def test_bbox_original_is_the_original_recipe_key_for_key():
    config = bbox_original.get_config()
    assert config["model"]["arch"] == "resnet50" and config["model"]["weights"] == "none"
    assert defaults.complete(config)["model"]["head_init"] == "default"  # torch's, not the default's start
    assert config["objective"]["augment"] == {"flip_prob": 0.5, "scale": 0.1, "translate": 0.05, "jitter": 0.2}
    assert config["objective"]["loss"] == "smooth_l1" and config["objective"]["loss_options"] == {"beta": 0.05}
    assert config["train"]["epochs"] == 30 and config["train"]["batch_size"] == 32
    assert config["optim"] == {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "cosine",
                               "warmup_epochs": 0, "ema_epochs": 0.0}
    assert config["checkpoint"] == {"keep": 2, "best_metric": "mean_iou", "best_mode": "max"}
    assert config["synthetic"]["overrides"] == {"model.arch": "resnet18", "objective.image_size": 48,
                                                "train.epochs": 16, "train.batch_size": 16}
    assert bbox.get_config()["optim"] != config["optim"]


def test_ema_decay_and_update():
    assert ema.decay_per_step(0, 10) == 0.0
    np.testing.assert_allclose(ema.decay_per_step(2, 5), np.exp(-0.1))
    average = ema.update({"w": jnp.zeros(2)}, {"w": jnp.ones(2)}, jnp.int32(0), 0.99)
    np.testing.assert_allclose(average["w"], 0.9)  # early steps follow: min(0.99, 1/10)


EMA_DECAY = 0.5


def _ema_run(workdir, epochs):
    model, variables = H.model_and_variables()
    opt = H.optimizer("staged", H.SPE, H.EPOCHS)
    state = state_lib.create(variables, opt.tx, 0, H.mesh(), ema=True)
    step = _ema_step()
    config = {**H.RUN_CONFIG, "train": {**H.RUN_CONFIG["train"], "epochs": epochs}}
    return loop.fit(state, step, H.batch_source(H.dataset(H.SPE * H.BATCH), H.BATCH, H.mesh()),
                    steps_per_epoch=H.SPE, config=config, workdir=workdir, frozen_at_epoch=opt.frozen_at_epoch,
                    evaluate=H.fake_top1)


_STEP = []


def _ema_step():
    if not _STEP:
        model, _ = H.model_and_variables()
        tx = H.optimizer("staged", H.SPE, H.EPOCHS).tx
        _STEP.append(steps.make_train_step(model, H.cross_entropy, tx, mesh=H.mesh(), ema_decay=EMA_DECAY))
    return _STEP[0]


def test_ema_is_saved_resumed_bit_exactly_and_is_what_evaluation_loads(tmp_path):
    whole = _ema_run(tmp_path / "whole", H.EPOCHS)
    assert _ema_run(tmp_path / "split", 1).step == H.SPE
    resumed = _ema_run(tmp_path / "split", H.EPOCHS)
    assert resumed.step == whole.step == H.SPE * H.EPOCHS
    assert H.tree_equal(resumed.state.ema, whole.state.ema)  # bit for bit
    assert H.tree_equal(resumed.state, whole.state)
    assert not H.tree_equal(whole.state.ema["params"], whole.state.params)  # a real average
    assert whole.state.variables() is whole.state.ema  # what validation and the eval step apply
    # eval / predict / export load the checkpoint through `_restore_variables`: the EMA comes back
    saved = _restore_variables(checkpoint_dir(tmp_path / "whole") / str(whole.step) / "state")
    assert H.tree_equal(saved, jax.device_get(whole.state.ema))


def test_a_state_without_ema_evaluates_its_params():
    _, variables = H.model_and_variables()
    state = state_lib.create(variables, optax.sgd(0.1), 0)
    assert state.ema is None and H.tree_equal(state.variables(), state.live_variables())


def test_classification_affine_is_applied_after_the_crop_on_the_device():
    """A whole-image crop, then the random rotation and zoom drawn from the example's key: the device
    output matches the host warp of the original through the same matrix."""
    from test_device_augment import OUT, _Frames

    from jaxres import objectives
    from jaxres.data import affine, device_augment, framing
    from jaxres.data.records import Record

    augment = {"rrc_scale": [1.0, 1.0], "rrc_ratio": [1.0, 1.0], "flip_prob": 0.0, "jitter": None,
               "rotate": 30.0, "scale": [1.2, 1.2], "translate": 0.1}
    objective = objectives.create({"kind": "classification", "image_size": OUT, "resize_ratio": 1.0,
                                   "augment": augment})
    assert objective.frame_spec().side == framing.classification_side(OUT, 1.0, 1.0, 1.2) > OUT
    ys, xs = np.mgrid[0:OUT, 0:OUT]
    image = np.stack([xs * 5, ys * 5, (xs + ys) * 2], -1).astype(np.uint8)
    record = Record(image, "x", label=0)
    frames = _Frames(objective, [record])
    arrays = objective.host_arrays([record], frames.sizes, train=True)
    example = {k: jnp.asarray(v[0]) for k, v in arrays.items()}
    example["image"] = jnp.asarray(frames.pixels[0])
    key = jax.random.key(3)
    out = np.asarray(objective.device_example(example, key, True)["image"])
    matrix = device_augment.random_affine(jax.random.split(key, 4)[3], OUT, 30.0, (1.2, 1.2), 0.1)
    expected = affine.warp_image(image, np.asarray(matrix), OUT).astype(np.float32)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(out - expected)[inner].mean() < 4.0
    assert np.abs(out - image.astype(np.float32))[inner].mean() > 5.0  # it did move
