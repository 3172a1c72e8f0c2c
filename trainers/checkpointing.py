"""Training checkpoints: a trm-lab model file (engine.checkpoint, docs/formats.md) whose model tensors are the EMA
weights, plus what an exact resume needs under `train/...` names (raw weights, optimizer moments, the ACT carry) and
the loop position in the `train_state` metadata. `engine.checkpoint.load_checkpoint` reads it as a model;
`export_model` writes the model-only copy that ships in assets/models.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import safe_open

from engine.architectures import Model, ModelConfig, build_model
from engine.atomic import atomic_copy
from engine.checkpoint import (
    CheckpointError,
    is_reference_checkpoint,
    load_checkpoint,
    read_header,
    read_metadata,
    save_checkpoint,
)
from engine.model import resize_table, with_canvas

TRAIN_PREFIX = "train/"


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trm-lab")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "dev"


def read_train_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    """(model tensors, train/ tensors without the prefix, train_state) of a training checkpoint."""
    try:
        meta = read_metadata(path)
        state = json.loads(meta["train_state"])
        with safe_open(str(path), framework="pt") as f:
            model, train = {}, {}
            for k in f.keys():
                if k.startswith(TRAIN_PREFIX):
                    train[k[len(TRAIN_PREFIX):]] = f.get_tensor(k)
                elif "/" not in k:
                    model[k] = f.get_tensor(k)
    except KeyError:
        raise CheckpointError(f"{path}: not a training checkpoint (no train_state metadata)") from None
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot resume from it: {exc}") from None
    return model, train, state


def export_model(src: Path, dst: Path, training_update: dict | None = None, max_steps: int | None = None,
                 kind: str | None = None) -> Path:
    """The one export: the model-only copy (EMA weights, metadata; no optimizer or carry) of a training checkpoint, a
    model file, or an imported reference checkpoint (`kind`: its puzzle kind when its config does not say).
    `max_steps`: the supervision steps the copy runs by default (its halt_max_steps), if not its trained ones.
    A file that already holds the model alone, exported unchanged, is copied byte for byte."""
    src, dst = Path(src), Path(dst)
    if training_update is None and max_steps is None and not is_reference_checkpoint(src):
        if not any("/" in name for name in read_header(src) if name != "__metadata__"):
            atomic_copy(src, dst)
            return dst
    loaded = load_checkpoint(src, kind=kind)
    if max_steps is not None:
        loaded.model.cfg = replace(loaded.model.cfg, halt_max_steps=max_steps)
    training = dict(loaded.training)
    training.update(training_update or {})
    training["exported"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return save_checkpoint(dst, loaded.model, encoding=loaded.encoding, training=training)


def start_weights(path: Path, cfg: ModelConfig) -> Model:
    """A `cfg` model starting from the weights of `path` (a model file, a training checkpoint or a run directory's
    newest one): fine-tuning, or growing a relative2d model to a larger canvas, which is how a maze model learnt on
    small mazes (cheap steps) carries over to large ones. Learnt offsets keep their values, new farther ones start
    from the local prior (a windowed model takes the window's offsets of a whole-grid one); every other tensor must
    match."""
    from trainers.rundir import latest_checkpoint

    path = Path(path)
    if path.is_dir():
        newest = latest_checkpoint(path)
        if newest is None:
            raise CheckpointError(f"{path}: no complete checkpoint to start from")
        path = newest
    source_model = load_checkpoint(path).model
    relative = cfg.pos_encodings == source_model.cfg.pos_encodings == "relative2d"
    if relative and source_model.cfg.seq_len != cfg.seq_len:
        source_model = with_canvas(source_model, cfg.grid_side)  # its bias table resized; every other tensor must match
    source = source_model.state_dict()
    if relative and cfg.attention_window and not source_model.cfg.attention_window:
        # A w x w window holds the offsets of a (w // 2 + 1)-sided canvas: the whole-grid table, cut down to them.
        source["relative_bias.table"] = resize_table(source["relative_bias.table"], cfg.num_heads,
                                                     cfg.attention_window // 2 + 1)
    model = build_model(cfg)  # TRM or HRM, as the config says
    state = model.state_dict()
    missing = sorted(set(state) - set(source))
    extra = sorted(set(source) - set(state))
    if missing or extra:
        raise CheckpointError(f"{path}: a different architecture (missing {missing[:3]}, extra {extra[:3]})")
    for name, tensor in state.items():
        new = source[name]
        if new.shape != tensor.shape:
            raise CheckpointError(f"{path}: {name} has shape {tuple(new.shape)} there, this model needs "
                                  f"{tuple(tensor.shape)} (only a relative2d model can change its canvas)")
        state[name] = new
    model.load_state_dict(state)
    return model


__all__ = ["start_weights", "TRAIN_PREFIX", "code_version", "read_train_checkpoint", "export_model", "save_checkpoint"]
