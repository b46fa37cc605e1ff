"""Seed replicates of the remdm full preset (no gen. PPL): the sampling noise of the JS numbers."""
import json, sys, torch
from mdm.demo import demo_config, measure_sampler
from mdm.sampling import Ancestral, ReMDM
from mdm.train import build_data, checkpoint
torch.set_num_threads(1)
cfg = demo_config(seed=0)
model, tok = checkpoint.load("runs/exp/remdm/full/train/checkpoint")
b = build_data(cfg)
val = torch.stack([b.val[i]["input_ids"] for i in range(len(b.val))])
report = val[val.shape[0] // 2:]
pool = report[64:]
out = []
for seed in (1, 2):
    for label, u in [("ancestral T=64", Ancestral(64)), ("ancestral T=128", Ancestral(128)),
                     ("ReMDM-cap eta=0.05 T=128", ReMDM(128, eta=0.05)), ("ReMDM-cap eta=0.05 T=256", ReMDM(256, eta=0.05))]:
        row, _ = measure_sampler(model, tok, u, label=label, num=64, length=64, reference=pool, temperature=1.0,
                                 top_p=0.9, seed=seed)
        out.append({"seed": seed, "label": label, "nfe": row.nfe, "js": row.quality.mean_js_bits,
                    "entropy": row.quality.sequence_entropy_bits})
        print(out[-1], flush=True)
json.dump(out, open("runs/exp/remdm/seeds/result.json", "w"), indent=1)
