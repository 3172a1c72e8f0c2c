"""`trm-lab import-checkpoint REF [--config all_config.yaml] -o OUT.safetensors`: a TRM or HRM checkpoint written by
the reference codes (or a reproduction of them) -> ours."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from engine.puzzles.base import PuzzleError
from engine.puzzles.kind import kind_names


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-checkpoint", help="convert a reference TRM or HRM checkpoint")
    p.add_argument("ref", help="the torch.save'd state dict (TRM's step_N, HRM's checkpoint or step_N)")
    p.add_argument("--config", help="the run's all_config.yaml (default: the one beside REF)")
    p.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    p.add_argument("--kind", choices=kind_names(),
                   help="puzzle kind, when neither the dataset.json nor the vocabulary tells it")
    p.add_argument("--size", type=int, help="grid side: Sudoku 4/6/9, maze side, ARC canvas (e.g. 30)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="an architecture field the weights do not fix and no all_config.yaml gives "
                        "(H_cycles=3, L_cycles=4, num_heads=8, pos_encodings=rope, puzzle_emb_len=16); repeatable")
    p.set_defaults(func=run)


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError, save_checkpoint
    from engine.reference import import_reference, summary

    try:
        overrides = parse_sets(args.set)
        loaded = import_reference(args.ref, config_yaml=args.config, kind=args.kind, size=args.size,
                                  overrides=overrides)
        training = dict(loaded.training, imported=datetime.now(UTC).isoformat(timespec="seconds"))
        save_checkpoint(args.output, loaded.model, encoding=loaded.encoding, training=training)
    except (CheckpointError, PuzzleError, OSError, ValueError) as exc:
        print(f"trm-lab import-checkpoint: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {summary(loaded)}", file=sys.stderr)
    return 0
