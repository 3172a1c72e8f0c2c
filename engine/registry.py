"""Where models live: bundled ones in `assets/models/*.safetensors` (each with a model card beside it), then the
user's own in `<lab home>/models` (`TRM_LAB_HOME`, else `platformdirs.user_data_dir("trm-lab")`). Only the header
is read to list them; a file that cannot be a model is listed as broken, with the reason, and never used."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.checkpoint import CheckpointError, fits_any_maze, read_model_metadata
from engine.home import lab_home
from engine.puzzles.base import Encoding, PuzzleError

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"


def user_models_dir() -> Path:
    return lab_home() / "models"


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


@dataclass
class BrokenModel:
    path: Path
    problem: str  # one line, naming the file


def _entry(path: Path, bundled: bool) -> ModelEntry | BrokenModel:
    try:
        config, encoding, _ = read_model_metadata(path)
    except (CheckpointError, PuzzleError) as exc:
        return BrokenModel(path, str(exc))
    return ModelEntry(path.stem, path, encoding.kind, encoding, bundled, read_card(path), asdict(config))


def scan_models(bundled_dir: Path | None = None, user_dir: Path | None = None
                ) -> tuple[list[ModelEntry], list[BrokenModel]]:
    """(usable models: bundled first, then the user's, each folder sorted by name; files that are not)."""
    entries, broken = [], []
    for folder, bundled in ((bundled_dir or BUNDLED_DIR, True), (user_dir or user_models_dir(), False)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.safetensors")):
                entry = _entry(path, bundled)
                (entries if isinstance(entry, ModelEntry) else broken).append(entry)
    return entries, broken


def list_models(bundled_dir: Path | None = None, user_dir: Path | None = None) -> list[ModelEntry]:
    """The usable models, bundled first; broken files are skipped (`scan_models` names them)."""
    return scan_models(bundled_dir, user_dir)[0]


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
