"""Plain data for a job: where it runs, where its run directory lives, and what we last saw of it."""

from __future__ import annotations

from dataclasses import dataclass, field

# States written by the trainer (docs/formats.md) plus two the job manager infers when the process vanished.
TRAINER_STATES = ("queued", "running", "finished", "failed", "stopped")
LOST = "lost"  # the process is gone and never wrote a final state (killed, machine rebooted)
ACTIVE_STATES = ("submitted", "queued", "running", "stopping")
FINAL_STATES = ("finished", "failed", "stopped", LOST)


@dataclass
class Job:
    """One training run and where it executes. `hosts` empty = this computer; one host = SSH; several = multi-node."""

    name: str
    source: str  # preset name or path of the config JSON it was submitted with
    hosts: list[str] = field(default_factory=list)
    gpus: int = 0  # processes per node; 0 = a single plain process (no torchrun)
    device: str = "auto"
    args: list[str] = field(default_factory=list)  # extra trainer arguments on submit, e.g. ["--steps", "50"]
    local_run: str = ""  # the run directory here (local backend: the real one; ssh: a mirror we fill)
    remote_run: str = ""  # the run directory on the (first) host; empty for local jobs
    remote_job_dir: str = ""  # holds run/ and one nodeN/ per host (launcher pid, exit code, stdout)
    primary_host: str = ""  # the host whose run directory rank 0 writes (multi-node: found after each start)
    mirror_host: str = ""  # the host the local mirror's metrics/log currently continue from
    mirror_base: list[int] = field(default_factory=lambda: [0, 0])  # mirror lines/bytes before mirror_host's
    rdzv_port: int = 29400
    state: str = "submitted"
    step: int = 0
    total_steps: int = 0
    pid: int = 0
    created: float = 0.0
    started: float = 0.0
    launch: str = ""  # id of the latest start (submit or resume); its trainer copies it into status.json
    updated: float = 0.0
    ended: float = 0.0
    last_metrics: dict = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)  # local paths of pulled / present checkpoints
    message: str = ""
    reachable: bool = True
    id: int = 0

    @property
    def backend(self) -> str:
        return "ssh" if self.hosts else "local"

    @property
    def where(self) -> str:
        """Human label of the target: "this computer", "gpu1", or "gpu1,gpu2"."""
        base = ",".join(self.hosts) if self.hosts else "this computer"
        return f"{base} x{self.gpus}" if self.gpus > 1 else base

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def eta_s(self) -> float | None:
        eta = self.last_metrics.get("eta_s")
        return float(eta) if isinstance(eta, int | float) and self.active else None
