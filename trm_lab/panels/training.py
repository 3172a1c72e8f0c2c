"""The Training panel: the job list (state, progress, ETA), and for the selected job live curves, the log tail and
its checkpoints ("Open in solver", "Export..."). All job I/O runs in a JobMonitor thread; this widget only renders
what the monitor reports and sends it requests, so a slow or unreachable host never freezes the window."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trainers.jobs import Job, JobError
from trainers.jobs.manager import JobManager
from trm_lab import theme
from trm_lab.panels.training_dialog import NewRunDialog
from trm_lab.panels.training_monitor import JobMonitor, MonitorThread

# plot title -> (train key(s), eval key(s)); the first key present in a row is used
CURVES = {
    "Loss": (("loss",), ("loss",)),
    "Exact accuracy": (("exact_accuracy",), ("exact_accuracy",)),
    "Halting accuracy": (("q_halt_accuracy",), ("halt_accuracy", "q_halt_accuracy")),
    "Mean steps": (("mean_steps",), ("mean_halt_step", "mean_steps")),
    "Samples/s": (("samples_per_s",), ()),
}
COLUMNS = ("Name", "Where", "State", "Progress", "ETA")


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingPanel(QWidget):
    open_checkpoint = Signal(str)  # "open this checkpoint in the solver"
    checkpointsFound = Signal(object)  # [path]: each listed run's newest checkpoint (for the solve panels)
    message = Signal(str)  # status-bar text
    _request = Signal(str, object)  # -> monitor.act (queued into the monitor thread)
    _follow = Signal(int)  # -> monitor.follow

    def __init__(self, manager: JobManager | None = None, parent: QWidget | None = None,
                 interval_ms: int = 1500) -> None:
        super().__init__(parent)
        self.jobs: dict[int, Job] = {}
        self.selected: int | None = None
        self._items: dict[int, QTreeWidgetItem] = {}
        self._bars: dict[int, QProgressBar] = {}
        self._series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        self._awaiting_new = False  # a run was submitted: select it (and its empty plots) as soon as it is listed
        self._stopping: set[int] = set()  # jobs asked to stop whose end has not been seen yet
        self._known_checkpoints: list[str] = []
        self._build()
        self.monitor = JobMonitor(manager, interval_ms)
        self.thread = MonitorThread(self.monitor, self)
        self._request.connect(self.monitor.act)
        self._follow.connect(self.monitor.follow)
        self.monitor.jobs.connect(self._on_jobs)
        self.monitor.rows.connect(self._on_rows)
        self.monitor.log.connect(self._on_log)
        self.monitor.done.connect(self._on_done)
        self.monitor.failed.connect(self._on_failed)
        app = QCoreApplication.instance()
        if app is not None:  # the thread must end before Qt tears the panel down, however the app exits
            app.aboutToQuit.connect(self.shutdown)
        self.thread.start()

    # ---- layout -----------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.new_button = QPushButton("New run\u2026")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.pull_button = QPushButton("Pull checkpoints")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected job from the list (a finished, stopped or failed one; its "
                                      "run folder and checkpoints stay on disk)")
        for b, slot in ((self.new_button, self.new_run), (self.stop_button, self.stop_selected),
                        (self.resume_button, self.resume_selected), (self.pull_button, self.pull_selected),
                        (self.remove_button, self.remove_selected)):
            b.clicked.connect(slot)
            bar.addWidget(b)
        bar.addStretch(1)
        self.status = QLabel("")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.status, 3)
        outer.addLayout(bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(split, 1)
        self.job_list = QTreeWidget()
        self.job_list.setHeaderLabels(list(COLUMNS))
        self.job_list.setRootIsDecorated(False)
        self.job_list.itemSelectionChanged.connect(self._selection_changed)
        for column, width in enumerate((130, 110, 80, 100, 60)):
            self.job_list.setColumnWidth(column, width)
        split.addWidget(self.job_list)
        right = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        self.plots = theme.themed_plot(pg.GraphicsLayoutWidget())
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        for i, title in enumerate(CURVES):
            plot = self.plots.addPlot(row=i // 3, col=i % 3, title=title)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(5, 5)) if i == 0 else None
            self.curves[title] = {
                "train": plot.plot(pen=pg.mkPen("#3b82f6", width=2), name="train"),
                "eval": plot.plot(pen=pg.mkPen("#f97316", width=2), symbol="o", symbolSize=6,
                                  symbolBrush="#f97316", name="eval"),
            }
        right.addWidget(self.plots)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(3000)
        self.log_view.setPlaceholderText("train.log of the selected job")
        bottom.addWidget(self.log_view)
        ck = QWidget()
        ck_layout = QVBoxLayout(ck)
        ck_layout.setContentsMargins(0, 0, 0, 0)
        ck_layout.addWidget(QLabel("Checkpoints"))
        self.checkpoint_list = QListWidget()
        self.checkpoint_list.itemDoubleClicked.connect(lambda *_: self.open_selected_checkpoint())
        ck_layout.addWidget(self.checkpoint_list, 1)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open in solver")
        self.open_button.clicked.connect(self.open_selected_checkpoint)
        self.export_button = QPushButton("Export\u2026")
        self.export_button.clicked.connect(self.export_selected_checkpoint)
        row.addWidget(self.open_button)
        row.addWidget(self.export_button)
        ck_layout.addLayout(row)
        bottom.addWidget(ck)
        right.addWidget(bottom)
        split.setSizes([500, 800])
        right.setSizes([460, 240])
        self._update_buttons()

    # ---- monitor reports --------------------------------------------------------------------------------------------
    def _on_jobs(self, jobs: list) -> None:
        new_ids = [job.id for job in jobs if job.id not in self._items]
        listed = {job.id for job in jobs}
        for job_id in [j for j in self._items if j not in listed]:  # removed (here or by `trm-lab jobs`)
            self._drop_item(job_id)
        for job in jobs:
            self.jobs[job.id] = job
            item = self._items.get(job.id)
            if item is None:
                item = QTreeWidgetItem([job.name, job.where, "", "", ""])
                item.setData(0, Qt.ItemDataRole.UserRole, job.id)
                self.job_list.addTopLevelItem(item)
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setTextVisible(True)
                self.job_list.setItemWidget(item, 3, bar)
                self._items[job.id], self._bars[job.id] = item, bar
            state = job.state if job.reachable else f"{job.state} (host unreachable)"
            item.setText(2, state)
            item.setToolTip(2, job.message or state)
            item.setText(4, format_eta(job.eta_s))
            bar = self._bars[job.id]
            bar.setValue(int(job.progress * 1000))
            bar.setFormat(f"{job.step}/{job.total_steps}" if job.total_steps else "")
        if self._awaiting_new and new_ids:
            self._awaiting_new = False
            self.select_job(max(new_ids))  # the run just started, with its own (empty) plots
        elif self.selected is None and jobs:
            active = [j for j in jobs if j.active] or jobs
            self.select_job(active[-1].id)
        for job in jobs:  # a stop that has taken effect: say so instead of "stopping..."
            if job.id in self._stopping and not job.active:
                self._stopping.discard(job.id)
                self.status.setText(f"{job.name} {job.state}")
                self.message.emit(f"{job.name} {job.state}")
        found = [job.checkpoints[-1] for job in jobs if job.checkpoints]  # each run's newest
        if found != self._known_checkpoints:
            self._known_checkpoints = found
            self.checkpointsFound.emit(list(found))
        self._refresh_checkpoints()
        self._update_buttons()

    def _drop_item(self, job_id: int) -> None:
        item = self._items.pop(job_id, None)
        self._bars.pop(job_id, None)
        self.jobs.pop(job_id, None)
        if item is not None:
            self.job_list.takeTopLevelItem(self.job_list.indexOfTopLevelItem(item))
        if self.selected == job_id:
            self.selected = None
            self._clear_plots()
            self.log_view.clear()

    def _on_rows(self, job_id: int, rows: list, reset: bool) -> None:
        if job_id != self.selected:
            return
        if reset:
            self._series = {t: {"train": ([], []), "eval": ([], [])} for t in CURVES}
        for row in rows:
            split = "eval" if row.get("split") == "eval" else "train"
            step = row.get("step")
            if not isinstance(step, int | float):
                continue
            for title, keys in CURVES.items():
                for key in keys[0 if split == "train" else 1]:
                    value = row.get(key)
                    if isinstance(value, int | float):
                        xs, ys = self._series[title][split]
                        xs.append(float(step))
                        ys.append(float(value))
                        break
        for title, by_split in self._series.items():
            for split, (xs, ys) in by_split.items():
                self.curves[title][split].setData(xs, ys)

    def _on_log(self, job_id: int, text: str, reset: bool) -> None:
        if job_id != self.selected:
            return
        if reset:
            self.log_view.clear()
        if text:
            self.log_view.moveCursor(self.log_view.textCursor().MoveOperation.End)
            self.log_view.insertPlainText(text)
            self.log_view.ensureCursorVisible()

    def _on_done(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit(text)

    def _on_failed(self, text: str) -> None:
        self.status.setText(text.strip().splitlines()[-1] if text.strip() else "error")
        self.status.setToolTip(text)
        self.message.emit(text)

    # ---- selection and actions --------------------------------------------------------------------------------------
    def select_job(self, job_id: int) -> None:
        item = self._items.get(job_id)
        if item is not None:
            self.job_list.setCurrentItem(item)

    def _selection_changed(self) -> None:
        items = self.job_list.selectedItems()
        job_id = items[0].data(0, Qt.ItemDataRole.UserRole) if items else None
        if job_id == self.selected:
            return
        self.selected = job_id
        self._clear_plots()
        self.log_view.clear()
        if job_id is not None:
            self._follow.emit(int(job_id))
        self._refresh_checkpoints()
        self._update_buttons()

    def _clear_plots(self) -> None:
        self._series = {t: {"train": ([], []), "eval": ([], [])} for t in CURVES}
        for by_split in self.curves.values():
            for curve in by_split.values():
                curve.setData([], [])

    def _refresh_checkpoints(self) -> None:
        job = self.jobs.get(self.selected) if self.selected is not None else None
        paths = job.checkpoints if job else []
        current = [self.checkpoint_list.item(i).data(Qt.ItemDataRole.UserRole)
                   for i in range(self.checkpoint_list.count())]
        if current == paths:
            return
        chosen = self.checkpoint_list.currentItem()
        at_end = self.checkpoint_list.currentRow() == self.checkpoint_list.count() - 1
        keep = chosen.data(Qt.ItemDataRole.UserRole) if chosen and not at_end else None  # else follow the newest
        self.checkpoint_list.clear()
        for path in paths:
            item = QListWidgetItem(Path(path).name)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.checkpoint_list.addItem(item)
            if path == keep:
                self.checkpoint_list.setCurrentItem(item)
        if self.checkpoint_list.currentItem() is None and paths:
            self.checkpoint_list.setCurrentRow(len(paths) - 1)

    def _update_buttons(self) -> None:
        job = self.jobs.get(self.selected) if self.selected is not None else None
        self.stop_button.setEnabled(bool(job and job.active))
        self.resume_button.setEnabled(bool(job and job.state in ("stopped", "failed", "lost")))
        self.pull_button.setEnabled(bool(job and job.hosts))
        self.remove_button.setEnabled(bool(job and not job.active))
        has_ck = self.checkpoint_list.count() > 0
        self.open_button.setEnabled(has_ck)
        self.export_button.setEnabled(has_ck)

    def new_run(self) -> None:
        dialog = NewRunDialog(self)
        if dialog.exec():
            try:
                self.submit(dialog.request())
            except JobError as exc:
                self._on_failed(str(exc))

    def submit(self, request: dict) -> None:
        """Start a job (in the monitor thread); `request` = JobManager.submit keyword arguments."""
        self.status.setText("starting\u2026")
        self._awaiting_new = True
        self._request.emit("submit", request)

    def stop_selected(self) -> None:
        if self.selected is not None:
            self._stopping.add(self.selected)
            self._request.emit("stop", {"job_id": self.selected})

    def remove_selected(self) -> None:
        """Forget a job that no longer runs (its files stay where they are)."""
        job = self.jobs.get(self.selected) if self.selected is not None else None
        if job is not None and not job.active:
            self._request.emit("remove", {"job_id": job.id})

    def resume_selected(self) -> None:
        if self.selected is not None:
            self._request.emit("resume", {"job_id": self.selected})

    def pull_selected(self) -> None:
        if self.selected is not None:
            self._request.emit("pull", {"job_id": self.selected})

    def selected_checkpoint(self) -> str | None:
        item = self.checkpoint_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def open_selected_checkpoint(self) -> None:
        path = self.selected_checkpoint()
        if path:
            self.open_checkpoint.emit(path)

    def export_selected_checkpoint(self, target: str | None = None) -> Path | None:
        path = self.selected_checkpoint()
        if not path:
            return None
        if not target:
            target, _ = QFileDialog.getSaveFileName(self, "Export checkpoint", Path(path).name,
                                                    "Checkpoint (*.safetensors)")
            if not target:
                return None
        from engine.checkpoint import CheckpointError
        from trainers.checkpointing import export_model

        try:
            out = export_model(Path(path), Path(target))  # the model alone: no optimizer moments or ACT carry
        except (CheckpointError, OSError) as exc:
            self._on_failed(f"{target}: cannot export {Path(path).name}: {exc}")
            return None
        self._on_done(f"exported {out}")
        return out

    def shutdown(self) -> None:
        """Stop following (jobs keep running); called when the window closes."""
        self.thread.finish()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.shutdown()
        super().closeEvent(event)
