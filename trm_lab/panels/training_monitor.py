"""Job monitoring off the event loop: a QObject living in its own QThread that polls the job manager on a timer,
reads new metric rows and log text of the followed job, and runs the slow actions (submit, stop, resume, pull).

The widget talks to it only through queued signals, so SSH round trips never block the window. Payloads travel as
`object` (not list/dict, which PySide converts to QVariant containers) so Python values cross threads untouched.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from trainers.jobs import JobError
from trainers.jobs.manager import JobManager
from trainers.rundir import read_metrics, rewinds

LOG_TAIL_BYTES = 64_000
UNREACHABLE_RETRY_S = 20.0


class JobMonitor(QObject):
    jobs = Signal(object)  # [Job] — every job in the store, refreshed
    rows = Signal(int, object, bool)  # job id, new metric rows, reset (True = rows replace what was shown)
    log = Signal(int, str, bool)  # job id, new log text, reset
    done = Signal(str)  # an action finished: status text
    failed = Signal(str)  # an action failed: message for the user

    def __init__(self, manager: JobManager | None = None, interval_ms: int = 1500) -> None:
        super().__init__()
        self._manager = manager
        self.interval_ms = interval_ms
        self._timer: QTimer | None = None
        self._follow: int | None = None
        self._line = 0
        self._last_step = 0  # the newest training step shown
        self._log_offset = 0
        self._retry_at: dict[int, float] = {}

    @property
    def manager(self) -> JobManager:
        if self._manager is None:
            self._manager = JobManager()
            if self._manager.store.notice:  # a damaged job store was set aside: say so once
                self.failed.emit(self._manager.store.notice)
        return self._manager

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        self._timer.start(self.interval_ms)
        self.tick()

    @Slot()
    def teardown(self) -> None:
        """Runs in the monitor thread: drop the timer there and hand this object back to the GUI thread."""
        if self._timer is not None:
            self._timer.stop()
            self._timer.deleteLater()
            self._timer = None
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())

    @Slot(int)
    def follow(self, job_id: int) -> None:
        """Show this job's metrics and log from the start."""
        self._follow, self._line, self._log_offset = job_id, 0, 0
        self._read_followed(reset=True)

    @Slot()
    def tick(self) -> None:
        try:
            jobs = self.manager.store.list()
        except JobError as exc:
            self.failed.emit(str(exc))
            return
        now = time.monotonic()
        fresh = []
        for job in jobs:
            if job.active and self._retry_at.get(job.id, 0.0) <= now:
                try:
                    job = self.manager.poll(job)
                except JobError as exc:  # one broken job must not stop the others being followed
                    self.failed.emit(str(exc))
                except Exception:  # noqa: BLE001 - never let the monitor thread die silently
                    self.failed.emit(traceback.format_exc(limit=3))
                # an unreachable host costs a connect timeout per poll: ask again later, not every tick
                self._retry_at[job.id] = now + (UNREACHABLE_RETRY_S if not job.reachable else 0.0)
            fresh.append(job)
        self.jobs.emit(fresh)
        self._read_followed(reset=False)

    def _read_followed(self, reset: bool) -> None:
        if self._follow is None:
            return
        try:
            job = self.manager.store.get(self._follow)
        except JobError:
            return
        rows, self._line = read_metrics(job.local_run, self._line)
        if not reset and rewinds(rows, self._last_step):  # resumed after a crash: show one row per step
            rows, self._line = read_metrics(job.local_run)
            reset = True
        steps = [r["step"] for r in rows if r.get("split") != "eval" and isinstance(r.get("step"), int)]
        self._last_step = steps[-1] if steps else (0 if reset else self._last_step)
        if rows or reset:
            self.rows.emit(job.id, rows, reset)
        path = Path(job.local_run) / "train.log"
        try:
            size = path.stat().st_size
            start = max(self._log_offset, size - LOG_TAIL_BYTES) if reset else self._log_offset
            with open(path, "rb") as fh:
                fh.seek(start)
                text = fh.read(size - start).decode(errors="replace")
            self._log_offset = size
        except OSError:
            text = ""
        if text or reset:
            self.log.emit(job.id, text, reset)

    @Slot(str, object)
    def act(self, action: str, params: dict) -> None:
        """submit / stop / resume / pull / remove, then refresh."""
        try:
            m = self.manager
            if action == "submit":
                job = m.submit(**params)
                self.done.emit(f"job {job.id} ({job.name}) started on {job.where}")
            else:
                job = m.store.get(params["job_id"])
                if action == "stop":
                    m.stop(job)
                    self.done.emit(f"stopping {job.name}\u2026")
                elif action == "resume":
                    m.resume(job)
                    self.done.emit(f"{job.name} resumed")
                elif action == "remove":
                    if job.active:
                        raise JobError(f"{job.name} is still {job.state}: stop it before removing it")
                    m.store.delete(job.id)
                    self.done.emit(f"removed {job.name} from the list (its run folder {job.local_run} stays)")
                elif action == "pull":
                    paths = m.pull(job)
                    self.done.emit(f"{len(paths)} checkpoint(s) of {job.name} here")
        except JobError as exc:
            self.failed.emit(str(exc))
        except Exception:  # noqa: BLE001
            self.failed.emit(traceback.format_exc(limit=3))
        self.tick()


class MonitorThread(QThread):
    """Owns a JobMonitor living in this thread."""

    _teardown = Signal()

    def __init__(self, monitor: JobMonitor, parent=None) -> None:
        super().__init__(parent)
        self.monitor = monitor
        monitor.moveToThread(self)
        self.started.connect(monitor.start)
        self._teardown.connect(monitor.teardown, Qt.ConnectionType.BlockingQueuedConnection)

    def finish(self, timeout_ms: int = 20_000) -> None:
        """Stop polling (after the current poll) and end the thread; jobs keep running."""
        if self.isRunning():
            self._teardown.emit()
            self.quit()
            self.wait(timeout_ms)
