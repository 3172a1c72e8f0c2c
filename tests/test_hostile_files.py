"""Damaged or hostile model files met through the command line: one line naming the file and the field, exit 2."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from engine import registry
from engine.checkpoint import read_metadata, save_checkpoint
from engine.puzzles import sudoku
from tests.test_engine_support import mapping_model, single_thread  # noqa: F401  (autouse fixture)
from trm_lab.cli import main

ENC = sudoku.encoding(4)
SUDOKU = "12.4.412214.4.21\n"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """An empty bundled folder and a private lab home, so only the test's models exist."""
    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path / "bundled")
    monkeypatch.setenv("TRM_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def rewrite(src: Path, dst: Path, **meta: str) -> Path:
    """A copy of `src` with some metadata replaced (the tensors untouched)."""
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"].update(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    return dst


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("field", "value"), [("halt_max_steps", 10**9), ("H_cycles", 10**6),
                                              ("hidden_size", -5), ("hidden_size", "abc"), ("num_heads", 0),
                                              ("expansion", float("nan")), ("L_layers", 10**6)])
def test_a_hostile_config_field_is_named_before_anything_is_built(dirs, tmp_path, capsys, field, value):
    good = save_checkpoint(tmp_path / "good.safetensors", mapping_model(ENC, {1: 4}), encoding=ENC, training={})
    config = json.loads(read_metadata(good)["config"]) | {field: value}
    bad = rewrite(good, tmp_path / "bad.safetensors", config=json.dumps(config))
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, out, err = run(capsys, "solve", str(puzzles), "--model", str(bad), "--device", "cpu")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and field in err, err


@pytest.mark.parametrize("key", ["config", "puzzle", "training"])
def test_metadata_nested_100k_deep_is_refused_in_one_line(dirs, tmp_path, capsys, key):
    good = save_checkpoint(tmp_path / "good.safetensors", mapping_model(ENC, {1: 4}), encoding=ENC, training={})
    bad = rewrite(good, tmp_path / "deep.safetensors", **{key: DEEP})
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, _, err = run(capsys, "solve", str(puzzles), "--model", str(bad), "--device", "cpu")
    assert code == 2 and err.count("\n") == 1 and str(bad) in err and repr(key) in err, err


def test_a_model_with_nan_weights_refuses_to_solve(dirs, tmp_path, capsys):
    model = mapping_model(ENC, {1: 4})
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    bad = save_checkpoint(tmp_path / "nan.safetensors", model, encoding=ENC, training={})
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, out, err = run(capsys, "solve", str(puzzles), "--model", str(bad), "--device", "cpu")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and "lm_head.weight" in err and "NaN" in err, err


def test_bad_files_in_the_models_folder_are_listed_as_broken_and_skipped(dirs, tmp_path, capsys):
    user = dirs / "home" / "models"  # TRM_LAB_HOME/models: the lab's own folder
    user.mkdir(parents=True)
    assert registry.user_models_dir() == user
    good = save_checkpoint(user / "good.safetensors", mapping_model(ENC, {1: 4}), encoding=ENC, training={})
    rewrite(good, user / "deep.safetensors", config=DEEP)
    rewrite(good, user / "listed.safetensors", config=json.dumps([1, 2]))
    config = json.loads(read_metadata(good)["config"]) | {"hidden_size": 32}
    rewrite(good, user / "shapes.safetensors", config=json.dumps(config))
    (user / "junk.safetensors").write_bytes(b"junk")
    code, out, err = run(capsys, "models", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert [m["name"] for m in listing["models"]] == ["good"]
    broken = {Path(b["path"]).name: b["problem"] for b in listing["broken"]}
    assert sorted(broken) == ["deep.safetensors", "junk.safetensors", "listed.safetensors", "shapes.safetensors"]
    assert "nested too deeply" in broken["deep.safetensors"] and "hidden" not in broken["junk.safetensors"]
    assert "tensor" in broken["shapes.safetensors"]
    code, out, err = run(capsys, "models")
    assert code == 0 and "good" in out and "broken" in out and "deep.safetensors" in out
    puzzles = tmp_path / "p.txt"
    puzzles.write_text(SUDOKU)
    code, out, err = run(capsys, "solve", str(puzzles), "--json", "--steps", "1", "--device", "cpu")
    assert code == 0, err
    assert json.loads(out)["model"] == "good"
