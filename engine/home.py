"""The lab's own folder for models, jobs and caches: `TRM_LAB_HOME`, else `platformdirs.user_data_dir("trm-lab")`.

Light on purpose (no torch): the job store and the window's start-up read it."""

from __future__ import annotations

import os
from pathlib import Path


def lab_home() -> Path:
    env = os.environ.get("TRM_LAB_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("trm-lab"))
