"""The timeline under a refinement: previous / play / next, a slider over the steps, and playback on a timer.

The solve panel and the compare panel both walk through steps with it. The panel says where its session is
(`where`) and what choosing a step means (`select`); the timeline keeps the controls and the playback.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSlider, QToolButton, QWidget

SPEEDS = (("0.5\u00d7", 1.0), ("1\u00d7", 2.0), ("2\u00d7", 4.0), ("4\u00d7", 8.0))  # steps per second
PLAY, PAUSE = "\u25b6", "\u275a\u275a"


class Timeline(QWidget):
    """`where()` gives (selected step, number of steps), -1 and 0 with nothing to show; `select(i)` shows step i
    (past either end: the panel's session clamps)."""

    def __init__(self, where: Callable[[], tuple[int, int]], select: Callable[[int], None], *, play_tip: str,
                 slider_tip: str, prev_tip: str = "", next_tip: str = "", speeds: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._where, self._select = where, select
        self.playing = False
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / SPEEDS[1][1]))
        self.timer.timeout.connect(self._tick)
        self.prev_button = _button("\u25c0", prev_tip, lambda: self.step_by(-1))
        self.play_button = _button(PLAY, play_tip, self.toggle_play)
        self.next_button = _button("\u25b6\u258f", next_tip, lambda: self.step_by(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip(slider_tip)
        self.slider.valueChanged.connect(select)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.prev_button, self.play_button, self.next_button):
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        self.controls: list[QWidget] = [self.prev_button, self.play_button, self.next_button, self.slider]
        self.speed: QComboBox | None = None
        if speeds:
            self.speed = QComboBox()
            for label, _ in SPEEDS:
                self.speed.addItem(label)
            self.speed.setCurrentIndex(1)
            self.speed.setToolTip("Playback speed")
            self.speed.currentIndexChanged.connect(self._apply_speed)
            row.addWidget(self.speed)
            self.controls.append(self.speed)
        self.set_active(False)

    def add_widget(self, widget: QWidget) -> None:
        """Put a widget (a caption) at the end of the row; it stays enabled with the controls off."""
        self.layout().addWidget(widget)

    def set_active(self, on: bool) -> None:
        for w in self.controls:
            w.setEnabled(on)

    def show_step(self, position: int, length: int) -> None:
        """Move the slider to the session's step without choosing it again (steps to show turn the controls on)."""
        if length:
            self.set_active(True)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, length - 1))
        self.slider.setValue(max(0, position))
        self.slider.blockSignals(False)

    def step_by(self, delta: int) -> None:
        position, length = self._where()
        if length:
            self._select(position + delta)

    def toggle_play(self) -> None:
        self.stop_playback() if self.playing else self.start_playback()

    def start_playback(self) -> None:
        position, length = self._where()
        if not length:
            return
        if position >= length - 1:
            self._select(0)
        self.playing = True
        self.play_button.setText(PAUSE)
        self._apply_speed()
        self.timer.start()

    def stop_playback(self) -> None:
        self.playing = False
        self.timer.stop()
        self.play_button.setText(PLAY)

    def _apply_speed(self) -> None:
        if self.speed is not None:
            self.timer.setInterval(int(1000 / SPEEDS[self.speed.currentIndex()][1]))

    def _tick(self) -> None:
        position, length = self._where()
        if position >= length - 1:
            self.stop_playback()
            return
        self._select(position + 1)


def coalescing_timer(parent: QWidget, slot: Callable[[], None], ms: int = 80) -> QTimer:
    """A single-shot timer for `slot`: started on every streamed step unless already running, a burst of steps
    costs one repaint (about 12 a second), not one each."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


def _button(text: str, tip: str, on_click: Callable[[], None]) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.clicked.connect(on_click)
    return button
