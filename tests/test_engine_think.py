"""Think harder: symmetric views map back exactly, the pick follows rules > halting > vote, the bundled models solve
with several trajectories, and puzzles stop early once one trajectory is valid."""

from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.inference import SolveOptions, solve_puzzle
from engine.puzzles import maze, sudoku
from engine.think import ThinkOptions, choose, think_many, think_puzzle
from tests.test_engine_support import single_thread  # noqa: F401  (autouse fixture)
from trm_lab.session import SolveSession

MODELS = Path(__file__).resolve().parents[1] / "assets" / "models"
PUZZLES = Path(__file__).resolve().parents[1] / "assets" / "puzzles"


def test_sudoku_views_map_answers_and_cell_values_back():
    p = sudoku.generate_one(5, (30, 30))
    rng = np.random.default_rng(0)
    views = sudoku.KIND.views(p.givens, 6, rng)
    assert views[0].name == "as given" and len(views) == 6
    for v in views[1:]:
        seen = v.forward(p.givens)
        assert not np.array_equal(seen, p.givens)
        solved = sudoku.solve(seen).solution  # the view is a puzzle of its own, with its own answer
        assert np.array_equal(v.back(solved), p.solution)
        # per-cell values (confidence, changed) follow positions only: they are not relabelled like digits
        assert np.array_equal(v.back(seen > 0, True), p.givens > 0)


def test_maze_views_are_the_eight_dihedral_transforms():
    grid = maze.load(PUZZLES / "maze-15x15.txt")[0].grid
    views = maze.KIND.views(grid, 9, np.random.default_rng(0))
    assert [v.name for v in views[:2]] == ["identity", "rot90"] and views[8].name == "identity"
    path = maze.shortest_path(grid)
    for v in views:
        assert np.array_equal(v.back(v.forward(path)), path)
        assert maze.is_valid_solution(grid, v.back(maze.shortest_path(v.forward(grid))))


def test_choose_puts_rules_before_halting_before_votes():
    a, b, c = np.zeros((2, 2)), np.ones((2, 2)), np.full((2, 2), 2)
    best, why = choose([a, b, b], [False, True, False], [0.99, 0.2, 0.9])
    assert best == 1 and "only answer that obeys every rule" in why
    best, why = choose([a, b, c], [True, True, False], [0.3, 0.8, 0.99])
    assert best == 1 and "highest halting confidence (0.80)" in why
    best, why = choose([a, b, b, c], [False] * 4, [0.5, 0.5, 0.5, 0.4])
    assert best == 1 and "2 of 4 trajectories" in why and "no answer obeys" in why


def test_one_trajectory_without_noise_is_plain_solving():
    loaded = load_checkpoint(MODELS / "sudoku9.safetensors")
    givens = sudoku.generate_one(11, (24, 24)).givens
    plain = [s.grid for s in solve_puzzle(loaded, givens, SolveOptions(max_steps=6, device="cpu"))]
    wide = list(think_puzzle(loaded, givens, ThinkOptions(1, 6, early_exit=False, device="cpu")))
    assert len(wide) == 6 and wide[-1].final
    for g, t in zip(plain, wide, strict=True):
        assert np.array_equal(g, t.answer)


def test_many_trajectories_solve_what_one_cannot_and_stop_early():
    loaded = load_checkpoint(MODELS / "sudoku9.safetensors")
    givens = sudoku.generate_one(10, (22, 24)).givens  # the plain model's 16 steps give an invalid answer
    assert not sudoku.is_valid_solution(givens, list(solve_puzzle(loaded, givens, SolveOptions(device="cpu")))[-1].grid)
    steps = list(think_puzzle(loaded, givens, ThinkOptions(8, 16, device="cpu")))
    last = steps[-1]
    assert last.final and last.valid[last.chosen] and last.chosen != 0 and len(steps) < 16
    assert sudoku.is_valid_solution(givens, last.answer) and len(last.trajectories) == 8
    assert "obeys every rule" in last.reason
    assert not any(s.valid[s.chosen] for s in steps[:-1])  # it stopped at the first valid answer


def test_think_many_keeps_puzzles_apart_and_noise_changes_trajectories():
    loaded = load_checkpoint(MODELS / "sudoku9.safetensors")
    puzzles = [sudoku.generate_one(s, (40, 44)) for s in range(3)]
    results = think_many(loaded, [p.givens for p in puzzles], ThinkOptions(4, 8, device="cpu"))
    for p, r in zip(puzzles, results, strict=True):
        assert r.valid and np.array_equal(r.answer, p.solution) and r.steps <= 8
    quiet = list(think_puzzle(loaded, puzzles[0].givens, ThinkOptions(2, 1, early_exit=False, device="cpu")))
    noisy = list(think_puzzle(loaded, puzzles[0].givens, ThinkOptions(2, 1, noise=3.0, early_exit=False,
                                                                      device="cpu")))
    assert quiet[0].trajectories[0].halt_prob == noisy[0].trajectories[0].halt_prob  # the first stays as given
    assert quiet[0].trajectories[1].halt_prob != noisy[0].trajectories[1].halt_prob
    assert think_many(loaded, []) == []  # nothing to solve (e.g. a bench asked for 0 puzzles): no steps, no error


def test_maze_trajectories_are_judged_by_any_shortest_path():
    loaded = load_checkpoint(MODELS / "maze9.safetensors")
    grid = maze.generate_one(3, size=9, loop_fraction=0.0).grid
    steps = list(think_puzzle(loaded, grid, ThinkOptions(8, 16, device="cpu")))
    last = steps[-1]
    assert last.final and last.valid[last.chosen] and maze.is_valid_solution(grid, last.answer)
    assert {s.grid.shape for s in last.trajectories} == {grid.shape}


def test_bad_options_are_refused():
    loaded = load_checkpoint(MODELS / "sudoku9.safetensors")
    with pytest.raises(ValueError, match="at least 1"):
        list(think_puzzle(loaded, np.zeros((9, 9), np.int8), ThinkOptions(0, 4)))


def test_a_route_found_at_one_step_is_kept_when_later_steps_break_it():
    """maze-hard finds a shortest route through this 12 x 12 Maze-Hard grid at step 5 and breaks it later (it has not
    learnt to halt there); the answer stands by the step-5 route, and the window's timeline goes to it."""
    loaded = load_checkpoint(MODELS / "maze-hard.safetensors")
    grid = maze.generate(33, seed=912346, size=12, style="hard")[32].grid
    steps = list(think_puzzle(loaded, grid, ThinkOptions(1, 32, device="cpu")))
    last = steps[-1]
    plausible_at = [s.index for s in steps if s.valid[s.chosen]]
    assert plausible_at and not last.valid[last.chosen]  # the last step alone would be a broken route
    assert last.kept is not None and last.kept.index == plausible_at[0] and last.answer_plausible
    assert maze.is_valid_solution(grid, last.answer) and np.array_equal(last.answer, steps[last.kept.index - 1].answer)
    assert f"kept from step {plausible_at[0]}" in last.reason
    (result,) = think_many(loaded, [grid], ThinkOptions(1, 32, device="cpu"))
    assert result.valid and maze.is_valid_solution(grid, result.answer)
    session = SolveSession(kind="maze", puzzle=grid)
    for step in steps:
        session.add_step(step)
    session.finish()
    assert session.verdict.status == "solved" and session.selected == last.kept.index - 1
