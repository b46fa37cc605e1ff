"""`mdm.sample` called from several threads on one model gives what sequential calls give."""

from concurrent.futures import ThreadPoolExecutor

import torch

import mdm
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Ancestral, EntropyBounded, Scheduled, TopK


def test_concurrent_sample_calls_on_one_model_equal_sequential_calls():
    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=12, mask_id=11, d_model=16, n_layers=1,
                                                  n_heads=2, max_len=16, time_conditioned=True)).eval()
    unmaskers = [Ancestral(6), Scheduled(4), TopK(2), EntropyBounded(0.5)]
    prompt = torch.tensor([1, 2, 3])
    calls = [dict(batch_size=3, length=12, unmasker=unmaskers[i % 4], temperature=1.0, seed=i,
                  prompt=prompt if i % 2 else None, stop=[[5]] if i % 3 == 0 else None)
             for i in range(16)]
    run = lambda kw: mdm.sample(model, **kw)
    sequential = [run(kw) for kw in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(run, calls))
    for a, b in zip(sequential, concurrent):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.nfe, b.nfe)
    # the calls really differ (so equality above is not trivial)
    assert len({tuple(o.tokens.flatten().tolist()) for o in sequential}) == len(calls)
