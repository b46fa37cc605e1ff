"""Step-level batching (mdm.sampling.stepper): many sample calls advanced together, one batched
forward pass per step, each call's tokens and NFE equal to mdm.sample for it alone."""

import pytest
import torch

import mdm
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Ancestral, EntropyBounded, ReMDM, Scheduled, Threshold, TopK
from mdm.sampling.stepper import Stepper, answer_together


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=12, mask_id=11, d_model=32, n_layers=2, n_heads=4, max_len=48)
    model = TransformerDenoiser(cfg).eval()
    with torch.no_grad():  # spread-out logits: an untrained model's near-uniform ones tie everywhere
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return model


CALLS = [  # different prompts, lengths, unmaskers, temperatures, batch sizes, stops, blocks
    dict(prompt=torch.tensor([1, 2, 3]), length=9, unmasker=TopK(k=1), seed=1),
    dict(prompt=torch.tensor([4]), length=14, unmasker=EntropyBounded(gamma=0.5), temperature=1.0, seed=2),
    dict(prompt=torch.tensor([5, 6, 7, 8, 9, 1, 2]), length=6, unmasker=Scheduled(steps=3), temperature=0.7,
         seed=3, batch_size=3),
    dict(prompt=None, length=12, unmasker=Ancestral(steps=6), temperature=1.0, seed=4, batch_size=2),
    dict(prompt=torch.tensor([2, 2]), length=16, unmasker=Threshold(tau=0.3), block_size=4, seed=5,
         stop=[[3], [4, 5]], temperature=1.0, batch_size=2, pad_id=0),
    dict(prompt=torch.tensor([3, 1]), length=8, unmasker=ReMDM(steps=12, eta=0.1), temperature=1.0, seed=6),
]


def _run_together(model, calls, join_at=()):
    """Step all calls together; call i joins at step join_at[i] (0 when not given)."""
    steppers, started, step = {}, set(), 0
    while step == 0 or any(not s.done for s in steppers.values()) or len(started) < len(calls):
        for i, kw in enumerate(calls):
            if i not in started and (join_at[i] if i < len(join_at) else 0) <= step:
                steppers[i], _ = Stepper(model, **kw), started.add(i)
        live = [s for s in steppers.values() if not s.done]
        for s, answer in zip(live, answer_together([s.pending for s in live])):
            s.advance(answer)
        step += 1
        assert step < 500
    return [steppers[i].output for i in range(len(calls))]


def test_each_call_equals_mdm_sample_alone_when_stepped_together(model):
    outs = _run_together(model, CALLS, join_at=(0, 0, 2, 1, 3, 0))
    for kw, out in zip(CALLS, outs):
        alone = mdm.sample(model, **kw)
        assert torch.equal(out.tokens, alone.tokens), kw
        assert torch.equal(out.nfe, alone.nfe), kw


def test_a_batched_pass_gives_the_rows_alone_logits(model):
    a, b = Stepper(model, **CALLS[0]), Stepper(model, **CALLS[1])
    together = answer_together([a.pending, b.pending])
    for s, (raw, _) in zip((a, b), together):
        own, _ = s.pending.answer()
        assert raw.shape == own.shape
        torch.testing.assert_close(raw, own, atol=1e-5, rtol=1e-5)


def test_stepper_checks_its_arguments_like_sample(model):
    with pytest.raises(mdm.MDMError, match="length"):
        Stepper(model, length=0)
    with pytest.raises(TypeError, match="unexpected"):
        Stepper(model, length=3, lenght=4)


def test_tokens_show_the_denoising_as_it_goes(model):
    s = Stepper(model, prompt=torch.tensor([1, 2]), length=6, unmasker=TopK(k=2), seed=0)
    masked = []
    while not s.done:
        masked.append(int((s.tokens == model.mask_id).sum()))
        s.advance()
    assert masked == [6, 4, 2]
    assert torch.equal(s.tokens, s.output.tokens) and not (s.tokens == model.mask_id).any()
