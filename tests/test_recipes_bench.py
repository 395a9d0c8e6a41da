"""The recipes benchmark's fold selection and table, without training anything."""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the benchmarks package
from benchmarks import recipes  # noqa: E402

LABELS = np.repeat(np.arange(3), 10)


def test_a_part_of_the_folds_holds_out_what_the_whole_split_does():
    whole = {(r, f): (train.tolist(), test.tolist()) for r, f, train, test in recipes.folds(LABELS, 5, 2)}
    assert len(whole) == 10
    part = {(r, f): (train.tolist(), test.tolist())
            for r, f, train, test in recipes.folds(LABELS, 5, 2, only_repeats=[1], only_folds=[0, 3])}
    assert part == {key: whole[key] for key in ((1, 0), (1, 3))}
    for repeat in (0, 1):  # every sample held out once per repeat
        held = sorted(i for (r, _), (_, test) in whole.items() if r == repeat for i in test)
        assert held == list(range(len(LABELS)))


def test_the_table_keeps_networks_apart_and_reads_rows_without_one():
    rows = [{"set": "signs", "recipe": "default", "arch": "resnet18", "repeat": 0, "top1": 0.5, "seconds": 1},
            {"set": "signs", "recipe": "default", "arch": "resnet18", "repeat": 1, "top1": 1.0, "seconds": 3},
            {"set": "signs", "recipe": "default", "arch": "resnet50", "repeat": 0, "top1": 0.75, "seconds": 5},
            {"set": "signs", "recipe": "svm", "repeat": 0, "top1": 0.25, "seconds": 1}]
    lines = recipes.table(rows).splitlines()[2:]
    assert lines == ["| signs | default | resnet18 | 2 | 75.0 ± 25.0 | 2 |",
                     "| signs | default | resnet50 | 1 | 75.0 ± 0.0 | 5 |",
                     "| signs | svm | — | 1 | 25.0 ± 0.0 | 1 |"]
    assert recipes.table(rows, repeats=1).splitlines()[2].startswith("| signs | default | resnet18 | 1 | 50.0")


def test_a_cut_training_part_is_stratified_seeded_and_never_takes_a_held_out_image():
    labels = np.repeat(np.arange(4), 50)
    for _, fold, train, test in recipes.folds(labels, 5, 1):
        cut = recipes.subsample(train, labels, 40, fold)
        assert len(cut) == 40 and set(cut) <= set(train) and not set(cut) & set(test)
        assert np.bincount(labels[cut]).tolist() == [10, 10, 10, 10]
        assert cut.tolist() == recipes.subsample(train, labels, 40, fold).tolist()
    assert recipes.subsample(train, labels, None, 0) is train


def test_only_a_whole_digits_fold_caps_the_epochs():
    assert "train.epochs=20" in recipes.set_overrides("digits", 1198)
    assert not any(o.startswith("train.epochs") for o in recipes.set_overrides("digits", 96))
    assert recipes.set_overrides("signs", 1198) == recipes.SET_OVERRIDES["signs"]
    assert "objective.image_size=32" in recipes.set_overrides("digits", 96)
    assert "objective.image_size=64" in recipes.set_overrides("digits", 96, digits_size=64)


def test_a_development_split_scores_on_the_training_part_only():
    labels = np.repeat(np.arange(3), 45)  # 90 training images a fold: 30 of them held out, 10 a class
    for _, fold, train, test in recipes.folds(labels, 3, 1):
        kept, held = recipes.development_split(train, labels, fold)
        assert sorted([*kept, *held]) == sorted(train) and not set(kept) & set(held)
        assert not (set(kept) | set(held)) & set(test)  # the fold's held-out images are never read
        assert np.bincount(labels[held]).tolist() == [10, 10, 10] and len(kept) == 2 * len(held)
        assert held.tolist() == recipes.development_split(train, labels, fold)[1].tolist()
