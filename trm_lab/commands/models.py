"""`trm-lab models`: the bundled models, then the user's (name, puzzle kind and size, architecture, path)."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list bundled and user models")
    p.add_argument("--json", action="store_true", help="machine-readable list on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError
    from engine.registry import BUNDLED_DIR, list_models, user_models_dir

    rows = []
    for entry in list_models():
        try:
            cfg = entry.config
        except (CheckpointError, ValueError):
            cfg = {}
        rows.append({
            "name": entry.name, "kind": entry.kind, "size": f"{entry.encoding.rows}x{entry.encoding.cols}",
            "bundled": entry.bundled, "path": str(entry.path),
            "mixer": cfg.get("mixer"), "hidden_size": cfg.get("hidden_size"),
            "summary": entry.card.get("summary") or entry.card.get("description"),
        })
    if args.json:
        json.dump({"bundled_dir": str(BUNDLED_DIR), "user_dir": str(user_models_dir()), "models": rows}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no models yet (bundled: {BUNDLED_DIR}, yours: {user_models_dir()})")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        where = "bundled" if r["bundled"] else "user"
        print(f"{r['name']:<{width}}  {r['kind']:<6} {r['size']:<6} {where:<7} {r['mixer'] or '?':<9} "
              f"hidden {r['hidden_size'] or '?':<4} {r['path']}")
    return 0
