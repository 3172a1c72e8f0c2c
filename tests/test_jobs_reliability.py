"""Jobs after accidents: a reset or damaged job store, crashes between checkpoints, bad submissions."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_jobs_local import steps_of, wait_for
from trainers.jobs.manager import JobManager
from trainers.rundir import read_status
from trm_lab.cli import main as cli

pytest_plugins = ["sshd"]  # the jobs_home / sshd_server / ssh_lab fixtures
QUICK = ["--steps", "3", "--set", "step_s=0.01", "--set", "checkpoint_every=1"]


def test_ids_never_reuse_an_old_jobs_folder_after_the_store_is_reset(jobs_home):
    manager = JobManager()
    first = wait_for(manager, manager.submit("standin", name="old", args=QUICK), lambda j: not j.active)
    assert first.state == "finished"
    old_rows = (Path(first.local_run) / "metrics.jsonl").read_text()
    for name in ("jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"):
        (jobs_home / name).unlink(missing_ok=True)  # the store is lost (reset, restored from an older backup)
    manager = JobManager()
    second = manager.submit("standin", name="new", args=QUICK)
    assert second.id != first.id and Path(second.local_run) != Path(first.local_run)
    second = wait_for(manager, second, lambda j: not j.active)
    assert second.state == "finished" and steps_of(second.local_run) == [1, 2, 3]
    assert (Path(first.local_run) / "metrics.jsonl").read_text() == old_rows  # the old job's folder untouched


@pytest.mark.parametrize("content", [b"", b"this is not an SQLite database" * 100])
def test_a_damaged_store_is_set_aside_with_a_message(jobs_home, capsys, content):
    (jobs_home / "jobs" / "1" / "run").mkdir(parents=True)  # a job of the lost store
    store = jobs_home / "jobs.sqlite3"
    store.write_bytes(content)
    code = cli(["jobs", "list"])
    err = capsys.readouterr().err
    assert code == 0
    kept = sorted(jobs_home.glob("jobs.sqlite3.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert str(store) in err and kept[0].name in err and "set aside" in err
    manager = JobManager()
    job = manager.submit("standin", name="after", args=QUICK)
    assert job.id == 2  # past the lost job's folder
    wait_for(manager, job, lambda j: not j.active)


def _kill_and_resume(manager: JobManager, job, run: str, job_dir: str, at_least: int):
    """SIGKILL the trainer between two checkpoints (watching its own run directory: on this machine, also the
    "remote" one), then resume it to the end."""
    deadline = time.monotonic() + 60
    while (read_status(run) or {}).get("step", 0) < at_least:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(int((Path(job_dir) / "node0" / "child.pid").read_text()), signal.SIGKILL)
    job = wait_for(manager, job, lambda j: not j.active, timeout=30)
    assert job.state == "failed" and "-9" in job.message
    return wait_for(manager, manager.resume(job), lambda j: not j.active, timeout=90)


def test_one_metrics_row_per_step_after_a_crash_and_resume(jobs_home):
    manager = JobManager()
    job = manager.submit("standin", name="crash", args=["--steps", "24", "--set", "step_s=0.05",
                                                         "--set", "checkpoint_every=10"])
    job = _kill_and_resume(manager, job, job.local_run, str(jobs_home / "jobs" / str(job.id)), at_least=13)
    assert job.state == "finished"
    raw = (Path(job.local_run) / "metrics.jsonl").read_text().splitlines()
    assert len(raw) > 24  # steps 11.. were logged twice: before the kill and after the resume from step 10
    assert steps_of(job.local_run) == list(range(1, 25))


def test_one_metrics_row_per_step_after_a_remote_crash_and_resume(ssh_lab):
    manager = JobManager()
    job = manager.submit("standin", hosts=["trm-a"], name="remote crash",
                         args=["--steps", "24", "--set", "step_s=0.05", "--set", "checkpoint_every=10"])
    job = _kill_and_resume(manager, job, job.remote_run, job.remote_job_dir, at_least=13)
    assert job.state == "finished"
    raw = (Path(job.local_run) / "metrics.jsonl").read_text().splitlines()
    assert len(raw) > 24  # the host's file, mirrored line for line, holds the repeated steps
    assert steps_of(job.local_run) == list(range(1, 25))  # the mirror, read as a whole


@pytest.mark.parametrize(("argv", "expected"), [
    (["no-such-preset", "--host", "gpu1"], "no-such-preset"),
    (["cpu-sudoku4", "--host", "gpu1", "--set", "lr=abc"], "lr is 'abc', expected float"),
    (["cpu-sudoku4", "--host", "gpu1", "--name", "x" * 300], "name"),
    (["cpu-sudoku4", "--nodes", "gpu1,gpu2", "--rdzv-port", "99999"], "port"),
    (["cpu-sudoku4", "--host", "me@gpu1:99999"], "port"),
])
def test_a_remote_submit_is_checked_here_before_anything_is_sent(jobs_home, monkeypatch, capsys, argv, expected):
    monkeypatch.delenv("TRM_LAB_TRAINER")  # the real trainer: what it would refuse on the host is refused here
    code = cli(["jobs", "submit", *argv])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and expected in err and "started" not in err, err
    assert JobManager().store.list() == []  # nothing recorded, nothing sent


def test_a_failed_trainer_relays_its_own_error_line(jobs_home):
    manager = JobManager()
    job = manager.submit("standin", name="bad", args=["--set", 'steps="many"'])
    job = wait_for(manager, job, lambda j: not j.active)
    assert job.state == "failed"
    assert "exited with code 1" in job.message and "invalid literal for int()" in job.message, job.message


def test_orphan_temp_checkpoints_are_cleaned_when_a_run_starts_again(tmp_path):
    from trainers.rundir import RunWriter

    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "step_5.safetensors").write_bytes(b"kept")
    for name in (".step_10.safetensors.a1b2c3.tmp", ".latest.json.x9.tmp"):  # left by a SIGKILL mid-write
        (ck / name).write_bytes(b"half")
    RunWriter(tmp_path / "run")
    assert sorted(p.name for p in ck.iterdir()) == ["step_5.safetensors"]


def test_a_changed_host_key_is_refused_with_sshs_warning_and_the_fix(ssh_lab, tmp_path):
    from trainers.jobs.errors import JobError
    from trainers.jobs.ssh import SSH, SSHOptions

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    kind, key = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{ssh_lab.port} {kind} {key}\n")  # the host "was reinstalled", or is an impostor
    cfg = tmp_path / "cfg"
    cfg.write_text(ssh_lab.ssh_config.read_text().replace(str(ssh_lab.known_hosts), str(known)))
    with pytest.raises(JobError) as refused:
        SSH("trm-a", SSHOptions(config_file=str(cfg), control_dir=str(tmp_path / "cm"))).run(["true"])
    text = str(refused.value)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in text and "ssh-keygen" in text and str(known) in text, text
    assert "\n" not in text


def test_jobs_pull_says_which_checkpoints_the_host_pruned_before_they_were_fetched(ssh_lab, capsys):
    manager = JobManager()
    job = manager.submit("standin", hosts=["trm-a"], name="pruned",
                         args=["--steps", "20", "--set", "step_s=0.01", "--set", "checkpoint_every=2"])
    wait_for(manager, job, lambda j: not j.active, timeout=90, interval=0.5)
    assert cli(["jobs", "pull", str(job.id)]) == 0
    out = capsys.readouterr()
    assert "step_20.safetensors" in out.out
    assert "pruned on trm-a" in out.err and "keep_checkpoints" in out.err, out.err
