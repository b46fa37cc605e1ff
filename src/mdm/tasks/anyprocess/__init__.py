"""Any-process (AP-MDM) tasks: solver trajectories, verifiers and the registered training tasks.

* :mod:`~mdm.tasks.anyprocess.trajectory` -- :class:`Transition`, :func:`replay`, :class:`TransitionDataset`;
* :mod:`~mdm.tasks.anyprocess.parity` -- parity by 7 local transition types (remask / delete / unmask);
* :mod:`~mdm.tasks.anyprocess.sudoku` -- Sudoku by unmask / guess / remask-on-contradiction;
* :mod:`~mdm.tasks.anyprocess.rewrite` -- ``a -> aA, b -> (nothing)``: needs insert and delete;
* :mod:`~mdm.tasks.anyprocess.parity_paper` -- parity by the paper's own 7 length-3 windows (no EOS);
* :mod:`~mdm.tasks.anyprocess.brackets` -- delete the unmatched brackets: a non-local edit;
  :mod:`~mdm.tasks.anyprocess.brackets_mdm` -- the same task laid out for a plain MDM (``brackets-mdm``);
* :mod:`~mdm.tasks.anyprocess.follow` -- does a model reproduce a solver trajectory, step by step;
* :mod:`~mdm.tasks.anyprocess.registered` -- the ``ap-parity``, ``ap-parity-paper``, ``ap-brackets``,
  ``ap-sudoku`` and ``ap-rewrite`` tasks.
"""

from mdm.tasks.anyprocess import brackets, brackets_mdm, parity, parity_paper, rewrite, sudoku
from mdm.tasks.anyprocess.registered import ap_parity_task, ap_rewrite_task, ap_sudoku_task
from mdm.tasks.anyprocess.trajectory import Transition, TransitionDataset, next_state, replay

__all__ = ["Transition", "TransitionDataset", "next_state", "replay", "brackets", "brackets_mdm", "parity",
           "parity_paper", "rewrite", "sudoku", "ap_parity_task", "ap_rewrite_task", "ap_sudoku_task"]
