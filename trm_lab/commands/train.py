"""`trm-lab train PRESET|CONFIG [--out RUN] [--resume RUN] [--device D]`.

Trains in this process (the same code as `python -m trainers.run`), writing the run directory (docs/formats.md), with a
progress line on stderr: steps, loss, exact accuracy, samples/s, ETA, and the last held-out exact accuracy.
SIGTERM or Ctrl-C stops after the current step with a checkpoint; `--resume RUN` continues it.
"""

from __future__ import annotations

import sys
import time


def register(subparsers) -> None:
    from trainers.run import add_arguments

    p = subparsers.add_parser("train", help="train a model from a preset or config file",
                              description=__doc__.split("\n\n", 1)[1].strip())
    add_arguments(p)
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.set_defaults(func=run)


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """One self-overwriting stderr line per metrics row (a plain line per row when stderr is not a terminal)."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.eval_exact: float | None = None
        self.last = 0.0

    def __call__(self, row: dict) -> None:
        if row.get("split") == "eval":
            self.eval_exact = row["exact_accuracy"]
            self.stream.write(("\n" if self.tty else "") + f"eval step {row['step']}: exact "
                              f"{row['exact_accuracy']:.1%} cell {row['accuracy']:.1%} "
                              f"halt step {row['mean_halt_step']:.2f}\n")
            self.stream.flush()
            return
        total = max(1, row["total_steps"])
        frac = min(1.0, row["step"] / total)
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = (f"[{bar}] {row['step']}/{total} loss {row['loss']:.4f} exact {row['exact_accuracy']:.1%} "
                f"{row['samples_per_s']:.0f} samples/s ETA {_fmt_time(row['eta_s'])}")
        if self.eval_exact is not None:
            line += f" | eval exact {self.eval_exact:.1%}"
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
        elif time.monotonic() - self.last >= 5 or row["step"] >= total:
            self.stream.write(line + "\n")
            self.last = time.monotonic()
        self.stream.flush()


def run(args) -> int:
    from trainers.presets import list_presets
    from trainers.run import run as run_training

    if args.list:
        for name in list_presets():
            print(name)
        return 0
    bar = ProgressBar()
    code = run_training(args, on_metrics=bar)
    if bar.tty:
        sys.stderr.write("\n")
    return code
