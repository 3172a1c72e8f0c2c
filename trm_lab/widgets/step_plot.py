"""The plot beside a refinement: values between 0 and 1 (halting confidence, shares of cells) against the step.

The solve panel and the compare panel draw their curves on it. Its axes stay put while steps stream in: the y
range is fixed, the x range changes only when the solve's span does, and both axes are painted once and cached.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy

from trm_lab import theme


class StepPlot(pg.PlotWidget):
    def __init__(self, min_height: int):
        super().__init__()
        theme.themed_plot(self)
        self.setMinimumHeight(min_height)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setYRange(-0.03, 1.06, padding=0)
        self.setXRange(0.5, 16.5, padding=0)
        self.setLabel("bottom", "step")
        self.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            self.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.legend = self.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.selected_line = pg.InfiniteLine(angle=90, movable=False)  # the step the grid shows
        self.addItem(self.selected_line)
        self._x_span = 0

    def sizeHint(self) -> QSize:
        """A modest size: pyqtgraph's own hint grows with its scene, which made a panel taller than the window."""
        return QSize(360, 220)

    def set_span(self, steps: int) -> None:
        """Show steps 1..`steps` (a fixed range for a whole solve: the axis is then laid out once)."""
        if steps != self._x_span:
            self._x_span = steps
            self.setXRange(0.5, steps + 0.5, padding=0)

    def apply_theme(self) -> None:
        t = theme.current()
        self.setBackground(t.base)
        for axis in ("left", "bottom"):
            ax = self.getAxis(axis)
            ax.setPen(pg.mkPen(t.muted))
            ax.setTextPen(pg.mkPen(t.text))
        self.selected_line.setPen(pg.mkPen(t.muted, width=1))
        for _sample, label in self.legend.items:
            label.setText(label.text, color=t.text)
