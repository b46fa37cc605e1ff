"""9×9 Sudoku: a seeded generator of uniquely solvable puzzles, their serialisation and a verifier.

**Serialisation** follows the EB-sampler paper (Ben-Hamu et al., "Accelerated Sampling from Masked
Diffusion Models via Entropy Bounded Unmasking", arXiv 2505.24857, Sudoku experiment): a grid is its
81 cells row by row with a separator ``|`` after each of the first 8 rows, 89 tokens; a blank is the
token ``.``.  A training item is ``puzzle (89) + solution (89)`` = 178 tokens and only the solution
half is eligible for masking, so the model learns p(solution | puzzle).  Ids come from a
:class:`~mdm.tokenizers.CharTokenizer` over ``.123456789|``: blank = 0 and digit d = d, then its
``pad``/``bos``/``eos``/``unk``/``mask`` entries (answers have a fixed length: no ``eos`` is used).

**Generation** (:func:`make_puzzle`): a random full grid (random diagonal boxes completed by a
randomized depth-first solver), then clues are blanked in a random order for as long as the solution
stays unique, until the target clue count is reached (a fresh grid is tried if the puzzle turns
minimal above the target).  A removal is checked cheaply: the puzzle had the unique solution S, so
after blanking cell i (value v) it is still unique iff v is forced -- no other digit fits i, or v
fits no other cell of one of i's units (naked / hidden single: no search at all), or else a search
for a completion with ``cell i != v`` finds none (one existence search, cheaper than counting
solutions up to 2).  Grids are bitmask-encoded (one 9-bit mask per row, column and box) and the
search branches on the cell with the fewest candidates.  Each puzzle has its own seed derived from
``(seed, split, index)``, so a split is the same on every machine and the test split does not depend
on the train size.  Speed (one busy core): about 250 puzzles/s at 30-35 clues, 40/s at 25, 1/s at 22.

**Difficulty** is the number of clues.  The default, 30 to 35 clues (uniform per puzzle), gives
puzzles a small model can learn; fewer clues are harder.  17 is the fewest any uniquely solvable
9×9 Sudoku has; random digging rarely gets below about 22.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mdm.errors import DataError, TokenError
from mdm.tasks.base import DataBundle, register_task
from mdm.tokenizers import CharTokenizer

__all__ = [
    "ALPHABET",
    "GRID_TOKENS",
    "SEQ_LEN",
    "tokenizer",
    "count_solutions",
    "TECHNIQUES",
    "technique",
    "solve",
    "random_solution",
    "make_puzzle",
    "generate",
    "is_solution",
    "encode_grid",
    "decode_grid",
    "verify",
    "SudokuConfig",
    "SudokuDataset",
    "sudoku_task",
]

ALPHABET = ".123456789|"  # blank, digits (id == digit), row separator
GRID_TOKENS = 89  # 81 cells + 8 row separators
SEQ_LEN = 2 * GRID_TOKENS  # puzzle + solution
_SEP = ALPHABET.index("|")
# Positions of the 81 cells and of the 8 separators inside a serialised grid.
_CELL_POS = tuple(10 * r + c for r in range(9) for c in range(9))
_SEP_POS = tuple(10 * r + 9 for r in range(8))
_CACHE_VERSION = 1


def tokenizer() -> CharTokenizer:
    """The fixed Sudoku vocabulary: ``.123456789|`` then pad, bos, eos, unk, mask (16 ids)."""
    return CharTokenizer(ALPHABET)


# --- the bitmask solver ------------------------------------------------------------------------

_RCB = tuple((i // 9, i % 9, (i // 27) * 3 + (i % 9) // 3) for i in range(81))
_PEERS = tuple(
    tuple(j for j in range(81) if j != i and any(a == b for a, b in zip(_RCB[i], _RCB[j]))) for i in range(81)
)
# The other cells of each of the 3 units (row, column, box) of a cell.
_UNIT_PEERS = tuple(
    tuple(tuple(j for j in range(81) if j != i and _RCB[j][u] == _RCB[i][u]) for u in range(3))
    for i in range(81)
)
# Cell indices of the 27 units (rows, columns, boxes), for the vectorized verifier.
_UNIT_CELLS = torch.tensor([[j for j in range(81) if _RCB[j][u] == k] for u in range(3) for k in range(9)])
_POPCOUNT = tuple(bin(m).count("1") for m in range(512))
_BITS = tuple(tuple(1 << d for d in range(9) if m >> d & 1) for m in range(512))  # the set bits of a mask


def _as_cells(grid, name: str = "grid") -> list[int]:
    cells = np.asarray(grid).reshape(-1)
    if cells.shape != (81,) or not np.issubdtype(cells.dtype, np.integer):
        raise DataError(f"{name} must hold 81 integers (0 = blank, 1-9 = digits), got shape {np.shape(grid)}")
    if cells.min() < 0 or cells.max() > 9:
        raise DataError(f"{name} cells must be 0 (blank) or a digit 1-9")
    return [int(v) for v in cells]


def _search(
    cells: list[int], limit: int, ban_cell: int = -1, ban_bits: int = 0, rng: random.Random | None = None
) -> tuple[int, list[int] | None]:
    """Count completions of ``cells`` up to ``limit``; return ``(count, first completion)``.

    ``ban_bits`` removes candidates from ``ban_cell`` (the uniqueness check); ``rng`` tries
    candidates in random order (random full grids).  Clues that already clash give ``(0, None)``.
    """
    rows, cols, boxes = [0] * 9, [0] * 9, [0] * 9
    empties = []
    for i, v in enumerate(cells):
        if not v:
            empties.append(i)
            continue
        bit = 1 << (v - 1)
        r, c, b = _RCB[i]
        if (rows[r] | cols[c] | boxes[b]) & bit:
            return 0, None
        rows[r] |= bit
        cols[c] |= bit
        boxes[b] |= bit
    grid = list(cells)
    n = len(empties)
    first: list[list[int]] = []

    def rec(k: int) -> int:
        if k == n:
            if not first:
                first.append(grid.copy())
            return 1
        # Branch on the empty cell with the fewest candidates (empties[k:] are the unfilled cells).
        best, best_n, best_mask = k, 10, 0
        for j in range(k, n):
            i = empties[j]
            r, c, b = _RCB[i]
            m = ~(rows[r] | cols[c] | boxes[b]) & 511
            if i == ban_cell:
                m &= ~ban_bits
            cnt = _POPCOUNT[m]
            if cnt < best_n:
                best, best_n, best_mask = j, cnt, m
                if cnt <= 1:
                    break
        if best_n == 0:
            return 0
        empties[k], empties[best] = empties[best], empties[k]
        i = empties[k]
        r, c, b = _RCB[i]
        bits = _BITS[best_mask]
        if rng is not None and len(bits) > 1:
            bits = list(bits)
            rng.shuffle(bits)
        total = 0
        for bit in bits:
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            grid[i] = bit.bit_length()
            total += rec(k + 1)
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
            if total >= limit:
                break
        grid[i] = 0
        return total

    return rec(0), (first[0] if first else None)


def count_solutions(grid, limit: int = 2) -> int:
    """Number of completions of ``grid`` (81 cells, 0 = blank), counted up to ``limit``."""
    if limit < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    return min(_search(_as_cells(grid), limit)[0], limit)


def solve(grid) -> np.ndarray | None:
    """One completion of ``grid`` as a uint8 array [81], or ``None`` when it has none."""
    sol = _search(_as_cells(grid), 1)[1]
    return None if sol is None else np.array(sol, dtype=np.uint8)


# --- difficulty: which human technique suffices --------------------------------------------------

TECHNIQUES = ("naked singles", "hidden singles", "search")
_UNITS = tuple(tuple(int(j) for j in row) for row in _UNIT_CELLS.tolist())


def _fill_singles(cells: list[int], hidden: bool) -> bool:
    """Fill ``cells`` in place with singles only; True when the grid gets completed.

    A *naked single* is a blank with one candidate digit left by its 20 peers; a *hidden single*
    is a digit that fits only one blank of some row, column or box.  Each pass fills every
    single it finds against the grid as it was at the start of the pass.
    """
    while True:
        blanks = [i for i in range(81) if not cells[i]]
        if not blanks:
            return True
        cand = {i: 511 & ~sum({1 << (cells[j] - 1) for j in _PEERS[i] if cells[j]}) for i in blanks}
        found = {i: m.bit_length() for i, m in cand.items() if _POPCOUNT[m] == 1}
        if hidden:
            for unit in _UNITS:
                for d in range(9):
                    spots = [i for i in unit if not cells[i] and cand[i] >> d & 1]
                    if len(spots) == 1:
                        found.setdefault(spots[0], d + 1)
        if not found:
            return False
        for i, v in found.items():
            cells[i] = v


def technique(puzzle) -> str:
    """The simplest technique that solves ``puzzle`` (81 cells, 0 = blank), one of
    :data:`TECHNIQUES`: ``"naked singles"`` alone, ``"hidden singles"`` (with naked ones), or
    ``"search"`` (singles get stuck: pairs, chains or guessing are needed).

    A model that reveals one cell per step must find a forced cell every step; how often it can
    do so with which technique is the difficulty a Sudoku model's accuracy depends on.
    """
    cells = _as_cells(puzzle, "puzzle")
    if _fill_singles(list(cells), hidden=False):
        return TECHNIQUES[0]
    return TECHNIQUES[1] if _fill_singles(list(cells), hidden=True) else TECHNIQUES[2]


def _random_grid(rng: random.Random) -> list[int]:
    # The three diagonal boxes share no row or column: fill them with independent random
    # permutations, then let the randomized search complete the grid (2-3x faster than from empty).
    cells = [0] * 81
    for box in (0, 4, 8):
        digits = list(range(1, 10))
        rng.shuffle(digits)
        for k, d in enumerate(digits):
            cells[(box // 3) * 27 + (k // 3) * 9 + (box % 3) * 3 + k % 3] = d
    return _search(cells, 1, rng=rng)[1]


def random_solution(rng: random.Random) -> np.ndarray:
    """A random completely filled valid grid, uint8 [81]."""
    return np.array(_random_grid(rng), dtype=np.uint8)


def _dig(solution: list[int], clues: int, rng: random.Random) -> list[int] | None:
    """Blank cells of ``solution`` in random order while the solution stays unique.

    Returns a puzzle with exactly ``clues`` clues, or ``None`` if it became minimal above that.
    The puzzle stays unique iff the blanked value v is forced: a naked single (every other digit
    is among the cell's peers), a hidden single (v fits no other empty cell of one of its units),
    or else no completion with ``cell != v`` exists.
    """
    puzzle = list(solution)
    order = list(range(81))
    rng.shuffle(order)
    rows, cols, boxes = [511] * 9, [511] * 9, [511] * 9  # digits present among the clues
    n = 81
    for i in order:
        if n == clues:
            break
        v = puzzle[i]
        bit = 1 << (v - 1)
        r, c, b = _RCB[i]
        puzzle[i] = 0
        rows[r] ^= bit
        cols[c] ^= bit
        boxes[b] ^= bit
        forced = _POPCOUNT[rows[r] | cols[c] | boxes[b]] == 8
        if not forced:
            for unit in _UNIT_PEERS[i]:
                for j in unit:
                    if not puzzle[j] and not (rows[_RCB[j][0]] | cols[_RCB[j][1]] | boxes[_RCB[j][2]]) & bit:
                        break  # v fits cell j: this unit does not force it
                else:
                    forced = True
                    break
        if forced or _search(puzzle, 1, ban_cell=i, ban_bits=bit)[0] == 0:
            n -= 1
        else:
            puzzle[i] = v
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
    return puzzle if n == clues else None


def _check_clues(clues: int) -> None:
    if not 17 <= clues <= 81:
        raise DataError(
            f"clues must be in [17, 81], got {clues} (no Sudoku with under 17 clues has a unique solution)"
        )


def make_puzzle(rng: random.Random, clues: int, *, max_attempts: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """A uniquely solvable puzzle with exactly ``clues`` clues: ``(puzzle, solution)``, uint8 [81] each."""
    _check_clues(clues)
    for _ in range(max_attempts):
        solution = _random_grid(rng)
        puzzle = _dig(solution, clues, rng)
        if puzzle is not None:
            return np.array(puzzle, dtype=np.uint8), np.array(solution, dtype=np.uint8)
    raise DataError(
        f"found no uniquely solvable puzzle with {clues} clues in {max_attempts} attempts; "
        "ask for more clues (random digging rarely gets below about 22)"
    )


def _puzzle_rng(seed: int, split: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"mdm.sudoku/{seed}/{split}/{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def generate(
    n: int,
    *,
    min_clues: int = 30,
    max_clues: int = 35,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
    progress: bool = False,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Puzzles ``start .. start+n-1`` of stream ``(seed, split)``: ``(puzzles, solutions)``, uint8 [n, 81].

    Puzzle i uses its own generator seeded from ``(seed, split, i)`` and a clue count drawn uniformly
    from ``[min_clues, max_clues]``, so any index range can be generated on its own -- and
    ``workers > 1`` processes give exactly the same puzzles as one.
    """
    _check_clues(min_clues)
    _check_clues(max_clues)
    if min_clues > max_clues:
        raise DataError(f"min_clues ({min_clues}) must be <= max_clues ({max_clues})")
    if n < 0 or workers < 1:
        raise DataError(f"n must be >= 0 and workers >= 1, got n={n}, workers={workers}")
    if workers > 1 and n > 1:
        return _generate_parallel(
            n, start, workers, progress, min_clues=min_clues, max_clues=max_clues, seed=seed, split=split
        )
    puzzles = np.zeros((n, 81), dtype=np.uint8)
    solutions = np.zeros((n, 81), dtype=np.uint8)
    indices = tqdm(range(start, start + n), desc=f"sudoku {split}", unit="puzzle", disable=not progress)
    for row, index in enumerate(indices):
        rng = _puzzle_rng(seed, split, index)
        puzzles[row], solutions[row] = make_puzzle(rng, rng.randint(min_clues, max_clues))
    return puzzles, solutions


def _generate_parallel(
    n: int, start: int, workers: int, progress: bool, **kw
) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.linspace(start, start + n, min(n, 8 * workers) + 1).astype(int).tolist()
    # spawn, not fork: the parent may hold torch/OpenMP threads that a forked child would inherit.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(generate, b - a, start=a, **kw) for a, b in zip(bounds[:-1], bounds[1:])]
        parts = []
        with tqdm(total=n, desc=f"sudoku {kw['split']}", unit="puzzle", disable=not progress) as bar:
            for f in futures:
                parts.append(f.result())
                bar.update(len(parts[-1][0]))
    return np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])


