"""Training data: valid augmented Sudokus, deterministic batches, held-out sets disjoint from training, files,
hard-rated puzzles in their share of every batch."""

from dataclasses import asdict

import numpy as np
import pytest
import torch

from engine.puzzles import sudoku
from trainers.checkpointing import read_train_checkpoint
from trainers.config import ConfigError, DataConfig, TrainConfig
from trainers.data import (
    MazeDataset,
    Prefetcher,
    SudokuDataset,
    build_datasets,
    build_eval_set,
    hard_slots,
    load_puzzle_file,
    sudoku_invariant,
)
from trainers.loop import train
from trainers.rundir import latest_checkpoint


def _valid_sudoku(givens: np.ndarray, solution: np.ndarray) -> bool:
    return sudoku.is_valid_solution(givens.astype(np.int8), solution.astype(np.int8))


@pytest.mark.parametrize("size", [4, 6, 9])
def test_augmentation_keeps_sudokus_valid_and_unique(size):
    rng = np.random.default_rng(0)
    pz = sudoku.generate(6, seed=1, size=size)
    g = np.stack([p.givens for p in pz]).astype(np.int64)
    s = np.stack([p.solution for p in pz]).astype(np.int64)
    g2, s2 = sudoku.augment_batch(rng, [g, s])
    assert not np.array_equal(g, g2)
    for a, b in zip(g2, s2, strict=True):
        assert _valid_sudoku(a, b)
        assert sudoku.solve(a.astype(np.int8)).count == 1
    for a, b in zip(g, g2, strict=True):  # the fingerprint survives augmentation
        assert sudoku_invariant(a) == sudoku_invariant(b)


def test_sudoku_batches_are_a_function_of_their_index():
    cfg = DataConfig(kind="sudoku", size=4, clues=[6, 10], pool_size=50, pool_initial=50, eval_count=8)
    ds, ev = build_datasets(cfg, seed=0)
    again, _ = build_datasets(cfg, seed=0)
    b1, b2 = ds.batch(7, 16), again.batch(7, 16)
    assert torch.equal(b1.inputs, b2.inputs) and torch.equal(b1.labels, b2.labels)
    assert not torch.equal(ds.batch(8, 16).inputs, b1.inputs)
    assert b1.inputs.shape == (16, 16) and b1.inputs.dtype == torch.int64
    for q, a in zip(b1.inputs, b1.labels, strict=True):
        assert _valid_sudoku((q - 1).view(4, 4).numpy(), (a - 1).view(4, 4).numpy())
    # the prefetch worker hands out the same batches in order
    pf = Prefetcher(ds, 16, start=7, depth=2)
    try:
        index, batch = pf.get()
        assert index == 7 and torch.equal(batch.inputs, b1.inputs)
        assert pf.get()[0] == 8
    finally:
        pf.close()


def test_eval_puzzles_never_appear_in_training():
    cfg = DataConfig(kind="sudoku", size=4, clues=[10, 12], pool_size=300, pool_initial=300, eval_count=40,
                     eval_clues=[10, 12])
    ds, ev = build_datasets(cfg, seed=0)
    ds.pool.wait_for(300)
    # 4x4 puzzles with 10-12 givens are few, so a pool of 300 would hit eval puzzles if nothing prevented it
    eval_fp = {sudoku_invariant((q - 1).view(4, 4).numpy()) for q in ev.inputs}
    assert ds.pool.skipped > 0
    assert not {sudoku_invariant(g) for g in ds.pool.givens} & eval_fp
    eval_rows = {tuple(r.tolist()) for r in ev.inputs}
    for i in range(30):
        assert not {tuple(r.tolist()) for r in ds.batch(i, 32).inputs} & eval_rows


def test_maze_training_stream_skips_eval_mazes():
    cfg = DataConfig(kind="maze", size=7, eval_count=30, maze_min_path=4)
    ds, ev = build_datasets(cfg, seed=0)
    assert isinstance(ds, MazeDataset) and ds.seq_len == 49 and ev.inputs.shape == (30, 49)
    eval_rows = {tuple(r.tolist()) for r in ev.inputs}
    seen = set()
    for i in range(20):
        b = ds.batch(i, 16)
        rows = {tuple(r.tolist()) for r in b.inputs}
        assert not rows & eval_rows
        seen |= rows
        assert ((b.labels == 5).sum(-1) > 0).all()  # every label marks a path
    assert len(seen) > 100  # 7x7 mazes repeat, but the stream is varied


def test_reference_csv_and_our_files_train(tmp_path):
    pz = sudoku.generate(12, seed=3, size=9, clues=(30, 35))
    path = tmp_path / "train.csv"
    lines = ["source,question,answer,rating"]
    lines += [f"x,{sudoku.to_line(p.givens)},{sudoku.to_line(p.solution, blank='0')},0" for p in pz]
    path.write_text("\n".join(lines) + "\n")
    q, a = load_puzzle_file("sudoku", path)
    assert q.shape == (12, 9, 9) and np.array_equal(a[0], pz[0].solution)
    cfg = DataConfig(kind="sudoku", size=9, source=str(path), eval_count=4, eval_clues=[30, 35])
    ds, ev = build_datasets(cfg, seed=0)
    assert isinstance(ds, SudokuDataset) and ds.examples_per_epoch == 12
    b = ds.batch(0, 8)
    for q, a in zip(b.inputs, b.labels, strict=True):
        assert _valid_sudoku((q - 1).view(9, 9).numpy(), (a - 1).view(9, 9).numpy())


