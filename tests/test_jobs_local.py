"""Jobs on this computer: the store under concurrency, the detached launcher, stop/resume, SIGKILL mid-checkpoint,
and torchrun with two gloo processes; with the real `trainers.run` where it matters and the stand-in for loops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainers.jobs import Job, JobError, JobStore
from trainers.jobs.common import infer_state
from trainers.jobs.manager import JobManager
from trainers.rundir import checkpoint_is_complete, latest_checkpoint, read_metrics, read_status
from trm_lab.cli import main as cli

TINY = ["--steps", "6", "--set", "log_every=2", "--set", "checkpoint_every=3", "--set", "eval_every=6",
        "--set", "data.eval_count=16", "--set", "data.pool_size=64", "--set", "data.pool_initial=64"]

pytest_plugins = ["sshd"]  # the jobs_home / sshd_server / ssh_lab fixtures


def wait_for(manager: JobManager, job: Job, predicate, timeout: float = 90, interval: float = 0.2) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = manager.poll(job)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; job is {job.state} at step {job.step}: {job.message}")
        time.sleep(interval)


def steps_of(run: str | Path) -> list[int]:
    rows, _ = read_metrics(run)
    return [r["step"] for r in rows if r.get("split") != "eval"]


def test_store_is_shared_by_concurrent_processes(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    JobStore(db)
    code = ("import sys; from trainers.jobs import JobStore, Job\n"
            "s = JobStore(sys.argv[1])\n"
            "for i in range(25):\n"
            "    j = s.add(Job(name=f'{sys.argv[2]}-{i}', source='p'))\n"
            "    s.update(j.id, state='running', step=i, last_metrics={'loss': i})\n"
            "    assert s.get(j.id).step == i\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), tag], cwd=Path(__file__).parents[1])
             for tag in ("a", "b", "c")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    jobs = JobStore(db).list()
    assert len(jobs) == 75 and len({j.id for j in jobs}) == 75
    assert {j.last_metrics["loss"] for j in jobs if j.name.startswith("b-")} == set(range(25))
    with pytest.raises(JobError, match="no job named 'nope'"):
        JobStore(db).find("nope")


def test_real_trainer_killed_mid_checkpoint_resumes_from_a_complete_one(jobs_home, monkeypatch):
    """The real `trainers.run`, detached and followed; SIGKILLed while it checkpoints every step: latest.json names a
    complete checkpoint and the resume continues right after it (many kills: the stand-in test below)."""
    monkeypatch.delenv("TRM_LAB_TRAINER")
    manager = JobManager()
    job = manager.submit("tiny-sudoku4", name="real", device="cpu",
                         args=[*TINY, "--steps", "10", "--set", "log_every=1", "--set", "checkpoint_every=1"])
    assert job.state == "queued" and Path(job.local_run).is_absolute()
    node, run = jobs_home / "jobs" / str(job.id) / "node0", Path(job.local_run)
    for kill_after in (4,):
        job = wait_for(manager, job, lambda j, n=kill_after: j.step >= n, timeout=120, interval=0.05)
        os.kill(int((node / "child.pid").read_text()), signal.SIGKILL)
        job = wait_for(manager, job, lambda j: not j.active, timeout=30)
        assert job.state == "failed" and "-9" in job.message
        latest = json.loads((run / "checkpoints" / "latest.json").read_text())
        assert checkpoint_is_complete(run / "checkpoints" / latest["file"]) and latest["step"] >= kill_after - 1
        seen = len(read_metrics(run)[0])
        (node / "child.pid").unlink()
        job = manager.resume(job)
        job = wait_for(manager, job, lambda j, s=seen: len(read_metrics(run)[0]) > s, timeout=120, interval=0.1)
        # continues right after the checkpoint; rows the killed run logged past it are replaced, one row per step
        steps = [r["step"] for r in read_metrics(run)[0] if r.get("split", "train") == "train"]
        assert latest["step"] + 1 in steps and steps == sorted(set(steps))
    job = wait_for(manager, job, lambda j: not j.active, timeout=120, interval=0.3)
    assert job.state == "finished", (job.message, (node / "output.log").read_text()[-2000:])
    assert job.step == job.total_steps == 10
    assert "loss" in job.last_metrics and "eval_exact_accuracy" in job.last_metrics
    assert job.checkpoints and Path(job.checkpoints[-1]) == latest_checkpoint(run) == run / "checkpoints" / \
        "step_10.safetensors"


def test_a_status_is_told_current_or_stale_by_its_launch_id_not_its_second():
    """While the launcher lives, status.json counts only if this start's trainer wrote it: the launch ids match. The
    clock cannot tell (it has 1 s resolution): a status written in the start's second by the previous start is
    stale, and one written in that second by this start (stopped at once, launcher still recording the exit) is
    not. The old rule, `updated` <= `started` means stale, read the second as `queued`."""
    started = int(time.time()) + 0.5
    same_second = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    alive = {"node0": {"pid": 4242, "alive": True, "started": True, "exit": None}}

    def state(job: Job, launch: str | None, trainer_state: str) -> dict:
        status = {"state": trainer_state, "step": 7, "total_steps": 60, "updated": same_second, "message": ""}
        return infer_state(job, {"nodes": alive, "status": status | ({"launch": launch} if launch is not None else {})})

    job = Job(name="j", source="x", state="queued", started=started, launch="b" * 32)
    assert state(job, "a" * 32, "stopped")["state"] == "queued"  # left by the start before this resume
    assert state(job, "a" * 32, "running")["state"] == "queued"
    assert state(job, None, "finished")["state"] == "queued"  # by a trainer no job manager started
    assert state(job, "b" * 32, "stopped") == {"step": 7, "total_steps": 60, "state": "stopped", "message": "",
                                               "ended": pytest.approx(time.time(), abs=60)}
    assert state(job, "b" * 32, "running")["state"] == "running"
    before_ids = Job(name="j", source="x", state="running", started=started)  # started before launch ids existed
    assert state(before_ids, None, "running")["state"] == "running"


def test_stop_and_resume_from_the_cli_continue_the_metrics(jobs_home, capsys):
    cfg = jobs_home / "stand in.json"
    cfg.write_text(json.dumps({"steps": 60, "step_s": 0.05, "checkpoint_every": 10}))
    assert cli(["jobs", "submit", str(cfg), "--name", "cli run", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    manager = JobManager()
    stored = wait_for(manager, manager.store.get(job["id"]), lambda j: j.step >= 12)
    assert cli(["jobs", "stop", "cli run", "--wait", "--json"]) == 0
    stopped = json.loads(capsys.readouterr().out)
    assert stopped["state"] == "stopped" and 12 <= stopped["step"] < 60
    before = steps_of(stored.local_run)
    assert before == list(range(1, stopped["step"] + 1))
    assert cli(["jobs", "resume", str(job["id"])]) == 0
    assert cli(["jobs", "attach", "cli run", "--interval", "0.2", "--timeout", "60"]) == 0
    out = capsys.readouterr()
    assert "job 1 finished" in out.err and "step 60" in out.out
    assert steps_of(stored.local_run) == list(range(1, 61))  # no gap, no repeat across the stop
    assert cli(["jobs", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "finished" and row["checkpoints"][-1].endswith("step_60.safetensors")
    resumed = manager.store.get(job["id"])
    assert read_status(stored.local_run)["launch"] == resumed.launch != stored.launch  # a new id for the resume


def test_job_survives_its_submitter_and_is_found_again(jobs_home):
    code = ("from trainers.jobs.manager import JobManager\n"
            "j = JobManager().submit('x', name='orphan', args=['--set', 'steps=30', '--set', 'step_s=0.1'])\n"
            "print(j.id)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[1], env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    manager = JobManager()  # "the window starts again": everything comes from the store
    job = manager.store.find("orphan")
    job = wait_for(manager, job, lambda j: j.state == "running" and j.step > 0)
    job = wait_for(manager, job, lambda j: not j.active, timeout=60)
    assert job.state == "finished" and steps_of(job.local_run) == list(range(1, 31))


def test_sigkill_while_checkpointing_never_leaves_a_broken_latest(jobs_home):
    manager = JobManager()
    job = manager.submit("x", name="killed", args=["--set", "steps=400", "--set", "step_s=0.002",
                                                    "--set", "checkpoint_every=1", "--set", "payload=400000"])
    node = jobs_home / "jobs" / str(job.id) / "node0"
    run = Path(job.local_run)
    resumed_from = [0]
    for i in range(6):  # each time the new trainer is running (and checkpointing every step) before the kill
        job = wait_for(manager, job, lambda j: j.state == "running" and j.step > resumed_from[-1] and
                       (node / "child.pid").exists(), timeout=30, interval=0.02)
        time.sleep(0.05 + 0.03 * i)
        os.kill(int((node / "child.pid").read_text()), signal.SIGKILL)
        job = wait_for(manager, job, lambda j: not j.active, timeout=30, interval=0.05)
        assert job.state == "failed" and "-9" in job.message
        latest = json.loads((run / "checkpoints" / "latest.json").read_text())
        assert checkpoint_is_complete(run / "checkpoints" / latest["file"])
        assert latest_checkpoint(run) == run / "checkpoints" / latest["file"]
        resumed_from.append(latest["step"])
        (node / "child.pid").unlink()
        job = manager.resume(job)
    job = wait_for(manager, job, lambda j: not j.active, timeout=60)
    assert job.state == "finished"
    text = (run / "train.log").read_text()
    for step in resumed_from[1:]:  # each restart continued from the checkpoint latest.json named
        assert f"resume at step {step}," in text
    assert resumed_from == sorted(resumed_from) and len(set(resumed_from)) == 7


def test_two_processes_on_one_host_with_torchrun(jobs_home, monkeypatch):
    monkeypatch.delenv("TRM_LAB_TRAINER")
    manager = JobManager()
    job = manager.submit("tiny-sudoku4", name="ddp", gpus=2, device="cpu", args=TINY)
    job = wait_for(manager, job, lambda j: not j.active, timeout=150, interval=0.5)
    log = (jobs_home / "jobs" / str(job.id) / "node0" / "output.log").read_text()
    assert job.state == "finished", (job.message, log[-3000:])
    assert "torch.distributed.run" in log and "x2" in (Path(job.local_run) / "train.log").read_text()
    assert steps_of(job.local_run) == [2, 4, 6]


def test_a_vanished_process_group_is_reported_lost_and_can_resume(jobs_home):
    from trainers.jobs import agent

    manager = JobManager()
    job = manager.submit("x", name="vanish", args=["--set", "steps=30", "--set", "step_s=0.05"])
    job = wait_for(manager, job, lambda j: j.state == "running" and j.step >= 6)
    node_dir = jobs_home / "jobs" / str(job.id)
    assert agent.stop(node_dir, ["node0"], "KILL") == {"node0": "signalled"}  # launcher and trainer: no exit.json
    job = wait_for(manager, job, lambda j: not j.active, timeout=20)
    assert job.state == "lost" and "no final status" in job.message
    assert manager.stop(job).state == "lost"  # nothing left to signal
    job = wait_for(manager, manager.resume(job), lambda j: not j.active, timeout=60)
    assert job.state == "finished" and job.step == 30
