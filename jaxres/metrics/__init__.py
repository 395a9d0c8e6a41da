"""Evaluation metrics in numpy (exact float64 on host arrays): keypoints, boxes, classification, baselines."""

from jaxres.metrics import baselines, boxes, classification, keypoints
from jaxres.metrics.boxes import iou, mean_abs_error, mean_iou
from jaxres.metrics.classification import (accuracy, confusion_matrix, macro_f1, per_class_accuracy,
                                           precision_recall_f1, top_k_accuracy, weighted_f1)
from jaxres.metrics.keypoints import (auc, ced, failure_rate, image_diagonal, inter_ocular, inter_pupil,
                                      mean_point_error, nme, nme_inter_ocular, nme_inter_pupil, pck, point_errors)

__all__ = [
    "baselines", "boxes", "classification", "keypoints",
    "iou", "mean_iou", "mean_abs_error",
    "accuracy", "top_k_accuracy", "confusion_matrix", "per_class_accuracy", "precision_recall_f1",
    "macro_f1", "weighted_f1",
    "point_errors", "mean_point_error", "inter_ocular", "inter_pupil", "image_diagonal", "nme",
    "nme_inter_ocular", "nme_inter_pupil", "pck", "ced", "auc", "failure_rate",
]
