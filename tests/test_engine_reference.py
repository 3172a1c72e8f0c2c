"""Importing a reference (SamsungSAILMontreal/TinyRecursiveModels) checkpoint gives the reference's logits.

`reference_forward` below is an independent re-statement of the reference forward pass (models/layers.py,
models/recursive_reasoning/trm.py), written from reading it and working directly on a reference-format state dict:
explicit matrix products, its transpose-based mlp_t, its [B, S, H, D] RoPE and a hand-written attention.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.checkpoint import CheckpointError, load_checkpoint
from engine.inference import SolveOptions, solve_steps
from engine.puzzles import sudoku
from engine.reference import import_reference, parse_yaml
from tests.reference_ops import attention, embed, rms, rope_tables, swiglu
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trm_lab.cli import main

P = "_orig_mod.model.inner."

YAML = """arch:
  H_cycles: 2
  H_layers: 0
  L_cycles: 2
  L_layers: 2
  expansion: 4
  forward_dtype: bfloat16
  halt_exploration_prob: 0.1
  halt_max_steps: 16
  hidden_size: 64
  loss:
    loss_type: stablemax_cross_entropy
    name: losses@ACTLossHead
  mlp_t: {mlp_t}
  name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
  no_ACT_continue: true
  num_heads: 4
  pos_encodings: {pos}
  puzzle_emb_len: {emb_len}  # 0 = ceil(ndim / hidden)
  puzzle_emb_ndim: 64
