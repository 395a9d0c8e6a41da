"""K (x, y) points regressed as [0, 1] coordinates of the input frame; metrics in original pixels."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxres import metrics, viz
from jaxres.data import flip_maps, framing
from jaxres.data.affine import apply_points, box_view
from jaxres.data.frame_cache import FrameSpec
from jaxres.data.images import image_size, load_image
from jaxres.data.records import Dataset, Record
from jaxres.errors import ConfigError
from jaxres.objectives import losses
from jaxres.objectives.base import Objective, record_name

# normaliser -> (short name, per-sample NME, the reference distance: NaN where the sample has none)
_NME = {"inter_ocular": ("io", metrics.nme_inter_ocular, metrics.inter_ocular),
        "inter_pupil": ("ip", metrics.nme_inter_pupil, metrics.inter_pupil)}


class KeypointObjective(Objective):
    DEFAULTS = {
        "crop": "full",  # "box": crop each record's box (with `margin`) where it has one; "full": the image
        "margin": 0.25,  # of the box's side, added on every side of a "box" crop
        "augment": {"rotate": None, "scale": None, "translate": None, "flip_prob": None, "jitter": None},
        "flip_map": None,  # which points swap under a horizontal flip: "ibug68", index pairs or a permutation
        "flip_test": False,  # predict: average each frame's points with its mirror's (needs flip_map)
        "loss": "mse",  # on [0, 1] coordinates of the input frame (jaxres.objectives.losses)
        "loss_options": {},
        "metrics": {},  # {"nme": [normalisers]}, {"pck": [fractions of the image diagonal]}
        "outline": None,  # point order of the outline drawn in pictures
    }

    output_name = "keypoints"
    takes_box = True  # the box to crop (`needs_box`) or the region to frame as a whole photo (serving.view)

    def __init__(self, options: dict, facts: dict):
        super().__init__(options, facts)
        # masked: unlabelled points (NaN, COCO visibility 0) add nothing to the loss
        self.loss_fn = losses.masked(losses.for_kind("keypoints", options["loss"], options["loss_options"]))
        self.flip_spec = options["flip_map"]
        self.num_keypoints = facts.get("num_keypoints")
        if self.num_keypoints:  # checked now, not at the first augmented example
            try:
                flip_map = _flip_map(self.flip_spec, self.num_keypoints)
                if flip_map is not None:
                    flip_maps.check_flip_map(flip_map, self.num_keypoints)
            except ConfigError as err:
                raise ConfigError(f"objective.flip_map does not fit the data's {self.num_keypoints} keypoints: "
                                  f"{err.message}") from None
        if options["flip_test"] and self.flip_spec is None:
            raise ConfigError("objective.flip_test=true needs objective.flip_map (which keypoints swap when mirrored)")

    @staticmethod
    def facts_of(train: Dataset) -> dict:
        """Its point count (unlabelled prediction inputs get as many)."""
        return {"num_keypoints": len(train.records[0].keypoints)}

    def model_options(self) -> dict:
        k = self.num_keypoints
        return {"head": "keypoints", "num_keypoints": k, "num_outputs": 2 * k}

    def _side(self) -> int:
        a = self.augment
        if self.options["crop"] == "box":
            return framing.box_crop_side(self.size, a["rotate"], a["zoom"], a["translate"])
        return framing.whole_side(self.size, a["zoom"])

    def frame_spec(self) -> FrameSpec:
        a = self.augment
        if a["flip_prob"] > 0 and self.flip_spec is None:
            raise ConfigError("objective.augment.flip_prob > 0 needs objective.flip_map (which keypoints swap "
                              "when mirrored)")
        settings = {"kind": "keypoints", "size": self.size, "crop": self.options["crop"],
                    "margin": float(self.options["margin"]), "rotate": a["rotate"], "zoom": a["zoom"],
                    "translate": a["translate"], "keep_aspect": self.keep_aspect}
        return FrameSpec(side=self._side(), channels=self.channels, settings=settings)

    def frames(self, record: Record, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """A square around the record's box where it is cropped by one, else the whole image."""
        if self.options["crop"] == "box" and record.box is not None:
            return framing.box_crop(record.box, self.size, float(self.options["margin"]), self._side(),
                                    framing.density(self.augment["zoom"]))
        return framing.whole(w, h, self.size, self.keep_aspect, self._side())

    def targets(self, records, base: np.ndarray) -> dict:
        k = int(self.num_keypoints or len(records[0].keypoints))
        points = np.stack([np.zeros((k, 2)) if r.keypoints is None else np.asarray(r.keypoints, np.float64)
                           for r in records])
        return {"keypoints": apply_points(points, base)}

    def place(self, example: dict, matrix, flipped) -> dict:
        """The points through the augmentation, relabelled by the flip map where it mirrors, in [0, 1]."""
        points = apply_points(example["keypoints"], matrix, jnp)
        flip_map = _flip_map(self.flip_spec, points.shape[0])
        if flip_map is not None and self.augment["flip_prob"] > 0:
            points = jnp.where(flipped, points[np.asarray(flip_map)], points)
        return {"keypoints": points / self.size}

    def loss(self, outputs, batch):
        return self.loss_fn(outputs, batch["keypoints"])

    # --- one photo at a time (jaxres.objectives.serving: the predictor and the exports) ----------------------

    @property
    def needs_box(self) -> bool:
        """Whether the frame is cut around a box the caller gives (a face's detector box)."""
        return self.options["crop"] == "box"

    def view(self, w, h, box, ops):
        """The evaluation frame (`frames`' base): around the box where one is given and needed."""
        if self.needs_box and box is not None:
            return box_view(box, self.size, float(self.options["margin"]), ops)
        return super().view(w, h, box, ops)

    def to_photo(self, outputs, view, ops):
        """(..., K, 2) [0, 1] frame coordinates -> the photo's pixels."""
        sx, sy, tx, ty = view
        return ops.stack([(outputs[..., 0] * self.size - tx) / sx, (outputs[..., 1] * self.size - ty) / sy], -1)

    def flip_permutation(self) -> list[int] | None:
        """The flip map as a permutation of the points (exports' metadata), None without one."""
        flip_map = _flip_map(self.flip_spec, int(self.num_keypoints))
        return None if flip_map is None else [int(i) for i in flip_map]

    def merge_flipped(self, outputs, mirrored, ops):
        """The mean of a frame's points and its mirror image's, the mirror's mapped back: x -> 1 - x,
        each point read from its flip-map partner."""
        partner = [int(i) for i in _flip_map(self.flip_spec, outputs.shape[-2])]
        back = mirrored[..., partner, :]
        return (outputs + ops.stack([1.0 - back[..., 0], back[..., 1]], -1)) / 2.0

    def evaluate(self, predictions: np.ndarray, dataset: Dataset) -> dict:
        true = np.stack([np.asarray(r.keypoints, np.float64) for r in dataset.records])
        out = {"mean_error_px": metrics.mean_point_error(predictions, true)}
        spec = self.options["metrics"]
        for norm in spec.get("nme", []):
            out.update(self._nme(norm, predictions, true, dataset, with_curve=norm == spec["nme"][0]))
        if spec.get("pck"):
            diagonals = metrics.image_diagonal(np.array([image_size(r.image) for r in dataset.records], np.float64))
            for alpha in spec["pck"]:
                out[f"pck@{alpha:g}"] = metrics.pck(predictions, true, diagonals, alpha)
        return out

    def _nme(self, norm: str, pred, true, dataset: Dataset, with_curve: bool) -> dict:
        if norm not in _NME:
            raise ConfigError(f"unknown NME normaliser {norm!r}; expected one of {sorted(_NME)}")
        short, nme, reference = _NME[norm]
        # a sample whose reference points are unlabelled has no normaliser: it is left out of the NME
        scored = np.isfinite(reference(true))
        name = f"nme_{short}"
        if not scored.any():
            return {}
        per_sample = nme(pred[scored], true[scored])
        out = {name: float(per_sample.mean())}
        if with_curve:
            out["auc@0.08"] = metrics.auc(per_sample, 0.08)
            out["fr@0.08"] = metrics.failure_rate(per_sample, 0.08)
        subsets = np.array([r.meta.get("subset", "") for r in dataset.records])[scored]
        for subset in sorted(set(subsets) - {""}):
            out[f"{name}_{subset}"] = float(per_sample[subsets == subset].mean())
        return out

    def mean_output(self, train: Dataset) -> np.ndarray:
        """A point no sampled image labels starts at the frame's centre."""
        return np.nan_to_num(super().mean_output(train), nan=0.5)

    def picture(self, record: Record, prediction: np.ndarray, canvas=None):
        """The prediction over the record's image, or over `canvas` (the photo with its other records drawn)."""
        if canvas is not None:  # a predict overlay: the whole photo, every record of it drawn on it
            return viz.draw_keypoints(canvas, pred=prediction, true=record.keypoints, outline=self.options["outline"])
        image, true = load_image(record.image, "RGB"), record.keypoints
        if record.box is not None:  # a face in a group photo: its box's region, the points moved with it
            image, offset, scale = viz.box_region(image, record.box)
            prediction = (np.asarray(prediction, np.float64) - offset) * scale
            true = None if true is None else (np.asarray(true, np.float64) - offset) * scale
        return viz.draw_keypoints(image, pred=prediction, true=true, outline=self.options["outline"])

    def table(self, dataset: Dataset, predictions: np.ndarray) -> pd.DataFrame:
        k = predictions.shape[1]
        points = {f"{axis}{i}": predictions[:, i, j] for i in range(k) for j, axis in enumerate("xy")}
        return pd.DataFrame({"image": [record_name(r) for r in dataset.records],
                             "source": [r.source for r in dataset.records], **points})


def _flip_map(spec, k: int):
    """The configured flip permutation: "ibug68", mirrored index pairs, or a full permutation."""
    if spec is None:
        return None
    if spec == "ibug68":
        return flip_maps.IBUG_68
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], (list, tuple)):
        return flip_maps.flip_map_from_pairs(spec, k)
    return np.asarray(spec)
