"""`trm-lab jobs`: the same job manager the window uses, from a terminal (no Qt).

    trm-lab jobs list | submit PRESET|CONFIG [--host H] [--gpus K] [--nodes H1,H2] [--name N]
                      | attach JOB | stop JOB | resume JOB | pull JOB
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine.atomic import atomic_copy

FIELDS = ("loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "mean_steps", "samples_per_s")


def register(subparsers) -> None:
    p = subparsers.add_parser("jobs", help="training jobs on this computer or SSH hosts",
                              description="Submit, follow, stop, resume and pull training jobs.")
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    s = sub.add_parser("list", help="every job with its state and progress")
    s.add_argument("--no-refresh", action="store_true", help="show the store as is (no polling of running jobs)")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("submit", help="start a training run")
    s.add_argument("source", metavar="PRESET|CONFIG", help="a preset name or a config JSON file")
    s.add_argument("--host", help="an ~/.ssh/config alias, host, user@host or user@host:port")
    s.add_argument("--nodes", help="several hosts, comma-separated (torchrun, one node per host)")
    s.add_argument("--gpus", type=int, default=0, help="processes (GPUs) per node via torchrun")
    s.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    s.add_argument("--name", help="job name (default: source + time)")
    s.add_argument("--out", help="run directory (jobs on this computer only)")
    s.add_argument("--rdzv-port", type=int, help="torchrun rendezvous port on the first node (default 29400)")
    s.add_argument("--steps", type=int, help="override the number of training steps")
    s.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a config field (passed to the trainer), e.g. --set model.hidden_size=128")
    s.add_argument("--attach", action="store_true", help="follow the job after submitting")
    s.add_argument("--json", action="store_true")
    for name, text in (("attach", "follow a job's metrics and log until it ends (Ctrl-C detaches)"),
                       ("stop", "ask the trainer to checkpoint and stop"), ("resume", "continue a stopped job"),
                       ("pull", "fetch a job's checkpoints to this computer")):
        s = sub.add_parser(name, help=text)
        s.add_argument("job", metavar="JOB", help="job id or name")
        s.add_argument("--json", action="store_true")
        if name == "attach":
            s.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
            s.add_argument("--timeout", type=float, help="give up following after this many seconds")
        if name == "stop":
            s.add_argument("--wait", action="store_true", help="wait until the trainer has stopped")
        if name == "pull":
            s.add_argument("-o", "--output", help="also copy the checkpoints into this folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainers.jobs import JobError, JobManager

    try:
        manager = JobManager()
        if manager.store.notice:
            print(f"trm-lab jobs: {manager.store.notice}", file=sys.stderr)
        return ACTIONS[args.jobs_command](manager, args)
    except JobError as exc:
        print(f"trm-lab jobs: {exc}", file=sys.stderr)
        return 1


def _row(job) -> dict:
    return {"id": job.id, "name": job.name, "where": job.where, "state": job.state, "step": job.step,
            "total_steps": job.total_steps, "eta_s": job.eta_s, "reachable": job.reachable,
            "local_run": job.local_run, "remote_run": job.remote_run, "checkpoints": job.checkpoints,
            "last_metrics": job.last_metrics, "message": job.message}


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _list(manager, args) -> int:
    from trainers.jobs import JobError

    jobs = manager.store.list()
    if not args.no_refresh:
        for i, job in enumerate(jobs):
            if job.active:
                try:
                    jobs[i] = manager.poll(job)
                except JobError as exc:  # show the rest; say what is wrong with this one
                    print(f"trm-lab jobs: job {job.id}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps([_row(j) for j in jobs], indent=1))
        return 0
    if not jobs:
        print("no jobs yet: trm-lab jobs submit PRESET")
        return 0
    print(f"{'ID':>4}  {'NAME':24} {'WHERE':18} {'STATE':10} {'STEP':>13}  {'ETA':>8}  LOSS")
    for j in jobs:
        state = j.state if j.reachable else f"{j.state}?"
        loss = j.last_metrics.get("loss")
        print(f"{j.id:>4}  {j.name[:24]:24} {j.where[:18]:18} {state:10} {f'{j.step}/{j.total_steps}':>13}  "
              f"{_eta(j.eta_s):>8}  {'' if loss is None else f'{loss:.4f}'}")
    return 0


def _submit(manager, args) -> int:
    from trainers.jobs import JobError

    if args.host and args.nodes:
        raise JobError("give --host or --nodes, not both")
    hosts = [h.strip() for h in (args.nodes.split(",") if args.nodes else [args.host] if args.host else [])]
    job = manager.submit(args.source, hosts=hosts, gpus=args.gpus, device=args.device, name=args.name,
                         run_dir=args.out, rdzv_port=args.rdzv_port, args=_trainer_args(args))
    if args.json:
        print(json.dumps(_row(job)))
    else:
        print(f"job {job.id} ({job.name}) started on {job.where}; run directory {job.remote_run or job.local_run}")
        print(f"follow it with: trm-lab jobs attach {job.id}", file=sys.stderr)
    if args.attach:
        args.job, args.interval, args.timeout = str(job.id), 2.0, None
        return _attach(manager, args)
    return 0


def _trainer_args(args) -> list[str]:
    out = ["--steps", str(args.steps)] if args.steps else []
    for item in args.set:
        out += ["--set", item]
    return out


def _metric_line(row: dict) -> str:
    parts = [f"step {row.get('step')}"]
    parts += [f"{k} {row[k]:.4g}" for k in FIELDS if isinstance(row.get(k), int | float)]
    return "  ".join(parts)


def _attach(manager, args) -> int:
    from trainers.rundir import read_metrics

    job = manager.store.find(args.job)
    seen_line, seen_log = 0, 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    was_reachable = True
    try:
        while True:
            job = manager.poll(job)
            if job.reachable != was_reachable:
                print(f"[{job.where}] {'reachable again' if job.reachable else job.message}", file=sys.stderr)
                was_reachable = job.reachable
            rows, seen_line = read_metrics(job.local_run, seen_line)
            for row in rows:
                print(json.dumps(row) if args.json else _metric_line(row), flush=True)
            log = Path(job.local_run) / "train.log"
            if log.exists() and not args.json:
                with open(log, "rb") as fh:
                    fh.seek(seen_log)
                    text = fh.read()
                seen_log += len(text)
                if text:
                    sys.stderr.write(text.decode(errors="replace"))
            if not job.active:
                print(f"job {job.id} {job.state}" + (f": {job.message}" if job.message else ""), file=sys.stderr)
                return 0 if job.state in ("finished", "stopped") else 1
            if deadline and time.monotonic() > deadline:
                print(f"job {job.id} still {job.state}; detached", file=sys.stderr)
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print(f"\ndetached; job {job.id} keeps running (trm-lab jobs attach {job.id})", file=sys.stderr)
        return 0


def _stop(manager, args) -> int:
    job = manager.stop(manager.store.find(args.job))
    if args.wait:
        deadline = time.monotonic() + 600
        while job.active and time.monotonic() < deadline:
            time.sleep(0.5)
            job = manager.poll(job)
    print(json.dumps(_row(job)) if args.json else f"job {job.id} {job.state}")
    return 0


def _resume(manager, args) -> int:
    job = manager.resume(manager.store.find(args.job))
    print(json.dumps(_row(job)) if args.json else f"job {job.id} resumed on {job.where}")
    return 0


def _pull(manager, args) -> int:
    job = manager.store.find(args.job)
    paths = manager.pull(job)
    pruned = manager.pruned_before_fetched(manager.store.get(job.id))
    if pruned:
        print(f"trm-lab jobs: {len(pruned)} earlier checkpoint(s) (steps {pruned[0]}-{pruned[-1]}) were pruned on "
              f"{job.primary_host or job.hosts[0]} before this computer fetched them (the trainer keeps its newest "
              "keep_checkpoints); submit with --set keep_checkpoints=0 to keep every one", file=sys.stderr)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        copied = []
        for p in paths:
            atomic_copy(p, out / p.name)
            copied.append(out / p.name)
        paths = copied
    if args.json:
        print(json.dumps([str(p) for p in paths]))
    else:
        for p in paths:
            print(p)
        if not paths:
            print("no checkpoints yet", file=sys.stderr)
    return 0


ACTIONS = {"list": _list, "submit": _submit, "attach": _attach, "stop": _stop, "resume": _resume, "pull": _pull}
