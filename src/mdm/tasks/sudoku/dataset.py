"""Sudoku as a dataset: serialisation, the verifier, the cached splits and the ``sudoku`` task.

**Serialisation** follows the EB-sampler paper (Ben-Hamu et al., "Accelerated Sampling from Masked
Diffusion Models via Entropy Bounded Unmasking", arXiv 2505.24857, Sudoku experiment): a grid is its
81 cells row by row with a separator ``|`` after each of the first 8 rows, 89 tokens; a blank is the
token ``.``.  A training item is ``puzzle (89) + solution (89)`` = 178 tokens and only the solution
half is eligible for masking, so the model learns p(solution | puzzle).  Ids come from a
:class:`~mdm.tokenizers.CharTokenizer` over ``.123456789|``: blank = 0 and digit d = d, then its
``pad``/``bos``/``eos``/``unk``/``mask`` entries (answers have a fixed length: no ``eos`` is used).
Puzzles come from :mod:`mdm.tasks.sudoku.generator`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mdm.errors import DataError, TokenError
from mdm.tasks.base import DataBundle, register_task
from mdm.tasks.sudoku.generator import _check_clues, generate
from mdm.tasks.sudoku.solver import _UNIT_CELLS, _as_cells
from mdm.tokenizers import CharTokenizer

__all__ = [
    "ALPHABET",
    "GRID_TOKENS",
    "SEQ_LEN",
    "tokenizer",
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
    """Sudoku train / validation / test splits.  The paper's sizes are 48K train / 2K test.

    ``n_valid`` puzzles (none by default) form a validation split for choosing settings without
    looking at the test split; it is drawn last, so it changes neither train nor test.
    """

    n_train: int = 48_000
    n_test: int = 2_000
    min_clues: int = 30
    max_clues: int = 35
    seed: int = 0
    n_valid: int = 0

    def __post_init__(self) -> None:
        if min(self.n_train, self.n_test, self.n_valid) < 0:
            raise DataError(
                f"n_train, n_valid and n_test must be >= 0, got {self.n_train}, {self.n_valid}, {self.n_test}"
            )
        _check_clues(self.min_clues)
        _check_clues(self.max_clues)
        if self.min_clues > self.max_clues:
            raise DataError(f"min_clues ({self.min_clues}) must be <= max_clues ({self.max_clues})")


# Splits are drawn in the order test, train, valid; each excludes the puzzles of those drawn before
# it, so adding a validation split leaves train and test as they were for the same seed.
_DRAWN_BEFORE = {"test": (), "train": ("test",), "valid": ("test", "train")}
_SIZE = {"train": "n_train", "valid": "n_valid", "test": "n_test"}


def _generate_split(
    config: SudokuConfig, split: str, exclude: np.ndarray | None, progress: bool, workers: int
):
    """``(puzzles, solutions)`` of a split, skipping repeats and the puzzles in ``exclude``."""
    kw = dict(min_clues=config.min_clues, max_clues=config.max_clues, seed=config.seed, split=split)
    n = getattr(config, _SIZE[split])
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


def _content_hash(puzzles: np.ndarray, solutions: np.ndarray, meta: str) -> str:
    """SHA-256 of a cached split: arrays (dtype, shape, bytes) and meta, so any edit is detected."""
    h = hashlib.sha256(meta.encode())
    for a in (puzzles, solutions):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _read_cache(path: Path, meta: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached split, or None when the file is unreadable, stale, truncated or altered."""
    try:
        with np.load(path) as z:
            puzzles, solutions, text = z["puzzles"], z["solutions"], str(z["meta"])
            sha = str(z["sha256"])
    except Exception:  # zip, zlib, npy and key errors of a damaged file: all mean "rebuild"
        return None
    if json.loads(text) != meta or sha != _content_hash(puzzles, solutions, text):
        return None
    return puzzles, solutions


