"""Checks on what a checkpoint declares, made before anything is built from it.

A model file states its sizes twice: in the `config` metadata and in the tensor shapes of its safetensors header.
Building a model from the metadata alone lets a 1 MB file ask for gigabytes (hidden_size 8000) or for a loop that
never ends (halt_max_steps 1e9), so the config is checked field by field against sane bounds, then against the
header's shapes (no tensor is read or allocated), and only then is a model built. Every refusal is one line naming
the file and the field.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from engine.config import TRMConfig
from engine.hrm import HRMConfig
from engine.model import swiglu_width

# Inclusive bounds per config field, far above every published TRM/HRM configuration (hidden 512, T=3, n=6,
# 2 layers, 16 steps, 30x30 grids, about a million ARC puzzle identifiers): anything beyond is a damaged or
# hostile file, not a model. Fields not listed get DEFAULT_INT / any finite float.
LIMITS: dict[str, tuple[float, float]] = {
    "vocab_size": (1, 1024),
    "seq_len": (1, 4096),
    "hidden_size": (1, 4096),
    "num_heads": (1, 256),
    "expansion": (0.0625, 64),
    "L_layers": (1, 64),
    "H_layers": (1, 64),
    "H_cycles": (1, 64),
    "L_cycles": (1, 64),
    "halt_max_steps": (1, 1024),
    "halt_exploration_prob": (0, 1),
    "puzzle_emb_ndim": (0, 4096),
    "puzzle_emb_len": (0, 1024),
    "num_puzzle_identifiers": (1, 10_000_000),
    "rms_norm_eps": (1e-12, 1),
    "rope_theta": (1, 1e12),
}
DEFAULT_INT = (0, 1_000_000)
MAX_STRING = 64
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
MAX_DIMS = 8


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n[:60]) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def dataclass_from_fields(data, cls: type, where: str):
    """`cls(**data)` (a config or another dataclass of plain fields) after checking every field's type and bounds;
    CheckpointError naming `where` and the field."""
    from engine.checkpoint import CheckpointError

    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: expected a JSON object of fields, found {type(data).__name__}")
    hints = _type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(str(k)[:40] for k in data if k not in known)
    if unknown:
        raise CheckpointError(f"{where}: unknown field(s) {', '.join(unknown[:5])}")
    for name, f in known.items():
        if name not in data and f.default is MISSING and f.default_factory is MISSING:
            raise CheckpointError(f"{where}: lacks the field {name!r}")
    for name, value in data.items():
        problem = _field_problem(name, value, hints[name])
        if problem:
            raise CheckpointError(f"{where}: {name} {problem}")
    try:
        return cls(**data)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


@functools.cache
def _type_hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _field_problem(name: str, value, hint) -> str | None:
    """Why `value` cannot be field `name` (of type `hint`), or None."""
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        return None if value in choices and isinstance(value, str) else \
            f"is {_show(value)}, expected one of {', '.join(map(str, choices))}"
    if hint is bool:
        return None if isinstance(value, bool) else f"is {_show(value)}, expected true or false"
    if hint is str:
        if not isinstance(value, str):
            return f"is {_show(value)}, expected a string"
        return None if len(value) <= MAX_STRING else f"is a {len(value)}-character string"
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"is {_show(value)}, expected a whole number"
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"is {_show(value)}, expected a number"
        if not math.isfinite(value):
            return f"is {_show(value)}, expected a finite number"
    else:
        return None  # a field kind this check does not know: the config's own validation decides
    lo, hi = LIMITS.get(name, DEFAULT_INT if hint is int else (-math.inf, math.inf))
    if not lo <= value <= hi:
        return f"is {_show(value)}, outside the accepted {lo:g}..{hi:g}"
    return None


def tensor_shapes(header: dict, where: str) -> dict[str, tuple[int, ...]]:
    """{name: shape} of a safetensors header, after checking each entry is well formed and its byte range matches
    its dtype and shape (so a header cannot declare a tensor larger than the bytes it points at)."""
    from engine.checkpoint import CheckpointError

    shapes = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        bad = f"{where}: malformed safetensors entry for tensor {str(name)[:60]!r}"
        if not isinstance(info, dict):
            raise CheckpointError(bad)
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise CheckpointError(f"{bad}: unknown dtype {_show(dtype)}")
        if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)):
            raise CheckpointError(f"{bad}: shape {_show(shape)}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            raise CheckpointError(f"{bad}: data_offsets {_show(offsets)}")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise CheckpointError(f"{bad}: {offsets[1] - offsets[0]} bytes for a {dtype} tensor of shape {shape}")
        shapes[name] = tuple(shape)
    return shapes


def _block_shapes(prefix: str, cfg) -> dict[str, tuple[int, ...]]:
    """One post-norm block (engine.model.Block): token mixing, then a channel SwiGLU."""
    D, inter = cfg.hidden_size, swiglu_width(cfg.hidden_size, cfg.expansion)
    if cfg.mixer == "mlp":
        inter_t = swiglu_width(cfg.total_len, cfg.expansion)
        shapes = {prefix + "mlp_t.gate_up_proj.weight": (2 * inter_t, cfg.total_len),
                  prefix + "mlp_t.down_proj.weight": (cfg.total_len, inter_t)}
    else:
        shapes = {prefix + "self_attn.qkv_proj.weight": (3 * D, D), prefix + "self_attn.o_proj.weight": (D, D)}
    return shapes | {prefix + "mlp.gate_up_proj.weight": (2 * inter, D), prefix + "mlp.down_proj.weight": (D, inter)}


def state_shapes(cfg: TRMConfig | HRMConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in the state dict of the model `cfg` describes, computed without building it
    (building first is what let a small file allocate gigabytes; tests keep the two in step for every layout)."""
    D, V = cfg.hidden_size, cfg.vocab_size
    hrm = isinstance(cfg, HRMConfig)
    initial = ("H_init", "L_init") if hrm else ("y_init", "z_init")
    shapes: dict[str, tuple[int, ...]] = {initial[0]: (D,), initial[1]: (D,), "embed_tokens.weight": (V, D)}
    if cfg.puzzle_emb_ndim > 0:
        shapes["puzzle_emb.weight"] = (cfg.num_puzzle_identifiers, cfg.puzzle_emb_ndim)
    if cfg.pos_encodings == "learned":
        shapes["embed_pos.weight"] = (cfg.total_len, D)
    if cfg.pos_encodings == "relative2d":
        side = cfg.attention_window or 2 * cfg.grid_side - 1
        shapes["relative_bias.table"] = (cfg.num_heads, side ** 2)
    levels = (("H_level.", cfg.H_layers), ("L_level.", cfg.L_layers)) if hrm else (("net.", cfg.L_layers),)
    for level, layers in levels:
        for i in range(layers):
            shapes.update(_block_shapes(f"{level}layers.{i}.", cfg))
    return shapes | {"lm_head.weight": (V, D), "q_head.weight": (2, D), "q_head.bias": (2,)}


def check_shapes(cfg, shapes: dict[str, tuple[int, ...]], where: str | Path) -> None:
    """The tensors a model of `cfg` needs are exactly `shapes` (names and sizes), else one CheckpointError."""
    from engine.checkpoint import CheckpointError

    expected = state_shapes(cfg)
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing:
        raise CheckpointError(f"{where}: missing tensors {_names(missing)} (the config needs them)")
    if unexpected:
        raise CheckpointError(f"{where}: unexpected tensors {_names(unexpected)} (not in the configured "
                              "model)")
    for name, shape in expected.items():
        if tuple(shapes[name]) != shape:
            raise CheckpointError(f"{where}: tensor {name!r} has shape {list(shapes[name])}, the config needs "
                                  f"{list(shape)}")
