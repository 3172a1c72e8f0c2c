"""Maze-Hard-style grids (random walls, long shortest paths) and judging a maze answer by any shortest path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import TRMConfig
from engine.model import TRM
from engine.puzzles import maze as mz
from engine.puzzles.base import PuzzleError
from trainers.config import DataConfig
from trainers.data import MazeDataset, build_eval_set, rules_judge
from trainers.loop import evaluate


def test_hard_min_path_scales_maze_hard_by_area():
    assert mz.hard_min_path(30) == 111  # Maze-Hard: longer than 110
    assert mz.hard_min_path(20) == 49
    assert mz.hard_min_path(5) == 4


@pytest.mark.parametrize("size", [9, 14, 20])
def test_hard_mazes_have_random_walls_and_a_long_shortest_path(size):
    mazes = mz.generate(12, seed=3, size=size, style="hard")
    for m in mazes:
        walls = float((m.grid == mz.WALL).mean())
        assert 0.2 < walls < 0.6
        length = mz.shortest_path_length(m.grid)
        assert length >= mz.hard_min_path(size)
        assert m.rating == length
        assert mz.is_valid_solution(m.grid, m.solution)
    # many routes: random walls leave open 2x2 blocks, which depth-first mazes never have
    assert any(np.any((m.grid[:-1, :-1] != mz.WALL) & (m.grid[1:, :-1] != mz.WALL) & (m.grid[:-1, 1:] != mz.WALL)
                      & (m.grid[1:, 1:] != mz.WALL)) for m in mazes)


def test_hard_mazes_are_reproducible_and_differ_by_seed():
    a = mz.generate(3, seed=5, size=12, style="hard")
    b = mz.generate(3, seed=5, size=12, style="hard")
    c = mz.generate(3, seed=6, size=12, style="hard")
    assert all(np.array_equal(x.grid, y.grid) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.grid, y.grid) for x, y in zip(a, c, strict=True))


def test_a_30x30_maze_hard_grid_has_a_path_longer_than_110():
    m = mz.generate_hard_one(11, 30)
    assert mz.shortest_path_length(m.grid) > 110


def test_hard_generator_rejects_impossible_requests():
    with pytest.raises(PuzzleError, match="shortest path of 500"):
        mz.generate_hard(0, 1, 12, min_path=500, max_tries=64)
    with pytest.raises(PuzzleError, match="density"):
        mz.generate_hard_one(0, 12, density=(0.6, 0.2))
    with pytest.raises(PuzzleError, match="style"):
        mz.generate(1, seed=0, size=9, style="spiral")


def _open_room(side: int) -> np.ndarray:
    grid = np.full((side, side), mz.OPEN, np.int8)
    grid[0, 0], grid[-1, -1] = mz.START, mz.GOAL
    return grid


def _other_route(grid: np.ndarray) -> np.ndarray:
    """Down the first column, then along the bottom row: as short as the label's route, and not it."""
    out = grid.copy()
    out[1:, 0] = mz.PATH
    out[-1, 1:-1] = mz.PATH
    return out


def test_any_shortest_path_is_right_even_when_it_is_not_the_label():
    grid = _open_room(6)
    label = mz.shortest_path(grid)
    other = _other_route(grid)
    assert not np.array_equal(label, other)
    judge = rules_judge("maze", 6)
    tokens = (grid.reshape(-1) + 1).astype(np.int64)
    assert judge(tokens, (other.reshape(-1) + 1).astype(np.int64))
    longer = other.copy()
    longer[1, 0] = mz.OPEN  # a gap: not connected
    assert not judge(tokens, (longer.reshape(-1) + 1).astype(np.int64))


def test_training_evaluation_reports_right_by_the_rules_beside_exact():
    eval_set, _ = build_eval_set(DataConfig(kind="maze", size=6, maze_style="hard", eval_count=1))
    grid = _open_room(6)
    other = _other_route(grid)
    eval_set.inputs = torch.from_numpy(grid.reshape(1, -1).astype(np.int64) + 1)
    eval_set.labels = torch.from_numpy(mz.shortest_path(grid).reshape(1, -1).astype(np.int64) + 1)

    class Answer(TRM):  # a model whose answer is always `other`: exact says wrong, the rules say right
        def read_out(self, y):
            logits = torch.full((y.shape[0], 36, 6), -9.0)
            logits[:, torch.arange(36), torch.from_numpy(other.reshape(-1).astype(np.int64) + 1)] = 9.0
            return logits, torch.zeros(y.shape[0]), torch.zeros(y.shape[0])

    cfg = TRMConfig.from_dict(dict(hidden_size=16, num_heads=2, L_layers=1, H_cycles=1, L_cycles=1,
                                   halt_max_steps=2, vocab_size=6, seq_len=36, pos_encodings="relative2d",
                                   puzzle_emb_ndim=0))
    row = evaluate(Answer(cfg), eval_set, batch_size=4)
    assert row["exact_accuracy"] == 0.0
    assert row["valid_accuracy"] == 1.0


