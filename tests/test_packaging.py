"""Installing jaxres: no generic top-level `tasks`/`configs` in site-packages, a `jaxres` command
that works from any folder (even one with its own `configs/` package), help and the alias.

The wheel is built from the working tree's files (`git ls-files`) with the running interpreter's
setuptools and installed without dependencies into a temporary venv that sees this interpreter's
site-packages through a plain path line (so the dev install's own editable finder is not loaded).
"""

from __future__ import annotations

import os
import pathlib
import site
import subprocess
import sys
import venv
import zipfile

import pytest

from cli_helpers import REPO
from jaxres.cli import console
from jaxres.cli import entry
from jaxres.errors import UserError
from jaxres.platform import host_memory


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    tree = tmp_path_factory.mktemp("tree")
    for name in files:
        if (REPO / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes((REPO / name).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, tree],
                   check=True, capture_output=True)
    return next(out.glob("jaxres-*.whl"))


def test_the_wheel_ships_tasks_and_configs_inside_jaxres(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert {n.split("/")[0] for n in names} == {"jaxres", wheel.name.split("-py3")[0] + ".dist-info"}
    for task in console.BUILTIN:
        assert f"jaxres/tasks/{task}.py" in names and f"jaxres/configs/{task}.py" in names
    assert {"jaxres/tasks/synthetic/faces.py", "jaxres/data/synthetic/draw.py"} <= set(names)  # the demo sets
    assert "jaxres = jaxres.cli.console:main" in entry_points


def test_installed_command_runs_beside_a_users_configs_package(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    try:
        venv.create(env_dir, with_pip=False)
    except Exception as err:  # noqa: BLE001 - no venv module (some distro Pythons)
        pytest.skip(f"cannot create a venv: {err}")
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    pathlib.Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", purelib, wheel],
                   check=True, capture_output=True)
    user = tmp_path / "project"
    (user / "configs").mkdir(parents=True)
    (user / "configs" / "__init__.py").write_text("")  # the user's own `configs` package
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*argv):
        return subprocess.run([python, "-m", "jaxres", *argv], cwd=user, env=env, capture_output=True, text=True, timeout=120)

    helped = run("face", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Data: dlib's" in helped.stdout and "jaxres face export --workdir runs/face --format onnx" in helped.stdout
    found = subprocess.run([python, "-c", "import jaxres, jaxres.tasks.face as t; print(jaxres.__file__, t.face_config.__name__)"],
                           cwd=user, env=env, capture_output=True, text=True)
    assert found.stdout.split() == [f"{purelib}/jaxres/__init__.py", "jaxres.configs.face"], found.stderr
    assert "No module named 'tasks'" in subprocess.run([python, "-c", "import tasks"], cwd=user, env=env,
                                                         capture_output=True, text=True).stderr


def test_console_sets_the_arena_before_numpy(monkeypatch):
    probe = subprocess.run([sys.executable, "-c", "import sys, jaxres.cli.console; print('numpy' in sys.modules)"],
                           cwd=REPO, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"
    calls = []
    monkeypatch.setattr(host_memory, "jax_uses_cpu_only", lambda: True)
    monkeypatch.setattr(host_memory, "use_one_malloc_arena", lambda: calls.append("arena"))

    def load(name):
        calls.append(name)
        raise UserError("stop here")

    monkeypatch.setattr(console, "load_task", load)
    assert console.main(["face", "--epochs", "1"]) == 2 and calls == ["arena", "face"]
    calls.clear()
    assert console.main(["face", "eval", "--workdir", "x"]) == 2 and calls == ["face"]


def test_console_names_unknown_tasks(capsys):
    assert console.main(["nope"]) == 2 and "unknown task 'nope'; tasks: face, tshirt" in capsys.readouterr().err
    assert console.main(["--version"]) == 0 and capsys.readouterr().out.startswith("jaxres ")


def test_config_alias_and_help_show_defaults():
    assert entry.expand_config_alias(["--config.optim.lr=3e-4", "--config", "f.py", "--config.train.epochs", "5"]) == [
        "--set", "optim.lr=3e-4", "--config", "f.py", "--set", "train.epochs=5"]
    from cli_helpers import task
    from jaxres.cli import entry as cli

    args = cli.parse(task("face"), ["--config.optim.lr=3e-4", "--epochs", "2"])
    assert args.command == "train" and args.set == ["optim.lr=3e-4"] and args.epochs == 2
    text = cli.build_parser(task("face")).format_help()
    assert "Data: dlib's" in text and "examples:" in text and "--version" in text
    sub = cli.build_parser(task("face"))._subparsers._group_actions[0].choices["train"].format_help()
    assert "(default: runs/face)" in sub and "default: 30; embedded set: 16" in sub and "--config.key=value" in sub
