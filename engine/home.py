"""Where things live: the lab's own folder for models, jobs and caches (`TRM_LAB_HOME`, else
`platformdirs.user_data_dir("trm-lab")`) and the package data shipped with the lab (bundled models, example puzzles).

Light on purpose (no torch): the job store and the window's start-up read it."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# Package data, found through importlib.resources: in the source tree `engine/assets` links to the repository's assets/,
# in an installed wheel it holds the files themselves.
ASSETS_DIR = Path(str(resources.files("engine") / "assets"))
EXAMPLES_DIR = ASSETS_DIR / "puzzles"  # example puzzles, one file or more per kind (the window's Start page)


def lab_home() -> Path:
    env = os.environ.get("TRM_LAB_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("trm-lab"))
