"""`python -m trainers.run CONFIG.json|PRESET --out RUN` / `python -m trainers.run --resume RUN`.

A run directory in (docs/formats.md), checkpoints and metrics out. Works as one process (CPU or one GPU) or under
`torchrun --nproc-per-node K` (gloo on CPU, nccl on GPUs). Exit status: 0 finished or stopped (SIGTERM), 1 failed,
2 bad config or arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from trainers.config import ConfigError, TrainConfig


def build_parser(prog: str = "python -m trainers.run") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train a TRM; writes a run directory.")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="preset name or config JSON (not needed with --resume)")
    p.add_argument("--out", help="run directory to create (default: runs/<preset>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its newest complete checkpoint")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, mps")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--budget-s", type=float, help="stop after this many CPU seconds of the training process (a "
                   "checkpoint is written; CPU, not wall time, so two models matched on a loaded machine get the same "
                   "compute)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a config field, e.g. --set lr=3e-4 --set data.clues=[30,40] --set model.L_cycles=4")


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    data = cfg.to_dict()
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
            target = target[part]
        target[parts[-1]] = value
    return TrainConfig.from_dict(data, "--set")


def _init_distributed(device: str) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), world


def main(argv: list[str] | None = None, *, on_metrics: Callable[[dict], None] | None = None,
         prog: str = "python -m trainers.run") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(args, on_metrics=on_metrics)


def run(args: argparse.Namespace, *, on_metrics: Callable[[dict], None] | None = None) -> int:
    from trainers.presets import load_config

    try:
        if args.resume:
            run_dir = Path(args.resume)
            cfg = TrainConfig.load(run_dir / "config.json")
        else:
            if not args.config:
                raise ConfigError("give a preset or config file (or --resume RUN)")
            cfg = load_config(args.config)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = Path(args.out) if args.out else Path("runs") / f"{cfg.preset or 'run'}-{stamp}"
            if (run_dir / "checkpoints" / "latest.json").exists():
                raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it")
        changes = list(args.set)
        if args.steps is not None:
            changes.append(f"steps={args.steps}")
        if args.device:
            changes.append(f"device={json.dumps(args.device)}")
        if args.threads:
            changes.append(f"threads={args.threads}")
        if changes:
            cfg = apply_overrides(cfg, changes)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import torch

    from engine.checkpoint import CheckpointError
    from trainers.checkpointing import start_weights
    from trainers.data import build_datasets
    from trainers.loop import resolve_model_config, train
    from trainers.rundir import RunWriter

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world = _init_distributed(cfg.device)
    try:
        try:
            cache = _cache_dir()
            dataset, eval_set = build_datasets(cfg.data, cfg.seed, cache_dir=cache)
        except ConfigError as exc:
            if rank == 0:
                RunWriter(run_dir).set_status("failed", step=0, total_steps=cfg.steps, message=str(exc))
            print(f"error: {exc}", file=sys.stderr)
            return 2
        init_model = None
        if cfg.init_from and not args.resume:
            try:
                init_model = start_weights(Path(cfg.init_from), resolve_model_config(cfg, dataset))
            except (CheckpointError, ValueError) as exc:
                print(f"error: init_from: {exc}", file=sys.stderr)
                return 2
        try:
            result = train(cfg, dataset, run_dir, eval_set=eval_set, on_metrics=on_metrics,
                           resume=bool(args.resume), init_model=init_model, budget_s=args.budget_s)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # noqa: BLE001 - one line here, details in status.json and train.log
            if rank == 0:
                writer = RunWriter(run_dir)
                if (writer.status or {}).get("state") != "failed":
                    writer.set_status("failed", step=(writer.status or {}).get("step", 0), total_steps=cfg.steps,
                                      message=f"{type(exc).__name__}: {exc}")
                    writer.log(f"failed: {exc!r}")
            print(f"error: training failed: {type(exc).__name__}: {exc} (see {run_dir / 'train.log'})",
                  file=sys.stderr)
            return 1
        if rank == 0:
            print(f"{result.state} at step {result.step}: {run_dir}", file=sys.stderr)
        return 0
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _cache_dir() -> Path | None:
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("trm-lab")) / "pools"
    except Exception:  # noqa: BLE001 - no cache is fine
        return None


if __name__ == "__main__":
    sys.exit(main())