beta1: 0.9
beta2: 0.95
checkpoint_every_eval: true
checkpoint_path: checkpoints/Sudoku-extreme-1k-aug-1000-ACT-torch/pretrain_mlp_t_sudoku
data_paths:
- data/sudoku-extreme-1k-aug-1000
data_paths_test: []
ema: true
ema_rate: 0.999
epochs: 50000
eval_interval: 5000
eval_save_outputs: []
evaluators: []
freeze_weights: false
global_batch_size: 768
load_checkpoint: null
lr: 0.0001
lr_min_ratio: 1.0
lr_warmup_steps: 2000
min_eval_interval: 0
project_name: Sudoku-extreme-1k-aug-1000-ACT-torch
puzzle_emb_lr: 0.0001
puzzle_emb_weight_decay: 1.0
run_name: pretrain_mlp_t_sudoku
seed: 0
weight_decay: 1.0
"""

CASES = {  # name: (mlp_t, pos_encodings, puzzle_emb_len)
    "attention-rope": (False, "rope", 16),
    "mlp_t": (True, "none", 16),
    "attention-learned": (False, "learned", 0),
}
VOCAB, SEQ, D, HEADS, NUM_IDS = 11, 81, 64, 4, 3


def swiglu_inter(dim: int) -> int:
    return -(round(4 * dim * 2 / 3) // -256) * 256


def make_reference_state(mlp_t: bool, pos: str, emb_len: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=None):
        std = std if std is not None else 1 / math.sqrt(shape[-1])
        return torch.randn(*shape, generator=g) * std

    prefix = emb_len or 1
    length = SEQ + prefix
    sd = {
        P + "embed_tokens.embedding_weight": rnd(VOCAB, D, std=1 / math.sqrt(D)),
        P + "lm_head.weight": rnd(VOCAB, D),
        P + "q_head.weight": rnd(2, D),
        P + "q_head.bias": rnd(2, std=0.5),
        P + "puzzle_emb.weights": rnd(NUM_IDS, 64, std=0.5),
        P + "H_init": rnd(D, std=1.0).bfloat16(),  # the reference keeps these in forward_dtype
        P + "L_init": rnd(D, std=1.0).bfloat16(),
    }
    if pos == "learned":
        sd[P + "embed_pos.embedding_weight"] = rnd(length, D, std=1 / math.sqrt(D))
    for i in range(2):
        layer = f"{P}L_level.layers.{i}."
        if mlp_t:
            sd[layer + "mlp_t.gate_up_proj.weight"] = rnd(2 * swiglu_inter(length), length)
            sd[layer + "mlp_t.down_proj.weight"] = rnd(length, swiglu_inter(length))
        else:
            sd[layer + "self_attn.qkv_proj.weight"] = rnd(3 * D, D)
            sd[layer + "self_attn.o_proj.weight"] = rnd(D, D)
        sd[layer + "mlp.gate_up_proj.weight"] = rnd(2 * swiglu_inter(D), D)
        sd[layer + "mlp.down_proj.weight"] = rnd(D, swiglu_inter(D))
    return sd


def reference_forward(sd, mlp_t, pos, emb_len, inputs, puzzle_ids, steps, H=2, L=2, eps=1e-5):
    """Per supervision step: (logits, q_halt, q_continue), following the reference's evaluation loop."""
    dt = sd[P + "embed_tokens.embedding_weight"].dtype
    w = {k[len(P):]: v.to(dt) for k, v in sd.items()}
    B = inputs.shape[0]
    prefix = emb_len or 1
    x = embed(w, inputs, puzzle_ids, prefix, pos)
    S = x.shape[1]
    rope = tuple(t.to(dt) for t in rope_tables(S, D // HEADS)) if pos == "rope" else None

    def level(h, injection):
        h = h + injection
        for i in range(2):
            pre = f"L_level.layers.{i}."
            if mlp_t:
                t = h.transpose(1, 2)
                h = rms(t + swiglu(w, t, pre + "mlp_t."), eps).transpose(1, 2)
            else:
                h = rms(h + attention(w, h, pre + "self_attn.", HEADS, rope), eps)
            h = rms(h + swiglu(w, h, pre + "mlp."), eps)
        return h

    z_H = w["H_init"].expand(B, S, D)
    z_L = w["L_init"].expand(B, S, D)
    outs = []
    for _ in range(steps):
        for _h in range(H):
            for _l in range(L):
                z_L = level(z_L, z_H + x)
            z_H = level(z_H, z_L)
        logits = (z_H @ w["lm_head.weight"].T)[:, prefix:]
        q = z_H[:, 0] @ w["q_head.weight"].T + w["q_head.bias"]
        outs.append((logits, q[:, 0], q[:, 1]))
    return outs


def write_reference_checkpoint(folder: Path, case: str) -> Path:
    """The fixture: a reference-format checkpoint (`step_N`, torch.save) with all_config.yaml beside it."""
    mlp_t, pos, emb_len = CASES[case]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "all_config.yaml").write_text(YAML.format(mlp_t=str(mlp_t).lower(), pos=pos, emb_len=emb_len))
    path = folder / "step_1302"
    torch.save(make_reference_state(mlp_t, pos, emb_len), path)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_imported_reference_checkpoint_gives_the_reference_logits(tmp_path, case):
    mlp_t, pos, emb_len = CASES[case]
    pt = write_reference_checkpoint(tmp_path, case)
    loaded = import_reference(pt)
    cfg = loaded.config
    assert (cfg.mixer, cfg.pos_encodings, cfg.hidden_size, cfg.num_heads) == ("mlp" if mlp_t else "attention", pos, D,
                                                                              HEADS)
    assert (cfg.H_cycles, cfg.L_cycles, cfg.seq_len, cfg.vocab_size, cfg.num_puzzle_identifiers) == (2, 2, SEQ, VOCAB,
                                                                                                   NUM_IDS)
    assert loaded.encoding.kind == "sudoku" and loaded.training["loss"] == "stablemax_cross_entropy"

    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(1, VOCAB, (3, SEQ), generator=g)
    ids = torch.tensor([0, 2, 1])
    reference_state = make_reference_state(mlp_t, pos, emb_len)
    # float32: the first supervision step agrees to 1e-5 as computed
    (logits, q_halt, _), = reference_forward(reference_state, mlp_t, pos, emb_len, inputs, ids, 1)
    with torch.no_grad():
        y, z = loaded.model.initial_state(3)
        out = loaded.model(loaded.model.embed(inputs, ids), y, z)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.q_halt, q_halt, atol=1e-5, rtol=1e-5)
    # float64 on both sides: several steps agree to 1e-5 (float32 rounding compounds over 3 x 2 x 3 applications)
    expected = reference_forward({k: v.double() for k, v in reference_state.items()}, mlp_t, pos, emb_len, inputs,
                                 ids, 3)
    model = loaded.model.double()
    with torch.no_grad():
        x = model.embed(inputs, ids)
        y, z = model.initial_state(3)
        for logits, q_halt, q_continue in expected:
            out = model(x, y, z)
            y, z = out.y, out.z
            torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out.q_halt, q_halt.float(), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out.q_continue, q_continue.float(), atol=1e-5, rtol=1e-5)
    # and the step iterator (what the GUI and CLI read) sees the same answers
    steps = list(solve_steps(model.float(), inputs, ids, SolveOptions(max_steps=3, device="cpu")))
    for step, (logits, q_halt, _) in zip(steps, expected, strict=True):
        assert torch.equal(step.tokens, logits.argmax(-1))
        torch.testing.assert_close(step.halt_prob, torch.sigmoid(q_halt).float(), atol=1e-5, rtol=1e-5)


