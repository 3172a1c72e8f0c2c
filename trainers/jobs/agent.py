"""The small program that runs next to a training process, here or on an SSH host (stdlib only, no torch).

    python -m trainers.jobs.agent launch NODE_DIR -- ARGV...   detach, run ARGV, record pid and exit code
    python -m trainers.jobs.agent probe JOB_DIR [--metrics-from N] [--log-from B] [--node NODE]...
    python -m trainers.jobs.agent stop JOB_DIR [--node NODE]... [--signal TERM|KILL]

The job directory holds `run/` (the run directory of docs/formats.md) and one `nodeN/` per host with `launcher.pid`,
`exit.json` and `output.log` (the trainer's stdout/stderr). The launcher leads its own session and process group,
so SIGTERM to the group reaches the trainer (and torchrun's workers) but a dropped SSH connection reaches nothing.
One `probe` prints everything a watcher needs as one JSON object, so following a remote job costs one SSH call.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.atomic import atomic_write_text  # stdlib only, shipped with trainers in the code bundle

MAX_METRIC_BYTES = 4_000_000
MAX_LOG_BYTES = 64_000


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def launch(node_dir: Path, argv: list[str], cwd: Path | None = None) -> int:
    """Become a session leader, start `argv`, wait for it and record its exit code. Returns that code."""
    node_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.setsid()  # no-op need when started via `setsid`; required when started by plain `nohup ... &`
    except OSError:
        pass
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)  # the group's SIGTERM is for the trainer; we stay to record its exit
    (node_dir / "exit.json").unlink(missing_ok=True)
    atomic_write_text(node_dir / "launcher.pid", str(os.getpid()))
    with open(node_dir / "output.log", "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {argv}\n".encode())
        out.flush()
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                     preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                                                         for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)])
        except OSError as exc:
            out.write(f"cannot start: {exc}\n".encode())
            atomic_write_text(node_dir / "exit.json", json.dumps({"returncode": 127, "time": time.time(),
                                                              "error": str(exc)}))
            return 127
        atomic_write_text(node_dir / "child.pid", str(child.pid))
        code = child.wait()
        out.write(f"=== exit code {code}\n".encode())
    atomic_write_text(node_dir / "exit.json", json.dumps({"returncode": code, "time": time.time()}))
    return code


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against a recycled pid on Linux
        try:
            text = cmdline.read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False  # a zombie our parent has not reaped yet: finished
        return b"trainers.jobs.agent" in text
    return True


def node_info(node_dir: Path) -> dict:
    """Launcher pid, whether it still runs, and its recorded exit (None while running)."""
    try:
        pid = int((node_dir / "launcher.pid").read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    exit_info = read_json(node_dir / "exit.json")
    if exit_info is not None:
        exit_info["last_line"] = last_output_line(node_dir / "output.log")
    return {"pid": pid, "alive": _alive(pid), "exit": exit_info, "started": (node_dir / "launcher.pid").exists()}


def last_output_line(path: Path, tail: int = 4096) -> str:
    """The trainer's last words (its own error line, e.g. `error: unknown preset ...`), for the job's message."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - tail))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    words = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("=== ")]
    return words[-1][:300] if words else ""


def read_lines_from(path: Path, start_line: int, max_bytes: int = MAX_METRIC_BYTES) -> tuple[list[str], int]:
    """Complete lines after the first `start_line` ones; a half-written last line waits for the next call."""
    lines: list[str] = []
    index = 0
    size = 0
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                if index >= start_line:
                    if size + len(raw) > max_bytes and lines:
                        break
                    lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    size += len(raw)
                index += 1
    except FileNotFoundError:
        pass
    return lines, start_line + len(lines)


