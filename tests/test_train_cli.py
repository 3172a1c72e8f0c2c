"""`trm-lab train`'s progress line counts to the run's own step total, --set overrides included."""

from trm_lab.cli import main


def test_progress_line_counts_to_the_overridden_step_total(tmp_path, capsys):
    code = main(["train", "tiny-sudoku4", "--out", str(tmp_path / "run"), "--set", "steps=6",
                 "--set", "log_every=3", "--set", "eval_every=6", "--set", "data.eval_count=8"])
    assert code == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in lines] == ["3/6", "6/6"]
    assert lines[-1].startswith("[" + "#" * 24 + "]")
