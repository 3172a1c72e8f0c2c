"""Screenshots of the lab's main views into docs/screenshots/ (offscreen; no display needed).

    .venv/bin/python tools/screenshots.py            # light theme at 100 %, plus dark, 960x640 and 200 % variants
    .venv/bin/python tools/screenshots.py --only sudoku --theme dark --suffix -dark

Views: a Sudoku solved and shown at a mid step, "Think harder" (16 trajectories) on a Sudoku one trajectory gets
wrong, a maze (solved when a maze model is installed, else with its BFS
path), an ARC task with a partly edited output, "Adapt to this task" after adapting to a simple ARC-AGI-1 training
task (colour replacement, c8f0f002; arc-base has seen it in training) for 40 s, and the Training tab. Uses the
installed (bundled + user) models.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("sudoku", "think", "maze", "arc", "adapt", "training"), action="append")
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    ap.add_argument("--suffix", default="")
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--no-variants", action="store_true", help="skip the dark and 200 %% runs")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    OUT.mkdir(parents=True, exist_ok=True)
    written = shoot(args.only or ["sudoku", "think", "maze", "arc", "adapt", "training"], args.theme, args.suffix,
                    tuple(int(v) for v in args.size.split("x")))
    if not args.only and not args.no_variants:
        me = [sys.executable, str(Path(__file__).resolve())]
        subprocess.run([*me, "--only", "sudoku", "--only", "arc", "--theme", "dark", "--suffix=-dark"],
                       check=True, timeout=600)
        subprocess.run([*me, "--only", "sudoku", "--only", "maze", "--suffix=-960x640", "--size", "960x640"],
                       check=True, timeout=600)
        env = {**os.environ, "QT_SCALE_FACTOR": "2"}
        subprocess.run([*me, "--only", "sudoku", "--suffix=-200pct", "--size", "1440x900"], check=True,
                       timeout=600, env=env)
    for p in written:
        print(p)
    return 0


def shoot(views: list[str], theme_name: str, suffix: str, size: tuple[int, int]) -> list[Path]:
    import numpy as np

    from engine.registry import rank_models
    from trm_lab import theme
    from trm_lab.app import make_app
    from trm_lab.export import write_png
    from trm_lab.main_window import MainWindow
    from trm_lab.panels.solve import list_models_cached
    from trm_lab.settings import Settings
    from trm_lab.workers import stop_solvers, wait_for_workers

    app = make_app()
    theme.apply(app, theme_name)
    models = list_models_cached(refresh=True)
    window = MainWindow(Settings(theme=theme_name))
    window.resize(*size)
    window.show()
    wait(app, 300)
    written: list[Path] = []

    def save(name: str) -> None:
        wait(app, 300)
        path = OUT / f"{name}{suffix}.png"
        write_png(path, window.grab().toImage())
        written.append(path)

    if "sudoku" in views:
        from engine.puzzles import sudoku
        from trm_lab.session import SudokuDocument

        sizes = sorted({m.encoding.rows for m in rank_models("sudoku", None, models)}, reverse=True) or [9]
        n = 9 if 9 in sizes else sizes[0]
        p = sudoku.generate(1, seed=11, size=n, workers=1)[0]
        view = window.add_document(SudokuDocument(n, p.givens, p.solution))
        solve(app, view, steps=16)
        save("sudoku")
    if "think" in views:
        from engine.puzzles import sudoku
        from trm_lab.session import SudokuDocument

        p = sudoku.generate_one(10, (22, 24))  # the bundled sudoku9's plain 16 steps answer this one wrongly
        view = window.add_document(SudokuDocument(9, p.givens, p.solution))
        view.solve.think_on.setChecked(True)
        view.solve.think_width.setValue(16)
        view.solve.think_depth.setValue(64)
        solve(app, view, steps=16)
        save("think-harder")
    if "maze" in views:
        from engine.puzzles import maze

        n = maze.KIND.default_size  # a corridor maze of the default size: maze15's, which the picker gives it
        m = maze.generate(1, seed=3, size=n, loops=0.0, workers=1)[0]
        view = window.new_maze(n)
        view.doc.replace(m.grid, m.solution)
        view.editor.show_path.setChecked(True)
        solve(app, view, steps=16)
        save("maze")
    if "arc" in views:
        from engine.puzzles import arc

        task_path = ROOT / "assets" / "puzzles" / "arc-007bbfb7.json"
        task = arc.load_task(task_path) if task_path.exists() else next(iter(arc.bundled_tasks().values()))
        view = window.open_arc_task(task)
        doc = view.doc
        out = np.asarray(task.test[0].output if task.test[0].output is not None else doc.test_input).copy()
        doc.set_output(out, "Draft")
        h, w = out.shape
        doc.paint([(r, c) for r in range(h // 2, h) for c in range(w)], 0)  # half done
        view.editor.select(view.editor.input_view, 0, 0, 1, 1)
        window.show_arc_browser()
        for _ in range(120):  # the corpus is parsed in a worker thread
            wait(app, 250)
            if window.arc_browser.tasks:
                break
        window.arc_browser.search.setText("007b")
        wait(app, 300)
        save("arc")
        window.arc_dock.hide()
    if "adapt" in views:
        import time

        from engine.puzzles import arc

        view = window.open_arc_task(arc.bundled_tasks("arc1", "train")["c8f0f002"])
        panel = view.adapt
        view.show_adapt()
        panel.budget.setValue(40)
        done: list = []
        panel.attemptsReady.connect(done.append)
        panel.errorRaised.connect(done.append)
        panel.start()
        t0 = time.time()
        while (not done or panel.running) and time.time() - t0 < 300:
            wait(app, 200)
        save("adapt")
    if "training" in views and window.training is not None:
        window.tabs.setCurrentWidget(window.training)
        save("training")
    wait_for_workers()
    for v in window.views():
        v.doc.mark_saved()
        v.shutdown()
    window.close()
    stop_solvers()
    return written


def wait(app, ms: int) -> None:
    from PySide6.QtCore import QDeadlineTimer, QEventLoop

    deadline = QDeadlineTimer(ms)
    while not deadline.hasExpired():
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def solve(app, view, steps: int) -> None:
    """Solve with the panel's model (if one fits) and show the middle step of the refinement."""
    import time

    panel = view.solve
    if panel.current_model_path() is None:
        return
    if panel.steps.isEnabled():
        panel.steps.setValue(steps)
    panel.solve()
    t0 = time.time()
    while time.time() - t0 < 400:  # a busy machine starts the solver process slowly
        wait(app, 100)
        if panel.session is not None and panel.session.state != "running":
            break
    s = panel.session
    if s is not None and s.steps:
        panel.select_step(len(s.steps) // 2)


if __name__ == "__main__":
    sys.exit(main())
