"""README "Add a task", proven: a task defined outside jaxres/ (tests/toy_task.py: its own
objective, reader, config and synthetic set) trains, evaluates and predicts through the shared command line."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pandas as pd
import pytest

import toy_task
from jaxres import objectives
from jaxres.cli.entry import main


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(toy_task.TASK, [str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """The toy task trained once for this module, in a cache of its own."""
    root = tmp_path_factory.mktemp("toy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXRES_CACHE", str(root / "cache"))
        rc, out, err = _run(["train", "--workdir", root / "run"])
    return root, rc, out, err


def test_a_task_with_its_own_objective_trains_evaluates_and_predicts(toy_run, tmp_path, monkeypatch):
    root, rc, out, err = toy_run
    monkeypatch.setenv("JAXRES_CACHE", str(root / "cache"))
    workdir = root / "run"
    assert rc == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["split"] == "test" and result["n"] == 16
    assert set(result) >= {"mae", "baseline"} and result["baseline"]["mae"] > 0
    assert "records decoded" in out  # through the frame cache and the device transform

    rc, out, err = _run(["eval", "--workdir", workdir])
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["mae"] == pytest.approx(result["mae"], rel=1e-5)

    # what the data decided sits beside the user's config, not in it
    config = json.loads((workdir / "config.json").read_text())
    facts = json.loads((workdir / "data_facts.json").read_text())
    assert facts == {"target": {}, "model": {"head": "linear", "num_outputs": 1}}
    assert "resolved" not in config["model"] and config["objective"]["scale"] == 10.0  # the kind's declared default

    images = root / "cache" / "data" / "dots" / "test"
    rc, out, err = _run(["predict", "--workdir", workdir, "--out", tmp_path / "pred", images / "0.png", images / "1.png"])
    assert rc == 0, err
    table = pd.read_csv(tmp_path / "pred" / "predictions.csv")
    assert list(table.columns) == ["image", "count"] and len(table) == 2


def test_a_workdir_from_before_data_facts_still_evaluates(toy_run, tmp_path, monkeypatch):
    """Workdirs written before data_facts.json kept the facts in config.json (`model.resolved`)."""
    root, rc, out, err = toy_run
    assert rc == 0, err
    monkeypatch.setenv("JAXRES_CACHE", str(root / "cache"))
    workdir = tmp_path / "run"
    shutil.copytree(root / "run", workdir)
    trained = json.loads(out.strip().splitlines()[-1])
    config = json.loads((workdir / "config.json").read_text())
    config["model"]["resolved"] = json.loads((workdir / "data_facts.json").read_text())["model"]
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "data_facts.json").unlink()
    rc, out, err = _run(["eval", "--workdir", workdir])
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["mae"] == pytest.approx(trained["mae"], rel=1e-5)


def test_its_reader_errors_name_the_file_and_row(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXRES_CACHE", str(tmp_path / "cache"))
    data = toy_task.synthesize(tmp_path / "data", toy_task.get_config())
    table = data / "train" / "counts.csv"
    table.write_text(table.read_text().replace("\n3.png,", "\n3.png,-", 1) if "\n3.png," in table.read_text()
                     else table.read_text() + "9.png,-1\n")
    rc, _, err = _run(["train", "--data", data, "--workdir", tmp_path / "run"])
    assert rc == 2 and "counts.csv:" in err and "whole number" in err


def test_a_kind_missing_part_of_the_interface_is_refused():
    class Half(objectives.Objective):
        def loss(self, outputs, batch):
            return 0.0

    with pytest.raises(TypeError, match="lacks model_options, targets, evaluate, to_photo"):
        objectives.register("half", Half)
    with pytest.raises(TypeError, match="not a subclass of jaxres.objectives.Objective"):
        objectives.register("loose", type("Loose", (), {"loss": Half.loss}))
