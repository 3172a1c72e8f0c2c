"""Training checkpoints: a normal trm-lab model file (engine.checkpoint, DESIGN §5) whose model tensors are the EMA
weights, plus what an exact resume needs under `train/...` names (raw weights, optimizer moments, the ACT carry) and
the loop position in the `train_state` metadata. `engine.checkpoint.load_checkpoint` reads it as a model;
`export_model` writes the model-only copy that ships in assets/models.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors import safe_open

from engine.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint

TRAIN_PREFIX = "train/"


def code_version() -> str:
    try:
        from importlib.metadata import version

        return version("trm-lab")
    except Exception:  # noqa: BLE001 - running from a checkout that is not installed
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


def export_model(src: Path, dst: Path, training_update: dict | None = None) -> Path:
    """The model-only copy (EMA weights, metadata; no optimizer or carry) of a training checkpoint."""
    loaded = load_checkpoint(src)
    training = dict(loaded.training)
    training.update(training_update or {})
    training["exported"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return save_checkpoint(dst, loaded.model, encoding=loaded.encoding, training=training)


__all__ = ["TRAIN_PREFIX", "code_version", "read_train_checkpoint", "export_model", "save_checkpoint"]