def _load_split(
    config: SudokuConfig,
    split: str,
    cache_dir: Path | None,
    progress: bool = False,
    workers: int = 1,
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A split, from the cache when it holds it; it excludes every puzzle of the splits drawn
    before it (:data:`_DRAWN_BEFORE`).  ``loaded`` holds the splits loaded so far (filled in)."""
    loaded = {} if loaded is None else loaded
    if split not in loaded:
        loaded[split] = _read_or_build(config, split, cache_dir, progress, workers, loaded)
    return loaded[split]


def _read_or_build(config: SudokuConfig, split: str, cache_dir: Path | None, progress: bool, workers: int,
                   loaded: dict) -> tuple[np.ndarray, np.ndarray]:
    def build():
        before = [_load_split(config, other, cache_dir, progress, workers, loaded)[0]
                  for other in _DRAWN_BEFORE[split]]
        return _generate_split(config, split, np.concatenate(before) if before else None, progress, workers)

    if cache_dir is None:
        return build()
    meta = {"version": _CACHE_VERSION, "split": split, **asdict(config)}
    for other, size in _SIZE.items():  # a split depends on its own size and those drawn before it
        if other != split and other not in _DRAWN_BEFORE[split]:
            meta.pop(size)
    path = _cache_path(Path(cache_dir), meta)
    cached = _read_cache(path, meta) if path.is_file() else None
    if cached is not None:
        return cached
    puzzles, solutions = build()  # no cache, or a damaged / stale one: regenerate and overwrite it
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    text = json.dumps(meta, sort_keys=True)
    np.savez(buf, puzzles=puzzles, solutions=solutions, meta=np.array(text),
             sha256=np.array(_content_hash(puzzles, solutions, text)))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)  # atomic: readers see no file or a whole one
    return puzzles, solutions


class SudokuDataset(torch.utils.data.Dataset):
    """Items ``{"input_ids": [178], "eligible": [178]}``: puzzle (not eligible) + solution (eligible).

    Build the splits of a :class:`SudokuConfig` with :meth:`split` / :meth:`splits` (generated, or
    read from an ``.npz`` cache in ``cache_dir``; each file carries a SHA-256 of its content, and a
    truncated or altered one is regenerated), or wrap grids you have with the constructor.
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
        """The ``"train"``, ``"valid"`` or ``"test"`` split of ``config`` (default :class:`SudokuConfig`).

        ``workers`` processes generate what the cache does not hold (same puzzles as one process).
        The validation split excludes the train puzzles, so it depends on ``n_train``.
        """
        if name not in _SIZE:
            raise DataError(f"split must be 'train', 'valid' or 'test', got {name!r}")
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
        loaded: dict = {}
        test = _load_split(config, "test", cache, progress, workers, loaded)
        train = _load_split(config, "train", cache, progress, workers, loaded)
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
    n_valid: int = 0,
) -> DataBundle:
    """The Sudoku task for the trainer: train / test (as ``val``) :class:`SudokuDataset` splits, and
    ``n_valid`` validation puzzles (as ``valid``, disjoint from both) when asked for.

    48K puzzles take a few minutes on one core: pass ``cache_dir`` (and ``workers``) for real runs.
    """
    if seq_len != SEQ_LEN:
        raise DataError(
            f"Sudoku sequences are {SEQ_LEN} tokens (puzzle 89 + solution 89); set seq_len={SEQ_LEN}"
        )
    config = SudokuConfig(n_train=n_train, n_test=n_test, min_clues=min_clues, max_clues=max_clues, seed=seed,
                          n_valid=n_valid)
    cache = None if cache_dir is None else Path(cache_dir)
    loaded: dict = {}

    def load(name: str) -> SudokuDataset:
        return SudokuDataset(*_load_split(config, name, cache, progress, workers, loaded))

    train, test = load("train"), load("test")
    return DataBundle(train=train, val=test, tokenizer=train.tokenizer, seq_len=SEQ_LEN,
                      valid=load("valid") if n_valid else None)
