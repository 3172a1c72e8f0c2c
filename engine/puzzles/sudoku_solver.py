"""Exact Sudoku search for 4x4, 6x6 and 9x9: counts solutions up to a limit.

Bitmask candidates per unit, naked and hidden singles to a fixed point, then branching on the cell with the fewest
candidates (or on a digit with two places in a unit when no cell has two). Counting to 2 is a uniqueness check;
`forbid` makes the check generation needs (is there a solution with another digit here?) cheaper still.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # size -> (box rows, box cols)


@dataclass(frozen=True)
class _Geometry:
    n: int
    full: int
    row: tuple[int, ...]
    col: tuple[int, ...]
    box: tuple[int, ...]
    units: tuple[tuple[int, tuple[int, ...]], ...] = field(repr=False)  # (0 row / 1 col / 2 box) * n + idx, cells
    idx: tuple[tuple[int, int, int], ...] = field(repr=False)  # per cell: its row, column and box unit keys


@cache
def _geometry(n: int) -> _Geometry:
    br, bc = BOXES[n]
    cells = range(n * n)
    row = tuple(i // n for i in cells)
    col = tuple(i % n for i in cells)
    box = tuple((i // n) // br * (n // bc) + (i % n) // bc for i in cells)
    units = []
    for kind, key in ((0, row), (1, col), (2, box)):
        for u in range(n):
            units.append((kind * n + u, tuple(i for i in cells if key[i] == u)))
    idx = tuple((row[i], n + col[i], 2 * n + box[i]) for i in cells)
    return _Geometry(n, (1 << n) - 1, row, col, box, tuple(units), idx)


_BIT_VALUE = {1 << d: d + 1 for d in range(9)}


def _unit_pair(units, cand: list[int]) -> tuple[int, tuple[int, ...]]:
    """A digit with exactly two possible cells in some unit (bit, unit cells), or (0, ()) if there is none."""
    for _key, cells in units:
        once = twice = thrice = 0
        for i in cells:
            m = cand[i]
            thrice |= twice & m
            twice |= once & m
            once |= m
        two = twice & ~thrice
        if two:
            return two & -two, cells
    return 0, ()


def search(values: list[int], n: int, limit: int, digit_order: list[int] | None = None,
            forbid: tuple[int, int] | None = None) -> tuple[int, list | None, int]:
    """Count solutions of `values` (flat, 0 = blank) up to `limit`; return (count, first solution, branch nodes).
    `forbid=(cell, digit)` counts only solutions where that blank cell holds another digit.

    `masks[k]` holds the digits used in unit k (rows 0..n-1, columns n..2n-1, boxes 2n..3n-1) as bits, so a
    cell's candidates are `full & ~(masks[r] | masks[c] | masks[b])`. Placements are undone from a trail."""
    geo = _geometry(n)
    full, units, idx = geo.full, geo.units, geo.idx
    masks = [0] * (3 * n)
    for i, v in enumerate(values):
        if v:
            bit = 1 << (v - 1)
            r, c, b = idx[i]
            if (masks[r] | masks[c] | masks[b]) & bit:
                return 0, None, 0
            masks[r] |= bit
            masks[c] |= bit
            masks[b] |= bit
    order_bits = [1 << (d - 1) for d in (digit_order or range(1, n + 1))]
    found: list = [0, None, 0]  # solutions, first solution, branch nodes
    nn = n * n
    bit_value = _BIT_VALUE

    def undo(trail: list) -> None:
        for i in trail:
            bit = 1 << (values[i] - 1)
            values[i] = 0
            r, c, b = idx[i]
            masks[r] ^= bit
            masks[c] ^= bit
            masks[b] ^= bit

    def place(i: int, bit: int, trail: list) -> None:
        values[i] = bit_value[bit]
        r, c, b = idx[i]
        masks[r] |= bit
        masks[c] |= bit
        masks[b] |= bit
        trail.append(i)

    def rec(empties: list[int]) -> None:
        trail: list[int] = []
        while True:
            # naked singles: cells with one candidate are placed at once
            progress = False
            cand = [0] * nn
            rest = []
            for i in empties:
                if values[i]:
                    continue
                r, c, b = idx[i]
                m = full & ~(masks[r] | masks[c] | masks[b])
                if m & (m - 1):
                    cand[i] = m
                    rest.append(i)
                elif m:
                    place(i, m, trail)
                    progress = True
                else:
                    undo(trail)
                    return
            empties = rest
            if not empties:
                break
            if progress:
                continue
            # hidden singles: a digit with one possible cell in a unit. Candidates only shrink as digits are
            # placed, so a stale hidden single that no longer fits is a genuine contradiction.
            for key, cells in units:
                once = twice = 0
                for i in cells:
                    m = cand[i]
                    twice |= once & m
                    once |= m
                used = masks[key]
                if (once | used) != full:
                    undo(trail)
                    return
                hidden = once & ~twice & ~used
                while hidden:
                    bit = hidden & -hidden
                    hidden ^= bit
                    for i in cells:
                        if cand[i] & bit:
                            break
                    r, c, b = idx[i]
                    if values[i] or (masks[r] | masks[c] | masks[b]) & bit:
                        undo(trail)
                        return
                    place(i, bit, trail)
                    progress = True
            if not progress:
                break
        if not empties:
            found[0] += 1
            if found[1] is None:
                found[1] = list(values)
            undo(trail)
            return
        # branch on the cell with the fewest candidates, or on a digit with only two places in a unit when no cell
        # has two candidates (exact-cover MRV over both kinds of constraint); cand is fresh here
        best, best_count = -1, 99
        for i in empties:
            k = cand[i].bit_count()
            if k < best_count:
                best, best_count = i, k
                if k == 2:
                    break
        found[2] += 1
        pair_bit, pair_cells = (_unit_pair(units, cand) if best_count > 2 else (0, ()))
        if pair_bit:
            options = [(i, pair_bit) for i in pair_cells if cand[i] & pair_bit]
        else:
            mask = cand[best]
            options = [(best, bit) for bit in order_bits if mask & bit]
        try_each(options, empties)
        undo(trail)

    def try_each(options, empties) -> None:
        """Place each (cell, digit bit) in turn, search below it, take it back; stop once `limit` is reached."""
        for cell, bit in options:
            r, c, b = idx[cell]
            if values[cell] or (masks[r] | masks[c] | masks[b]) & bit:
                continue
            values[cell] = bit_value[bit]
            masks[r] |= bit
            masks[c] |= bit
            masks[b] |= bit
            rec(empties)
            values[cell] = 0
            masks[r] ^= bit
            masks[c] ^= bit
            masks[b] ^= bit
            if found[0] >= limit:
                break

    empties = [i for i, v in enumerate(values) if not v]
    if forbid is None:
        rec(empties)
        return found[0], found[1], found[2]
    cell, digit = forbid
    r, c, b = idx[cell]
    allowed = full & ~(masks[r] | masks[c] | masks[b]) & ~(1 << (digit - 1))
    try_each([(cell, bit) for bit in order_bits if allowed & bit], empties)
    return found[0], found[1], found[2]
