"""Run a job on one or several SSH hosts: ship the code once per host, launch detached, follow, stop, pull.

Remote layout (BASE defaults to ~/trm-lab; per host in `<lab home>/hosts.json`: {"HOST": {"python", "base",
"rdzv_host"}}):
    BASE/code/<hash>/{engine,trainers}   the shipped packages     BASE/venv   a venv seeing the host's torch
    BASE/jobs/<name>-<id>-<rand>/run/    the run directory        .../nodeN/  launcher pid, exit code, output
Every remote word goes through shlex.quote; the only shell text we write ourselves is fixed.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.atomic import atomic_write_bytes, atomic_write_text
from trainers.jobs.agent import checkpoint_step
from trainers.jobs.bundle import code_bundle
from trainers.jobs.common import new_launch_id, status_is_current, status_time, trainer_argv
from trainers.jobs.errors import HostUnreachable, JobError
from trainers.jobs.model import Job
from trainers.jobs.ssh import SSH, SSHOptions
from trainers.rundir import LAUNCH_ENV, checkpoint_is_complete

q = shlex.quote
SETUP_SCRIPT = Path(__file__).with_name("remote_setup.py")


@dataclass
class HostInfo:
    base: str
    python: str  # the venv's python
    rsync: bool


class SSHBackend:
    def __init__(self, home: Path, options: SSHOptions) -> None:
        self.home = Path(home)
        self.options = options
        self._hosts: dict[str, HostInfo] = {}

    def ssh(self, target: str) -> SSH:
        return SSH(target, self.options)

    def host_settings(self, target: str) -> dict:
        path = self.home / "hosts.json"
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except ValueError as exc:
            raise JobError(f"{path}: not valid JSON: {exc}") from exc
        return {**data.get("*", {}), **data.get(target, {})}

    # ---- preparing a host -------------------------------------------------------------------------------------------
    def prepare_host(self, target: str) -> HostInfo:
        """Make sure the host has our code and a venv (fast when it already has: one round trip)."""
        settings = self.host_settings(target)
        base_spec = str(settings.get("base", "~/trm-lab"))
        python = str(settings.get("python", "python3"))
        tag, tar = code_bundle()
        ssh = self.ssh(target)
        base_sh = ('"$HOME"/' + q(base_spec[2:])) if base_spec.startswith("~/") else q(base_spec)
        script = (f"B={base_sh}; printf 'base=%s\\n' \"$B\"; "
                  "command -v rsync >/dev/null 2>&1 && echo rsync=yes; "
                  f"test -f \"$B\"/code/{tag}/.complete && echo code=yes; "
                  f"test -x \"$B\"/venv/bin/python && test -f \"$B\"/venv/.trm-lab-{tag} && echo venv=yes; true")
        out = ssh.run_script(script).stdout.decode(errors="replace")
        facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        base = facts.get("base", "")
        if not base.startswith("/"):
            raise JobError(f"{target}: cannot resolve the remote folder {base_spec!r} (got {base!r})")
        code = f"{base}/code/{tag}"
        if facts.get("code") != "yes":
            tmp = f"{code}.tmp{secrets.token_hex(3)}"
            ssh.run_script(f"mkdir -p {q(tmp)} && tar -xzf - -C {q(tmp)} && touch {q(tmp)}/.complete && "
                           f"rm -rf {q(code)} && mv {q(tmp)} {q(code)}", input=tar)
        if facts.get("venv") != "yes":
            proc = ssh.run([python, "-", base, code, tag], input=SETUP_SCRIPT.read_bytes(), check=False,
                           timeout=300)
            if proc.returncode != 0:
                raise JobError(f"{target}: preparing {base}/venv with {python} failed: "
                               f"{proc.stderr.decode(errors='replace').strip()[-800:]}")
        info = HostInfo(base=base, python=f"{base}/venv/bin/python", rsync=facts.get("rsync") == "yes")
        self._hosts[target] = info
        return info

    def _venv_python(self, job: Job) -> str:
        return str(PurePosixPath(job.remote_job_dir).parent.parent / "venv" / "bin" / "python")

    # ---- lifecycle --------------------------------------------------------------------------------------------------
    def prepare(self, job: Job) -> dict:
        infos = [self.prepare_host(h) for h in dict.fromkeys(job.hosts)]
        safe = job.name.replace("/", "_").replace("\0", "") or "job"
        job_dir = f"{infos[0].base}/jobs/{safe}-{job.id}-{secrets.token_hex(3)}"
        for info in infos[1:]:
            if info.base != infos[0].base:
                raise JobError(f"hosts {', '.join(job.hosts)}: set the same remote folder (`base` in hosts.json) on "
                               "every node of a multi-node job")
        local = self.home / "jobs" / str(job.id) / "run"
        local.mkdir(parents=True, exist_ok=True)
        return {"remote_job_dir": job_dir, "remote_run": f"{job_dir}/run", "local_run": str(local),
                "primary_host": job.hosts[0] if len(job.hosts) == 1 else "",
                "mirror_host": job.hosts[0] if len(job.hosts) == 1 else ""}

    def start(self, job: Job, *, resume: bool = False) -> dict:
        python = self._venv_python(job)
        jd = job.remote_job_dir
        first = self.ssh(job.hosts[0])
        source = job.source
        if not resume and source.endswith(".json"):
            remote_cfg = f"{jd}/input/{Path(source).name}"
            first.run_script(f"mkdir -p {q(jd + '/input')} && cat > {q(remote_cfg)}", input=Path(source).read_bytes())
            for host in job.hosts[1:]:
                self.ssh(host).run_script(f"mkdir -p {q(jd + '/input')} && cat > {q(remote_cfg)}",
                                          input=Path(source).read_bytes())
            source = remote_cfg
        if resume and len(job.hosts) > 1:
            self.seed_resume(job)
        rdzv = None
        if len(job.hosts) > 1:  # the address the other nodes use for the first one (hosts.json may say otherwise)
            rdzv = str(self.host_settings(job.hosts[0]).get("rdzv_host") or first.resolved_hostname())
        pids = []
        launch = new_launch_id()  # the same on every node; rank 0's trainer copies it into status.json
        for i, host in enumerate(job.hosts):
            argv = trainer_argv(python, job, f"{jd}/run", source=source, resume=resume, rdzv_host=rdzv)
            node = f"{jd}/node{i}"
            cmd = shlex.join([python, "-m", "trainers.jobs.agent", "launch", node, "--cwd", jd, "--", *argv])
            script = (f"export {LAUNCH_ENV}={q(launch)} && "
                      f"mkdir -p {q(node)} && cd {q(jd)} && rm -f {q(node)}/launcher.pid {q(node)}/exit.json && "
                      "S=; command -v setsid >/dev/null 2>&1 && S=setsid; "
                      f"$S nohup {cmd} > {q(node)}/nohup.out 2>&1 < /dev/null & "
                      f"i=0; while [ ! -s {q(node)}/launcher.pid ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done; "
                      f"cat {q(node)}/launcher.pid 2>/dev/null || cat {q(node)}/nohup.out")
            out = self.ssh(host).run_script(script).stdout.decode(errors="replace").strip()
            if not out.isdigit():
                raise JobError(f"{host}: the launcher did not start: {out[-800:]}")
            pids.append(int(out))
        out = {"pid": pids[0], "state": "queued", "started": time.time(), "launch": launch, "message": "",
               "reachable": True}
        if len(job.hosts) > 1:
            out["primary_host"] = ""  # rank 0 may land on another host this time: find it again
        return out

    def seed_resume(self, job: Job) -> list[str]:
        """Before a multi-node resume, give every other host the run's config and newest checkpoint (from the local
        mirror): each rank reads them, but only rank 0's host wrote them. Returns "host:file" for what was sent."""
        run = Path(job.local_run)
        latest = run / "checkpoints" / "latest.json"
        names = ["config.json"]
        if latest.exists():
            newest = json.loads(latest.read_text()).get("file", "")
            if (run / "checkpoints" / newest).exists():
                names += [f"checkpoints/{newest}", "checkpoints/latest.json"]
        sent = []
        for host in dict.fromkeys(job.hosts):
            if host == job.primary_host:
                continue
            ssh = self.ssh(host)
            have = ssh.run_script("; ".join(f"test -f {q(job.remote_run + '/' + n)} && echo {q(n)}" for n in names)
                                  + "; true").stdout.decode().split("\n")
            for name in names:
                if name in have or not (run / name).exists():
                    continue
                dest = f"{job.remote_run}/{name}"
                tmp = f"{dest}.{secrets.token_hex(3)}.tmp"
                ssh.run_script(f"mkdir -p {q(str(PurePosixPath(dest).parent))} && cat > {q(tmp)} && "
                               f"mv {q(tmp)} {q(dest)}", input=(run / name).read_bytes(), timeout=3600)
                sent.append(f"{host}:{name}")
        return sent

    def _nodes_by_host(self, job: Job) -> dict[str, list[str]]:
        nodes: dict[str, list[str]] = {}
        for i, host in enumerate(job.hosts):
            nodes.setdefault(host, []).append(f"node{i}")
        return nodes

    def probe(self, job: Job, metrics_from: int, log_from: int) -> dict:
        """One probe per host: launcher liveness everywhere, the run directory from the primary host only. While
        the primary is unknown (multi-node, after a start) it is the host whose status.json carries this start's
        launch id; until one does, no run data is read (`status` is None), so the mirror never mixes two hosts'
        metrics."""
        python = self._venv_python(job)
        want_config = not (Path(job.local_run) / "config.json").exists()
        merged: dict = {"nodes": {}, "primary_host": job.primary_host}
        results = {}
        for host, nodes in self._nodes_by_host(job).items():
            words = [python, "-m", "trainers.jobs.agent", "probe", job.remote_job_dir]
            for n in nodes:
                words += ["--node", n]
            if host == job.primary_host:
                words += ["--metrics-from", str(metrics_from), "--log-from", str(log_from)]
                words += ["--config"] if want_config else []
            elif job.primary_host:
                words.append("--no-run")
            else:  # looking for rank 0's host: its status only
                words += ["--metrics-from", str(1 << 62), "--max-log", "0"]
            proc = self.ssh(host).run(words)
            try:
                results[host] = json.loads(proc.stdout)
            except ValueError as exc:
                raise JobError(f"{host}: unreadable probe output: {proc.stdout[-300:]!r}") from exc
            merged["nodes"].update(results[host]["nodes"])
        if job.primary_host:
            merged.update({k: v for k, v in results[job.primary_host].items() if k != "nodes"})
            return merged
        fresh = [(status_time(r.get("status")), h) for h, r in results.items()
                 if status_is_current(job, r.get("status"))]
        if fresh:
            merged["primary_host"] = max(fresh)[1]  # the manager records it, then reads its run directory
        return merged

    def mirror(self, job: Job, probe: dict) -> None:
        """Append what is new to the local copy of the run directory (called under the job's poll lock)."""
        run = Path(job.local_run)
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        if probe.get("metrics"):
            with open(run / "metrics.jsonl", "a") as fh:
                fh.write("".join(line + "\n" for line in probe["metrics"]))
        if probe.get("log"):
            with open(run / "train.log", "a") as fh:
                fh.write(probe["log"])
        if probe.get("status"):
            atomic_write_text(run / "status.json", json.dumps(probe["status"], indent=1) + "\n")
        if probe.get("config"):
            atomic_write_text(run / "config.json", probe["config"])

    def stop(self, job: Job, sig: str = "TERM") -> dict:
        done = {}
        for host, nodes in self._nodes_by_host(job).items():
            words = [self._venv_python(job), "-m", "trainers.jobs.agent", "stop", job.remote_job_dir, "--signal", sig]
            for n in nodes:
                words += ["--node", n]
            done.update(json.loads(self.ssh(host).run(words).stdout))
        return done

    def pull(self, job: Job, names: list[str]) -> list[Path]:
        """Copy checkpoints (rsync when both sides have it, else a stream over ssh); verify; update latest.json."""
        host = job.primary_host or job.hosts[0]
        ssh = self.ssh(host)
        folder = Path(job.local_run) / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        info = self._hosts.get(host)
        remote_rsync = info.rsync if info else ssh.run_script("command -v rsync", check=False).returncode == 0
        use_rsync = remote_rsync and shutil.which("rsync") is not None
        pulled = []
        for name in names:
            src = f"{job.remote_run}/checkpoints/{name}"
            dst = folder / name
            if use_rsync:
                cmd = ["rsync", "-s", "-t", "--partial-dir=.rsync-partial", "-e", ssh.rsync_shell(),
                       ssh.rsync_source(src), str(dst)]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.options.timeout_s * 10)
                if proc.returncode == 255 or "connection unexpectedly closed" in proc.stderr:
                    raise HostUnreachable(f"{host}: rsync could not connect: {proc.stderr.strip()[-300:]}")
                if proc.returncode == 24 or (proc.returncode == 23 and "No such file" in proc.stderr):
                    dst.unlink(missing_ok=True)
                    continue  # the trainer pruned it (keep_checkpoints) since the probe listed it
                if proc.returncode != 0:
                    raise JobError(f"{host}: rsync {src} failed: {proc.stderr.strip()[-500:]}")
            else:
                proc = ssh.run(["cat", src], check=False, timeout=self.options.timeout_s * 10)
                if proc.returncode != 0:
                    continue
                atomic_write_bytes(dst, proc.stdout)
            if not checkpoint_is_complete(dst):
                dst.unlink(missing_ok=True)
                raise JobError(f"{host}: {src} arrived incomplete; it will be fetched again")
            pulled.append(dst)
        present = sorted((p for p in folder.iterdir() if checkpoint_step(p.name) is not None),
                         key=lambda p: checkpoint_step(p.name) or 0)
        if present:
            newest = present[-1]
            atomic_write_text(folder / "latest.json", json.dumps({"file": newest.name,
                                                              "step": checkpoint_step(newest.name)}) + "\n")
        return pulled



