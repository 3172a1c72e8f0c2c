"""Damaged or hostile model files met through the command line: one line naming the file and the field, exit 2."""

from __future__ import annotations

import json
import os
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


# ---- import-checkpoint: hostile all_config.yaml and pickles -------------------------------------------------------
def _reference(tmp_path: Path) -> Path:
    from tests.test_engine_reference import write_reference_checkpoint

    return write_reference_checkpoint(tmp_path / "run", "mlp_t")


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(  # a billion values from ten lines
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def _valid_yaml() -> str:
    from tests.test_engine_reference import YAML

    return YAML.format(mlp_t="true", pos="none", emb_len=16)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda y: "arch: " + "[" * 3000 + "]" * 3000 + "\n", "nested"),
    (lambda y: y.replace("hidden_size: 64", "hidden_size: 1000000000"), "hidden_size"),
    (lambda y: y.replace("hidden_size: 64", "hidden_size: 8000"), "hidden_size"),
    (lambda y: y.replace("hidden_size: 64", "hidden_size: big"), "hidden_size"),
    (lambda y: y.replace("num_heads: 4", "num_heads: 0"), "num_heads"),
    (lambda y: y.replace("H_cycles: 2", "H_cycles: 1000000"), "H_cycles"),
    (lambda y: LAUGHS + y.replace("data_paths:\n- data/sudoku-extreme-1k-aug-1000", "data_paths: *i"), "large"),
    (lambda y: y + "padding: " + "x" * 2_000_000 + "\n", "bytes"),
])
def test_import_checkpoint_refuses_a_hostile_yaml_in_one_line(tmp_path, capsys, change, expected):
    pt = _reference(tmp_path)
    cfg = tmp_path / "hostile.yaml"
    cfg.write_text(change(_valid_yaml()))
    code, _, err = run(capsys, "import-checkpoint", str(pt), "--config", str(cfg), "-o",
                       str(tmp_path / "out.safetensors"))
    assert code == 2 and err.count("\n") == 1 and "hostile.yaml" in err and expected in err, err
    assert not (tmp_path / "out.safetensors").exists()


def test_a_pickle_that_would_run_code_is_refused_naming_the_global(tmp_path, capsys):
    pt = _reference(tmp_path)
    torch.save({"x": torch.zeros(1), "f": os.system}, pt)
    code, _, err = run(capsys, "import-checkpoint", str(pt), "-o", str(tmp_path / "out.safetensors"))
    assert code == 2 and err.count("\n") == 1 and str(pt) in err
    assert f"{os.system.__module__}.system" in err and "refused" in err, err
    assert "weights_only" not in err and "False" not in err and "safe_globals" not in err, err