def is_solution(puzzle, solution) -> bool:
    """True iff ``solution`` is a completely filled valid grid that agrees with every clue of ``puzzle``."""
    p = np.asarray(puzzle).reshape(-1)
    s = np.asarray(solution).reshape(-1)
    if p.shape != (81,) or s.shape != (81,):
        return False
    grid = s.reshape(9, 9)
    units = [*grid, *grid.T, *grid.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)]
    digits = set(range(1, 10))
    return all(set(u.tolist()) == digits for u in units) and bool(np.all((p == 0) | (p == s)))


# --- serialisation and verification ----------------------------------------------------------------


def encode_grid(grid) -> torch.Tensor:
    """The 89 token ids of ``grid`` (81 cells, 0 = blank): rows separated by ``|``."""
    cells = _as_cells(grid)
    ids = torch.full((GRID_TOKENS,), _SEP, dtype=torch.long)
    ids[list(_CELL_POS)] = torch.tensor(cells, dtype=torch.long)
    return ids


def decode_grid(ids: Sequence[int] | torch.Tensor) -> np.ndarray:
    """Inverse of :func:`encode_grid`; raises :class:`TokenError` unless ``ids`` is a well-formed grid."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    if ids.numel() != GRID_TOKENS:
        raise TokenError(f"a serialised Sudoku grid has {GRID_TOKENS} tokens, got {ids.numel()}")
    if not bool((ids[list(_SEP_POS)] == _SEP).all()):
        raise TokenError(f"a serialised grid needs '|' (id {_SEP}) after each of rows 1-8")
    cells = ids[list(_CELL_POS)]
    if not bool(((cells >= 0) & (cells <= 9)).all()):
        raise TokenError("grid cells must be '.' (id 0) or a digit (ids 1-9)")
    return cells.numpy().astype(np.uint8)


def verify(tokens: torch.Tensor) -> torch.Tensor:
    """Which sequences ``puzzle (89) + answer (89)`` hold a correct answer: BoolTensor [B] (or [] for [178]).

    Correct = the answer is a well-formed grid (separators in place, every cell a digit: no blank,
    mask, pad or other token), each row, column and box holds 1-9 once, and every clue of the
    puzzle is kept.  A malformed puzzle half makes the sequence incorrect.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.shape[-1:] != (SEQ_LEN,):
        got = f"{getattr(tokens, 'dtype', type(tokens).__name__)} {tuple(getattr(tokens, 'shape', ()))}"
        raise TokenError(f"verify takes a torch.long tensor [B, {SEQ_LEN}] (puzzle + answer), got {got}")
    if tokens.dim() == 1:
        return verify(tokens.unsqueeze(0))[0]
    if tokens.dim() != 2:
        raise TokenError(f"verify takes [B, {SEQ_LEN}] or [{SEQ_LEN}], got shape {tuple(tokens.shape)}")
    return (
        torch.cat([_verify_rows(chunk) for chunk in tokens.split(4096)])
        if len(tokens)
        else _verify_rows(tokens)
    )