def test_import_checkpoint_command_writes_a_loadable_safetensors(tmp_path, capsys):
    pt = write_reference_checkpoint(tmp_path / "run", "mlp_t")
    out = tmp_path / "imported.safetensors"
    assert main(["import-checkpoint", str(pt), "-o", str(out)]) == 0
    assert "imported.safetensors: sudoku 9x9, trm mlp, hidden 64" in capsys.readouterr().err
    assert main(["import-checkpoint", str(tmp_path / "none"), "-o", str(out)]) == 2
    assert "none: no such file" in capsys.readouterr().err
    loaded = load_checkpoint(out)
    assert loaded.config.mixer == "mlp" and loaded.encoding.kind == "sudoku"
    assert loaded.training["source"] == "reference"
    inputs = torch.randint(1, VOCAB, (2, SEQ))
    ids = torch.tensor([1, 0])
    (logits, _, _), = reference_forward(make_reference_state(True, "none", 16), True, "none", 16, inputs, ids, 1)
    with torch.no_grad():
        y, z = loaded.model.initial_state(2)
        got = loaded.model(loaded.model.embed(inputs, ids), y, z).logits
    torch.testing.assert_close(got, logits, atol=1e-5, rtol=1e-5)


def test_import_errors_name_the_file_and_the_problem(tmp_path):
    pt = write_reference_checkpoint(tmp_path, "attention-rope")
    (tmp_path / "all_config.yaml").rename(tmp_path / "elsewhere.yaml")
    with pytest.raises(CheckpointError, match=r"step_1302: no all_config.yaml beside it \(pass --config\), and the "
                       r"weights do not fix H_cycles, L_cycles, num_heads, pos_encodings, puzzle_emb_len"):
        import_reference(pt)
    loaded = import_reference(pt, config_yaml=tmp_path / "elsewhere.yaml")
    assert loaded.config.pos_encodings == "rope"

    state = torch.load(pt, weights_only=True)
    del state[P + "L_level.layers.1.mlp.down_proj.weight"]
    torch.save(state, pt)
    with pytest.raises(CheckpointError, match=r"step_1302: missing tensors 'net.layers.1.mlp.down_proj.weight'"):
        import_reference(pt, config_yaml=tmp_path / "elsewhere.yaml")

    bad = tmp_path / "bad" / "step_5"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint at all")
    (bad.parent / "all_config.yaml").write_text((tmp_path / "elsewhere.yaml").read_text())
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        import_reference(bad)

    # a pickle that would run code is refused by weights_only loading
    evil = tmp_path / "bad" / "step_6"
    torch.save({"x": torch.zeros(1), "f": print}, evil)
    with pytest.raises(CheckpointError, match="step_6: refused: it asks to import print"):
        import_reference(evil)


def test_sequence_length_and_kind_come_from_the_dataset_or_the_user(tmp_path):
    pt = write_reference_checkpoint(tmp_path, "attention-rope")  # rope: the weights do not fix the length
    dataset = tmp_path / "data" / "sudoku-extreme-1k-aug-1000" / "train"
    dataset.mkdir(parents=True)
    (dataset / "dataset.json").write_text(json.dumps({"seq_len": 64, "vocab_size": 11}))
    with pytest.raises(CheckpointError, match="a 8x8 sudoku model has a vocabulary of 10, these weights have 11"):
        import_reference(pt)
    (dataset / "dataset.json").write_text(json.dumps({"seq_len": 81, "vocab_size": 11}))
    assert import_reference(pt).encoding == sudoku.encoding(9)
    with pytest.raises(CheckpointError, match="maze model has a vocabulary of 6"):
        import_reference(pt, kind="maze")


def test_yaml_subset_reads_what_yaml_dump_writes():
    cfg = parse_yaml(YAML.format(mlp_t="true", pos="none", emb_len=16)
                     + "evaluators:\n- name: arc@ARC\n  submission_K: 2\nflow: {a: 1, b: [1, 2]}\nq: 'it''s'\n")
    assert cfg["arch"]["mlp_t"] is True and cfg["arch"]["expansion"] == 4 and cfg["arch"]["puzzle_emb_len"] == 16
    assert cfg["arch"]["loss"] == {"loss_type": "stablemax_cross_entropy", "name": "losses@ACTLossHead"}
    assert cfg["data_paths"] == ["data/sudoku-extreme-1k-aug-1000"] and cfg["data_paths_test"] == []
    assert cfg["lr"] == pytest.approx(1e-4) and cfg["load_checkpoint"] is None
    assert cfg["evaluators"] == [{"name": "arc@ARC", "submission_K": 2}]
    assert cfg["flow"] == {"a": 1, "b": [1, 2]} and cfg["q"] == "it's"


def test_reference_forward_restatement_agrees_with_torch_primitives():
    """Guard the restatement itself: its hand-written attention equals torch's SDPA for the same tensors."""
    q, k, v = (torch.randn(2, 4, 5, 8) for _ in range(3))
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(8)
    torch.testing.assert_close(scores.softmax(-1) @ v, F.scaled_dot_product_attention(q, k, v))
