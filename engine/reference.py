"""Import checkpoints written by the reference codes: TRM (SamsungSAILMontreal/TinyRecursiveModels `pretrain.py`,
and the reproductions built on it) and HRM (sapientinc/HRM `pretrain.py`, its released checkpoints).

Both training scripts `torch.save` the state dict of the compiled loss head, so keys read
`_orig_mod.model.inner.<name>` (`module.` too under DataParallel), and write the run's `all_config.yaml` beside the
`step_N` files, with the architecture under `arch:` (`arch.name` says TRM or HRM). HRM's released checkpoints keep
that layout with the file named `checkpoint`; some reproductions publish the weights alone, without the yaml: then
what the tensors fix (width, depth, mixer, learned positions, puzzle embedding) is read from them and the rest must be
given (`overrides`, the CLI's `--set`), and the command says which.

The sequence length and the puzzle kind come from the caller (`kind`, `size`), the dataset's `dataset.json` when it
can be found, or the tensor shapes (learned positions, mlp_t); a vocabulary fixes the kind only where it is
unambiguous (11: Sudoku 9x9, 8: Sudoku 6x6). Anything else is asked for, never guessed.
Only `torch.load(weights_only=True)` is ever used: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from engine.architectures import build_model, describe
from engine.checkpoint import CheckpointError, LoadedModel, load_state_checked
from engine.checkpoint_checks import check_shapes, dataclass_from_fields
from engine.config import TRMConfig
from engine.hrm import HRMConfig
from engine.puzzles.base import Encoding
from engine.puzzles.kind import all_kinds, get_kind


def parse_yaml(text: str, source: str = "<yaml>") -> dict:
    """The reference's `all_config.yaml` (what `yaml.dump` writes for its pydantic config), read with PyYAML's
    safe loader; a file that is not YAML, or not a mapping, is a CheckpointError naming it."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise CheckpointError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise CheckpointError(f"{source}: nested too deeply for a config") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: expected a mapping at the top level")
    _check_extent(value, source)
    return value


MAX_YAML_BYTES = 1_000_000  # the reference's all_config.yaml is about 2 KB
MAX_YAML_VALUES = 100_000  # counted with aliases expanded: a few anchors can stand for billions of values
MAX_YAML_DEPTH = 64


