"""`model.head_init="mean_target"`: a regression network starts as the mean-target baseline."""

import numpy as np
import pytest

from cli_helpers import SYNTHETIC, TINY, run
from jaxres.models.heads import start_at


@pytest.mark.parametrize("name, metric", [("bbox", "mean_iou"), ("tshirt", "mean_error_px")])
def test_a_head_started_at_the_mean_target_scores_the_mean_baseline_before_it_learns(tmp_path, name, metric):
    # lr 0: the weights never move, so the trained model is its start, judged like any other
    result = run(name, ["train", "--workdir", str(tmp_path / "run"), *TINY, *SYNTHETIC,
                        "--set", "model.head_init=mean_target", "--set", "optim.lr=0.0"])
    assert result.rc == 0, result.err
    scores = result.last_json()
    assert scores[metric] == pytest.approx(scores["baseline"][metric], rel=1e-4, abs=1e-5)
    # 32 training images in batches of 8 with a 1-epoch warmup: 4 steps, and the run says so
    assert "note: model.head_init='mean_target' with 4 warmup step(s)" in result.out


def test_torchs_head_init_is_not_the_mean_baseline(tmp_path):
    result = run("bbox", ["train", "--workdir", str(tmp_path / "run"), *TINY, *SYNTHETIC, "--set", "optim.lr=0.0",
                          "--set", "model.head_init=default"])
    assert result.rc == 0, result.err
    scores = result.last_json()
    assert abs(scores["mean_iou"] - scores["baseline"]["mean_iou"]) > 1e-3
    assert "note: model.head_init" not in result.out


@pytest.mark.parametrize("value, says", [("mean_target", "needs a regression objective"),
                                         ("zeros", "takes one of ('default', 'mean_target')")])
def test_a_head_init_the_task_cannot_take_is_refused_with_exit_2(tmp_path, value, says):
    result = run("signs", ["train", "--workdir", str(tmp_path / "run"), *TINY, *SYNTHETIC,
                           "--set", f"model.head_init={value}"])
    assert result.rc == 2 and "model.head_init" in result.err and says in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1


def test_start_at_zeroes_the_last_layers_kernel_and_sets_its_bias():
    params = {"fc_hidden": {"kernel": np.ones((3, 2)), "bias": np.ones(2)},
              "fc_out": {"kernel": np.ones((2, 4)), "bias": np.zeros(4)}}
    started = start_at(params, [[0.1, 0.2], [0.7, 0.9]])
    np.testing.assert_array_equal(started["fc_out"]["kernel"], 0)
    np.testing.assert_allclose(started["fc_out"]["bias"], [0.1, 0.2, 0.7, 0.9])
    assert started["fc_hidden"] is params["fc_hidden"]
    with pytest.raises(ValueError, match="4 outputs; the start has 2"):
        start_at(params, [0.5, 0.5])


@pytest.mark.parametrize("saved_outputs, started", [(4, False), (10, True)])
def test_a_head_the_weights_file_brings_is_kept_and_a_replaced_one_is_started(tmp_path, saved_outputs, started):
    from jaxres import models, weights
    from jaxres.train.assembly import initial_variables

    saved_model = models.create("resnet18", num_outputs=saved_outputs)
    weights.save_torchvision(models.init(saved_model, 1, image_size=32), saved_model, tmp_path / "w.safetensors")
    model = models.create("resnet18", num_outputs=4)
    config = {"model": {"arch": "resnet18", "weights": str(tmp_path / "w.safetensors"), "head_init": "mean_target"},
              "train": {"seed": 0}}
    calls = []
    loaded = initial_variables(model, config, synthetic=False, fresh_head=lambda v: calls.append(v) or v)
    assert bool(calls) is started
    if not started:  # the file's own fc, bit for bit
        saved = models.init(saved_model, 1, image_size=32)["params"]["fc"]
        np.testing.assert_array_equal(np.asarray(loaded["params"]["fc"]["bias"]), np.asarray(saved["bias"]))


def test_a_started_head_with_too_short_a_warmup_is_noted_with_the_warmup_that_suffices():
    from jaxres.train.assembly import head_start_note

    def config(name="adamw", warmup=1, head_init="mean_target"):
        return {"model": {"head_init": head_init}, "optim": {"name": name, "warmup_epochs": warmup}}

    # one step an epoch (27 photos, batch 16): a 1-epoch warmup is one step, as in the run that diverged
    note = head_start_note(config(), steps_per_epoch=1)
    assert note.startswith("note: model.head_init='mean_target' with 1 warmup step(s)")
    assert "--set optim.warmup_epochs=10 gives 10 or more" in note
    assert "optim.warmup_epochs=4 " in head_start_note(config(warmup=0), steps_per_epoch=3)
    assert head_start_note(config(), steps_per_epoch=20) is None  # the embedded runs' 20 steps
    assert head_start_note(config(head_init="default"), steps_per_epoch=1) is None
    assert head_start_note(config(name="sgd"), steps_per_epoch=1) is None  # steps in proportion to the gradient
