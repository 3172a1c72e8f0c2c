"""`trm-lab import-checkpoint REF [--config all_config.yaml] -o OUT.safetensors`: reference checkpoint -> ours."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from engine.puzzles.base import PuzzleError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-checkpoint", help="convert a reference TinyRecursiveModels checkpoint")
    p.add_argument("ref", help="checkpoint written by the reference pretrain.py (torch.save state dict)")
    p.add_argument("--config", help="the run's all_config.yaml (default: the one beside REF)")
    p.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    p.add_argument("--kind", choices=("sudoku", "maze", "arc"),
                   help="puzzle kind (default: from the vocabulary: 11 Sudoku, 6 maze, 12 ARC)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError, save_checkpoint
    from engine.reference import import_reference

    try:
        loaded = import_reference(args.ref, config_yaml=args.config, kind=args.kind)
        training = dict(loaded.training, imported=datetime.now(UTC).isoformat(timespec="seconds"))
        save_checkpoint(args.output, loaded.model, encoding=loaded.encoding, training=training)
    except (CheckpointError, PuzzleError, OSError) as exc:
        print(f"trm-lab import-checkpoint: {exc}", file=sys.stderr)
        return 2
    cfg = loaded.config
    print(f"wrote {args.output}: {loaded.encoding.kind} {loaded.encoding.rows}x{loaded.encoding.cols}, "
          f"{cfg.mixer}, hidden {cfg.hidden_size}, T={cfg.H_cycles} n={cfg.L_cycles}", file=sys.stderr)
    return 0
