"""Run a job on this computer: a detached launcher process (own session) that outlives the window."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from trainers.jobs import agent
from trainers.jobs.common import new_launch_id, trainer_argv
from trainers.jobs.errors import JobError
from trainers.jobs.model import Job
from trainers.rundir import LAUNCH_ENV

_children: dict[int, subprocess.Popen] = {}  # launchers we started, reaped on poll so they leave no zombie


class LocalBackend:
    """Start, follow, stop and resume a run directory on this machine."""

    def __init__(self, home: Path, python: str | None = None) -> None:
        self.home = Path(home)
        self.python = python or sys.executable

    def job_dir(self, job: Job) -> Path:
        return self.home / "jobs" / str(job.id)

    def prepare(self, job: Job) -> dict:
        run = Path(job.local_run) if job.local_run else self.job_dir(job) / "run"
        return {"local_run": str(run.resolve())}

    def start(self, job: Job, *, resume: bool = False) -> dict:
        run = Path(job.local_run)
        node = self.job_dir(job) / "node0"
        node.mkdir(parents=True, exist_ok=True)
        if not resume and run.exists() and any(run.iterdir()):
            raise JobError(f"{run}: the run directory is not empty; resume it or choose another")
        run.parent.mkdir(parents=True, exist_ok=True)
        source = job.source
        if not resume and source.endswith(".json"):
            if not Path(source).is_file():
                raise JobError(f"{source}: no such config file")
            source = str(Path(source).resolve())
        for name in ("launcher.pid", "exit.json"):
            (node / name).unlink(missing_ok=True)
        argv = trainer_argv(self.python, job, str(run), source=source, resume=resume)
        # the trainer runs where the user is (relative data paths in a config mean what they meant there) and
        # imports this checkout's code
        cwd = os.getcwd()
        cmd = [self.python, "-m", "trainers.jobs.agent", "launch", str(node), "--cwd", cwd, "--", *argv]
        launch = new_launch_id()
        env = dict(os.environ, **{LAUNCH_ENV: launch})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self._code_root()), env.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        except OSError as exc:
            raise JobError(f"job {job.name!r}: cannot start {self.python}: {exc}") from exc
        _children[proc.pid] = proc
        deadline = time.monotonic() + 30
        while not (node / "launcher.pid").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise JobError(f"job {job.name!r}: the launcher did not start (see {node / 'output.log'})")
            time.sleep(0.02)
        return {"pid": proc.pid, "state": "queued", "started": time.time(), "launch": launch, "message": "",
                "reachable": True}

    @staticmethod
    def _code_root() -> Path:
        return Path(__file__).resolve().parents[2]  # the folder holding engine/ and trainers/

    def probe(self, job: Job, metrics_from: int, log_from: int = 0) -> dict:
        for pid, proc in list(_children.items()):
            if proc.poll() is not None:
                _children.pop(pid, None)
        job_dir = self.job_dir(job)
        result = agent.probe(job_dir, ["node0"], metrics_from, log_from, run=False)
        run = Path(job.local_run)
        lines, next_line = agent.read_lines_from(run / "metrics.jsonl", metrics_from)
        status = agent.read_json(run / "status.json")
        result.update(status=status, metrics=lines, metrics_next=next_line,
                      checkpoints=agent.list_checkpoints(run))  # the log is read in place by whoever shows it
        return result

    def stop(self, job: Job, sig: str = "TERM") -> dict:
        return agent.stop(self.job_dir(job), ["node0"], sig)

    def pull(self, job: Job, names: list[str]) -> list[Path]:
        """Checkpoints are already here; optionally copy them elsewhere with `export`."""
        return [Path(job.local_run) / "checkpoints" / n for n in names]

    def forget(self, job: Job) -> None:
        shutil.rmtree(self.job_dir(job), ignore_errors=True)
