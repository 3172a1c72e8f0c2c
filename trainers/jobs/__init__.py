"""Where a training run executes: this computer or SSH hosts (+ torchrun), and the job store that remembers them.

Nothing is imported eagerly: `python -m trainers.jobs.agent` runs on remote hosts next to a trainer on every poll,
so its start-up stays at bare-interpreter cost.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "JobError": "trainers.jobs.errors", "HostUnreachable": "trainers.jobs.errors", "Job": "trainers.jobs.model",
    "JobStore": "trainers.jobs.store", "lab_home": "trainers.jobs.store", "JobManager": "trainers.jobs.manager",
    "LocalBackend": "trainers.jobs.local", "SSHBackend": "trainers.jobs.remote",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'trainers.jobs' has no attribute {name!r}")
