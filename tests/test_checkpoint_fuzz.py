"""Hostile model files: every damaged header, metadata and shape a loader can meet, fed to `load_checkpoint` in a
subprocess with a memory cap and a time limit. Each must load (then run a step) or be refused in one line naming
the file; never a traceback, never a hang, never gigabytes."""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.checkpoint_checks import state_shapes
from engine.config import TRMConfig
from engine.hrm import HRM, HRMConfig
from engine.model import TRM
from engine.puzzles import sudoku
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)

ROOT = Path(__file__).resolve().parents[1]
ENC = sudoku.encoding(4)
HOSTILE_VALUES = [10**9, 10**10, 10**30, 2**63, -(2**63), 8000, 3000, 0, -1, -5, 1e9, 1e300, 1.5, math.nan, math.inf,
                  -math.inf, "abc", "", "9", "x" * 5000, None, True, False, [], {}, [1, 2], {"a": 1}]
DEEP = "[" * 100_000 + "]" * 100_000


def bases() -> dict[str, TRM]:
    """Small valid models covering both mixers and every position encoding."""
    common = dict(vocab_size=ENC.vocab_size, seq_len=ENC.seq_len, hidden_size=16, num_heads=2, H_cycles=2,
                  L_cycles=2, halt_max_steps=4)
    torch.manual_seed(0)
    return {
        "mlp": TRM(TRMConfig(**common, mixer="mlp", pos_encodings="none", puzzle_emb_ndim=16, puzzle_emb_len=1,
                             num_puzzle_identifiers=3)),
        "rope": TRM(TRMConfig(**common)),
        "learned": TRM(TRMConfig(**common, pos_encodings="learned")),
        "relative2d": TRM(TRMConfig(**common, pos_encodings="relative2d")),
    }


