"""The think-harder scaling curve as a PNG: accuracy vs depth (one line per width) and accuracy vs width (one line
per depth), drawn with QPainter so the command line needs nothing beyond Qt (offscreen when there is no display)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPen

PALETTE = ("#3b6fd8", "#d8572a", "#2a9d5c", "#8e44ad", "#c49a00", "#1f9bb5", "#b03a48", "#555555")


def _app() -> None:
    """QPainter needs a QGuiApplication for fonts; start an offscreen one when the process has none."""
    if QGuiApplication.instance() is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _app.keep = QGuiApplication([])  # type: ignore[attr-defined]


def _panel(p: QPainter, box: QRectF, series: dict[int, list[tuple[int, float]]], xlabel: str, legend: str) -> None:
    """One log2-x chart of accuracy (0-100%) in `box`, a line per key of `series`."""
    left, bottom = box.left() + 48, box.bottom() - 40
    right, top = box.right() - 12, box.top() + 28
    xs = sorted({x for pts in series.values() for x, _ in pts})
    lo, hi = math.log2(xs[0]), math.log2(xs[-1])
    span = hi - lo or 1.0

    def at(x: float, y: float) -> QPointF:
        fx = 0.5 if hi == lo else (math.log2(x) - lo) / span
        return QPointF(left + fx * (right - left), bottom - y * (bottom - top))

    p.setPen(QPen(QColor("#dddddd"), 1))
    for k in range(6):
        y = at(xs[0], k / 5).y()
        p.drawLine(QPointF(left, y), QPointF(right, y))
    p.setPen(QPen(QColor("#333333"), 1))
    p.drawLine(QPointF(left, top), QPointF(left, bottom))
    p.drawLine(QPointF(left, bottom), QPointF(right, bottom))
    for k in range(6):
        pt = at(xs[0], k / 5)
        p.drawText(QRectF(box.left(), pt.y() - 8, 42, 16), Qt.AlignmentFlag.AlignRight, f"{k * 20}%")
    for x in xs:
        pt = at(x, 0)
        p.drawLine(pt, pt + QPointF(0, 4))
        p.drawText(QRectF(pt.x() - 20, bottom + 6, 40, 16), Qt.AlignmentFlag.AlignHCenter, str(x))
    p.drawText(QRectF(left, bottom + 22, right - left, 16), Qt.AlignmentFlag.AlignHCenter, xlabel)
    p.drawText(QRectF(left + 6, top - 22, right - left, 16), Qt.AlignmentFlag.AlignLeft, "valid answers")
    for i, (key, pts) in enumerate(sorted(series.items())):
        colour = QColor(PALETTE[i % len(PALETTE)])
        p.setPen(QPen(colour, 2))
        pts = sorted(pts)
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            p.drawLine(at(x0, y0), at(x1, y1))
        p.setBrush(colour)
        for x, y in pts:
            p.drawEllipse(at(x, y), 3, 3)
        row = bottom - 8 - 16 * (len(series) - i)  # the legend sits bottom right, below curves that climb
        p.drawText(QRectF(right - 90, row, 86, 16), Qt.AlignmentFlag.AlignLeft, f"{legend} {key}")


def scaling_png(path: str | os.PathLike, points, title: str) -> None:
    """Write the two charts side by side; `points` have trajectories, max_steps and accuracy."""
    from trm_lab.export import write_png

    _app()
    image = QImage(960, 420, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPixelSize(12)
    p.setFont(font)
    p.setPen(QColor("#111111"))
    p.drawText(QRectF(0, 6, 960, 20), Qt.AlignmentFlag.AlignHCenter, title)
    by_width: dict[int, list[tuple[int, float]]] = {}
    by_depth: dict[int, list[tuple[int, float]]] = {}
    for pt in points:
        by_width.setdefault(pt.trajectories, []).append((pt.max_steps, pt.accuracy))
        by_depth.setdefault(pt.max_steps, []).append((pt.trajectories, pt.accuracy))
    _panel(p, QRectF(0, 20, 480, 400), by_width, "depth: supervision steps N", "K =")
    _panel(p, QRectF(480, 20, 480, 400), by_depth, "width: trajectories K", "N =")
    p.end()
    write_png(Path(path), image)
