"""`trm-lab import-checkpoint` for every layout in the wild, each file built the way its releasing code builds it.

- HRM (sapientinc/HRM pretrain.py): `torch.save(model.state_dict(), checkpoint_path/step_N)` of the compiled loss
  head (keys `_orig_mod.model.inner.`), `all_config.yaml` beside it (yaml.dump, `data_path:` singular); the released
  checkpoints keep that layout with the weights named `checkpoint`.
- TRM reproductions that publish weights alone (alphaXiv/paper-implementations: `<task>_step_N` files on the hub,
  no yaml; their loader also strips `module.`): what the tensors fix is read, the rest must be given with --set.
- Reproductions that keep the reference's run folder (gaoxin492's: `step_N` + all_config.yaml) are the reference
  layout, tested in test_engine_reference.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint
from engine.hrm import HRM
from engine.model import TRM
from engine.reference import import_reference
from tests.test_engine_reference import make_reference_state as make_trm_state
from tests.test_engine_reference import reference_forward as reference_trm
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from tests.test_hrm import (
    HEADS,
    NUM_IDS,
    SEQ,
    VOCAB,
    D,
    inputs_and_ids,
    make_reference_state,
    reference_hrm,
    write_hrm_checkpoint,
)
from trm_lab.cli import main


def test_hrm_release_imports_and_solves_as_the_reference(tmp_path, capsys):
    ckpt = write_hrm_checkpoint(tmp_path / "HRM-checkpoint-sudoku-extreme", "rope")  # file named `checkpoint`
    out = tmp_path / "hrm-sudoku.safetensors"
    assert main(["import-checkpoint", str(ckpt), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "hrm-sudoku.safetensors: sudoku 9x9, hrm, hidden 64, H 2 layers x2, L 3 layers x3" in err
    loaded = load_checkpoint(out)
    assert isinstance(loaded.model, HRM) and loaded.training["source"] == "reference"
    assert loaded.training["data_path"] == "data/sudoku-extreme-1k-aug-1000"
    inputs, ids = inputs_and_ids()
    (logits, q_halt, q_continue, _), = reference_hrm(make_reference_state("rope", D), "rope", D, inputs, ids, 1)
    with torch.no_grad():
        y, z = loaded.model.initial_state(3)
        got = loaded.model(loaded.model.embed(inputs, ids), y, z)
    assert float((got.logits - logits).abs().max()) <= 1e-4
    assert float((got.q_continue - q_continue).abs().max()) <= 1e-4


def test_a_rope_model_without_its_dataset_asks_for_the_size(tmp_path, capsys):
    """The old importer made any vocabulary-6 RoPE checkpoint a 30x30 maze without a word; now it asks."""
    run = tmp_path / "run"
    ckpt = write_hrm_checkpoint(run, "rope", name="step_52080")
    state = torch.load(ckpt, weights_only=True)
    state["_orig_mod.model.inner.embed_tokens.embedding_weight"] = torch.randn(6, D)
    state["_orig_mod.model.inner.lm_head.weight"] = torch.randn(6, D)
    torch.save(state, ckpt)
    yaml = (run / "all_config.yaml").read_text().replace("sudoku-extreme-1k-aug-1000", "maze-30x30-hard-1k")
    (run / "all_config.yaml").write_text(yaml)
    out = tmp_path / "maze.safetensors"
    assert main(["import-checkpoint", str(ckpt), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and not out.exists()
    assert err.endswith("step_52080: a vocabulary of 6 means a 4x4 Sudoku or a maze; the weights do not fix the "
                        "sequence length and no dataset.json of data/maze-30x30-hard-1k was found: pass --kind and "
                        "--size (Sudoku 4/6/9, maze side, ARC canvas side)")
    assert main(["import-checkpoint", str(ckpt), "-o", str(out), "--kind", "maze"]) == 2
    assert "cannot tell the maze size" in capsys.readouterr().err
    assert main(["import-checkpoint", str(ckpt), "-o", str(out), "--kind", "maze", "--size", "30"]) == 0
    assert load_checkpoint(out).encoding.rows == 30 and load_checkpoint(out).config.seq_len == 900
    # with the dataset's folder reachable, its dataset.json says the length (HRM names one `data_path`)
    data = run / "data" / "maze-30x30-hard-1k" / "train"
    data.mkdir(parents=True)
    (data / "dataset.json").write_text(json.dumps({"seq_len": 400, "vocab_size": 6}))
    assert import_reference(ckpt, kind="maze").encoding.rows == 20
    with pytest.raises(CheckpointError, match="the weights take 400 tokens, a 30x30 maze has 900"):
        import_reference(ckpt, kind="maze", size=30)


@pytest.mark.parametrize("prefix", ["_orig_mod.model.inner.", "module._orig_mod.model.inner."])
def test_weights_only_trm_reproduction_asks_for_what_the_weights_do_not_fix(tmp_path, capsys, prefix):
    """alphaXiv's hub files: the reference TRM state dict, no all_config.yaml, named like `maze_hard_step_32550`."""
    state = make_trm_state(False, "rope", 16)
    path = tmp_path / "sudoku_step_32550"
    torch.save({prefix + k[len("_orig_mod.model.inner."):]: v for k, v in state.items()}, path)
    out = tmp_path / "repro.safetensors"
    assert main(["import-checkpoint", str(path), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"trm-lab import-checkpoint: {path}: no all_config.yaml beside it (pass --config), and the weights do not "
        "fix H_cycles, L_cycles, num_heads, pos_encodings, puzzle_emb_len: pass them as --set H_cycles=VALUE ...")
    sets = ["--set", "H_cycles=2", "--set", "L_cycles=2", "--set", f"num_heads={HEADS}", "--set",
            "pos_encodings=rope", "--set", "puzzle_emb_len=16"]
    assert main(["import-checkpoint", str(path), "-o", str(out), *sets]) == 0
    err = capsys.readouterr().err
    assert "sudoku 9x9, trm attention, hidden 64, T=2 n=2; not in the weights, assumed: halt_max_steps=16" in err
    loaded = load_checkpoint(out)
    assert isinstance(loaded.model, TRM) and loaded.training["assumed"]["halt_max_steps"] == 16
    inputs, ids = inputs_and_ids()
    (logits, _, _), = reference_trm(state, False, "rope", 16, inputs, ids, 1)
    with torch.no_grad():
        y, z = loaded.model.initial_state(3)
        got = loaded.model(loaded.model.embed(inputs, ids), y, z).logits
    torch.testing.assert_close(got, logits, atol=1e-5, rtol=1e-5)


def test_weights_only_hrm_and_mlp_t_read_what_the_tensors_fix(tmp_path):
    hrm = tmp_path / "hrm" / "checkpoint"
    hrm.parent.mkdir()
    torch.save(make_reference_state("learned", 96), hrm)
    loaded = import_reference(hrm, overrides={"H_cycles": 2, "L_cycles": 3, "num_heads": HEADS})
    cfg = loaded.config
    assert isinstance(loaded.model, HRM) and (cfg.H_layers, cfg.L_layers, cfg.pos_encodings) == (2, 3, "learned")
    assert (cfg.puzzle_emb_ndim, cfg.prefix_len, cfg.num_puzzle_identifiers, cfg.seq_len) == (96, 2, NUM_IDS, SEQ)
    mlp = tmp_path / "mlp" / "step_1"
    mlp.parent.mkdir()
    torch.save(make_trm_state(True, "none", 16), mlp)
    with pytest.raises(CheckpointError, match="do not fix H_cycles, L_cycles, puzzle_emb_len: pass them"):
        import_reference(mlp)
    loaded = import_reference(mlp, overrides={"H_cycles": 2, "L_cycles": 2, "puzzle_emb_len": 16})
    assert loaded.config.mixer == "mlp" and loaded.config.seq_len == SEQ and loaded.encoding.kind == "sudoku"


def test_unknown_layouts_get_one_line_naming_what_is_missing(tmp_path, capsys):
    other = tmp_path / "model.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2), "decoder.weight": torch.zeros(2, 2)}, other)
    assert main(["import-checkpoint", str(other), "-o", str(tmp_path / "o.safetensors")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"trm-lab import-checkpoint: {other}: unknown layout: no token embedding "
        "(inner.embed_tokens.embedding_weight) in the state dict")
    torch.save({"inner.embed_tokens.embedding_weight": torch.zeros(VOCAB, D)}, other)
    with pytest.raises(CheckpointError, match="unknown layout: no L_level/H_level layers among its tensors"):
        import_reference(other)
    (tmp_path / "all_config.yaml").write_text("arch:\n  name: gpt@GPT\n")
    with pytest.raises(CheckpointError, match=r"all_config.yaml: architecture 'gpt@GPT' is neither TRM nor HRM"):
        import_reference(other)
    assert main(["import-checkpoint", str(other), "-o", str(tmp_path / "o.safetensors"), "--set", "x"]) == 2
    assert "--set 'x': expected FIELD=VALUE" in capsys.readouterr().err
