"""Old code (5eb560a), standard arm, seed 1: base model from old_std.py, weights nudged by ~1 ulp (fp32) with different noise seeds."""
import copy, statistics, sys
import torch
from mdm.experiments.variance import PRESETS, _tensors
from mdm.experiments.variance_arms import ARMS, make_model, mdm_accuracy, sft
from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset, make_valid
torch.set_num_threads(1)
p = PRESETS["full"]
acfg = ArithmeticConfig(max_digits=2, ops=("+",), n_train=p.n_train, n_test=p.n_valid, n_valid=p.n_test, seed=0, reverse=True)
train_ds, valid_ds = ArithmeticDataset.splits(acfg)
test_ds = ArithmeticDataset(make_valid(acfg, train_ds.problems, valid_ds.problems), acfg)
tok = train_ds.tokenizer
x_train, el_train = _tensors(train_ds)
base = make_model(tok, seq_len=acfg.seq_len, d_model=p.d_model, n_layers=p.n_layers, n_heads=p.n_heads)
base.load_state_dict(torch.load("/tmp/repro/base_old.pt")); base.eval()
arm = next(a for a in ARMS if a.name == "standard")
s = int(sys.argv[1])
for k in [None, 1, 2, 3, 4]:
    model, acc = copy.deepcopy(base), {}
    if k is not None:
        g = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for v in model.parameters():
                v.mul_(1 + 6e-8 * torch.randn(v.shape, generator=g))
    sft(model, x_train, el_train, arm, None, seed=s, steps=600, batch=32, lr=p.sft_lr, checkpoints=(300, 600),
        on_checkpoint=lambda i, m: acc.update({i: statistics.fmean(mdm_accuracy(m, test_ds, tok.eos_id, tok.pad_id))}))
    print(f"seed {s} perturb {k}: test acc {acc}", flush=True)
