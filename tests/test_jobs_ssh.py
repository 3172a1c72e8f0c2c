"""Jobs over SSH against a real sshd on 127.0.0.1 (host-key checking on): the real trainer end to end, a killed
master and a host that goes away and comes back, hostile names, stop/resume, and two "hosts" under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_jobs_local import TINY, steps_of, wait_for

from trainers.jobs import HostUnreachable, JobError
from trainers.jobs.manager import JobManager
from trainers.jobs.ssh import SSH, SSHOptions, config_hosts, parse_target
from trainers.rundir import checkpoint_is_complete, latest_checkpoint, read_status
from trm_lab.cli import main as cli

pytest_plugins = ["sshd"]  # the jobs_home / sshd_server / ssh_lab fixtures


def test_targets_and_config_hosts(tmp_path):
    assert parse_target("gpu1") == ("gpu1", None)
    assert parse_target("me@10.0.0.2:2222") == ("me@10.0.0.2", 2222)
    for bad in ("me@host; rm -rf ~", "-oProxyCommand=touch x", "host:22:33", "me@$(id)", "a b"):
        with pytest.raises(JobError, match="not a host"):
            parse_target(bad)
    (tmp_path / "extra").write_text("Host box2 box3\n  HostName 1.2.3.4\n")
    (tmp_path / "config").write_text("# mine\nHost gpu1\n  HostName a\nHost *.corp !x\n  User me\n"
                                     f"Include {tmp_path / 'extra'}\nHost=eq\n")
    assert config_hosts(tmp_path / "config") == ["gpu1", "box2", "box3", "eq"]


def test_unknown_host_key_is_refused(ssh_lab, tmp_path):
    """Host-key checking stays on: with an empty known_hosts the connection fails instead of trusting the key."""
    cfg = tmp_path / "cfg"
    cfg.write_text(ssh_lab.ssh_config.read_text().replace(str(ssh_lab.known_hosts), str(tmp_path / "empty")))
    with pytest.raises(HostUnreachable, match="trm-a: ssh failed"):
        SSH("trm-a", SSHOptions(config_file=str(cfg), control_dir=str(tmp_path / "cm"))).run(["true"])


def test_dropped_master_and_host_outage_never_stop_the_job(ssh_lab):
    """Kill the multiplexing master, then take the whole host down and back, while a `trm-lab jobs attach` in
    another process follows the same job: the job runs on, both re-attach, and the mirror holds every row once."""
    manager = JobManager()
    job = manager.submit("x", hosts=["trm-a"], name="outage", args=["--set", "steps=150", "--set", "step_s=0.1"])
    attach = subprocess.Popen([sys.executable, "-m", "trm_lab.cli", "jobs", "attach", str(job.id), "--interval",
                               "0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[1])
    try:
        job = wait_for(manager, job, lambda j: j.step >= 5)
        ssh = manager.ssh.ssh("trm-a")
        master = ssh.master_pid()
        assert master
        os.kill(master, signal.SIGKILL)  # the multiplexing connection dies mid-run
        job = wait_for(manager, job, lambda j: j.step >= 15)
        assert job.reachable and job.state == "running" and ssh.master_pid() not in (None, master)
        ssh_lab.stop()  # the host goes away entirely (sshd and every session killed)
        try:
            job = manager.poll(job)
            assert not job.reachable and job.state == "running" and "trm-a" in job.message
            time.sleep(1.5)
        finally:
            ssh_lab.start()
        job = wait_for(manager, job, lambda j: not j.active, timeout=60)
        assert job.state == "finished" and job.reachable
        out, err = attach.communicate(timeout=60)
    finally:
        attach.kill()
    assert attach.returncode == 0, err
    assert "step 150" in out and "ssh failed" in err and "reachable again" in err and "finished" in err
    assert steps_of(job.local_run) == list(range(1, 151))  # two followers, yet every row exactly once


def test_hostile_names_reach_the_host_as_plain_strings(ssh_lab, remote_base, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    evil = "a b'\"$(touch pwned-1);`touch pwned-2` ; touch pwned-3 & x\\ *"
    cfg = tmp_path / f"cfg {evil}.json"
    cfg.write_text(json.dumps({"steps": 5, "step_s": 0.01}))
    manager = JobManager()
    job = manager.submit(str(cfg), hosts=["trm-a"], name=evil)
    job = wait_for(manager, job, lambda j: not j.active, timeout=60)
    assert job.state == "finished", job.message
    assert Path(job.remote_job_dir).parent == remote_base / "jobs"
    assert Path(job.remote_job_dir).name.startswith(evil + "-")
    assert (Path(job.remote_job_dir) / "input" / cfg.name).read_text() == cfg.read_text()
    assert json.loads((Path(job.remote_run) / "config.json").read_text())["steps"] == 5
    assert steps_of(job.local_run) == [1, 2, 3, 4, 5]
    assert read_status(job.remote_run)["launch"] == read_status(job.local_run)["launch"] == job.launch != ""
    for folder in (Path.home(), remote_base, remote_base / "jobs", Path(job.remote_job_dir), tmp_path):
        assert not list(folder.glob("pwned-*")), folder
    capsys.readouterr()
    assert cli(["jobs", "list"]) == 0
    assert evil[:24] in capsys.readouterr().out
    assert cli(["jobs", "pull", evil, "-o", str(tmp_path / "out dir")]) == 0
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "out dir" / "step_5.safetensors")]
    assert checkpoint_is_complete(tmp_path / "out dir" / "step_5.safetensors")


def test_real_trainer_over_ssh_stops_resumes_finishes_and_is_pulled(ssh_lab, monkeypatch):
    """The real trainer on an SSH host: followed live, SIGTERM checkpoints and ends `stopped`, the resume continues
    the curve without a gap, and the checkpoints come back intact."""
    monkeypatch.delenv("TRM_LAB_TRAINER")
    manager = JobManager()
    job = manager.submit("tiny-sudoku4", hosts=["trm-a"], name="remote real", device="cpu",
                         args=[*TINY, "--steps", "60", "--set", "log_every=1", "--set", "checkpoint_every=30"])
    assert job.remote_run.endswith("/run") and job.remote_run != job.local_run
    job = wait_for(manager, job, lambda j: j.step >= 3, timeout=120, interval=0.1)
    job = manager.stop(job)
    job = wait_for(manager, job, lambda j: not j.active, timeout=60)
    assert job.state == "stopped", job.message
    stopped_at = job.step
    assert stopped_at < 60
    assert Path(job.checkpoints[-1]).name == f"step_{stopped_at}.safetensors"  # the stop checkpoint was pulled
    job = manager.resume(job)
    job = wait_for(manager, job, lambda j: not j.active, timeout=120, interval=0.3)
    assert job.state == "finished", job.message
    assert steps_of(job.local_run) == steps_of(job.remote_run) == list(range(1, 61))  # every step once
    pulled = manager.pull(job)
    assert pulled[-1].name == "step_60.safetensors" and all(checkpoint_is_complete(p) for p in pulled)
    assert latest_checkpoint(job.local_run) == pulled[-1]
    assert pulled[-1].read_bytes() == (Path(job.remote_run) / "checkpoints" / "step_60.safetensors").read_bytes()
    assert json.loads((Path(job.local_run) / "config.json").read_text())["steps"] == 60
    assert "eval_exact_accuracy" in job.last_metrics


def test_multi_node_resume_gives_other_hosts_the_config_and_newest_checkpoint(ssh_lab, remote_base, tmp_path):
    """Only rank 0's host writes the run directory; before a multi-node resume the others get what they read."""
    from trainers.jobs import Job

    mirror = tmp_path / "mirror"
    (mirror / "checkpoints").mkdir(parents=True)
    (mirror / "config.json").write_text('{"steps": 9}')
    (mirror / "checkpoints" / "step_4.safetensors").write_bytes(b"weights" * 1000)
    (mirror / "checkpoints" / "latest.json").write_text('{"file": "step_4.safetensors", "step": 4}')
    other = remote_base / "other-node" / "run"  # what trm-b sees: a run folder rank 0 never wrote to
    job = Job(name="mn", source="x", hosts=["trm-a", "trm-b"], primary_host="trm-a", local_run=str(mirror),
              remote_run=str(other), remote_job_dir=str(other.parent))
    manager = JobManager()
    sent = manager.ssh.seed_resume(job)
    assert sent == ["trm-b:config.json", "trm-b:checkpoints/step_4.safetensors", "trm-b:checkpoints/latest.json"]
    for name in ("config.json", "checkpoints/step_4.safetensors", "checkpoints/latest.json"):
        assert (other / name).read_bytes() == (mirror / name).read_bytes()
    assert manager.ssh.seed_resume(job) == []  # already there: nothing is sent twice


