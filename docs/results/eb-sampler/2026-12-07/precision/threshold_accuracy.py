import sys, torch
from mdm.train import checkpoint
from mdm.experiments.training import task_eval_splits
from mdm.experiments.eb_sampler.parts import evaluate, SamplerSpec
from mdm.sampling import Threshold
torch.set_num_threads(1)
path = sys.argv[1]; n = int(sys.argv[2])
model, _ = checkpoint.load(path); model.eval()
valid, test, _ = task_eval_splits(path, None, 150)
spec = SamplerSpec("threshold", "tau=0.99", Threshold(0.99), None, True)
r = evaluate(model, test, spec, n_eval=n, batch_size=50, precision="bf16")
print(path, r["accuracy"], r.get("nfe"), "".join("1" if c else "0" for c in r["correct"].tolist()))
