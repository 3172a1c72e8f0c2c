"""What both backends share: the trainer command line, and turning a probe into the job's state."""

from __future__ import annotations

import calendar
import os
import shlex
import time
import uuid

from trainers.jobs.model import FINAL_STATES, LOST, Job


def trainer_entry() -> list[str]:
    """How to start the trainer after `python`: `-m trainers.run` (tests point `TRM_LAB_TRAINER` at a script)."""
    env = os.environ.get("TRM_LAB_TRAINER")
    return shlex.split(env) if env else ["-m", "trainers.run"]


def trainer_argv(python: str, job: Job, run: str, *, source: str | None, resume: bool,
                 rdzv_host: str | None = None) -> list[str]:
    """`python -m trainers.run ...`, or the same under torchrun for several processes or nodes."""
    entry = trainer_entry()
    if resume:
        tail = ["--resume", run]
    else:
        tail = [source or job.source, "--out", run, *job.args]
    if job.device and job.device != "auto":
        tail += ["--device", job.device]
    nodes = max(1, len(job.hosts))
    if job.gpus <= 1 and nodes == 1:
        return [python, *entry, *tail]
    launcher = [python, "-m", "torch.distributed.run", "--nproc-per-node", str(max(1, job.gpus))]
    if nodes == 1:
        launcher += ["--standalone"]
    else:
        launcher += ["--nnodes", str(nodes), "--rdzv-backend", "c10d",
                     "--rdzv-endpoint", f"{rdzv_host}:{job.rdzv_port}", "--rdzv-id", f"trm-lab-{job.id}"]
    if entry[:1] == ["-m"]:
        launcher += ["-m", entry[1], *entry[2:]]
    else:
        launcher += entry
    return launcher + tail


def infer_state(job: Job, probe: dict) -> dict:
    """New values for the job's fields from one probe (status.json + launcher liveness of every node)."""
    status = probe.get("status") or {}
    nodes = probe.get("nodes") or {}
    trainer_state = status.get("state")
    alive = any(n.get("alive") for n in nodes.values())
    started = any(n.get("started") for n in nodes.values())
    exits = [n.get("exit") for n in nodes.values() if n.get("exit")]
    out: dict = {}
    if status:
        out["step"] = int(status.get("step") or 0)
        out["total_steps"] = int(status.get("total_steps") or job.total_steps or 0)
    # status.json left over from before a (re)start while the new trainer has not written one yet
    stale = alive and not status_is_current(job, status)
    if trainer_state in FINAL_STATES and not stale:  # rank 0 said so; other ranks may still be tearing down
        state = trainer_state
        out["message"] = status.get("message") or ""
    elif alive:
        state = "stopping" if job.state == "stopping" else (trainer_state if not stale and trainer_state else "queued")
    elif exits:
        codes = sorted({e.get("returncode") for e in exits}, key=str)
        state = "failed"
        said = next((e["last_line"] for e in exits if e.get("last_line") and (e.get("returncode") or 0) > 0), "")
        out["message"] = (f"the trainer exited with code {', '.join(map(str, codes))}"
                          + (f": {said}" if said else " without a final status"))
    elif started or job.state in ("running", "stopping"):
        state = LOST
        out["message"] = "the training process is gone and left no final status"
    else:
        state = job.state  # launched a moment ago: the launcher has not written its pid yet
    out["state"] = state
    if state in FINAL_STATES and job.state not in FINAL_STATES:
        out["ended"] = time.time()
    return out


def new_launch_id() -> str:
    """A fresh id for one start of a job (submit or resume), recorded as `Job.launch`. The backend hands it to the
    trainer in the environment (`trainers.rundir.LAUNCH_ENV`), which copies it into status.json as `launch`."""
    return uuid.uuid4().hex


def status_is_current(job: Job, status: dict | None) -> bool:
    """True when status.json was written by the job's latest start, not left from one before a resume. (A job
    started before launch ids existed has "" on both sides.)"""
    return bool(status) and (status.get("launch") or "") == job.launch


def status_time(status: dict | None) -> float:
    """status.json's `updated` as epoch seconds (0 when absent or unreadable)."""
    value = (status or {}).get("updated")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(calendar.timegm(time.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return 0.0
