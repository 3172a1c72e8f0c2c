"""The Training panel with real jobs (stand-in trainer) and real widgets, offscreen: it follows a job live, finds it
again after a restart, stops and resumes it, opens and exports checkpoints, and never blocks the event loop."""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import QTimer

from trainers.jobs.manager import JobManager
from trainers.rundir import checkpoint_is_complete, read_metrics
from trm_lab.panels.training import TrainingPanel
from trm_lab.panels.training_dialog import OTHER_HOST, THIS_COMPUTER, NewRunDialog

pytest_plugins = ["sshd"]  # the jobs_home fixture
SLOW = ["--set", "steps=40", "--set", "step_s=0.08", "--set", "checkpoint_every=5"]


def make_panel(qtbot) -> TrainingPanel:
    panel = TrainingPanel(interval_ms=100)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    return panel


def job_state(panel: TrainingPanel, job_id: int) -> str:
    job = panel.jobs.get(job_id)
    return job.state if job else ""


def train_points(panel: TrainingPanel, title: str = "Loss") -> list[float]:
    xs, _ = panel.curves[title]["train"].getData()
    return [] if xs is None else list(xs)


def test_panel_follows_a_run_and_offers_its_checkpoints(qtbot, jobs_home, tmp_path):
    panel = make_panel(qtbot)
    panel.submit({"source": "x", "name": "panel run", "args": SLOW})
    qtbot.waitUntil(lambda: any(j.name == "panel run" for j in panel.jobs.values()), timeout=20_000)
    (job_id,) = panel.jobs
    assert panel.selected == job_id  # the newest active job is shown
    qtbot.waitUntil(lambda: panel._bars[job_id].value() > 0 and bool(panel.log_view.toPlainText()), timeout=20_000)
    item = panel._items[job_id]
    assert item.text(1) == "this computer" and item.text(2) == "running"
    qtbot.waitUntil(lambda: job_state(panel, job_id) == "finished", timeout=30_000)
    qtbot.waitUntil(lambda: len(train_points(panel)) == 40, timeout=5_000)
    assert train_points(panel) == [float(s) for s in range(1, 41)]
    assert train_points(panel, "Samples/s") == train_points(panel)
    assert panel._bars[job_id].value() == 1000 and panel._bars[job_id].format() == "40/40"
    # The log tail is read on the poller's next tick, which may come after the one that saw the job finish.
    qtbot.waitUntil(lambda: "finished" in panel.log_view.toPlainText(), timeout=5_000)
    assert panel.checkpoint_list.count() >= 1 and panel.open_button.isEnabled()
    newest = panel.selected_checkpoint()
    assert newest.endswith("step_40.safetensors")
    with qtbot.waitSignal(panel.open_checkpoint, timeout=2000) as sig:
        panel.open_button.click()
    assert sig.args == [newest]
    out = panel.export_selected_checkpoint(str(tmp_path / "mine.safetensors"))
    assert out.read_bytes() == open(newest, "rb").read() and checkpoint_is_complete(out)
    panel.shutdown()


def test_restarted_panel_finds_the_job_and_stop_resume_continue_it(qtbot, jobs_home):
    job = JobManager().submit("x", name="long", args=SLOW)
    first = make_panel(qtbot)
    qtbot.waitUntil(lambda: job_state(first, job.id) == "running" and len(train_points(first)) >= 3,
                    timeout=20_000)
    first.shutdown()
    first.close()  # "the window closes" mid-run; the job goes on
    second = make_panel(qtbot)
    qtbot.waitUntil(lambda: job_state(second, job.id) == "running", timeout=20_000)
    assert second.selected == job.id and second.stop_button.isEnabled()
    second.stop_button.click()
    qtbot.waitUntil(lambda: job_state(second, job.id) == "stopped", timeout=20_000)
    stopped_at = second.jobs[job.id].step
    assert stopped_at < 40 and second.resume_button.isEnabled()
    second.resume_button.click()
    qtbot.waitUntil(lambda: job_state(second, job.id) == "finished", timeout=30_000)
    qtbot.waitUntil(lambda: len(train_points(second)) == 40, timeout=5_000)
    assert train_points(second) == [float(s) for s in range(1, 41)]  # full history, no gap across stop/resume
    rows, _ = read_metrics(second.jobs[job.id].local_run)
    assert [r["step"] for r in rows] == list(range(1, 41))
    second.shutdown()


def test_slow_polls_never_block_the_event_loop(qtbot, jobs_home, monkeypatch):
    JobManager().submit("x", name="slow host", args=SLOW)
    real_poll = JobManager.poll
    inside, release = threading.Event(), threading.Event()

    def slow_poll(self, job, **kw):
        inside.set()
        release.wait(30)  # an SSH round trip to a host that hangs until the test lets it go
        return real_poll(self, job, **kw)

    monkeypatch.setattr(JobManager, "poll", slow_poll)
    panel = make_panel(qtbot)
    qtbot.waitUntil(inside.is_set, timeout=10_000)
    beats: list[int] = []
    beat = QTimer()
    beat.timeout.connect(lambda: beats.append(1))
    beat.start(20)
    qtbot.wait(1500)
    beat.stop()
    release.set()
    # had the poll run on the GUI thread, not one tick could have fired while it hung (the machine may be busy,
    # so the count is low, not a rate)
    assert len(beats) >= 2
    qtbot.waitUntil(lambda: any(j.step > 0 for j in panel.jobs.values()), timeout=20_000)
    panel.shutdown()


