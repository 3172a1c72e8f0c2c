"""Load model files under a memory cap and a per-file time limit, one JSON line per file (run as a subprocess).

    python tests/load_hostile.py --mem-mb 512 --seconds 5 FILE...   (or the paths one per line on stdin)

Each line: {"file", "outcome", "message"}; outcome is "loaded" (and one supervision step ran), "refused" (a
CheckpointError), "hang" (more than the CPU-time limit) or "traceback" (anything else, MemoryError included).
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def try_one(path: str, seconds: float) -> dict:
    import torch

    from engine.checkpoint import CheckpointError, load_checkpoint

    signal.setitimer(signal.ITIMER_PROF, seconds)  # CPU time: a busy machine is not a hang
    try:
        loaded = load_checkpoint(path)
        cfg = loaded.config
        with torch.inference_mode():
            tokens = torch.ones(1, cfg.seq_len, dtype=torch.long)
            y, z = loaded.model.initial_state(1)
            loaded.model(loaded.model.embed(tokens), y, z)
        return {"file": path, "outcome": "loaded", "message": ""}
    except CheckpointError as exc:
        return {"file": path, "outcome": "refused", "message": str(exc)}
    except Hang:
        return {"file": path, "outcome": "hang", "message": f"more than {seconds} CPU-seconds"}
    except BaseException as exc:  # noqa: BLE001 - exactly what the fuzz test counts
        return {"file": path, "outcome": "traceback", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mem-mb", type=int, default=512, help="address space allowed beyond what imports took")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    import torch

    import engine.checkpoint  # noqa: F401  (imported before the cap: the cap is for what a file makes us allocate)

    torch.set_num_threads(1)
    limit = _vm_bytes() + args.mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGPROF, _alarm)
    files = args.files or [line.strip() for line in sys.stdin if line.strip()]
    for path in files:
        print(json.dumps(try_one(path, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