def read_bytes_from(path: Path, offset: int, max_bytes: int = MAX_LOG_BYTES) -> tuple[str, int]:
    """Text appended since byte `offset` (at most `max_bytes`, cut at a line end when possible)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            if offset > end:  # the file was replaced: start over
                offset = 0
            fh.seek(offset)
            data = fh.read(max_bytes)
    except FileNotFoundError:
        return "", offset
    if len(data) == max_bytes and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    return data.decode("utf-8", "replace"), offset + len(data)


def list_checkpoints(run: Path) -> list[str]:
    """Names of complete checkpoints: `step_N.safetensors` up to the step latest.json names."""
    folder = run / "checkpoints"
    latest = read_json(folder / "latest.json")
    limit = _latest_step(latest, folder)
    names = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    for name in entries:
        step = checkpoint_step(name)
        if step is not None and limit is not None and step <= limit:
            names.append(name)
    return sorted(names, key=lambda n: checkpoint_step(n) or 0)


def checkpoint_step(name: str) -> int | None:
    if name.startswith("step_") and name.endswith(".safetensors"):
        core = name[len("step_"): -len(".safetensors")]
        if core.isdigit():
            return int(core)
    return None


def _latest_step(latest: dict | None, folder: Path) -> int | None:
    if not latest:
        return None
    for key in ("path", "file", "name", "checkpoint"):
        value = latest.get(key)
        if isinstance(value, str):
            step = checkpoint_step(Path(value).name)
            if step is not None and (folder / Path(value).name).exists():
                return step
    step = latest.get("step")
    return int(step) if isinstance(step, int) else None


def probe(job_dir: Path, nodes: list[str], metrics_from: int = 0, log_from: int = 0, run: bool = True,
          config: bool = False, max_log: int = MAX_LOG_BYTES) -> dict:
    """Everything a watcher needs in one object (see the module doc)."""
    result: dict = {"nodes": {n: node_info(job_dir / n) for n in nodes}, "time": time.time()}
    if run:
        run_dir = job_dir / "run"
        if config:
            try:
                result["config"] = (run_dir / "config.json").read_text()
            except OSError:
                result["config"] = None
        lines, next_line = read_lines_from(run_dir / "metrics.jsonl", metrics_from)
        log, next_log = read_bytes_from(run_dir / "train.log", log_from, max_log) if max_log else ("", log_from)
        result.update(status=read_json(run_dir / "status.json"),
                      latest=read_json(run_dir / "checkpoints" / "latest.json"),
                      checkpoints=list_checkpoints(run_dir), metrics=lines, metrics_next=next_line,
                      log=log, log_next=next_log, has_run=run_dir.is_dir())
    return result


def stop(job_dir: Path, nodes: list[str], sig: str = "TERM") -> dict:
    """Send SIGTERM (or SIGKILL) to each node's process group. Returns {node: "signalled"|"not running"}."""
    signum = getattr(signal, f"SIG{sig}")
    done = {}
    for node in nodes:
        info = node_info(job_dir / node)
        if not info["alive"]:
            done[node] = "not running"
            continue
        try:
            os.killpg(info["pid"], signum)
            done[node] = "signalled"
        except ProcessLookupError:
            done[node] = "not running"
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trainers.jobs.agent")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("launch", usage="launch NODE_DIR [--cwd DIR] -- ARGV...")
    p.add_argument("node_dir", type=Path)
    p.add_argument("--cwd", type=Path)
    p = sub.add_parser("probe")
    p.add_argument("job_dir", type=Path)
    p.add_argument("--node", action="append", default=[])
    p.add_argument("--metrics-from", type=int, default=0)
    p.add_argument("--log-from", type=int, default=0)
    p.add_argument("--max-log", type=int, default=MAX_LOG_BYTES)
    p.add_argument("--no-run", action="store_true")
    p.add_argument("--config", action="store_true", help="include run/config.json")
    p = sub.add_parser("stop")
    p.add_argument("job_dir", type=Path)
    p.add_argument("--node", action="append", default=[])
    p.add_argument("--signal", default="TERM", choices=["TERM", "KILL", "INT"])
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if args.cmd == "launch":
        if not command:
            parser.error("launch needs the command after --")
        return launch(args.node_dir, command, args.cwd)
    if args.cmd == "probe":
        out = probe(args.job_dir, args.node, args.metrics_from, args.log_from, run=not args.no_run,
                    config=args.config, max_log=args.max_log)
    else:
        out = stop(args.job_dir, args.node, args.signal)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
