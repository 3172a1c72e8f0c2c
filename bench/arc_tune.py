"""Which fresh-model settings fit ARC tasks fastest: adapt + predict each task under each setting, one line each.

    .venv/bin/python bench/arc_tune.py 30 b1948b0a,c8f0f002 '{}' '{"halt_max_steps": 2}'

Arguments: the budget in CPU-seconds of one thread, ARC-AGI-1 training task ids, then one JSON dict of
`AdaptOptions` overrides per setting ('{}' = the defaults). Prints the training fit (cell accuracy and exact fraction
on the augmented demonstrations, last window) and the pass@2 score of each task, then a total per setting.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/engine.py

from engine.puzzles import arc  # noqa: E402
from trainers import arc_adapt  # noqa: E402


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    budget, ids, settings = float(argv[0]), argv[1].split(","), [json.loads(a) for a in argv[2:]] or [{}]
    tasks = arc.bundled_tasks("arc1", "train")
    for overrides in settings:
        solved = 0
        for task_id in ids:
            opts = arc_adapt.AdaptOptions(budget_s=budget, clock="cpu", threads=1, **overrides)
            result = arc_adapt.adapt_and_predict(tasks[task_id], opts)
            last = result.history[-1] if result.history else None
            solved += result.score == 1
            print(json.dumps(overrides), task_id, "steps", result.train_steps,
                  "fit-acc", round(last.accuracy, 3) if last else None,
                  "fit-exact", round(last.exact_accuracy, 3) if last else None, "score", result.score, flush=True)
        print("TOTAL", json.dumps(overrides), f"{solved} / {len(ids)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
