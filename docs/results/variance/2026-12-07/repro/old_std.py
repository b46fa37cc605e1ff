"""Standard arm of `mdm exp variance --preset full` at 5eb560a, one SFT seed, exactly as _run sets it up."""
import copy, hashlib, statistics, sys, time
import torch
import mdm
from mdm.experiments.variance import PRESETS, _tensors
from mdm.experiments.variance_arms import ARMS, make_model, mdm_accuracy, pretrain_mdm, sft
from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset, make_valid

print(mdm.__file__, torch.__version__, torch.backends.cpu.get_cpu_capability(), flush=True)
torch.set_num_threads(1)
seeds = [int(s) for s in sys.argv[1:]] or [1]
p, seed = PRESETS["full"], 0
acfg = ArithmeticConfig(max_digits=2, ops=("+",), n_train=p.n_train, n_test=p.n_valid, n_valid=p.n_test,
                        seed=seed, reverse=True)
train_ds, valid_ds = ArithmeticDataset.splits(acfg)
test_ds = ArithmeticDataset(make_valid(acfg, train_ds.problems, valid_ds.problems), acfg)
evals = {"test": test_ds, "valid": valid_ds}
tok = train_ds.tokenizer
x_train, el_train = _tensors(train_ds)
h = lambda t: hashlib.sha256(t.numpy().tobytes()).hexdigest()[:12]
print("train", h(x_train), "test", h(_tensors(test_ds)[0]), "valid", h(_tensors(valid_ds)[0]), len(test_ds), flush=True)
shape = dict(seq_len=acfg.seq_len, d_model=p.d_model, n_layers=p.n_layers, n_heads=p.n_heads)
t0 = time.time()
base = pretrain_mdm(make_model(tok, **shape, seed=seed), x_train, steps=p.pretrain_steps,
                    batch=p.pretrain_batch, lr=p.pretrain_lr, seed=seed)
print("pretrained", f"{time.time()-t0:.0f}s", "base hash", h(torch.cat([v.flatten() for v in base.state_dict().values()]).detach()), flush=True)
torch.save(base.state_dict(), "/tmp/repro/base_old.pt")
arm = next(a for a in ARMS if a.name == "standard")
for s in seeds:
    model, acc = copy.deepcopy(base), {}
    rec = lambda step, m: acc.update({step: {k: statistics.fmean(mdm_accuracy(m, ds, tok.eos_id, tok.pad_id)) for k, ds in evals.items()}})
    t1 = time.time()
    sft(model, x_train, el_train, arm, None, seed=s, steps=p.sft_steps, batch=p.sft_batch, lr=p.sft_lr,
        checkpoints=(300, 600), on_checkpoint=rec)
    print(f"seed {s}: {acc} ({time.time()-t1:.0f}s)", flush=True)
