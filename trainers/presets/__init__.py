"""Named training configs (JSON files in this folder): tiny ones for tests, CPU-sized ones (the bundled models)
and the paper's GPU configurations."""

from __future__ import annotations

from pathlib import Path

from trainers.config import ConfigError, TrainConfig

HERE = Path(__file__).parent


def list_presets() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.json"))


def preset_path(name: str) -> Path:
    path = HERE / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r} (available: {', '.join(list_presets())})")
    return path


def load_preset(name: str) -> TrainConfig:
    cfg = TrainConfig.load(preset_path(name))
    cfg.preset = name
    return cfg


def load_config(name_or_path: str) -> TrainConfig:
    """A preset by name, or a config JSON file by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        cfg = TrainConfig.load(path)
        cfg.preset = cfg.preset or path.stem
        return cfg
    return load_preset(name_or_path)
