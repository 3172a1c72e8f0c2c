"""Import a checkpoint written by the reference code (SamsungSAILMontreal/TinyRecursiveModels `pretrain.py`).

Such a checkpoint is a `torch.save`d state dict whose keys may be prefixed `_orig_mod.` (torch.compile) and
`model.` (the loss head) before `inner.`; `all_config.yaml` beside it holds the architecture under `arch:`.
The sequence length and vocabulary come from the dataset's `dataset.json` when it can be found, otherwise from the
tensor shapes and the puzzle kind the vocabulary implies (11: Sudoku 9x9, 6: Maze 30x30, 12: ARC 30x30).
Only `torch.load(weights_only=True)` is ever used: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from engine.checkpoint import CheckpointError, LoadedModel, load_state_checked
from engine.config import TRMConfig
from engine.model import TRM
from engine.puzzles.base import Encoding

PREFIXES = ("_orig_mod.", "model.", "inner.")
SUPPORTED_ARCH = "recursive_reasoning.trm@"
# reference name (after the prefixes) -> our state_dict name
RENAMES = {
    "embed_tokens.embedding_weight": "embed_tokens.weight",
    "embed_pos.embedding_weight": "embed_pos.weight",
    "puzzle_emb.weights": "puzzle_emb.weight",
    "H_init": "y_init",
    "L_init": "z_init",
}
IGNORED = ("puzzle_emb.local_weights", "puzzle_emb.local_ids", "rotary_emb.cos_cached", "rotary_emb.sin_cached")
ARCH_FIELDS = (
    "hidden_size", "num_heads", "expansion", "L_layers", "H_cycles", "L_cycles", "halt_max_steps",
    "halt_exploration_prob", "pos_encodings", "puzzle_emb_ndim", "puzzle_emb_len", "rms_norm_eps", "rope_theta",
    "forward_dtype", "no_ACT_continue",
)
KIND_BY_VOCAB = {11: ("sudoku", 9), 6: ("maze", 30), 12: ("arc", 30)}


# ---- a YAML subset: what `yaml.dump` writes for the reference's pydantic config ----------------------------------
def parse_yaml(text: str, source: str = "<yaml>") -> dict:
    """Block mappings, block sequences (`- item`, `- key: v`), flow `[]`/`{}` and plain or quoted scalars."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = _strip_comment(raw).rstrip()
        if stripped.strip() and stripped.strip() not in ("---", "..."):
            lines.append((number, len(stripped) - len(stripped.lstrip(" ")), stripped.strip()))
    value, pos = _parse_block(lines, 0, 0 if not lines else lines[0][1], source)
    if pos != len(lines):
        raise CheckpointError(f"{source}, line {lines[pos][0]}: unexpected indentation")
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: expected a mapping at the top level")
    return value


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _parse_block(lines, pos, indent, source):
    if lines[pos][2].startswith("- ") or lines[pos][2] == "-":
        items = []
        while pos < len(lines) and lines[pos][1] == indent and (lines[pos][2] + " ").startswith("- "):
            number, _, content = lines[pos]
            rest = content[1:].strip()
            if not rest:
                value, pos = _parse_block(lines, pos + 1, lines[pos + 1][1], source)
            elif _split_key(rest) is not None:
                # "- key: value" starts a mapping whose other keys are indented to the key's column
                lines = lines[:pos] + [(number, indent + 2, rest)] + lines[pos + 1 :]
                value, pos = _parse_block(lines, pos, indent + 2, source)
            else:
                value, pos = _scalar(rest, source, number), pos + 1
            items.append(value)
        return items, pos
    mapping = {}
    while pos < len(lines) and lines[pos][1] == indent:
        number, _, content = lines[pos]
        split = _split_key(content)
        if split is None:
            raise CheckpointError(f"{source}, line {number}: expected 'key: value'")
        key, rest = split
        pos += 1
        if rest:
            mapping[key] = _scalar(rest, source, number)
        elif pos < len(lines) and (lines[pos][1] > indent or (lines[pos][1] == indent and lines[pos][2][:2] == "- ")):
            mapping[key], pos = _parse_block(lines, pos, lines[pos][1], source)
        else:
            mapping[key] = None
    return mapping, pos


def _split_key(content: str) -> tuple[str, str] | None:
    match = re.match(r"""^("[^"]*"|'[^']*'|[^'"\s:][^:]*?)\s*:(?:\s+(.*)|$)""", content)
    if not match:
        return None
    key = match.group(1)
    if key[:1] in "'\"":
        key = key[1:-1]
    return key, (match.group(2) or "").strip()


def _scalar(text: str, source: str, number: int):
    if text[:1] in "[{":
        try:
            return json.loads(re.sub(r"([{,]\s*)([A-Za-z_][\w.]*)\s*:", r'\1"\2":', text).replace("'", '"'))
        except ValueError:
            raise CheckpointError(f"{source}, line {number}: cannot read the flow value {text!r}") from None
    if text[:1] == '"':
        return json.loads(text)
    if text[:1] == "'":
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("null", "~"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\.inf|\.nan", lowered):
        return float(lowered.replace(".inf", "inf").replace(".nan", "nan"))
    return text


# ---- the import -------------------------------------------------------------------------------------------------
def strip_prefixes(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix) :], True
    return name