def test_bad_files_raise_config_errors_naming_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,question,answer,rating\nx,12x,123,0\n")
    with pytest.raises(ConfigError, match="bad.csv"):
        load_puzzle_file("sudoku", bad)
    with pytest.raises(ConfigError, match="missing.csv"):
        build_eval_set(DataConfig(kind="sudoku", eval_source=str(tmp_path / "missing.csv")))


def test_arc_pretraining_data_has_an_identifier_per_task_view_and_scores_no_padding():
    from engine.puzzles import arc

    cfg = DataConfig(kind="arc", arc_augmentations=4, eval_count=20)
    ds, ev = build_datasets(cfg, seed=0)
    assert ds.num_puzzle_identifiers == 1 + len(ds.tasks) * 4 and ds.seq_len == 900
    b = ds.batch(3, 16)
    assert torch.equal(b.inputs, ds.batch(3, 16).inputs)
    assert int(b.puzzle_ids.min()) >= 1 and int(b.puzzle_ids.max()) < ds.num_puzzle_identifiers
    assert not (b.labels == 0).any() and (b.labels == -100).any()  # PAD never scored
    for row in b.labels:  # every label decodes to a grid of colours at its offset
        tokens = torch.where(row == -100, 0, row).numpy()
        assert arc.decode(tokens, 30, _offset(tokens)).size > 0
    assert len(ev) == 20 and int(ev.puzzle_ids.min()) > 0
    # the held-out pairs are the evaluation tasks' test pairs, which batches never draw from
    t = int(ev.puzzle_ids[0] - 1) // 4
    assert ds.tasks[t].test and all(not np.array_equal(p.input, ds.tasks[t].test[0].input) for p in ds.tasks[t].train)


def _offset(tokens: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(tokens.reshape(30, 30) >= 2)
    return int(rows.min()), int(cols.min())


def test_maze_curriculum_grows_the_maze_inside_the_model_grid():
    from engine.puzzles import maze

    cfg = DataConfig(kind="maze", size=11, eval_count=4, curriculum_start=5, curriculum_steps=10)
    ds = MazeDataset(cfg, seed=0)

    def sides(index):
        b = ds.batch(index, 12)
        out = []
        for q, a in zip(b.inputs, b.labels, strict=True):
            grid, sol = (q - 1).view(11, 11).numpy(), (a - 1).view(11, 11).numpy()
            assert maze.is_valid_solution(grid.astype(np.int8), sol.astype(np.int8))
            open_rows = np.nonzero((grid > 0).any(1))[0]
            out.append(int(open_rows.max()) + 2)  # the maze's side (its last row is a border wall)
        return out

    assert max(sides(0)) == 5
    late = sides(20)
    assert max(late) == 11 and min(late) >= 5


HARD6 = DataConfig(kind="sudoku", size=6, pool_size=40, pool_initial=40, eval_count=8, hard_fraction=0.25,
                   hard_rating=[1, 1000], hard_pool_size=8)  # 6x6 rated 1+ (singles alone fail): cheap to find


def _rated_rows(inputs: torch.Tensor, pool_givens: np.ndarray) -> list[bool]:
    """Per row: an augmentation of a pool puzzle that singles alone cannot solve (a rating of 1 or more survives
    every symmetry: singles do not care about the order of rows or digits)."""
    fingerprints = {sudoku_invariant(g) for g in pool_givens}
    grids = [(row - 1).view(6, 6).numpy().astype(np.int8) for row in inputs]
    return [sudoku_invariant(g) in fingerprints and sudoku.rate(g) >= 1 for g in grids]


def test_hard_rated_puzzles_fill_their_share_of_every_batch(tmp_path):
    assert hard_slots(64, 0.25).sum() == 16 and hard_slots(64, 0.25)[:32].sum() == 8  # each DDP half its share
    assert hard_slots(64, 0.0).sum() == 0 and hard_slots(10, 1.0).all()
    ds, _ = build_datasets(HARD6, seed=1, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.glob("*rated*")] == ["sudoku6-rated1-1000-n8-s1.npz"]
    assert all(sudoku.rate(g) >= 1 for g in ds.hard[0])
    slots = hard_slots(16, 0.25)
    for index in (0, 5):
        batch = ds.batch(index, 16)
        assert _rated_rows(batch.inputs[slots], ds.hard[0]) == [True] * 4
        assert not all(_rated_rows(batch.inputs[~slots], ds.hard[0]))  # the other slots: the plain pool
    again, _ = build_datasets(HARD6, seed=1, cache_dir=tmp_path)  # read back from the cache, same batches
    assert torch.equal(again.batch(5, 16).inputs, ds.batch(5, 16).inputs)
    with pytest.raises(ConfigError, match="hard_fraction must lie in 0-1"):
        TrainConfig(data={**asdict(HARD6), "hard_fraction": 1.5})


def test_training_carries_the_hard_rated_puzzles_in_their_slots(tmp_path):
    cfg = TrainConfig(model={"hidden_size": 16, "num_heads": 2, "expansion": 1.0, "L_layers": 1, "H_cycles": 1,
                             "L_cycles": 1, "halt_max_steps": 2, "mixer": "mlp", "pos_encodings": "none"},
                      data=asdict(HARD6) | {"hard_fraction": 0.5}, steps=3, batch_size=8, eval_every=0,
                      checkpoint_every=3, threads=1)
    ds, _ = build_datasets(cfg.data, seed=cfg.seed, cache_dir=tmp_path)
    train(cfg, ds, tmp_path / "run")
    _, state, _ = read_train_checkpoint(latest_checkpoint(tmp_path / "run"))
    carried = state["carry/inputs"]  # the puzzles the loop was solving when it saved
    assert _rated_rows(carried[hard_slots(8, 0.5)], ds.hard[0]) == [True] * 4