def test_new_run_dialog_builds_the_request(qtbot, jobs_home, tmp_path, monkeypatch):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host gpu-box\n  HostName 10.0.0.7\nHost *\n  ServerAliveInterval 9\n")
    monkeypatch.setenv("TRM_LAB_SSH_CONFIG", str(cfg))
    dialog = NewRunDialog()
    qtbot.addWidget(dialog)
    hosts = [dialog.where.itemText(i) for i in range(dialog.where.count())]
    assert hosts == [THIS_COMPUTER, "gpu-box", OTHER_HOST]
    assert "tiny-sudoku4" in [dialog.preset.itemText(i) for i in range(dialog.preset.count())]
    dialog.preset.setCurrentText("tiny-sudoku4")
    dialog.steps.setValue(500)
    dialog.hidden.setCurrentText("128")
    dialog.data.setText("/data/my puzzles.csv")
    dialog.where.setCurrentText("gpu-box")
    dialog.gpus.setValue(4)
    req = dialog.request()
    assert req["source"] == "tiny-sudoku4" and req["hosts"] == ["gpu-box"] and req["gpus"] == 4
    assert req["args"] == ["--steps", "500", "--set", "model.hidden_size=128",
                           "--set", "data.source=" + json.dumps("/data/my puzzles.csv")]
    dialog.where.setCurrentText(OTHER_HOST)
    assert dialog.other.isEnabled()
    dialog.other.setText("me@h1:2222, me@h2")
    assert dialog.request()["hosts"] == ["me@h1:2222", "me@h2"]
    dialog.other.setText("me@h1; reboot")
    from trainers.jobs import JobError

    with pytest.raises(JobError, match="not a host"):
        dialog.request()


def test_new_run_dialog_starts_on_a_quick_preset_and_describes_each(qtbot, jobs_home):
    """Issue 17 item 10: the dialog defaulted to cpu-maze15 (0.6 h) and presets had no descriptions."""
    from trainers.presets import list_presets, load_config

    dialog = NewRunDialog()
    qtbot.addWidget(dialog)
    assert dialog.preset.currentText() == "cpu-sudoku4"
    assert load_config("cpu-sudoku4").steps <= 2000
    assert "4x4" in dialog.preset_notes.text() and "first run" in dialog.preset_notes.text()
    for name in list_presets():
        tip = dialog.preset.itemData(dialog.preset.findText(name), 3)  # Qt.ToolTipRole
        notes = load_config(name).notes
        assert notes and notes in tip, name  # every preset says what it is for
    dialog.preset.setCurrentText("cpu-maze9")
    assert "maze 9x9" in dialog.preset_notes.text() and "4,000 steps" in dialog.preset_notes.text()


def test_a_new_run_gets_fresh_plots_a_stop_is_reported_and_finished_jobs_can_be_removed(qtbot, jobs_home):
    """Issue 17 item 10: plots kept the previous job, "stopping..." stayed, failed jobs could not be removed."""
    panel = make_panel(qtbot)
    found: list = []
    panel.checkpointsFound.connect(found.append)
    panel.submit({"source": "x", "name": "first", "args": ["--set", "steps=6", "--set", "step_s=0.02"]})
    qtbot.waitUntil(lambda: any(j.name == "first" and j.state == "finished" for j in panel.jobs.values()),
                    timeout=30_000)
    first = next(j.id for j in panel.jobs.values() if j.name == "first")
    qtbot.waitUntil(lambda: len(train_points(panel)) == 6, timeout=10_000)
    # each run's newest checkpoint is announced for the solve panels
    qtbot.waitUntil(lambda: bool(found) and found[-1][-1].endswith("step_6.safetensors"), timeout=10_000)
    # a second run: selected at once, its plots start empty (not the first run's curve)
    panel.submit({"source": "x", "name": "second", "args": SLOW})
    qtbot.waitUntil(lambda: panel.selected is not None and panel.selected != first, timeout=20_000)
    second = panel.selected
    assert panel.jobs[second].name == "second"
    assert len(train_points(panel)) < 6 or train_points(panel)[0] == 1.0
    qtbot.waitUntil(lambda: job_state(panel, second) == "running" and len(train_points(panel)) >= 2, timeout=20_000)
    assert train_points(panel) == [float(s) for s in range(1, len(train_points(panel)) + 1)]
    # stop: "stopping..." gives way to "stopped"
    assert not panel.remove_button.isEnabled()  # a running job cannot be removed
    panel.stop_button.click()
    qtbot.waitUntil(lambda: job_state(panel, second) == "stopped", timeout=20_000)
    qtbot.waitUntil(lambda: "stopping" not in panel.status.text(), timeout=5_000)
    assert "second stopped" in panel.status.text()
    # a failed run can be removed from the list (its folder stays)
    panel.submit({"source": "x", "name": "broken", "args": ["--set", 'steps="many"']})
    qtbot.waitUntil(lambda: any(j.name == "broken" and j.state == "failed" for j in panel.jobs.values()),
                    timeout=30_000)
    broken = next(j for j in panel.jobs.values() if j.name == "broken")
    panel.select_job(broken.id)
    assert panel.remove_button.isEnabled()
    panel.remove_button.click()
    qtbot.waitUntil(lambda: broken.id not in panel.jobs and broken.id not in panel._items, timeout=10_000)
    assert all(j.id != broken.id for j in JobManager().store.list())
    from pathlib import Path

    assert Path(broken.local_run).exists()
    panel.shutdown()
