"""Background work for the window: model loading, file I/O and solving, off the event loop.

`run_async` runs any function on the global QThreadPool and reports back through queued signals; `SolveThread`
streams `GridStep`s from `engine.inference.solve_puzzle` and can be cancelled between steps.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

_EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError, RuntimeError)


def describe_error(exc: BaseException) -> str:
    """A one-paragraph message for a dialog: our own errors speak for themselves, others get their type named."""
    name = type(exc).__name__
    if name in ("LabError", "PuzzleError", "CheckpointError"):
        return str(exc)
    return f"{name}: {exc}" if str(exc) else name


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, signals: _Signals):
        super().__init__()
        self.fn, self.args, self.signals = fn, args, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user as a message
            traceback.print_exc()
            outcome, payload = self.signals.failed, describe_error(exc)
        else:
            outcome, payload = self.signals.done, result
        try:
            outcome.emit(payload)
        except RuntimeError:  # the application is shutting down; nobody is listening any more
            pass


_alive: set[_Signals] = set()  # keep signal objects alive until their job reports


def run_async(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None],
              on_error: Callable[[str], None]) -> None:
    """Run `fn(*args)` on the thread pool; `on_done(result)` / `on_error(message)` run on the GUI thread."""
    signals = _Signals()
    _alive.add(signals)

    def finish_ok(result: Any) -> None:
        _alive.discard(signals)
        on_done(result)

    def finish_err(msg: str) -> None:
        _alive.discard(signals)
        on_error(msg)

    signals.done.connect(finish_ok)
    signals.failed.connect(finish_err)
    QThreadPool.globalInstance().start(_Job(fn, args, signals))


def wait_for_workers(ms: int = 30000) -> bool:
    """Let pending background jobs end before the application object goes away."""
    return QThreadPool.globalInstance().waitForDone(ms)


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------
_model_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def load_model(path: str) -> Any:
    """Load a checkpoint once (`.safetensors`, or a reference `.pt` state dict with all_config.yaml beside it)."""
    from pathlib import Path

    with _cache_lock:
        if path in _model_cache:
            return _model_cache[path]
    p = Path(path)
    if p.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin") or (p.is_file() and p.suffix == ""):
        from engine.checkpoint import import_reference

        yaml = p.parent / "all_config.yaml"
        loaded = import_reference(p, config_yaml=yaml if yaml.is_file() else None)
    else:
        from engine.checkpoint import load_checkpoint

        loaded = load_checkpoint(p)
    with _cache_lock:
        _model_cache[path] = loaded
    return loaded


# ---------------------------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------------------------
class SolveThread(QThread):
    """Streams one puzzle's steps; `cancel()` stops after the current step (the engine yields per step)."""

    stepReady = Signal(object)  # engine.inference.GridStep
    failedWith = Signal(str)
    done = Signal(bool)  # True when cancelled

    def __init__(self, loaded: Any, grid: Any, options: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.loaded, self.grid, self.options = loaded, grid, options
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            from engine.inference import solve_puzzle

            for step in solve_puzzle(self.loaded, self.grid, self.options):
                if self._cancel.is_set():
                    break
                self.stepReady.emit(step)
        except BaseException as exc:  # noqa: BLE001 - engine errors become a dialog, never a traceback
            traceback.print_exc()
            self.failedWith.emit(describe_error(exc))
            return
        self.done.emit(self._cancel.is_set())