def test_route_length_checks_a_route_without_solving_the_maze():
    grid = _open_room(6)
    short = _other_route(grid)
    assert mz.route_length(grid, short) == 10
    detour = grid.copy()  # right along the top, down, back left, down, then right: a longer simple route
    detour[0, 1:5] = mz.PATH
    detour[1, 4] = detour[2, 4] = mz.PATH
    detour[2, 1:4] = mz.PATH
    detour[3:5, 1] = mz.PATH
    detour[5, 1:5] = mz.PATH
    length = mz.route_length(grid, detour)
    assert length is not None and length > 10 and not mz.is_valid_solution(grid, detour)
    broken = short.copy()
    broken[2, 0] = mz.OPEN
    assert mz.route_length(grid, broken) is None
    blob = short.copy()
    blob[1, 1] = mz.PATH  # a cell with three route neighbours: not a single path
    assert mz.route_length(grid, blob) is None


def test_think_harder_prefers_the_shorter_of_two_maze_routes():
    from engine.think import choose

    grid = _open_room(6)
    short = _other_route(grid)
    detour = grid.copy()
    detour[0, 1:5] = mz.PATH
    detour[1, 4] = detour[2, 4] = mz.PATH
    detour[2, 1:4] = mz.PATH
    detour[3:5, 1] = mz.PATH
    detour[5, 1:5] = mz.PATH
    best, why = choose([detour, short], [True, True], [0.99, 0.2], "maze")
    assert best == 1 and "shortest of 2 routes" in why


def test_a_maze_hard_grid_gets_the_model_trained_on_random_walls(tmp_path):
    from engine.checkpoint import save_checkpoint
    from engine.puzzles.kind import get_kind
    from engine.registry import rank_models

    def model(name: str, style: str | None) -> None:
        cfg = TRMConfig.from_dict(dict(hidden_size=16, num_heads=2, L_layers=1, H_cycles=1, L_cycles=1,
                                       halt_max_steps=2, vocab_size=6, seq_len=15 * 15,
                                       pos_encodings="relative2d", puzzle_emb_ndim=0))
        dataset = {"kind": "maze", "size": 15} | ({"maze_style": style} if style else {})
        save_checkpoint(tmp_path / f"{name}.safetensors", TRM(cfg), encoding=mz.encoding(15),
                        training={"preset": "test", "dataset": dataset, "steps": 0})

    model("corridors", None)  # trained before styles existed: depth-first mazes
    model("walls", "hard")
    kind = get_kind("maze")
    hard = mz.generate(1, seed=1, size=20, style="hard")[0].grid
    dfs = mz.generate(1, seed=1, size=15, loops=0.0)[0].grid
    assert (kind.style(hard), kind.style(dfs)) == ("hard", "dfs")
    for grid, first in ((hard, "walls"), (dfs, "corridors")):
        ranked = rank_models("maze", grid.shape, style=kind.style(grid), bundled_dir=tmp_path,
                             user_dir=tmp_path / "none")
        assert [e.name for e in ranked][0] == first


def test_a_hard_training_batch_mixes_sizes_and_keeps_every_grid_long_and_reproducible():
    cfg = DataConfig(kind="maze", size=13, maze_style="hard", curriculum_start=7, curriculum_steps=10)
    data = MazeDataset(cfg, seed=3)
    batch = data.batch(20, 24)  # past the curriculum: half the grids 13 x 13, the rest 7-13, padded with walls
    assert batch.inputs.shape == (24, 169)
    sides = []
    for tokens, labels in zip(batch.inputs.numpy(), batch.labels.numpy(), strict=True):
        grid, answer = (tokens - 1).reshape(13, 13).astype(np.int8), (labels - 1).reshape(13, 13).astype(np.int8)
        assert mz.is_valid_solution(grid, answer)
        open_rows = np.flatnonzero((grid != mz.WALL).any(axis=1))
        side = max(int(open_rows.max()) + 1, int(np.flatnonzero((grid != mz.WALL).any(axis=0)).max()) + 1)
        sides.append(side)
        assert mz.shortest_path_length(grid) >= mz.hard_min_path(7)
    assert max(sides) == 13 and min(sides) < 13
    assert torch.equal(MazeDataset(cfg, seed=3).batch(20, 24).inputs, batch.inputs)
    assert not torch.equal(data.batch(21, 24).inputs, batch.inputs)


def test_one_search_gives_many_hard_grids_all_different():
    grids = mz.generate_hard(11, 12, 14)
    assert len({g.grid.tobytes() for g in grids}) == 12
    assert all(mz.shortest_path_length(g.grid) >= mz.hard_min_path(14) for g in grids)