def _check_extent(value, source: str) -> None:
    """Refuse a config far larger than any real one once aliases are expanded, or nested absurdly deep, before
    anything walks it (recursively, or into a checkpoint's metadata)."""
    stack, count = [(value, 0)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            raise CheckpointError(f"{source}: too large for a config (more than {MAX_YAML_VALUES:,} values once "
                                  "its aliases are expanded)")
        if depth > MAX_YAML_DEPTH:
            raise CheckpointError(f"{source}: nested too deeply for a config (more than {MAX_YAML_DEPTH} levels)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


# ---- the layouts ------------------------------------------------------------------------------------------------
PREFIXES = ("_orig_mod.", "module.", "model.", "inner.")
IGNORED = ("puzzle_emb.local_weights", "puzzle_emb.local_ids", "rotary_emb.cos_cached", "rotary_emb.sin_cached")


@dataclass(frozen=True)
class Layout:
    """How one releasing code names its tensors and its architecture."""

    arch: str  # ours: trm | hrm
    arch_name: str  # the prefix of `arch.name` in all_config.yaml
    renames: dict[str, str]  # their tensor name (after the prefixes) -> ours, by prefix
    fields: tuple[str, ...]  # arch fields of all_config.yaml our config takes as they are


COMMON_RENAMES = {
    "embed_tokens.embedding_weight": "embed_tokens.weight",
    "embed_pos.embedding_weight": "embed_pos.weight",
    "puzzle_emb.weights": "puzzle_emb.weight",
}
COMMON_FIELDS = ("hidden_size", "num_heads", "expansion", "H_cycles", "L_cycles", "halt_max_steps",
                 "halt_exploration_prob", "pos_encodings", "puzzle_emb_ndim", "rms_norm_eps", "rope_theta",
                 "forward_dtype")
TRM_LAYOUT = Layout("trm", "recursive_reasoning.trm@",
                    {**COMMON_RENAMES, "H_init": "y_init", "L_init": "z_init", "L_level.": "net."},
                    (*COMMON_FIELDS, "L_layers", "puzzle_emb_len", "no_ACT_continue"))
HRM_LAYOUT = Layout("hrm", "hrm.hrm_act_v1@", dict(COMMON_RENAMES), (*COMMON_FIELDS, "H_layers", "L_layers"))
LAYOUTS = (TRM_LAYOUT, HRM_LAYOUT)
# What the weights cannot tell, and the reference's defaults for what rarely changes (said aloud when assumed).
DEFAULTS = {"halt_max_steps": 16, "halt_exploration_prob": 0.1, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "forward_dtype": "bfloat16", "no_ACT_continue": True}


def strip_prefixes(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix) :], True
    return name


def read_state_file(pt_path: Path) -> dict[str, torch.Tensor]:
    """The state dict in a `torch.save`d file, names without wrapper prefixes (weights_only: no code runs)."""
    try:
        obj = torch.load(pt_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{pt_path}: no such file") from None
    except Exception as exc:  # pickle refusals, zip errors, truncation: all mean "not a usable checkpoint"
        refusal = _load_refusal(str(exc)) or f"not a readable PyTorch state dict ({_first_line(exc)})"
        raise CheckpointError(f"{pt_path}: {refusal}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{pt_path}: expected a state dict of tensors, found {type(obj).__name__}")
    return {strip_prefixes(str(k)): v for k, v in obj.items() if strip_prefixes(str(k)) not in IGNORED}


def _load_refusal(text: str) -> str:
    """What the weights-only unpickler refused, in our words. Torch's own message goes on to advise loading with
    weights_only=False or allow-listing the global, which is how a hostile file runs its code: never repeated."""
    if "Weights only load failed" not in text and "WeightsUnpickler" not in text:
        return ""
    found = re.search(r"GLOBAL (\S+)", text)  # "Unsupported global: GLOBAL x" or "unsupported GLOBAL x whose .."
    if found:
        return (f"refused: it asks to import {found.group(1)}, and a checkpoint needs no code to load (only tensors "
                "are read from it)")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    why = detail.group(1).strip()[:120] if detail else "not a pickle of tensors"
    return f"not a readable PyTorch state dict ({why})"


def _first_line(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def rename(state: dict[str, torch.Tensor], layout: Layout) -> dict[str, torch.Tensor]:
    out = {}
    for name, tensor in state.items():
        for theirs, ours in layout.renames.items():
            if name == theirs or (theirs.endswith(".") and name.startswith(theirs)):
                name = ours + name[len(theirs):]
                break
        out[name] = tensor
    return out


def read_reference_state(pt_path: Path, layout: Layout = TRM_LAYOUT) -> dict[str, torch.Tensor]:
    return rename(read_state_file(pt_path), layout)


def _layout_from_weights(state: dict[str, torch.Tensor], pt_path: Path) -> Layout:
    if any(k.startswith("H_level.layers.") for k in state):
        return HRM_LAYOUT
    if any(k.startswith("L_level.layers.") for k in state):
        return TRM_LAYOUT
    shown = ", ".join(sorted(state)[:3]) or "none"
    raise CheckpointError(f"{pt_path}: unknown layout: no L_level/H_level layers among its tensors ({shown}, ...)")


def _count_layers(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def _fields_from_weights(state: dict[str, torch.Tensor], layout: Layout) -> dict:
    """What the tensors fix: width, depth, the token mixer, learned positions, the puzzle embedding's width."""
    fields: dict = {"hidden_size": int(state["embed_tokens.embedding_weight"].shape[1])}
    fields["puzzle_emb_ndim"] = int(state["puzzle_emb.weights"].shape[1]) if "puzzle_emb.weights" in state else 0
    if "embed_pos.embedding_weight" in state:
        fields["pos_encodings"] = "learned"
    fields["L_layers"] = _count_layers(state, "L_level.layers.")
    if layout is HRM_LAYOUT:
        fields["H_layers"] = _count_layers(state, "H_level.layers.")
    else:
        fields["mlp_t"] = any(".mlp_t." in k for k in state)
        if fields["mlp_t"]:
            fields.setdefault("pos_encodings", "none")
    return fields


def _needed_without_config(fields: dict, layout: Layout) -> list[str]:
    needed = ["H_cycles", "L_cycles"]
    if not fields.get("mlp_t"):
        needed += ["num_heads", "pos_encodings"]
    if layout is TRM_LAYOUT and fields.get("puzzle_emb_ndim", 0) > 0:
        needed.append("puzzle_emb_len")
    return [n for n in needed if n not in fields]


def _dataset_info(cfg: dict, yaml_path: Path | None) -> dict | None:
    """The reference dataset's `dataset.json` (seq_len, vocab_size, ...) if its folder is reachable.
    TRM's config lists `data_paths`; HRM's names one `data_path`."""
    roots = [Path.cwd()] + ([yaml_path.parent] if yaml_path else [])
    paths = list(cfg.get("data_paths") or []) + list(cfg.get("data_paths_test") or [])
    if isinstance(cfg.get("data_path"), str):
        paths.append(cfg["data_path"])
    for data_path in paths:
        for root in roots:
            for split in ("train", "test"):
                candidate = root / str(data_path) / split / "dataset.json"
                if candidate.is_file():
                    try:
                        return json.loads(candidate.read_text())
                    except ValueError:
                        continue
    return None


SIZE_HELP = "pass --kind and --size (Sudoku 4/6/9, maze side, ARC canvas side)"


def _infer_encoding(vocab: int, seq_len: int | None, pt_path: Path, kind: str | None, size: int | None,
                    why_unknown: str) -> Encoding:
    """The puzzle encoding, from what is known for sure; asks (CheckpointError) for what is not."""
    if kind is None:
        meanings = sorted((m, k) for k in all_kinds() if (m := k.vocab_means(vocab)))
        if len(meanings) == 1 and meanings[0][1].side_for_vocab(vocab) is not None:  # the vocabulary fixes all
            puzzle_kind = meanings[0][1]
        else:
            may_be = " or ".join(m for m, _ in meanings) or "no puzzle kind this lab knows"
            raise CheckpointError(f"{pt_path}: a vocabulary of {vocab} means {may_be}; {why_unknown}: {SIZE_HELP}")
    else:
        puzzle_kind = get_kind(kind)
    kind, fixed = puzzle_kind.name, puzzle_kind.side_for_vocab(vocab)
    if fixed is not None:
        side = fixed
        if size is not None and size != side:
            raise CheckpointError(f"{pt_path}: a {size}x{size} {kind} model has a vocabulary of "
                                  f"{puzzle_kind.vocab_size(size)}, these weights have {vocab}")
    elif size is not None:
        side = size
    elif seq_len is not None and math.isqrt(seq_len) ** 2 == seq_len:
        side = math.isqrt(seq_len)
    elif seq_len is not None:
        raise CheckpointError(f"{pt_path}: sequence length {seq_len} is not a square grid")
    else:
        raise CheckpointError(f"{pt_path}: cannot tell the {kind} size: {why_unknown}: {SIZE_HELP}")
    if seq_len is not None and seq_len != side * side:
        if math.isqrt(seq_len) ** 2 != seq_len:
            raise CheckpointError(f"{pt_path}: sequence length {seq_len} is not a square grid")
        if fixed is not None:
            other = math.isqrt(seq_len)
            raise CheckpointError(f"{pt_path}: a {other}x{other} {kind} model has a vocabulary of "
                                  f"{puzzle_kind.vocab_size(other)}, these weights have {vocab}")
        raise CheckpointError(f"{pt_path}: the weights take {seq_len} tokens, a {side}x{side} {kind} has "
                              f"{side * side}")
    expected_vocab = puzzle_kind.vocab_size(side)
    if vocab != expected_vocab:
        raise CheckpointError(f"{pt_path}: a {side}x{side} {kind} model has a vocabulary of {expected_vocab}, "
                              f"these weights have {vocab}")
    return Encoding(kind=kind, rows=side, cols=side, vocab_size=vocab, seq_len=side * side)


def _read_config(yaml_path: Path) -> dict:
    try:
        size = yaml_path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise CheckpointError(f"{yaml_path}: {size:,} bytes, more than the {MAX_YAML_BYTES:,} a config may have")
        return parse_yaml(yaml_path.read_text(encoding="utf-8"), source=str(yaml_path))
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{yaml_path}: cannot read: {exc}") from None


def import_reference(pt_path, config_yaml=None, encoding: Encoding | None = None, kind: str | None = None,
                     size: int | None = None, overrides: dict | None = None) -> LoadedModel:
    """Build our TRM or HRM from a reference checkpoint; raises CheckpointError naming what does not fit or what
    must be given. `overrides` set architecture fields (the CLI's --set), over the yaml's."""
    pt_path = Path(pt_path)
    if not pt_path.is_file():
        raise CheckpointError(f"{pt_path}: no such file")
    yaml_path = Path(config_yaml) if config_yaml else pt_path.parent / "all_config.yaml"
    if config_yaml and not yaml_path.is_file():
        raise CheckpointError(f"{yaml_path}: no such file")
    cfg = _read_config(yaml_path) if yaml_path.is_file() else None
    raw = read_state_file(pt_path)
    if "embed_tokens.embedding_weight" not in raw:
        raise CheckpointError(f"{pt_path}: unknown layout: no token embedding (inner.embed_tokens.embedding_weight) "
                              "in the state dict")
    assumed: dict = {}
    if cfg is not None:
        arch = cfg.get("arch")
        if not isinstance(arch, dict):
            raise CheckpointError(f"{yaml_path}: no 'arch:' section")
        name = str(arch.get("name", ""))
        layout = next((lay for lay in LAYOUTS if name.startswith(lay.arch_name)), None)
        if layout is None:
            known = " or ".join(f"{lay.arch_name}..." for lay in LAYOUTS)
            raise CheckpointError(f"{yaml_path}: architecture {name!r} is neither TRM nor HRM ({known})")
        fields = {k: arch[k] for k in layout.fields if k in arch and arch[k] is not None}
        if layout is TRM_LAYOUT:
            fields["mlp_t"] = bool(arch.get("mlp_t"))
        fields.update(overrides or {})
    else:
        layout = _layout_from_weights(raw, pt_path)
        name = f"{layout.arch} (weights only)"
        fields = {**_fields_from_weights(raw, layout), **(overrides or {})}
        needed = _needed_without_config(fields, layout)
        if needed:
            raise CheckpointError(
                f"{pt_path}: no all_config.yaml beside it (pass --config), and the weights do not fix "
                f"{', '.join(needed)}: pass them as --set {needed[0]}=VALUE ...")
        for key, value in DEFAULTS.items():
            if key not in fields and (layout is TRM_LAYOUT or key != "no_ACT_continue"):
                fields[key] = assumed[key] = value
    state = rename(raw, layout)
    vocab = int(state["embed_tokens.weight"].shape[0])
    if layout is TRM_LAYOUT:
        fields["mixer"] = "mlp" if fields.pop("mlp_t", False) else "attention"
    if "puzzle_emb.weight" in state:
        fields["num_puzzle_identifiers"] = int(state["puzzle_emb.weight"].shape[0])
    config_class = TRMConfig if layout is TRM_LAYOUT else HRMConfig
    where = f"{yaml_path if cfg is not None else pt_path}: arch"  # every field checked before it sizes anything
    prefix_len = dataclass_from_fields({"vocab_size": vocab, "seq_len": 1, **fields}, config_class, where).prefix_len

    seq_len, why = None, "the weights do not fix the sequence length"
    info = _dataset_info(cfg, yaml_path) if cfg is not None else None
    if info and "seq_len" in info:
        seq_len = int(info["seq_len"])
    elif "net.layers.0.mlp_t.gate_up_proj.weight" in state:
        seq_len = int(state["net.layers.0.mlp_t.gate_up_proj.weight"].shape[1]) - prefix_len
    elif "embed_pos.weight" in state:
        seq_len = int(state["embed_pos.weight"].shape[0]) - prefix_len
    elif cfg is not None:
        why = f"{why} and no dataset.json of {_data_paths(cfg)} was found"
    if encoding is None:
        encoding = _infer_encoding(vocab, seq_len, pt_path, kind, size, why)
    elif seq_len is not None and seq_len != encoding.seq_len:
        raise CheckpointError(f"{pt_path}: the weights take {seq_len} tokens, the {encoding.kind} encoding has "
                              f"{encoding.seq_len}")
    config = dataclass_from_fields({"vocab_size": vocab, "seq_len": encoding.seq_len, **fields}, config_class, where)
    check_shapes(config, {name: tuple(t.shape) for name, t in state.items()}, pt_path)  # before building anything
    model = build_model(config)
    load_state_checked(model, {k: v.float() for k, v in state.items()}, pt_path)
    model.eval()
    arch_cfg = (cfg or {}).get("arch") or {}
    loss = arch_cfg.get("loss") if isinstance(arch_cfg, dict) else None
    training = {
        "source": "reference",
        "reference_checkpoint": str(pt_path),
        "arch": name,
        "loss": loss.get("loss_type") if isinstance(loss, dict) else None,
        **{k: cfg[k] for k in ("data_paths", "data_path", "lr", "global_batch_size", "epochs", "ema", "run_name")
           if cfg is not None and k in cfg},
    }
    if assumed:
        training["assumed"] = assumed
    return LoadedModel(model=model, config=config, encoding=encoding, training=training, path=pt_path,
                       name=pt_path.stem)


def _data_paths(cfg: dict) -> str:
    paths = list(cfg.get("data_paths") or []) + ([cfg["data_path"]] if isinstance(cfg.get("data_path"), str) else [])
    return ", ".join(str(p) for p in paths) or "the run's data"


def summary(loaded: LoadedModel) -> str:
    """`sudoku 9x9, trm mlp, hidden 64, T=2 n=2` (+ what was assumed), for the import command's report."""
    text = f"{loaded.encoding.kind} {loaded.encoding.rows}x{loaded.encoding.cols}, {describe(loaded.config)}"
    assumed = loaded.training.get("assumed")
    if assumed:
        text += "; not in the weights, assumed: " + ", ".join(f"{k}={v}" for k, v in assumed.items())
    return text