def test_two_hosts_through_sshd_form_one_torchrun_job_that_stops_and_resumes(ssh_lab, monkeypatch):
    """The real trainer as one DDP job over two "hosts" (both 127.0.0.1 through sshd; gloo, c10d rendezvous on the
    first): rank 0's host is found, SIGTERM to both process groups stops it, and the resume (rank 0's host found
    again) continues the curve without a gap."""
    from sshd import free_port

    monkeypatch.delenv("TRM_LAB_TRAINER")
    manager = JobManager()
    job = manager.submit("tiny-sudoku4", hosts=["trm-a", "trm-b"], gpus=1, device="cpu", name="two nodes",
                         rdzv_port=free_port(), args=[*TINY, "--steps", "100", "--set", "log_every=1",
                                                            "--set", "eval_every=100", "--set", "checkpoint_every=50"])
    job = wait_for(manager, job, lambda j: j.step >= 2, timeout=150, interval=0.3)
    assert job.primary_host in ("trm-a", "trm-b") and job.mirror_host == job.primary_host
    job = wait_for(manager, manager.stop(job), lambda j: not j.active, timeout=90)
    nodes = [Path(job.remote_job_dir) / f"node{i}" for i in (0, 1)]
    assert job.state == "stopped", (job.message, [(n / "output.log").read_text()[-2000:] for n in nodes])
    assert job.step < 100
    job = manager.resume(job)
    assert job.primary_host == ""  # rank 0 may land on the other host this time: found again from a fresh status
    job = wait_for(manager, job, lambda j: not j.active, timeout=150, interval=0.5)
    assert job.state == "finished", (job.message, [(n / "output.log").read_text()[-2000:] for n in nodes])
    assert job.primary_host in ("trm-a", "trm-b")
    out = "\n".join((n / "output.log").read_text() for n in nodes)
    assert out.count("'--nnodes', '2', '--rdzv-backend', 'c10d'") == 4  # two nodes, started twice
    assert "x2" in (Path(job.local_run) / "train.log").read_text()  # one job, world size 2
    assert steps_of(job.local_run) == list(range(1, 101))  # the mirror has every step once across stop/resume
    assert manager.pull(job)[-1].name == "step_100.safetensors"