def _verify_rows(tokens: torch.Tensor) -> torch.Tensor:
    puzzle, answer = tokens[:, :GRID_TOKENS], tokens[:, GRID_TOKENS:]
    sep, cells = list(_SEP_POS), list(_CELL_POS)
    ok = (puzzle[:, sep] == _SEP).all(1) & (answer[:, sep] == _SEP).all(1)
    p, a = puzzle[:, cells], answer[:, cells]
    ok &= ((p >= 0) & (p <= 9)).all(1) & ((a >= 1) & (a <= 9)).all(1)
    ok &= ((p == 0) | (p == a)).all(1)
    units = a[:, _UNIT_CELLS].sort(-1).values  # [B, 27 units, 9]: must read 1..9
    ok &= (units == torch.arange(1, 10)).all(-1).all(-1)
    return ok


# --- the dataset -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SudokuConfig:
    """A Sudoku train/test split.  The paper's sizes are 48K train / 2K test."""

    n_train: int = 48_000
    n_test: int = 2_000
    min_clues: int = 30
    max_clues: int = 35
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_train < 0 or self.n_test < 0:
            raise DataError(f"n_train and n_test must be >= 0, got {self.n_train}, {self.n_test}")
        _check_clues(self.min_clues)
        _check_clues(self.max_clues)
        if self.min_clues > self.max_clues:
            raise DataError(f"min_clues ({self.min_clues}) must be <= max_clues ({self.max_clues})")


