"""A stand-in for `python -m trainers.run` that follows the run-directory contract of docs/formats.md exactly, fast.

    python standin_trainer.py PRESET|CONFIG.json --out RUN [--device D]
    python standin_trainer.py --resume RUN

CONFIG.json (or `--set KEY=JSON`, `--steps N`) may set `steps`, `checkpoint_every`, `log_every`, `step_s` (sleep
per step). It writes real safetensors checkpoints atomically, honours SIGTERM (finish the step, checkpoint,
`stopped`, exit 0) and works under torchrun (gloo all-reduce per step; rank 0 writes). The job tests use it where
the real trainer would be too slow.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainers.rundir import RunWriter, latest_checkpoint  # noqa: E402

DEFAULTS = {"steps": 40, "checkpoint_every": 5, "log_every": 1, "step_s": 0.05, "payload": 20000}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", nargs="?")
    parser.add_argument("--out")
    parser.add_argument("--resume")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    dist = None
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    run = Path(args.resume or args.out)
    writer = RunWriter(run) if rank == 0 else None
    if args.resume:
        cfg = json.loads((run / "config.json").read_text())
    else:
        cfg = dict(DEFAULTS)
        if args.source and args.source.endswith(".json"):
            cfg.update(json.loads(Path(args.source).read_text()))
        for item in args.set:
            key, _, value = item.partition("=")
            cfg[key] = json.loads(value)
        if args.steps:
            cfg["steps"] = args.steps
        cfg["preset"] = args.source
        cfg["device"] = args.device
        if writer:
            writer.write_config(json.dumps(cfg))
    step = 0
    ck = latest_checkpoint(run)
    if args.resume and ck is not None:
        step = int(load_file(str(ck))["step"][0])
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    total = int(cfg["steps"])
    if writer:
        writer.log(f"{'resume' if args.resume else 'start'} at step {step}, world {world}")
        writer.set_status("running", step=step, total_steps=total, world_size=world)
    t0 = time.time()
    while step < total:
        time.sleep(float(cfg["step_s"]))
        step += 1
        if dist is not None:
            import torch

            flag = torch.tensor([1.0 if stop["flag"] else 0.0])
            dist.all_reduce(flag)
            stop["flag"] = bool(flag.item())
        if writer and step % int(cfg["log_every"]) == 0:
            writer.append_metrics({"step": step, "epoch": 0, "loss": 1.0 / step, "lm_loss": 1.0 / step,
                                   "q_halt_loss": 0.1, "accuracy": step / total, "exact_accuracy": step / total / 2,
                                   "q_halt_accuracy": 0.5, "mean_steps": 8.0, "lr": 1e-4,
                                   "samples_per_s": 100.0 * world,
                                   "eta_s": (total - step) * float(cfg["step_s"]), "time": time.time() - t0,
                                   "world_size": world})
            writer.set_status("running", step=step, total_steps=total)
        final = step == total or stop["flag"]
        if writer and (step % int(cfg["checkpoint_every"]) == 0 or final):
            path = writer.checkpoint_path(step)
            tmp = path.with_name(f".{path.name}.tmp")
            save_file({"step": np.array([step], dtype=np.int64),
                       "w": np.full(int(cfg["payload"]), step, dtype=np.float32)}, str(tmp),
                      metadata={"format": "trm-lab/1"})
            os.replace(tmp, path)
            writer.mark_latest(path, step, keep=3)
        if stop["flag"]:
            if writer:
                writer.log(f"stopped at step {step}")
                writer.set_status("stopped", step=step, total_steps=total)
            return 0
    if writer:
        writer.log("finished")
        writer.set_status("finished", step=step, total_steps=total)
    if dist is not None:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
