import json
import struct

import pytest
import torch

from engine.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    load_tensors,
    read_metadata,
    save_checkpoint,
)
from engine.config import TRMConfig
from engine.model import TRM
from engine.puzzles import sudoku
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)

ENC = sudoku.encoding(4)


def small_model(**kw) -> TRM:
    cfg = TRMConfig(vocab_size=ENC.vocab_size, seq_len=ENC.seq_len, hidden_size=32, num_heads=2, H_cycles=2,
                    L_cycles=2, puzzle_emb_ndim=32, puzzle_emb_len=2, num_puzzle_identifiers=3, **kw)
    return TRM(cfg)


def test_round_trip_keeps_weights_metadata_and_trainer_state(tmp_path):
    model = small_model(mixer="mlp", pos_encodings="none")
    path = tmp_path / "sub" / "m.safetensors"
    ema = {"ema/" + k: v + 1 for k, v in model.state_dict().items()}
    save_checkpoint(path, model, encoding=ENC, training={"steps": 12, "preset": "tiny"},
                    extra_tensors={**ema, "optimizer/step": torch.tensor(12)}, extra_metadata={"note": {"a": 1}})
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors"]  # no temp file left behind
    meta = read_metadata(path)
    assert meta["format"] == FORMAT and json.loads(meta["note"]) == {"a": 1}
    assert json.loads(meta["puzzle"]) == ENC.to_dict() and TRMConfig.from_json(meta["config"]) == model.cfg
    loaded = load_checkpoint(path)
    assert loaded.config == model.cfg and loaded.encoding == ENC and loaded.training["steps"] == 12
    assert not loaded.model.training and loaded.name == "m"
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor)
    restored = load_tensors(path, "ema/")
    assert set(restored) == set(model.state_dict())
    assert torch.equal(restored["lm_head.weight"], model.lm_head.weight + 1)
    assert int(load_tensors(path, "optimizer/")["step"]) == 12
    with pytest.raises(ValueError, match="needs a prefix"):
        save_checkpoint(path, model, encoding=ENC, training={}, extra_tensors={"step": torch.tensor(1)})


def test_every_kind_of_damage_is_named(tmp_path):
    model = small_model()
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, model, encoding=ENC, training={})
    data = good.read_bytes()

    def damaged(name, content):
        p = tmp_path / name
        p.write_bytes(content)
        return p

    with pytest.raises(CheckpointError, match=r"missing\.safetensors: no such file"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: truncated"):
        load_checkpoint(damaged("cut.safetensors", data[: len(data) - 100]))
    with pytest.raises(CheckpointError, match=r"text\.safetensors: not a safetensors file"):
        load_checkpoint(damaged("text.safetensors", b"hello, this is not a checkpoint"))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(damaged("tiny.safetensors", b"abc"))

    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])

    def rewrite(name, **meta):
        h = dict(header, __metadata__=dict(header["__metadata__"], **meta))
        raw = json.dumps(h).encode()
        raw += b" " * (-len(raw) % 8)
        return damaged(name, struct.pack("<Q", len(raw)) + raw + data[8 + n :])

    with pytest.raises(CheckpointError, match=r"v2\.safetensors: unknown checkpoint format 'trm-lab/2'"):
        load_checkpoint(rewrite("v2.safetensors", format="trm-lab/2"))
    bigger = json.loads(header["__metadata__"]["config"]) | {"hidden_size": 64}
    with pytest.raises(CheckpointError, match=r"shapes\.safetensors: tensor '.*' has shape \[.*\], the config needs"):
        load_checkpoint(rewrite("shapes.safetensors", config=json.dumps(bigger)))
    more = json.loads(header["__metadata__"]["config"]) | {"L_layers": 3}
    with pytest.raises(CheckpointError, match=r"missing tensors 'net\.layers\.2\."):
        load_checkpoint(rewrite("layers.safetensors", config=json.dumps(more)))
    fewer = json.loads(header["__metadata__"]["config"]) | {"L_layers": 1}
    with pytest.raises(CheckpointError, match=r"unexpected tensors 'net\.layers\.1\."):
        load_checkpoint(rewrite("fewer.safetensors", config=json.dumps(fewer)))
    with pytest.raises(CheckpointError, match="metadata 'config': lacks the field 'seq_len'"):
        load_checkpoint(rewrite("cfg.safetensors", config='{"vocab_size": 6}'))
    with pytest.raises(CheckpointError, match="the sudoku encoding has 81 tokens"):
        load_checkpoint(rewrite("enc.safetensors", puzzle=json.dumps(sudoku.encoding(9).to_dict())))


def test_pt_files_load_only_weights(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"inner.H_init": torch.zeros(4), "hook": print}, evil)
    (tmp_path / "all_config.yaml").write_text("arch:\n  name: recursive_reasoning.trm@X\n  hidden_size: 4\n")
    with pytest.raises(CheckpointError, match="evil.pt: refused: it asks to import print, and a checkpoint needs no"):
        load_checkpoint(evil)


def test_relative2d_model_round_trips_with_its_bias_table(tmp_path):
    model = small_model(pos_encodings="relative2d")
    with torch.no_grad():
        model.relative_bias.table.normal_()
    path = save_checkpoint(tmp_path / "rel.safetensors", model, encoding=ENC, training={})
    loaded = load_checkpoint(path).model
    assert torch.equal(loaded.relative_bias.table, model.relative_bias.table)
    x = model.embed(torch.randint(1, ENC.vocab_size, (2, ENC.seq_len)))
    y, z = model.initial_state(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, y, z).logits, model.eval()(x, y, z).logits)