def _generate_split(
    config: SudokuConfig, split: str, exclude: np.ndarray | None, progress: bool, workers: int
):
    """``(puzzles, solutions)`` of a split, skipping repeats and the puzzles in ``exclude``."""
    kw = dict(min_clues=config.min_clues, max_clues=config.max_clues, seed=config.seed, split=split)
    n = config.n_test if split == "test" else config.n_train
    seen = set() if exclude is None else {p.tobytes() for p in exclude}
    puzzles, solutions = generate(n, progress=progress, workers=workers, **kw)
    keep = []
    for row, p in enumerate(puzzles):
        if p.tobytes() not in seen:
            seen.add(p.tobytes())
            keep.append(row)
    puzzles, solutions = puzzles[keep], solutions[keep]
    start = n
    while len(puzzles) < n:  # replace the (astronomically rare) repeats with the next indices
        p, s = generate(1, start=start, **kw)
        start += 1
        if p[0].tobytes() not in seen:
            seen.add(p[0].tobytes())
            puzzles, solutions = np.concatenate([puzzles, p]), np.concatenate([solutions, s])
    return puzzles, solutions


def _cache_path(cache_dir: Path, meta: dict) -> Path:
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir / f"sudoku-{meta['split']}-{key}.npz"


def _load_split(
    config: SudokuConfig,
    split: str,
    cache_dir: Path | None,
    progress: bool = False,
    workers: int = 1,
    test: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A split, from the cache when it holds it; the train split excludes every test puzzle."""

    def build():
        exclude = None
        if split == "train":
            exclude = (
                test if test is not None else _load_split(config, "test", cache_dir, progress, workers)[0]
            )
        return _generate_split(config, split, exclude, progress, workers)

    if cache_dir is None:
        return build()
    meta = {"version": _CACHE_VERSION, "split": split, **asdict(config)}
    if split == "test":
        meta.pop("n_train")  # the test split does not depend on it
    path = _cache_path(Path(cache_dir), meta)
    if path.is_file():
        try:
            with np.load(path) as z:
                if json.loads(str(z["meta"])) == meta:
                    return z["puzzles"], z["solutions"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable or stale cache: regenerate and overwrite it
    puzzles, solutions = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, puzzles=puzzles, solutions=solutions, meta=np.array(json.dumps(meta, sort_keys=True)))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)  # atomic: readers see no file or a whole one
    return puzzles, solutions


class SudokuDataset(torch.utils.data.Dataset):
    """Items ``{"input_ids": [178], "eligible": [178]}``: puzzle (not eligible) + solution (eligible).

    Build the splits of a :class:`SudokuConfig` with :meth:`split` / :meth:`splits` (generated, or
    read from an ``.npz`` cache in ``cache_dir``), or wrap grids you have with the constructor.
    """

    prompt_len = GRID_TOKENS
    answer_len = GRID_TOKENS

    def __init__(self, puzzles, solutions) -> None:
        puzzles, solutions = np.asarray(puzzles), np.asarray(solutions)
        if puzzles.ndim != 2 or puzzles.shape[1:] != (81,) or solutions.shape != puzzles.shape:
            raise DataError(
                f"puzzles and solutions must both be [N, 81], got {puzzles.shape}, {solutions.shape}"
            )
        if puzzles.size and not (
            0 <= min(puzzles.min(), solutions.min()) <= max(puzzles.max(), solutions.max()) <= 9
        ):
            raise DataError("grid cells must be 0 (blank) or a digit 1-9")
        self.puzzles, self.solutions = puzzles.astype(np.uint8), solutions.astype(np.uint8)
        tokens = np.full((len(puzzles), SEQ_LEN), _SEP, dtype=np.uint8)  # uint8: 48K items take 8.5 MB
        tokens[:, list(_CELL_POS)] = self.puzzles
        tokens[:, [GRID_TOKENS + p for p in _CELL_POS]] = self.solutions
        self._tokens = torch.from_numpy(tokens)
        bad = (~verify(self._tokens.long())).nonzero().flatten().tolist()
        if bad:
            raise DataError(f"rows {bad[:5]} are not valid solutions of their puzzles")
        self._eligible = torch.arange(SEQ_LEN) >= GRID_TOKENS
        self.tokenizer = tokenizer()

    @classmethod
    def split(
        cls,
        name: str,
        config: SudokuConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        workers: int = 1,
    ) -> SudokuDataset:
        """The ``"train"`` or ``"test"`` split of ``config`` (default :class:`SudokuConfig`).

        ``workers`` processes generate what the cache does not hold (same puzzles as one process).
        """
        if name not in ("train", "test"):
            raise DataError(f"split must be 'train' or 'test', got {name!r}")
        cache = None if cache_dir is None else Path(cache_dir)
        return cls(*_load_split(config or SudokuConfig(), name, cache, progress, workers))

    @classmethod
    def splits(
        cls,
        config: SudokuConfig | None = None,
        *,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        workers: int = 1,
    ) -> tuple[SudokuDataset, SudokuDataset]:
        """``(train, test)`` of ``config``, generating the test split only once."""
        config = config or SudokuConfig()
        cache = None if cache_dir is None else Path(cache_dir)
        test = _load_split(config, "test", cache, progress, workers)
        train = _load_split(config, "train", cache, progress, workers, test=test[0])
        return cls(*train), cls(*test)

    def __len__(self) -> int:
        return self._tokens.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self._tokens[index].long(), "eligible": self._eligible.clone()}

    def prompts(self) -> torch.Tensor:
        """The serialised puzzles, LongTensor [N, 89]: the ``prompt=`` of :func:`mdm.sample`."""
        return self._tokens[:, :GRID_TOKENS].long()

    def clues(self) -> torch.Tensor:
        """Clue count of every puzzle, LongTensor [N]."""
        return torch.from_numpy((self.puzzles > 0).sum(1)).long()

    @staticmethod
    def verify(tokens: torch.Tensor) -> torch.Tensor:
        """:func:`verify`: which ``[B, 178]`` sequences hold a correct solution."""
        return verify(tokens)


@register_task("sudoku")
def sudoku_task(
    *,
    seq_len: int = SEQ_LEN,
    seed: int = 0,
    n_train: int = 48_000,
    n_test: int = 2_000,
    min_clues: int = 30,
    max_clues: int = 35,
    cache_dir: str | None = None,
    progress: bool = False,
    workers: int = 1,
) -> DataBundle:
    """The Sudoku task for the trainer: train / test (as ``val``) :class:`SudokuDataset` splits.

    48K puzzles take a few minutes on one core: pass ``cache_dir`` (and ``workers``) for real runs.
    """
    if seq_len != SEQ_LEN:
        raise DataError(
            f"Sudoku sequences are {SEQ_LEN} tokens (puzzle 89 + solution 89); set seq_len={SEQ_LEN}"
        )
    config = SudokuConfig(n_train=n_train, n_test=n_test, min_clues=min_clues, max_clues=max_clues, seed=seed)
    train, test = SudokuDataset.splits(config, cache_dir=cache_dir, progress=progress, workers=workers)
    return DataBundle(train=train, val=test, tokenizer=train.tokenizer, seq_len=SEQ_LEN)
