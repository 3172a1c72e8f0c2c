"""The job manager: submit, follow, stop, resume and pull jobs through the right backend, recorded in the store.

The window and `trm-lab jobs` both use this. A poll brings the store (state, step, last metrics, checkpoints) up to
date and, for an SSH job, appends what is new to a local mirror of the run directory; readers then use
`trainers.rundir` on `job.local_run` whatever the backend. Polls of one job are serialised across processes with a
file lock, so the window and a `trm-lab jobs attach` never append the same metrics twice.
"""

from __future__ import annotations

import fcntl
import json
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from trainers.jobs.agent import checkpoint_step, list_checkpoints
from trainers.jobs.common import infer_state, trainer_entry
from trainers.jobs.errors import HostUnreachable, JobError
from trainers.jobs.local import LocalBackend
from trainers.jobs.model import FINAL_STATES, Job
from trainers.jobs.remote import SSHBackend
from trainers.jobs.ssh import SSHOptions, parse_target
from trainers.jobs.store import JobStore, lab_home


class JobManager:
    """One entry point for every backend. Cheap to create; safe to share between threads (calls are independent)."""

    def __init__(self, store: JobStore | None = None, *, home: Path | None = None,
                 ssh_options: SSHOptions | None = None) -> None:
        self.home = Path(home) if home else lab_home()
        self.store = store or JobStore(self.home / "jobs.sqlite3")
        self.local = LocalBackend(self.home)
        self.ssh = SSHBackend(self.home, ssh_options or SSHOptions.from_env())
        self._local_offsets: dict[int, int] = {}

    def backend(self, job: Job) -> LocalBackend | SSHBackend:
        return self.ssh if job.hosts else self.local

    # ---- submit / stop / resume -------------------------------------------------------------------------------------
    def submit(self, source: str, *, hosts: list[str] | None = None, gpus: int = 0, device: str = "auto",
               name: str | None = None, run_dir: str | None = None, rdzv_port: int | None = None,
               args: list[str] | None = None) -> Job:
        """Record a new job and start it. `source` is a preset name or a config JSON path (on this computer)."""
        if not source:
            raise JobError("submit: give a preset name or a config JSON file")
        if source.endswith(".json") and not Path(source).is_file():
            raise JobError(f"{source}: no such config file")
        hosts = [h.strip() for h in (hosts or []) if h and h.strip()]
        for host in hosts:
            parse_target(host)  # refuse a malformed host before anything is recorded
        check_submission(source, name, rdzv_port, list(args or []))
        if run_dir and hosts:
            raise JobError("--out applies to jobs on this computer; remote runs live in the host's trm-lab folder")
        stem = name or f"{Path(source).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        job = Job(name=stem, source=str(Path(source).resolve()) if source.endswith(".json") else source,
                  hosts=hosts, gpus=max(0, int(gpus)), device=device or "auto", args=list(args or []),
                  local_run=str(Path(run_dir).resolve()) if run_dir else "")
        if rdzv_port:
            job.rdzv_port = int(rdzv_port)
        job = self.store.add(job)
        backend = self.backend(job)
        try:
            job = self._apply(job, backend.prepare(job))
            job = self._apply(job, backend.start(job, resume=False))
        except JobError as exc:
            self.store.update(job.id, state="failed", message=str(exc), ended=time.time())
            raise
        return job

    def stop(self, job: Job) -> Job:
        """Ask the trainer to checkpoint and exit (SIGTERM to its process group); it ends as `stopped`."""
        job = self.store.get(job.id)
        done = self.backend(job).stop(job)
        if any(v == "signalled" for v in done.values()):
            self.store.update(job.id, state="stopping", message="stop requested")
        return self.poll(job)

    def resume(self, job: Job) -> Job:
        """Start the trainer again with `--resume`; it continues from the newest complete checkpoint."""
        job = self.poll(self.store.get(job.id))
        if job.state not in FINAL_STATES:
            raise JobError(f"job {job.name!r} is {job.state}; stop it before resuming")
        if job.state == "finished":
            raise JobError(f"job {job.name!r} has finished; nothing to resume")
        return self._apply(job, self.backend(job).start(job, resume=True) | {"ended": 0.0})

    def _apply(self, job: Job, values: dict) -> Job:
        self.store.update(job.id, **values)
        return replace(job, **values)

    # ---- follow -----------------------------------------------------------------------------------------------------
    @contextmanager
    def _poll_lock(self, job: Job):
        path = self.home / "jobs" / str(job.id) / ".poll.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def poll(self, job: Job, *, pull: bool = True) -> Job:
        """Bring the job's record (and an SSH job's local mirror) up to date. Never raises for an unreachable host:
        the job is marked unreachable and the next poll tries again."""
        with self._poll_lock(job):
            job = self.store.get(job.id)
            backend = self.backend(job)
            run = Path(job.local_run)
            if job.hosts:
                metrics_from, log_from = self._mirror_offsets(job)
            else:
                metrics_from, log_from = self._local_offsets.get(job.id, 0), 0
            try:
                probe = backend.probe(job, metrics_from, log_from)
                if job.hosts and probe.get("primary_host") != job.primary_host:
                    job = self._found_primary(job, probe["primary_host"])  # multi-node: rank 0's host is known
                    probe = backend.probe(job, *self._mirror_offsets(job))
            except HostUnreachable as exc:
                self.store.update(job.id, reachable=False, message=str(exc))
                return self.store.get(job.id)
            values = infer_state(job, probe)
            values["reachable"] = True
            if job.hosts:
                self.ssh.mirror(job, probe)
            else:
                self._local_offsets[job.id] = probe["metrics_next"]
            merged = _merge_rows(job.last_metrics, probe.get("metrics") or [])
            if merged != job.last_metrics:
                values["last_metrics"] = merged
            names = probe.get("checkpoints") or []
            if job.hosts and pull and names and not (run / "checkpoints" / names[-1]).exists():
                try:
                    self.ssh.pull(job, names[-1:])
                except HostUnreachable as exc:
                    values.update(reachable=False, message=str(exc))
                except JobError as exc:  # following goes on; the next poll fetches it again
                    values["message"] = str(exc)
            values["checkpoints"] = _present_checkpoints(run)
            if values.get("state") == job.state and job.state == "stopping" and not values.get("message"):
                values.pop("message", None)
            self.store.update(job.id, **values)
            return self.store.get(job.id)

    @staticmethod
    def _mirror_offsets(job: Job) -> tuple[int, int]:
        """Where the primary host's metrics.jsonl / train.log continue: the mirror's size minus what it held before
        it followed this host."""
        run = Path(job.local_run)
        size = (run / "train.log").stat().st_size if (run / "train.log").exists() else 0
        return _count_lines(run / "metrics.jsonl") - job.mirror_base[0], size - job.mirror_base[1]

    def _found_primary(self, job: Job, host: str) -> Job:
        values: dict = {"primary_host": host}
        if host != job.mirror_host:  # a different machine's run directory: its files start from zero
            run = Path(job.local_run)
            size = (run / "train.log").stat().st_size if (run / "train.log").exists() else 0
            values.update(mirror_host=host, mirror_base=[_count_lines(run / "metrics.jsonl"), size])
        self.store.update(job.id, **values)
        return replace(job, **values)

    def pull(self, job: Job) -> list[Path]:
        """Fetch every complete checkpoint of the job to its local run directory; returns their local paths."""
        job = self.poll(job, pull=False)
        if not job.hosts:
            return [Path(p) for p in job.checkpoints]
        with self._poll_lock(job):
            run = Path(job.local_run)
            probe = self.ssh.probe(job, *self._mirror_offsets(job))
            self.ssh.mirror(job, probe)
            names = [n for n in probe.get("checkpoints") or [] if not (run / "checkpoints" / n).exists()]
            if names:
                self.ssh.pull(job, names)
            present = _present_checkpoints(run)
            self.store.update(job.id, checkpoints=present)
        return [Path(p) for p in present]

    def pruned_before_fetched(self, job: Job) -> list[int]:
        """Checkpoint steps an SSH job wrote that exist neither here nor on the host any more: the trainer keeps only
        its newest `keep_checkpoints` and pruned these before a poll fetched them."""
        if not job.hosts:
            return []
        run = Path(job.local_run)
        try:
            every = int(json.loads((run / "config.json").read_text()).get("checkpoint_every") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            return []
        have = [checkpoint_step(Path(p).name) or 0 for p in _present_checkpoints(run)]
        if every <= 0 or not have:
            return []
        return [s for s in range(every, min(have), every) if s not in have]

    def active_jobs(self) -> list[Job]:
        return [j for j in self.store.list() if j.active]


MAX_NAME = 100


def check_submission(source: str, name: str | None, rdzv_port: int | None, args: list[str]) -> None:
    """What the trainer would refuse on the host, refused here before anything is recorded or sent: the preset or
    config file, every --set override, the name and the rendezvous port. (A stand-in trainer set by
    TRM_LAB_TRAINER has its own presets, so only the real one is checked.)"""
    if name is not None and (len(name) > MAX_NAME or not name.isprintable() or not name.strip()):
        raise JobError(f"job name {name[:40]!r}...: use up to {MAX_NAME} printable characters" if len(name) > 40
                       else f"job name {name!r}: use up to {MAX_NAME} printable characters")
    if rdzv_port is not None and not 1 <= int(rdzv_port) <= 65535:
        raise JobError(f"rendezvous port {rdzv_port}: a port is 1-65535")
    if trainer_entry() != ["-m", "trainers.run"]:
        return
    from trainers.config import ConfigError
    from trainers.presets import load_config
    from trainers.run import apply_overrides, build_parser

    try:
        parsed = build_parser().parse_args(["x", *args])
    except SystemExit:
        raise JobError(f"trainer arguments {' '.join(args)!r} are not what the trainer takes") from None
    changes = list(parsed.set) + ([f"steps={parsed.steps}"] if parsed.steps is not None else [])
    try:
        apply_overrides(load_config(source), changes)
    except ConfigError as exc:
        raise JobError(f"{source}: {exc}") from None


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


def _merge_rows(last: dict, lines: list[str]) -> dict:
    """The newest training row, with the newest evaluation's numbers under `eval_` keys."""
    out = dict(last)
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict):
            continue
        if row.get("split") == "eval":
            out.update({f"eval_{k}": v for k, v in row.items() if isinstance(v, int | float) and k != "time"})
        else:
            out.update({k: v for k, v in row.items() if isinstance(v, int | float | str)})
    return out


def _present_checkpoints(run: Path) -> list[str]:
    """Local paths of complete checkpoints (up to the one latest.json names)."""
    return [str(run / "checkpoints" / n) for n in list_checkpoints(run)]