def split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(header, body: bytes, *, raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def with_meta(header: dict, **meta) -> dict:
    return dict(header, __metadata__=dict(header["__metadata__"], **meta))


def mutations(base: bytes, rng: random.Random):
    """(family, bytes) for every hostile variant of one valid checkpoint."""
    header, body = split(base)
    config = json.loads(header["__metadata__"]["config"])
    puzzle = json.loads(header["__metadata__"]["puzzle"])
    for f in fields(TRMConfig):  # every config field, hostile values drawn at random
        for value in rng.sample(HOSTILE_VALUES, 5):
            yield "config field", join(with_meta(header, config=json.dumps(config | {f.name: value})), body)
        missing = {k: v for k, v in config.items() if k != f.name}
        yield "config field", join(with_meta(header, config=json.dumps(missing)), body)
    for text in ("", "not json", "[]", "7", '"x"', "null", DEEP, "{" * 5000, json.dumps(config)[:-3],
                 json.dumps(config | {"surprise": 1}), json.dumps([config]), '{"vocab_size": 6}'):
        yield "config structure", join(with_meta(header, config=text), body)
    for key in puzzle:
        for value in rng.sample(HOSTILE_VALUES, 4):
            yield "puzzle metadata", join(with_meta(header, puzzle=json.dumps(puzzle | {key: value})), body)
    for text in ("", "[]", DEEP, "null", json.dumps(sudoku.encoding(9).to_dict())):
        yield "puzzle metadata", join(with_meta(header, puzzle=text), body)
    for key in ("format", "training"):
        for text in ("", "[]", DEEP, "null", "trm-lab/2", "x" * 100_000):
            yield "format/training metadata", join(with_meta(header, **{key: text}), body)
        meta = {k: v for k, v in header["__metadata__"].items() if k != key}
        yield "format/training metadata", join(dict(header, __metadata__=meta), body)
    for value in ([], "text", 7, None, {"format": 7}, {"config": ["a"]}, [["format", "trm-lab/1"]]):
        yield "header __metadata__", join(dict(header, __metadata__=value), body)
    for raw in (b"", b"[]", b"null", b"{", DEEP.encode(), b"\xff\xfe" * 10, b'{"a": {"dtype": "F32"}}'):
        yield "header JSON", join(None, body, raw=raw)
    names = [n for n in header if n != "__metadata__"]
    for name in names:  # one tensor entry at a time
        info = header[name]
        entry_variants = [
            info | {"dtype": "F33"}, info | {"dtype": None}, info | {"shape": [-1]}, info | {"shape": [10**12, 10**12]},
            info | {"shape": "big"}, info | {"shape": [1.5]}, info | {"shape": [[1]]},
            info | {"data_offsets": [0, 10**15]}, info | {"data_offsets": [8, 0]}, info | {"data_offsets": [-8, 0]},
            info | {"data_offsets": "x"}, info | {"data_offsets": [0]}, "not an entry", None,
        ]
        for variant in rng.sample(entry_variants, 3):
            yield "tensor entry", join(dict(header, **{name: variant}), body)
        if len(info["shape"]) == 2 and info["shape"][0] != info["shape"][1]:  # same bytes, transposed shape
            yield "tensor shape", join(dict(header, **{name: info | {"shape": info["shape"][::-1]}}), body)
        if len(info["shape"]) >= 1:  # same bytes, flattened
            flat = [math.prod(info["shape"])]
            if flat != info["shape"]:
                yield "tensor shape", join(dict(header, **{name: info | {"shape": flat}}), body)
        yield "tensor shape", join({k: v for k, v in header.items() if k != name}, body)  # tensor missing
        yield "tensor shape", join(dict(header, **{"renamed." + name: info}), body)  # an extra tensor
    for _ in range(20):  # the length field
        n = rng.choice([0, 1, 7, len(base), len(base) - 7, 2**63, 2**64 - 1, rng.randrange(2**64),
                        rng.randrange(len(base))])
        yield "length field", struct.pack("<Q", n) + base[8:]
    for _ in range(25):  # cut anywhere
        yield "truncated", base[: rng.randrange(len(base))]
    n_header = struct.unpack("<Q", base[:8])[0]
    for _ in range(60):  # random bytes flipped in the header
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, 8 + n_header)] = rng.randrange(256)
        yield "header bytes", bytes(data)
    for _ in range(10):  # NaN or infinity in the weights
        data = bytearray(base)
        at = 8 + n_header + 4 * rng.randrange((len(base) - 8 - n_header) // 4)
        data[at : at + 4] = struct.pack("<f", rng.choice([math.nan, math.inf, -math.inf]))
        yield "non-finite weights", bytes(data)


def test_state_shapes_match_the_model_for_every_layout():
    wide = TRMConfig(vocab_size=12, seq_len=900, hidden_size=96, num_heads=4, expansion=2.5, L_layers=3,
                     puzzle_emb_ndim=200, puzzle_emb_len=0, mixer="mlp", pos_encodings="learned")
    hrm = [HRMConfig(vocab_size=11, seq_len=81, hidden_size=32, num_heads=4, H_layers=2, L_layers=3,
                     puzzle_emb_ndim=40, num_puzzle_identifiers=5, pos_encodings=pe) for pe in ("rope", "learned")]
    windowed = TRMConfig(vocab_size=6, seq_len=49, hidden_size=16, num_heads=2, pos_encodings="relative2d",
                         attention_window=5)
    for model in [*bases().values(), TRM(wide), TRM(windowed), *map(HRM, hrm)]:
        assert state_shapes(model.cfg) == {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.timeout(300)
def test_a_thousand_hostile_model_files_are_refused_in_one_line(tmp_path):
    rng = random.Random(18)
    paths, families = [], {}
    for base_name, model in bases().items():
        clean = save_checkpoint(tmp_path / f"{base_name}.safetensors", model, encoding=ENC, training={"steps": 1})
        for i, (family, data) in enumerate(mutations(clean.read_bytes(), rng)):
            path = tmp_path / f"{base_name}-{i}.safetensors"
            path.write_bytes(data)
            paths.append(str(path))
            families[str(path)] = family
    assert len(paths) >= 1000
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "load_hostile.py"), "--mem-mb", "512",
                           "--seconds", "5"], input="\n".join(paths), capture_output=True, text=True, timeout=280,
                          cwd=ROOT)
    elapsed = time.monotonic() - started
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(results) == len(paths), proc.stderr[-2000:]
    outcomes = Counter(r["outcome"] for r in results)
    by_family = Counter((families[r["file"]], r["outcome"]) for r in results)
    print(f"{len(paths)} files in {elapsed:.1f} s: {dict(outcomes)}")
    for (family, outcome), count in sorted(by_family.items()):
        print(f"  {family:26} {outcome:9} {count}")
    bad = [r for r in results if r["outcome"] in ("traceback", "hang")]
    assert not bad, bad[:10]
    for r in results:
        if r["outcome"] == "refused":
            assert r["message"].startswith(r["file"] + ":") and "\n" not in r["message"], r
            assert len(r["message"]) < 400, r
    refused_families = {families[r["file"]] for r in results if r["outcome"] == "refused"}
    assert {"config field", "tensor shape", "non-finite weights", "length field"} <= refused_families
