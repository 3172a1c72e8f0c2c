"""Start the lab window: `run_app()` is what `trm-lab` without a sub-command calls.

`python -m trm_lab.app --startup-probe` opens the window, waits for its first paint, prints the launch time as JSON
and exits: 0 once painted, 1 if nothing painted within 10 s (the time is a measurement, not a pass mark).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from types import TracebackType

_T0 = time.perf_counter()  # as early as possible: the probe measures from interpreter import of this module


def install_excepthook(app) -> None:
    """Any uncaught exception becomes a dialog (and a log line), never a dead window or a bare traceback."""
    from PySide6.QtWidgets import QMessageBox

    showing = {"busy": False}

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(exc_type, exc, tb)
        if issubclass(exc_type, KeyboardInterrupt):
            app.quit()
            return
        if showing["busy"]:  # an error while the dialog is up: log only
            return
        showing["busy"] = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "TRM Lab \u2014 unexpected error",
                              f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                              "Your puzzles are still open; you may want to save your work.")
            box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
            box.exec()
        finally:
            showing["busy"] = False

    sys.excepthook = hook


def make_app(argv: list[str] | None = None):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("TRM Lab")
    app.setOrganizationName("trm-lab")
    app.setApplicationDisplayName("TRM Lab")
    return app


def run_app(argv: list[str] | None = None) -> int:
    """Open the lab window and run the event loop; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    probe = "--startup-probe" in argv
    files = [a for a in argv if not a.startswith("--")]
    app = make_app()
    from trm_lab import theme
    from trm_lab.main_window import MainWindow
    from trm_lab.settings import Settings

    settings = Settings.load()
    theme.apply(app, settings.theme)
    install_excepthook(app)
    window = MainWindow(settings)
    window.show()
    for f in files:
        window.open_path(f)
    from trm_lab.workers import stop_solvers, wait_for_workers

    code = _probe(app, window) if probe else app.exec()
    wait_for_workers()
    stop_solvers()
    return code


def _probe(app, window) -> int:
    """Wait for the first paint of the window, print the launch time, quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    result: dict[str, float] = {}

    class FirstPaint(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint and "first_paint_s" not in result:
                result["first_paint_s"] = time.perf_counter() - _T0
                QTimer.singleShot(0, app.quit)
            return False

    f = FirstPaint()
    window.installEventFilter(f)
    window.update()
    QTimer.singleShot(10000, app.quit)
    app.exec()
    result.setdefault("first_paint_s", float("nan"))
    print(json.dumps({"startup_s": round(result["first_paint_s"], 3)}), flush=True)
    # a measurement, not a session: leave at once instead of waiting for background model listing to finish
    os._exit(0 if result["first_paint_s"] == result["first_paint_s"] else 1)  # 1: no paint within 10 s (NaN)


if __name__ == "__main__":
    sys.exit(run_app())
