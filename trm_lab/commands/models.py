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
    from engine.registry import BUNDLED_DIR, scan_models, user_models_dir

    entries, broken = scan_models()
    rows = [{
        "name": entry.name, "kind": entry.kind, "size": f"{entry.encoding.rows}x{entry.encoding.cols}",
        "bundled": entry.bundled, "path": str(entry.path),
        "mixer": entry.config.get("mixer"), "hidden_size": entry.config.get("hidden_size"),
        "summary": entry.card.get("summary") or entry.card.get("description"),
    } for entry in entries]
    broken_rows = [{"path": str(b.path), "problem": b.problem} for b in broken]
    if args.json:
        json.dump({"bundled_dir": str(BUNDLED_DIR), "user_dir": str(user_models_dir()), "models": rows,
                   "broken": broken_rows}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no models yet (bundled: {BUNDLED_DIR}, yours: {user_models_dir()})")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        where = "bundled" if r["bundled"] else "user"
        print(f"{r['name']:<{width}}  {r['kind']:<6} {r['size']:<6} {where:<7} {r['mixer'] or '?':<9} "
              f"hidden {r['hidden_size'] or '?':<4} {r['path']}")
    for b in broken_rows:
        print(f"broken (skipped): {b['problem']}")
    return 0
