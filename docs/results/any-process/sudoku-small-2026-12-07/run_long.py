"""4x4 at 5x the full preset's training steps (2,000), one process per (training-set size, seed),
because the full preset's 400 steps left every arm undertrained (see any-process-sudoku.md).

    python run_long.py run N_TRAIN SEED OUT.json    # the three arms of the full preset, steps=2000
    python run_long.py assemble OUT_DIR             # summary + the report section -> OUT_DIR/result.json, report.md

Same puzzles, model size, batch, lr and decoding as ``mdm exp any-process --preset full --parts
sudoku-4x4-N``; only ``steps`` differs.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

from mdm.experiments.any_process.sudoku_small import _one_model, _puzzles, report_lines, summarise
from mdm.experiments.any_process.sudoku_small_presets import FULL
from mdm.provenance import provenance
from mdm.tasks.minisudoku import SHAPES

SETUP = dataclasses.replace(FULL, shapes=("4x4",), steps=(("4x4", 2000),))

if sys.argv[1] == "run":
    n_train, seed, out = int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    t0 = time.perf_counter()
    row = _one_model(SETUP, SHAPES["4x4"], _puzzles(SETUP, "4x4"), n_train, seed)
    out.write_text(json.dumps({"n_train": n_train, "seed": seed, "wall_s": time.perf_counter() - t0, "arms": row}))
else:
    out = Path(sys.argv[2])
    cmd = "python run_long.py run N SEED OUT (N in 100, 1000; SEED in 0, 1, 2), then assemble"
    result = {"setup": dataclasses.asdict(SETUP), "provenance": provenance(cmd, 0, dataclasses.asdict(SETUP))}
    for n in SETUP.n_train:
        files = sorted(out.glob(f"n{n}-seed*.json"))
        rows = [json.loads(f.read_text()) for f in files]
        runs = {str(n): {str(r["seed"]): r["arms"] for r in rows}}
        split = _puzzles(SETUP, "4x4")
        clues = [sum(1 for v in q if v) for q in split["test"][0]]
        result[f"sudoku-4x4-{n}"] = {"shape": "4x4", "n_train": n, "n_test": SETUP.n_test,
                                     "seeds": [r["seed"] for r in rows], "test_clues": [min(clues), sum(clues) / len(clues), max(clues)],
                                     "runs": runs, "summary": summarise(runs),
                                     "wall_s": [r["wall_s"] for r in rows]}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    (out / "report.md").write_text("\n".join(report_lines(result)))
