"""Where a training run executes: this computer or SSH hosts (+ torchrun), and the job store that remembers them.

Only the standard library is imported here: `python -m trainers.jobs.agent` runs on remote hosts next to a trainer.
"""

from trainers.jobs.errors import HostUnreachable, JobError
from trainers.jobs.model import Job
from trainers.jobs.store import JobStore, lab_home

__all__ = ["HostUnreachable", "Job", "JobError", "JobStore", "lab_home", "JobManager", "LocalBackend", "SSHBackend"]


def __getattr__(name: str):  # the backends load lazily so the remote agent stays light
    if name == "JobManager":
        from trainers.jobs.manager import JobManager

        return JobManager
    if name == "LocalBackend":
        from trainers.jobs.local import LocalBackend

        return LocalBackend
    if name == "SSHBackend":
        from trainers.jobs.remote import SSHBackend

        return SSHBackend
    raise AttributeError(name)
