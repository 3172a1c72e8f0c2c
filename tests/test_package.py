"""The distribution installs: a wheel built from this tree, installed (not editable) into a fresh venv, lists the
bundled models and solves an example puzzle from its own package data, with no source tree on the path.

Offline and fast: the wheel is built without build isolation and installed without dependencies; the fresh venv
sees the test venv's third-party packages (torch, numpy, ...) through a .pth line, but not this checkout."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)


def test_wheel_installs_with_its_models_and_examples(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout on the path
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for name in ("engine", "trainers", "trm_lab", "assets"):
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                 tmp_path / "dist", source], env=env)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("trm_lab-*.whl")
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", venv]).returncode == 0
    python = venv / "bin" / "python"
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       env=env).stdout.strip())
    installed = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q",
                     wheel], env=env)
    assert installed.returncode == 0, installed.stderr
    # then third-party packages from this venv (torch, numpy, ...), after the fresh venv's own site-packages
    shared = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "shared-deps.pth").write_text("\n".join(shared) + "\n")
    trm_lab = venv / "bin" / "trm-lab"

    models = run([trm_lab, "models", "--json"], cwd=tmp_path, env=env)
    assert models.returncode == 0, models.stderr
    listing = json.loads(models.stdout)
    assert Path(listing["bundled_dir"]).is_relative_to(purelib)  # the installed copy, not this checkout
    names = {m["name"] for m in listing["models"] if m["bundled"]}
    assert {"sudoku4", "sudoku6", "sudoku9", "maze9", "maze15", "arc-base"} <= names
    cards = list(Path(listing["bundled_dir"]).glob("*.md"))
    assert len(cards) >= 6

    example = purelib / "engine" / "assets" / "puzzles" / "sudoku-4x4.txt"
    assert example.is_file()
    solved = run([trm_lab, "solve", example, "--json"], cwd=tmp_path, env=env)
    assert solved.returncode == 0, solved.stderr
    report = json.loads(solved.stdout)
    assert report["model"] == "sudoku4" and report["kind"] == "sudoku" and len(report["puzzles"]) == 3
    assert all(p["valid"] and p["correct"] for p in report["puzzles"])
    where = run([python, "-c", "import engine, trm_lab; from engine.home import EXAMPLES_DIR; "
                 "print(engine.__file__, trm_lab.__file__, EXAMPLES_DIR)"], cwd=tmp_path, env=env)
    assert str(ROOT) not in where.stdout and str(purelib) in where.stdout
    assert Path(where.stdout.split()[-1]) == example.parent  # the window's example puzzles: the installed ones
