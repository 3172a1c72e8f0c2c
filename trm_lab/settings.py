"""User settings (recent files, theme, last folders) in platformdirs' config dir, as one small JSON file.

Qt-free so it can be tested without a display; written atomically so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from engine.atomic import atomic_write_text

MAX_RECENT = 10


def settings_path() -> Path:
    """Where the settings live; `TRM_LAB_CONFIG_DIR` overrides it (tests, portable installs)."""
    override = os.environ.get("TRM_LAB_CONFIG_DIR")
    base = Path(override) if override else Path(platformdirs.user_config_dir("trm-lab"))
    return base / "settings.json"


@dataclass
class Settings:
    recent_files: list[str] = field(default_factory=list)
    theme: str = "system"  # "system" | "light" | "dark"
    last_dir: str = ""  # where puzzles were last opened or saved
    last_export_dir: str = ""  # where the last export went (exports start there, else in the home folder)
    playback_fps: float = 4.0

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.recent_files = [p] + [r for r in self.recent_files if r != p]
        del self.recent_files[MAX_RECENT:]

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read settings; a missing or unreadable file gives defaults (settings are never worth a crash)."""
        path = path or settings_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        out = cls()
        for key, value in data.items():
            if key in known and isinstance(value, type(getattr(out, key))):
                setattr(out, key, value)
        return out

    def save(self, path: Path | None = None) -> None:
        atomic_write_text(path or settings_path(), json.dumps(asdict(self), indent=2))
