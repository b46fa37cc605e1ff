"""The AP-MDM training tasks: transitions of solver trajectories as items for ``mdm train``.

``data.task: ap-parity | ap-parity-paper | ap-brackets | ap-rewrite | ap-sudoku`` with
``model.family: anyprocess``.  ``val`` holds transitions of held-out inputs (for parity, whose
training set is every input of its lengths, the same set: there is nothing else of those lengths).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from mdm.errors import DataError
from mdm.tasks.anyprocess import brackets, parity, parity_paper, rewrite, sudoku
from mdm.tasks.anyprocess.trajectory import TransitionDataset
from mdm.tasks.base import DataBundle, register_task

__all__ = ["ap_brackets_task", "ap_parity_paper_task", "ap_parity_task", "ap_rewrite_task", "ap_sudoku_task",
           "sudoku_puzzles"]


def _bundle(train, val, tok, seq_len) -> DataBundle:
    ids = dict(mask_id=tok.mask_id, pad_id=tok.pad_id)
    return DataBundle(train=TransitionDataset(train, seq_len, **ids),
                      val=TransitionDataset(val, seq_len, **ids), tokenizer=tok, seq_len=seq_len)


@register_task("ap-parity")
def ap_parity_task(*, seq_len: int = 4, seed: int = 0, lengths: list | tuple = (2,)) -> DataBundle:
    """Every transition of every input of the given ``lengths`` (the paper: length 2 only)."""
    tok = parity.tokenizer()
    if not lengths or any(not isinstance(n, int) or n < 1 for n in lengths):
        raise DataError(f"lengths must be positive ints, got {lengths!r}")
    trans = [t for n in lengths for bits in itertools.product((0, 1), repeat=n)
             for t in parity.trajectory(bits, tok)]
    return _bundle(trans, trans, tok, seq_len)


@register_task("ap-parity-paper")
def ap_parity_paper_task(*, seq_len: int = 3, seed: int = 0,
                         lengths: list | tuple | None = None) -> DataBundle:
    """The paper's rules without EOS (:mod:`~mdm.tasks.anyprocess.parity_paper`): its 7 length-3 windows
    (``lengths`` None, the paper's training set), or every transition of every input of ``lengths``."""
    tok = parity_paper.tokenizer()
    if lengths is None:
        trans = parity_paper.paper_windows(tok)
    else:
        trans = parity_paper.transitions(list(lengths), tok)
    return _bundle(trans, trans, tok, seq_len)


@register_task("ap-brackets")
def ap_brackets_task(*, seq_len: int = 18, seed: int = 0, n_train: int = 2000, n_val: int = 200,
                     min_len: int = 1, max_len: int = 16) -> DataBundle:
    """Traces of random bracket strings of ``min_len..max_len`` symbols
    (:mod:`~mdm.tasks.anyprocess.brackets`)."""
    tok = brackets.tokenizer()
    trans = lambda texts: [t for s in texts for t in brackets.trajectory(s, tok)]  # noqa: E731
    train = brackets.random_inputs(n_train, min_len, max_len, seed)
    val = brackets.random_inputs(n_val, min_len, max_len, seed + 1)
    return _bundle(trans(train), trans(val), tok, seq_len)


@register_task("ap-rewrite")
def ap_rewrite_task(*, seq_len: int = 18, seed: int = 0, n_train: int = 2000, n_val: int = 200,
                    min_len: int = 1, max_len: int = 8) -> DataBundle:
    """Transitions of random inputs of ``min_len..max_len`` characters (the answers reach 2x + 2)."""
    tok = rewrite.tokenizer()
    trans = lambda texts: [t for s in texts for t in rewrite.trajectory(s, tok)]  # noqa: E731
    train = rewrite.random_inputs(n_train, min_len, max_len, seed)
    val = rewrite.random_inputs(n_val, min_len, max_len, seed + 1)
    return _bundle(trans(train), trans(val), tok, seq_len)


def sudoku_puzzles(split: str, *, n_train: int, n_test: int, min_clues: int, max_clues: int, seed: int,
                   cache_dir: str | None = None, n_valid: int = 0):
    """``(puzzles, solutions)`` of a split of :class:`mdm.tasks.sudoku.SudokuConfig`: the same puzzles the
    ``sudoku`` task (the MDM baseline's) trains and tests on with these options."""
    from mdm.tasks.sudoku import SudokuConfig, SudokuDataset

    config = SudokuConfig(n_train=n_train, n_test=n_test, min_clues=min_clues, max_clues=max_clues, seed=seed,
                          n_valid=n_valid)
    ds = SudokuDataset.split(split, config, cache_dir=None if cache_dir is None else Path(cache_dir))
    return ds.puzzles, ds.solutions


@register_task("ap-sudoku")
def ap_sudoku_task(*, seq_len: int = 81, seed: int = 0, n_train: int = 1000, n_test: int = 200,
                   min_clues: int = 34, max_clues: int = 40, traces: int = 1, n_val: int = 50,
                   cache_dir: str | None = None) -> DataBundle:
    """``traces`` randomised solver traces of each of the ``n_train`` training puzzles; ``val``: traces
    of the first ``n_val`` test puzzles."""
    if seq_len != 81:
        raise DataError(f"an AP-MDM Sudoku state is the 81 cells; set seq_len=81, got {seq_len}")
    tok = sudoku.tokenizer()
    kw = dict(n_train=n_train, n_test=n_test, min_clues=min_clues, max_clues=max_clues, seed=seed,
              cache_dir=cache_dir)
    train_p, _ = sudoku_puzzles("train", **kw)
    test_p, _ = sudoku_puzzles("test", **kw)
    train = [t for i, p in enumerate(train_p) for r in range(traces)
             for t in sudoku.trajectory(p, seed=seed * 1_000_003 + i * 97 + r, tok=tok)]
    val = [t for i, p in enumerate(test_p[:n_val]) for t in sudoku.trajectory(p, seed=i, tok=tok)]
    return _bundle(train, val, tok, seq_len)
