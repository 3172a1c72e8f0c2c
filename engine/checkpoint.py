"""Checkpoints as safetensors files with JSON metadata (docs/formats.md), checked before a tensor is trusted.

Layout: model tensors under their `TRM.state_dict()` names (which never contain "/"); trainer state the model does
not need (optimizer moments, EMA weights) under keys with a "/" such as `optimizer/…` or `ema/…`, which
`load_checkpoint` skips and `load_tensors(path, "ema/")` returns. String metadata: `format` = `trm-lab/1`, `config`
(the architecture's config JSON), `puzzle` (Encoding JSON), `training` (JSON), `arch` (`trm` or `hrm`; a file
without it is TRM, as every file written before HRM was), plus any `extra_metadata`.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.architectures import (
    ARCHITECTURES,
    DEFAULT_ARCH,
    Model,
    ModelConfig,
    arch_of,
    build_model,
    config_class,
)
from engine.atomic import atomic_path
from engine.checkpoint_checks import check_shapes, dataclass_from_fields, tensor_shapes
from engine.puzzles.base import Encoding, PuzzleError
from engine.puzzles.kind import get_kind

FORMAT = "trm-lab/1"
RESERVED_METADATA = ("format", "config", "puzzle", "training", "arch")
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


@dataclass
class LoadedModel:
    model: Model  # eval mode
    config: ModelConfig
    encoding: Encoding
    training: dict = field(default_factory=dict)
    path: Path | None = None
    name: str = ""
    _canvases: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def any_canvas(self) -> bool:
        return runs_on_any_canvas(self.encoding.kind, self.config.pos_encodings)

    def fitted(self, rows: int, cols: int) -> LoadedModel:
        """This model for a rows x cols puzzle: a relative2d maze model on a canvas of the maze's own size (cached),
        any other model as it is (a smaller maze is then padded with walls)."""
        if not self.any_canvas:
            return self
        from engine.model import with_canvas

        kind = get_kind(self.encoding.kind)
        side = max(rows, cols, kind.min_rows)
        if side == self.encoding.rows:
            return self
        if side not in self._canvases:
            model = with_canvas(self.model, side)
            self._canvases[side] = LoadedModel(model, model.cfg, kind.encoding(side), self.training, self.path,
                                               self.name)
        return self._canvases[side]


def runs_on_any_canvas(kind: str, pos_encodings: str | None) -> bool:
    """A relative2d model of a kind that allows it (mazes) solves grids of any size (LoadedModel.fitted)."""
    return pos_encodings == "relative2d" and get_kind(kind).any_canvas


def save_checkpoint(
    path: str | os.PathLike,
    model: Model,
    *,
    encoding: Encoding,
    training: dict,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    extra_metadata: dict[str, str] | None = None,
) -> Path:
    """Write `model` (plus trainer state) atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    check_encoding(model.cfg, encoding, path)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    for name, t in (extra_tensors or {}).items():
        if "/" not in name:
            raise ValueError(f"extra tensor {name!r} needs a prefix with '/' (e.g. 'ema/{name}')")
        tensors[name] = t.detach().to("cpu").contiguous()
    metadata = {
        "format": FORMAT,
        "config": model.cfg.to_json(),
        "puzzle": json.dumps(encoding.to_dict(), sort_keys=True),
        "training": json.dumps(training, sort_keys=True, default=str),
        "arch": arch_of(model),
    }
    for key, value in (extra_metadata or {}).items():
        if key in RESERVED_METADATA:
            raise ValueError(f"extra metadata may not replace {key!r}")
        metadata[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


def read_header(path: str | os.PathLike) -> dict:
    """The safetensors JSON header, after checking the file is one and is complete (no tensor data read)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: not a safetensors file (only {size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise CheckpointError(f"{path}: not a safetensors file, or truncated (header says {n} bytes)")
            raw = fh.read(n)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, expected a .safetensors file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a JSON object)") from None
    meta = header.get("__metadata__") or {}
    if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError(f"{path}: malformed safetensors metadata (expected text values by name)")
    tensor_shapes(header, str(path))  # every entry well formed, its bytes matching its dtype and shape
    data_bytes = size - 8 - n
    end = max((info["data_offsets"][1] for name, info in header.items() if name != "__metadata__"), default=0)
    if end > data_bytes:
        raise CheckpointError(f"{path}: truncated: tensors need {end} bytes of data, the file has {data_bytes}")
    return header


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The raw string metadata (`format`, `config`, `puzzle`, `training`, ...), without loading tensors."""
    return dict(read_header(path).get("__metadata__") or {})


def read_model_metadata(path: str | os.PathLike) -> tuple[ModelConfig, Encoding, dict]:
    """(config, encoding, training) of a model file, checked as `load_checkpoint` checks them (bounds, and the
    config against the header's tensor shapes), without reading a tensor."""
    path = Path(path)
    header = read_header(path)
    config, encoding, training = _parse_metadata(path, dict(header.get("__metadata__") or {}))
    shapes = tensor_shapes(header, str(path))
    check_shapes(config, {name: shape for name, shape in shapes.items() if "/" not in name}, path)
    return config, encoding, training


def _parse_metadata(path: Path, meta: dict[str, str]) -> tuple[ModelConfig, Encoding, dict]:
    fmt = meta.get("format")
    if fmt is None:
        raise CheckpointError(f"{path}: not a trm-lab checkpoint (no 'format' metadata)")
    if fmt != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {fmt[:40]!r} (this version reads {FORMAT!r})")
    for key in ("config", "puzzle"):
        if key not in meta:
            raise CheckpointError(f"{path}: metadata lacks {key!r}")
    arch = meta.get("arch", DEFAULT_ARCH)
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {arch[:40]!r} (this version runs "
                              f"{', '.join(ARCHITECTURES)})")
    config = dataclass_from_fields(_metadata_json(path, meta, "config"), config_class(arch),
                                   f"{path}: metadata 'config'")
    puzzle = _metadata_json(path, meta, "puzzle")
    dataclass_from_fields(puzzle, Encoding, f"{path}: metadata 'puzzle'")  # types and bounds first
    try:
        encoding = Encoding.from_dict(puzzle)
    except PuzzleError as exc:
        raise CheckpointError(f"{path}: metadata 'puzzle' is invalid: {exc}") from None
    training = _metadata_json(path, meta, "training", "{}")
    if not isinstance(training, dict):
        raise CheckpointError(f"{path}: metadata 'training' is not a JSON object")
    check_encoding(config, encoding, path)
    return config, encoding, training


def _metadata_json(path: Path, meta: dict[str, str], key: str, default: str | None = None):
    try:
        return json.loads(meta[key] if default is None else meta.get(key, default))
    except ValueError as exc:
        raise CheckpointError(f"{path}: metadata {key!r} is not JSON: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: metadata {key!r} is nested too deeply") from None


def check_encoding(config: ModelConfig, encoding: Encoding, path: Path | str) -> None:
    if (config.seq_len, config.vocab_size) != (encoding.seq_len, encoding.vocab_size):
        raise CheckpointError(
            f"{path}: the model takes {config.seq_len} tokens over a vocabulary of {config.vocab_size}, "
            f"but the {encoding.kind} encoding has {encoding.seq_len} tokens and vocabulary {encoding.vocab_size}"
        )


def _describe(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_state_checked(model: Model, state: dict[str, torch.Tensor], path: Path | str) -> None:
    """Load `state` into `model` after checking every name and shape against the model built from the config."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise CheckpointError(f"{path}: missing tensors {_describe(missing)}")
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensors {_describe(unexpected)} (not in the configured model)")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {list(state[name].shape)}, the config needs {list(tensor.shape)}"
            )
        if not (state[name].is_floating_point() or state[name].dtype == tensor.dtype):
            raise CheckpointError(f"{path}: tensor {name!r} has dtype {state[name].dtype}, expected floats")
    model.load_state_dict(state, strict=True)


def check_finite(state: dict[str, torch.Tensor], path: Path | str) -> None:
    """Refuse weights holding NaN or infinity (a diverged run): such a model answers nonsense without a sign."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values (the training diverged); "
                                  "this model cannot solve anything")


def is_reference_checkpoint(path: str | os.PathLike) -> bool:
    """The one rule for "a reference `pretrain.py` checkpoint, not ours": a `.pt`/`.pth`/`.ckpt` file, or a file
    without suffix (the reference's `step_N`) holding a torch zip archive."""
    path = Path(path)
    return path.suffix.lower() in (".pt", ".pth", ".ckpt") or (path.is_file() and not path.suffix and _is_zip(path))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", kind: str | None = None
                    ) -> LoadedModel:
    """A ready model (eval mode, float32) from a trm-lab `.safetensors` file, or a reference checkpoint (`kind`
    names its puzzle kind when its all_config.yaml does not)."""
    path = Path(path)
    if is_reference_checkpoint(path):
        from engine.reference import import_reference

        loaded = import_reference(path, kind=kind)
        loaded.model.to(device)
        return loaded
    config, encoding, training = read_model_metadata(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged data
        raise CheckpointError(f"{path}: cannot read tensors: {exc}") from None
    state = {name: t for name, t in tensors.items() if "/" not in name}
    check_finite(state, path)
    model = build_model(config)
    load_state_checked(model, state, path)
    model.to(device).eval()
    return LoadedModel(model=model, config=config, encoding=encoding, training=training, path=path, name=path.stem)


def load_tensors(path: str | os.PathLike, prefix: str) -> dict[str, torch.Tensor]:
    """Extra tensors stored under `prefix` (e.g. "ema/"), with the prefix removed from their names."""
    path = Path(path)
    header = read_header(path)
    names = [n for n in header if n != "__metadata__" and n.startswith(prefix)]
    if not names:
        return {}
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read tensors: {exc}") from None
    return {n[len(prefix) :]: tensors[n] for n in names}


def import_reference(pt_path, config_yaml=None, encoding: Encoding | None = None, kind: str | None = None
                     ) -> LoadedModel:
    """A reference `pretrain.py` checkpoint as a LoadedModel (see engine.reference)."""
    from engine.reference import import_reference as _import

    return _import(pt_path, config_yaml=config_yaml, encoding=encoding, kind=kind)


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False
