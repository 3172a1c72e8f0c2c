"""Where models live: bundled ones in `assets/models/*.safetensors` (each with a model card beside it), then the
user's own in `platformdirs.user_data_dir("trm-lab")/models`. Only metadata is read to list them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from engine.checkpoint import CheckpointError, fits_any_maze, read_metadata
from engine.puzzles.base import Encoding, PuzzleError

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"


def user_models_dir() -> Path:
    return Path(platformdirs.user_data_dir("trm-lab")) / "models"


@dataclass
class ModelEntry:
    name: str
    path: Path
    kind: str
    encoding: Encoding
    bundled: bool
    card: dict = field(default_factory=dict)  # the `<name>.json` card, or {"text": ...} from `<name>.md`
    config: dict = field(default_factory=dict)  # TRMConfig fields, read with the rest of the metadata when listed


def read_card(path: Path) -> dict:
    """The model card beside `path`: `<stem>.json` (an object) or `<stem>.md` (kept as text)."""
    js, md = path.with_suffix(".json"), path.with_suffix(".md")
    card: dict = {}
    if js.is_file():
        try:
            data = json.loads(js.read_text(encoding="utf-8"))
            card = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            card = {}
    if md.is_file():
        try:
            card.setdefault("text", md.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            pass
    return card


def _entry(path: Path, bundled: bool) -> ModelEntry | None:
    try:
        meta = read_metadata(path)
        encoding = Encoding.from_dict(json.loads(meta["puzzle"]))
        config = json.loads(meta.get("config", "{}"))
    except (CheckpointError, PuzzleError, KeyError, ValueError):
        return None  # not a usable trm-lab checkpoint: leave it out of the list
    return ModelEntry(path.stem, path, encoding.kind, encoding, bundled, read_card(path), config)


def list_models(bundled_dir: Path | None = None, user_dir: Path | None = None) -> list[ModelEntry]:
    """Bundled models first, then the user's, each folder sorted by name; unreadable files are skipped."""
    entries = []
    for folder, bundled in ((bundled_dir or BUNDLED_DIR, True), (user_dir or user_models_dir(), False)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.safetensors")):
                entry = _entry(path, bundled)
                if entry is not None:
                    entries.append(entry)
    return entries


def resolve_model(name_or_path: str | os.PathLike, **dirs) -> Path:
    """A path that exists is taken as is; anything else must be a listed model's name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    for entry in list_models(**dirs):
        if entry.name == str(name_or_path):
            return entry.path
    raise CheckpointError(f"{name_or_path}: no such file, and no model by that name (`trm-lab models` lists them)")


def default_model(kind: str, rows: int | None = None, **dirs) -> ModelEntry | None:
    """The model to use for a puzzle: same kind; for `rows`, an exact size first, else (mazes, ARC) the smallest
    model that fits, since smaller mazes pad to the model and ARC grids sit on its canvas; for a larger maze, a
    model that takes any maze size."""
    candidates = [e for e in list_models(**dirs) if e.kind == kind]
    if rows is None:
        return candidates[0] if candidates else None
    exact = [e for e in candidates if e.encoding.rows == rows]
    if exact:
        return exact[0]
    if kind == "sudoku":
        return None
    bigger = sorted((e for e in candidates if e.encoding.rows >= rows), key=lambda e: (e.encoding.rows, not e.bundled))
    any_size = sorted((e for e in candidates if fits_any_maze(kind, e.config.get("pos_encodings"))),
                      key=lambda e: (-e.encoding.rows, not e.bundled))  # the one trained nearest the maze's size
    return (bigger or any_size or [None])[0]
