"""The EB-vs-Threshold analysis (issue 28) of the models whose sweeps have finished, read from the
part caches of a run of

    mdm exp eb-sampler --preset full --seed 0 --set precision=bf16 --parts eb-vs-threshold-model-M

Usage: ``python analyse_models.py OUT 0,1 DEST [PRESET]`` (PRESET: ``full``).  Each cached sweep is
checked against the key the runner would give it now (:func:`mdm.experiments.runner.part_key`: what
the sweep reads of the preset, and its model's identity in the training config), so a stale cache is
refused.
``mdm exp eb-sampler ... --parts eb-vs-threshold`` does the same once every model of the preset has
its sweep; this script exists because the third model's sweep did not fit the session (see
docs/results/eb-sampler.md)."""

import dataclasses
import sys
from pathlib import Path

from mdm.experiments.cache import PartCache
from mdm.experiments.eb_sampler import EXPERIMENT
from mdm.experiments.eb_sampler.frontier import analyse
from mdm.experiments.eb_sampler.plots import plot_frontier
from mdm.experiments.eb_sampler.report import comparison_lines
from mdm.experiments.runner import jsonable, part_key, plan, setup_json
from mdm.provenance import provenance, provenance_markdown, write_json_atomic

out, models, dest = Path(sys.argv[1]), tuple(int(m) for m in sys.argv[2].split(",")), Path(sys.argv[3])
preset = sys.argv[4] if len(sys.argv) > 4 else "full"
p = plan(EXPERIMENT, preset, (0,), overrides=["precision=bf16"])
cache = PartCache(out, reuse=True)
sweeps = []
for m in models:
    name = f"eb-vs-threshold-model-{m}"
    saved = cache.load(name, 0, part_key(p, name, 0))
    if saved is None:
        sys.exit(f"no cached sweep of model {m} for this preset and config in {cache.path(name, 0)}")
    sweeps.append(saved["result"])
frontier = dataclasses.replace(p.setup.frontier, models=models)
result = jsonable(analyse(frontier, sweeps, seed=0))
dest.mkdir(parents=True, exist_ok=True)
prov = provenance(f"python {' '.join(sys.argv)}", 0, {"frontier": setup_json(frontier), "precision": "bf16"},
                  seeds=[0], models=list(models))
write_json_atomic(dest / "result.json", {"eb_vs_threshold": result, "provenance": prov})
plot_frontier(result, dest / "eb-vs-threshold.png")
(dest / "report.md").write_text("\n".join(comparison_lines(result)) + "\n## Provenance\n\n"
                                + provenance_markdown(prov) + "\n")
print(dest / "report.md")
