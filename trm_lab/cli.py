"""The `trm-lab` command. Without a sub-command it opens the lab window.

Each sub-command lives in its own module under `trm_lab.commands` with `register(subparsers)`; none of them
imports Qt, so a headless command never does.
"""

from __future__ import annotations

import argparse
import sys

from trm_lab.commands import arc, checkpoints, generate, jobs, models, solve, train

COMMAND_MODULES = (generate, solve, models, train, jobs, checkpoints, arc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trm-lab", description="Tiny Recursive Model lab")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if _opens_window(parser, argv):
        from trm_lab.app import run_app

        return run_app(argv)  # `trm-lab [FILE ...] [--startup-probe]`
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _opens_window(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """No sub-command means the window; its arguments are files to open (and --startup-probe)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return all(a not in commands and (a == "--startup-probe" or not a.startswith("-")) for a in argv[:1])


if __name__ == "__main__":
    sys.exit(main())
