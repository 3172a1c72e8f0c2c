"""The "New run" dialog: preset, data, model size, steps, where (this computer, an ~/.ssh/config host or
user@host:port, several nodes) and GPUs. It only builds a submit request; the monitor thread submits it."""

from __future__ import annotations

import json
import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from trainers.jobs.ssh import config_hosts, parse_target

THIS_COMPUTER = "This computer"
DEFAULT_PRESET = "cpu-sudoku4"  # a first run should finish while you watch (4x4 Sudoku, minutes on a CPU)
OTHER_HOST = "Other host (user@host:port)\u2026"


def describe_preset(name: str) -> str:
    """One paragraph about a preset: puzzle, size, steps, then its notes ("" for an unknown name)."""
    from engine.puzzles.kind import get_kind
    from trainers.presets import load_config

    try:
        cfg = load_config(name)
        data = cfg.data
        what = f"{data.kind} {data.size}x{data.size}" if get_kind(data.kind).generates else data.kind  # ARC: corpora
    except Exception:  # noqa: BLE001 - a typed name or a broken file: no description, the run reports it
        return ""
    head = f"{what}, {cfg.steps:,} steps, hidden {cfg.model.get('hidden_size', '?')}."
    return f"{head} {cfg.notes}".strip()


def _presets() -> list[str]:
    from trainers.presets import list_presets

    try:
        return list_presets()
    except Exception:  # noqa: BLE001 - a broken presets folder still lets you pick a config file
        return []


class NewRunDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, ssh_config: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New training run")
        form = QFormLayout(self)
        self.preset = QComboBox()
        self.preset.setEditable(True)  # a preset name or a config JSON path
        self.preset.addItems(_presets())
        self.preset.setCurrentIndex(max(0, self.preset.findText(DEFAULT_PRESET)))
        self.preset_notes = QLabel()
        self.preset_notes.setWordWrap(True)
        self.preset_notes.setProperty("role", "muted")
        self.preset_notes.setMinimumWidth(420)
        self.preset.currentTextChanged.connect(self._describe)
        browse = QPushButton("Config file\u2026")
        browse.clicked.connect(self._browse_config)
        row = QHBoxLayout()
        row.addWidget(self.preset, 1)
        row.addWidget(browse)
        form.addRow("Preset", row)
        form.addRow("", self.preset_notes)
        self._describe(self.preset.currentText())
        self.data = QLineEdit()
        self.data.setPlaceholderText("generated on the fly (default), or a puzzle file on the training machine")
        form.addRow("Data", self.data)
        self.hidden = QComboBox()
        self.hidden.addItems(["preset default", "64", "128", "256", "512"])
        form.addRow("Model size (hidden)", self.hidden)
        self.steps = QSpinBox()
        self.steps.setRange(0, 10_000_000)
        self.steps.setSpecialValueText("preset default")
        self.steps.setSingleStep(100)
        form.addRow("Steps", self.steps)
        self.where = QComboBox()
        self.where.addItem(THIS_COMPUTER)
        self.where.addItems(config_hosts(ssh_config or os.environ.get("TRM_LAB_SSH_CONFIG") or None))
        self.where.addItem(OTHER_HOST)
        self.where.currentTextChanged.connect(self._where_changed)
        form.addRow("Where", self.where)
        self.other = QLineEdit()
        self.other.setPlaceholderText("user@host:port, or several hosts comma-separated (one node each)")
        self.other.setEnabled(False)
        form.addRow("Host(s)", self.other)
        self.gpus = QSpinBox()
        self.gpus.setRange(0, 64)
        self.gpus.setSpecialValueText("one process")
        form.addRow("GPUs per node", self.gpus)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        form.addRow("Device", self.device)
        self.name = QLineEdit()
        self.name.setPlaceholderText("default: preset + time")
        form.addRow("Name", self.name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _describe(self, name: str) -> None:
        """The preset's own notes, with what it trains and for how long (each preset says what it is for)."""
        self.preset_notes.setText(describe_preset(name))
        for i in range(self.preset.count()):
            self.preset.setItemData(i, describe_preset(self.preset.itemText(i)), Qt.ItemDataRole.ToolTipRole)

    def _browse_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training config", "", "Config (*.json)")
        if path:
            self.preset.setEditText(path)

    def _where_changed(self, text: str) -> None:
        self.other.setEnabled(text == OTHER_HOST)

    def hosts(self) -> list[str]:
        where = self.where.currentText()
        if where == THIS_COMPUTER:
            return []
        if where == OTHER_HOST:
            hosts = [h.strip() for h in self.other.text().split(",") if h.strip()]
            for h in hosts:
                parse_target(h)  # raises JobError naming the bad host
            return hosts
        return [where]

    def request(self) -> dict:
        """Keyword arguments for `JobManager.submit`."""
        args: list[str] = []
        if self.steps.value():
            args += ["--steps", str(self.steps.value())]
        if self.hidden.currentIndex() > 0:
            args += ["--set", f"model.hidden_size={int(self.hidden.currentText())}"]
        if self.data.text().strip():
            args += ["--set", f"data.source={json.dumps(self.data.text().strip())}"]
        return {"source": self.preset.currentText().strip(), "hosts": self.hosts(), "gpus": self.gpus.value(),
                "device": self.device.currentText(), "name": self.name.text().strip() or None, "args": args}
