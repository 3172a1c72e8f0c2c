"""Background work for the window: model loading, file I/O and solving, off the event loop.

`run_async` runs any function on the global QThreadPool and reports back through queued signals; `SolveThread`
streams `GridStep`s from `engine.inference.solve_puzzle` and can be cancelled between steps.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

OWN_ERRORS = ("LabError", "PuzzleError", "CheckpointError", "AdaptError")  # their messages name the file already


def describe_error(exc: BaseException) -> str:
    """A one-paragraph message for a dialog: our own errors speak for themselves, others get their type named."""
    return describe_named_error(type(exc).__name__, str(exc))


def describe_named_error(name: str, text: str) -> str:
    """`describe_error` for an exception known by name and message (one raised in another process)."""
    if name in OWN_ERRORS:
        return text
    return f"{name}: {text}" if text else name


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
            if type(exc).__name__ not in OWN_ERRORS:
                traceback.print_exc()  # unexpected: keep the details in the log
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


def _load_any(path: str, kind: str | None = None) -> Any:
    from engine.checkpoint import load_checkpoint

    return load_checkpoint(path, kind=kind)  # a reference checkpoint is imported (all_config.yaml beside it)


def load_model(path: str, kind: str | None = None) -> Any:
    """Load a checkpoint once (`.safetensors`, or a reference checkpoint with all_config.yaml beside it; `kind`
    tells the importer the puzzle kind when its config does not)."""
    with _cache_lock:
        if path in _model_cache:
            return _model_cache[path]
    loaded = _load_any(path, kind)
    with _cache_lock:
        _model_cache[path] = loaded
    return loaded


def describe_model(path: str, kind: str | None = None) -> Any:
    """A checkpoint's `engine.registry.ModelEntry` for the picker: our checkpoints from their metadata alone (the
    solver process loads the weights); a reference checkpoint is imported to learn its encoding."""
    from dataclasses import asdict

    from engine.checkpoint import is_reference_checkpoint
    from engine.registry import ModelEntry, model_entry

    if not is_reference_checkpoint(path):
        return model_entry(path)
    loaded = load_model(path, kind)
    return ModelEntry(Path(path).stem, Path(path), loaded.encoding.kind, loaded.encoding, False, {},
                      asdict(loaded.config))


# ---------------------------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------------------------
def _solver_main(conn: Any, cancel: Any) -> None:
    """The solver process: load models (cached), stream each request's steps back over the pipe.

    Solving in its own process keeps torch and its Python overhead off the window's interpreter: no GIL to share,
    so the event loop never waits for a step. The process is niced so the window wins the CPU on a busy machine.
    """
    try:
        os.nice(5)
    except (AttributeError, OSError):
        pass
    import torch

    from engine.inference import solve_puzzle
    from engine.think import ThinkOptions, think_puzzle

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    cache: dict[tuple[str, float], Any] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, kind, grid, options = request
        cancelled = False
        try:
            key = (path, os.path.getmtime(path))
            if key not in cache:
                cache.clear()
                cache[key] = _load_any(path, kind)
            steps = (think_puzzle(cache[key], grid, options) if isinstance(options, ThinkOptions)
                     else solve_puzzle(cache[key], grid, options))
            for step in steps:
                if cancel.is_set():
                    cancelled = True
                    break
                conn.send(("step", step))
            conn.send(("done", cancelled or cancel.is_set()))
        except BaseException as exc:  # noqa: BLE001 - reported to the window as a message
            traceback.print_exc()
            try:
                conn.send(("error", describe_error(exc)))
            except (OSError, ValueError):
                return


class SolverProcess:
    """One long-lived solver process and its pipe; reused across solves (spawning one imports torch anew)."""

    def __init__(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.cancel_event = ctx.Event()
        self.process = ctx.Process(target=_solver_main, args=(child, self.cancel_event), daemon=True,
                                   name="trm-lab-solver")
        self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
        self.conn.close()


_idle_solvers: list[SolverProcess] = []
_solver_lock = threading.Lock()
MAX_IDLE_SOLVERS = 2


def prewarm_solver() -> None:
    """Start a solver process ahead of the first Solve, so its torch import overlaps with the user's editing."""
    with _solver_lock:
        if not any(s.alive() for s in _idle_solvers):
            _idle_solvers.append(SolverProcess())


def _acquire_solver() -> SolverProcess:
    with _solver_lock:
        while _idle_solvers:
            s = _idle_solvers.pop()
            if s.alive():
                return s
    return SolverProcess()


def _release_solver(solver: SolverProcess) -> None:
    with _solver_lock:
        if solver.alive() and len(_idle_solvers) < MAX_IDLE_SOLVERS:
            _idle_solvers.append(solver)
            return
    solver.stop()


def stop_solvers() -> None:
    with _solver_lock:
        solvers = list(_idle_solvers)
        _idle_solvers.clear()
    for s in solvers:
        s.stop()


class SolveThread(QThread):
    """Streams one puzzle's steps from a solver process; `cancel()` stops after the current step.

    This thread only waits on the pipe (blocking reads release the GIL) and forwards each step as a queued signal.
    """

    stepReady = Signal(object)  # engine.inference.GridStep
    failedWith = Signal(str)
    done = Signal(bool)  # True when cancelled

    def __init__(self, path: str, kind: str, grid: Any, options: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.path, self.kind = str(path), kind
        self.grid, self.options = grid, options
        self._cancel = threading.Event()
        self._solver: SolverProcess | None = None

    def cancel(self) -> None:
        self._cancel.set()
        solver = self._solver
        if solver is not None:
            solver.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            solver = _acquire_solver()
        except BaseException as exc:  # noqa: BLE001
            self.failedWith.emit(f"could not start the solver process: {describe_error(exc)}")
            return
        solver.cancel_event.clear()
        self._solver = solver
        if self._cancel.is_set():
            solver.cancel_event.set()
        try:
            solver.conn.send((self.path, self.kind, self.grid, self.options))
            while True:
                if not solver.conn.poll(0.5):
                    if not solver.alive():
                        raise RuntimeError("the solver process ended unexpectedly")
                    continue
                event, payload = solver.conn.recv()  # "step", "error" or "done"
                if event == "step":
                    self.stepReady.emit(payload)
                elif event == "error":
                    self.failedWith.emit(payload)
                    break
                else:
                    self.done.emit(bool(payload) or self._cancel.is_set())
                    break
        except BaseException as exc:  # noqa: BLE001 - a dead solver becomes a message, never a traceback
            self.failedWith.emit(describe_error(exc))
            solver.stop()
            return
        finally:
            self._solver = None
        _release_solver(solver)
