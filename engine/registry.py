"""Where models live: bundled ones in `assets/models/*.safetensors` (each with a model card beside it), then the
user's own in `<lab home>/models` (`TRM_LAB_HOME`, else `platformdirs.user_data_dir("trm-lab")`). Only the header
is read to list them; a file that cannot be a model is listed as broken, with the reason, and never used."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.checkpoint import CheckpointError, read_model_metadata, runs_on_any_canvas
from engine.home import ASSETS_DIR, lab_home
from engine.puzzles.base import Encoding, PuzzleError
from engine.puzzles.kind import get_kind

BUNDLED_DIR = ASSETS_DIR / "models"  # package data (engine.home)


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
    style: str | None = None  # the family of puzzles it was trained on (mazes: "dfs" or "hard"; PuzzleKind.style)


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


def model_entry(path: str | os.PathLike, bundled: bool = False) -> ModelEntry:
    """A checkpoint's entry from its metadata alone (no weights read); CheckpointError naming the file otherwise."""
    path = Path(path)
    try:
        config, encoding, training = read_model_metadata(path)
    except PuzzleError as exc:
        raise CheckpointError(str(exc)) from None
    dataset = training.get("dataset") if isinstance(training.get("dataset"), dict) else {}
    style = get_kind(encoding.kind).trained_style(dataset)
    return ModelEntry(path.stem, path, encoding.kind, encoding, bundled, read_card(path), asdict(config), style)


def _entry(path: Path, bundled: bool) -> ModelEntry | BrokenModel:
    try:
        return model_entry(path, bundled)
    except CheckpointError as exc:
        return BrokenModel(path, str(exc))


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


def model_fits(model_kind: str, rows: int, pos_encodings: str | None, kind: str, shape: tuple[int, ...]) -> bool:
    """Can a model (its puzzle kind, its canvas side, its position encoding) solve a `kind` puzzle of `shape`?"""
    return model_kind == kind and get_kind(kind).fits(rows, tuple(shape), runs_on_any_canvas(kind, pos_encodings))


def rank_models(kind: str, shape: tuple[int, ...] | int | None = None, entries: list[ModelEntry] | None = None,
                style: str | None = None, **dirs) -> list[ModelEntry]:
    """The models that can solve a `kind` puzzle of `shape`, best first, from metadata only (the CLI's default and
    the window's picker): bundled before the user's; then those trained on the puzzle's `style` (a Maze-Hard grid
    gets the model trained on random walls); then models trained at least as large as the grid, nearest
    size first (a smaller maze is padded, an ARC grid sits on the canvas); then, for a relative2d maze model that
    runs on any canvas, the one trained nearest the grid's size. `entries`: an already listed set."""
    listed = list_models(**dirs) if entries is None else entries
    if shape is None:
        return [e for e in listed if e.kind == kind]
    shape = (shape, shape) if isinstance(shape, int) else tuple(shape)
    side = max(shape)
    fitting = [e for e in listed if model_fits(e.kind, e.encoding.rows, e.config.get("pos_encodings"), kind, shape)]
    return sorted(fitting, key=lambda e: (not e.bundled, style is not None and e.style != style,
                                          e.encoding.rows < side, abs(e.encoding.rows - side), e.name))


def default_model(kind: str, shape: tuple[int, ...] | int | None = None, style: str | None = None, **dirs
                  ) -> ModelEntry | None:
    """The best model for a puzzle (`rank_models`), None when none fits."""
    ranked = rank_models(kind, shape, style=style, **dirs)
    return ranked[0] if ranked else None
