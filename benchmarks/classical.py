"""Raw-pixel baselines for the recipes benchmark, tuned by 3-fold cross-validation on the training
part only: an RBF SVM and logistic regression for classes; the mean training box or shape and RBF
kernel ridge regression (the SVM's regression counterpart) for boxes, scored by mean IoU, and for
keypoints, scored by mean point error in pixels or, for faces, by NME (inter-ocular)."""

from __future__ import annotations

import numpy as np

CLASSES = ("svm", "logreg")
BOXES = ("mean-box", "kernel-ridge")
POINTS = ("mean-shape", "kernel-ridge")


def flat(images: np.ndarray) -> np.ndarray:
    """Raw pixels in [0, 1], one row per image."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def classify(kind: str, x_train, y_train, x_test, y_test) -> dict:
    """Held-out top-1 of an RBF SVM (`svm`) or logistic regression (`logreg`) on raw pixels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kind == "svm":
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
        d = flat(x_train).shape[1]
        grid = {"svc__C": [0.1, 1, 10, 100, 1000], "svc__gamma": [g / d for g in (0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)]}
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        grid = {"logisticregression__C": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10]}
    search = GridSearchCV(model, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=1)
    search.fit(flat(x_train), y_train)
    return {"top1": float((search.predict(flat(x_test)) == y_test).mean()), "chosen": search.best_params_}


def regress_boxes(kind: str, x_train, boxes_train, x_test, boxes_test) -> dict:
    """Held-out mean IoU of the mean training box (`mean-box`) or of RBF kernel ridge regression on
    raw pixels (`kernel-ridge`), whose alpha and gamma maximise mean IoU in the inner folds."""
    from jaxres.metrics import boxes as box_metrics

    boxes_train = np.asarray(boxes_train, np.float64)
    if kind == "mean-box":
        pred, chosen = np.repeat(boxes_train.mean(axis=0, keepdims=True), len(boxes_test), axis=0), {}
    else:
        pred, chosen = _kernel_ridge(x_train, boxes_train, x_test, lambda true, p: box_metrics.mean_iou(p, true))
    return {"mean_iou": box_metrics.mean_iou(pred, boxes_test), "chosen": chosen}


def regress_points(kind: str, x_train, points_train, x_test, points_test, metric: str = "mean_error_px") -> dict:
    """Held-out `metric` (mean point error in px, or `nme_io` for 68-point faces) of the mean training
    shape (`mean-shape`) or of RBF kernel ridge regression on raw pixels (`kernel-ridge`), whose alpha
    and gamma minimise it in the inner folds. Points are in each image's own pixels (a face's crop)."""
    from jaxres.metrics import keypoints as point_metrics

    errors = {"mean_error_px": point_metrics.mean_point_error,
              "nme_io": lambda pred, true: float(point_metrics.nme_inter_ocular(pred, true).mean())}
    error = errors[metric]
    points_train = np.asarray(points_train, np.float64)
    n, k = points_train.shape[:2]
    if kind == "mean-shape":
        pred, chosen = np.repeat(points_train.mean(axis=0, keepdims=True), len(points_test), axis=0), {}
    else:
        def score(true, p):  # higher is better for the search
            return -error(p.reshape(-1, k, 2), true.reshape(-1, k, 2))

        pred, chosen = _kernel_ridge(x_train, points_train.reshape(n, -1), x_test, score)
        pred = pred.reshape(-1, k, 2)
    return {metric: error(pred, points_test), "chosen": chosen}


def _kernel_ridge(x_train, y_train, x_test, score) -> tuple[np.ndarray, dict]:
    """(predictions for `x_test`, chosen hyper-parameters) of RBF kernel ridge regression on
    standardised raw pixels, its alpha and gamma chosen by `score(true, pred)` (higher is better) in 3
    inner folds of the training part."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardised targets: an RBF kernel far from every training image predicts the mean, not 0.
    model = TransformedTargetRegressor(make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")),
                                       transformer=StandardScaler())
    d = flat(x_train).shape[1]
    grid = {"regressor__kernelridge__alpha": [1e-4, 1e-3, 1e-2, 0.1, 1, 10],
            "regressor__kernelridge__gamma": [g / d for g in (0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)]}
    search = GridSearchCV(model, grid, cv=KFold(3, shuffle=True, random_state=0), scoring=make_scorer(score),
                          n_jobs=1)
    search.fit(flat(x_train), np.asarray(y_train, np.float64))
    return search.predict(flat(x_test)), search.best_params_