def read_reference_state(pt_path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(pt_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{pt_path}: no such file") from None
    except Exception as exc:  # pickle refusals, zip errors, truncation: all mean "not a usable checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{pt_path}: not a readable PyTorch state dict ({first})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{pt_path}: expected a state dict of tensors, found {type(obj).__name__}")
    state = {}
    for name, tensor in obj.items():
        short = strip_prefixes(name)
        if short in IGNORED:
            continue
        state[RENAMES.get(short, re.sub(r"^L_level\.", "net.", short))] = tensor
    return state


def _dataset_info(cfg: dict, yaml_path: Path | None) -> dict | None:
    """The reference dataset's `dataset.json` (seq_len, vocab_size, ...) if its folder is reachable."""
    roots = [Path.cwd()] + ([yaml_path.parent] if yaml_path else [])
    for data_path in list(cfg.get("data_paths") or []) + list(cfg.get("data_paths_test") or []):
        for root in roots:
            for split in ("train", "test"):
                candidate = root / str(data_path) / split / "dataset.json"
                if candidate.is_file():
                    try:
                        return json.loads(candidate.read_text())
                    except ValueError:
                        continue
    return None


def _infer_encoding(vocab: int, seq_len: int | None, pt_path: Path, kind: str | None = None) -> Encoding:
    if kind is None and vocab not in KIND_BY_VOCAB:
        raise CheckpointError(
            f"{pt_path}: cannot tell the puzzle kind from a vocabulary of {vocab}; pass the kind explicitly"
        )
    if kind is not None:
        rows = 9 if kind == "sudoku" else 30
    else:
        kind, rows = KIND_BY_VOCAB[vocab]
    if seq_len is not None and seq_len != rows * rows:
        side = round(seq_len**0.5)
        if side * side != seq_len:
            raise CheckpointError(f"{pt_path}: sequence length {seq_len} is not a square grid")
        rows = side
    expected_vocab = {"sudoku": rows + 2, "maze": 6, "arc": 12}[kind]
    if vocab != expected_vocab:
        raise CheckpointError(f"{pt_path}: a {rows}x{rows} {kind} model has a vocabulary of {expected_vocab}, "
                              f"these weights have {vocab}")
    return Encoding(kind=kind, rows=rows, cols=rows, vocab_size=vocab, seq_len=rows * rows)


def import_reference(pt_path, config_yaml=None, encoding: Encoding | None = None, kind: str | None = None
                     ) -> LoadedModel:
    """Build our TRM from a reference checkpoint; raises CheckpointError naming what does not fit."""
    pt_path = Path(pt_path)
    if not pt_path.is_file():
        raise CheckpointError(f"{pt_path}: no such file")
    yaml_path = Path(config_yaml) if config_yaml else pt_path.parent / "all_config.yaml"
    if not yaml_path.is_file():
        raise CheckpointError(
            f"{yaml_path}: no such file (the reference writes all_config.yaml beside its checkpoints; pass --config)"
        )
    try:
        cfg = parse_yaml(yaml_path.read_text(encoding="utf-8"), source=str(yaml_path))
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{yaml_path}: cannot read: {exc}") from None
    arch = cfg.get("arch")
    if not isinstance(arch, dict):
        raise CheckpointError(f"{yaml_path}: no 'arch:' section")
    name = str(arch.get("name", ""))
    if not name.startswith(SUPPORTED_ARCH):
        raise CheckpointError(f"{yaml_path}: architecture {name!r} is not TRM ({SUPPORTED_ARCH}...)")
    state = read_reference_state(pt_path)
    if "embed_tokens.weight" not in state:
        raise CheckpointError(f"{pt_path}: no token embedding (inner.embed_tokens.embedding_weight) in the state dict")
    vocab = int(state["embed_tokens.weight"].shape[0])

    fields = {k: arch[k] for k in ARCH_FIELDS if k in arch and arch[k] is not None}
    fields["mixer"] = "mlp" if arch.get("mlp_t") else "attention"
    if "puzzle_emb.weight" in state:
        fields["num_puzzle_identifiers"] = int(state["puzzle_emb.weight"].shape[0])
    prefix_len = TRMConfig(vocab_size=vocab, seq_len=1, **fields).prefix_len
    seq_len = None
    info = _dataset_info(cfg, yaml_path)
    if info and "seq_len" in info:
        seq_len = int(info["seq_len"])
    elif "net.layers.0.mlp_t.gate_up_proj.weight" in state:
        seq_len = int(state["net.layers.0.mlp_t.gate_up_proj.weight"].shape[1]) - prefix_len
    elif "embed_pos.weight" in state:
        seq_len = int(state["embed_pos.weight"].shape[0]) - prefix_len
    if encoding is None:
        encoding = _infer_encoding(vocab, seq_len, pt_path, kind)
    if seq_len is not None and seq_len != encoding.seq_len:
        raise CheckpointError(f"{pt_path}: the weights take {seq_len} tokens, the {encoding.kind} encoding has "
                              f"{encoding.seq_len}")
    try:
        config = TRMConfig(vocab_size=vocab, seq_len=encoding.seq_len, **fields)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{yaml_path}: arch does not make a TRM config: {exc}") from None
    model = TRM(config)
    load_state_checked(model, {k: v.float() for k, v in state.items()}, pt_path)
    model.eval()
    training = {
        "source": "reference",
        "reference_checkpoint": str(pt_path),
        "arch": name,
        "loss": (arch.get("loss") or {}).get("loss_type") if isinstance(arch.get("loss"), dict) else None,
        **{k: cfg[k] for k in ("data_paths", "lr", "global_batch_size", "epochs", "ema", "run_name") if k in cfg},
    }
    return LoadedModel(model=model, config=config, encoding=encoding, training=training, path=pt_path,
                       name=pt_path.stem)
