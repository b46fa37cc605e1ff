"""mdm.sample(denoiser, template=...): infilling.  A prefix template is exactly the prompt path;
fixed positions never change; on an exact oracle one-at-a-time reveals at temperature 1 draw the
exact conditional law p(free | fixed); rows do not depend on each other; budgeted steps over
fixed positions cost nothing; caches stay exact where they were; invalid combinations raise."""

from __future__ import annotations

import itertools

import pytest
import torch

import mdm
from mdm.errors import MDMError, SamplingError, TokenError
from mdm.languages import HMM
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Ancestral, EntropyBounded, ReMDM, Scheduled, Threshold, TopK

UNMASKERS = [(TopK(1), None), (TopK(2), 4), (Scheduled(8), 4), (Threshold(0.6), None),
             (EntropyBounded(0.5), 4), (Ancestral(8), None)]


@pytest.fixture(scope="module")
def hmm():
    return HMM.random(n_states=3, vocab_size=4, seed=3)


def _template(hmm, rows: int, length: int, free: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = hmm.sample(rows, length, generator=g)
    hole = torch.rand(rows, length, generator=g) < free
    hole[:, -1] = True  # at least one position to generate in every row
    hole[0, 0] = True  # no column fixed in every row: the generated region is the whole template
    return x.masked_fill(hole, hmm.denoiser().mask_id)


@pytest.mark.parametrize(("unmasker", "block_size"), UNMASKERS)
def test_a_prefix_template_is_the_prompt_path(hmm, unmasker, block_size):
    den = hmm.denoiser()
    prompt = hmm.sample(3, 4, generator=torch.Generator().manual_seed(0))
    template = torch.cat([prompt, torch.full((3, 8), den.mask_id)], dim=1)
    for temperature in (0.0, 1.0):
        kw = dict(unmasker=unmasker, block_size=block_size, temperature=temperature, seed=2, trace=True)
        ref = mdm.sample(den, prompt=prompt, length=8, **kw)
        got = mdm.sample(den, template=template, **kw)
        assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)
        assert torch.equal(got.trace.reveal_step, ref.trace.reveal_step)


@pytest.mark.parametrize(("unmasker", "block_size"), UNMASKERS)
def test_fixed_positions_never_change_and_every_hole_is_filled(hmm, unmasker, block_size):
    den = hmm.denoiser()
    template = _template(hmm, 5, 8, free=0.5, seed=4)
    out = mdm.sample(den, template=template, unmasker=unmasker, block_size=block_size, temperature=1.0,
                     seed=1, trace=True)
    fixed = template != den.mask_id
    assert out.tokens.shape == template.shape
    assert torch.equal(out.tokens[fixed], template[fixed])
    assert not (out.tokens == den.mask_id).any()
    assert (out.trace.reveal_step[fixed] == -1).all() and (out.trace.reveal_step[~fixed] >= 0).all()
    # no pass is spent on a fixed position: a budgeted unmasker moves the batch block by block in
    # lockstep (a row rides along while another still has holes in the block), an adaptive one
    # lets each row leave once done
    holes = (~fixed).view(5, -1, block_size or 8).sum(dim=2)  # [rows, blocks]
    budgeted = unmasker.steps_per_block(8, 1) is not None
    bound = holes.max(dim=0).values.sum() if budgeted else holes.sum(dim=1)
    assert (out.nfe <= bound).all()


def test_one_at_a_time_at_temperature_one_draws_the_exact_conditional(hmm):
    """Chain rule: revealing one position at a time from exact conditionals samples p(free | fixed),
    whatever the (confidence-adaptive) order.  4000 draws over 4^3 = 64 outcomes: total variation
    to the enumerated law below 0.06 (its sampling noise is about 0.03)."""
    den = hmm.denoiser()
    m = den.mask_id
    template = torch.tensor([m, 2, m, 1, m])
    n = 4000
    for unmasker in (TopK(1), Scheduled(5)):
        out = mdm.sample(den, template=template, batch_size=n, unmasker=unmasker, temperature=1.0, seed=0)
        free = out.tokens[:, [0, 2, 4]]
        emp = torch.zeros(4, 4, 4, dtype=torch.float64)
        emp.index_put_(tuple(free.T), torch.ones(n, dtype=torch.float64), accumulate=True)
        emp /= n
        outcomes = torch.tensor(list(itertools.product(range(4), repeat=3)))
        full = template.repeat(len(outcomes), 1)
        full[:, [0, 2, 4]] = outcomes
        law = hmm.log_prob(full).exp().to(torch.float64)
        law = (law / law.sum()).view(4, 4, 4)
        tv = 0.5 * (emp - law).abs().sum()
        assert tv < 0.06, (unmasker, float(tv))


def test_each_row_is_its_solo_output_at_temperature_zero(hmm):
    den = hmm.denoiser()
    template = _template(hmm, 4, 9, free=0.6, seed=5)
    for unmasker in (TopK(1), Threshold(0.6), EntropyBounded(0.5)):
        together = mdm.sample(den, template=template, unmasker=unmasker)
        for i in range(4):
            alone = mdm.sample(den, template=template[i], unmasker=unmasker)
            assert torch.equal(together.tokens[i], alone.tokens[0])
            if unmasker.steps_per_block(9, 1) is None:  # adaptive: a row leaves the batch when done
                assert together.nfe[i] == alone.nfe[0]


def test_budgeted_steps_over_fixed_positions_cost_no_pass(hmm):
    den = hmm.denoiser()
    m = den.mask_id
    template = torch.tensor([[m, 1, 2, 3, 0, 1, m, 2]])  # blocks of 2: two blocks hold no hole
    out = mdm.sample(den, template=template, unmasker=TopK(1), block_size=2)
    assert out.nfe.tolist() == [2]
    out = mdm.sample(den, template=template, unmasker=Scheduled(8), block_size=2)
    assert out.nfe.tolist() == [2]


def _transformer(**kw) -> TransformerDenoiser:
    torch.manual_seed(0)
    cfg = dict(vocab_size=13, mask_id=12, d_model=32, n_layers=2, n_heads=4, max_len=48,
               learned_positions=True, **kw)
    m = TransformerDenoiser(TransformerConfig(**cfg)).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(6.0)  # peaked distributions: no near-ties that rounding could flip
    return m


def _holes(rows: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 12, (rows, length), generator=g)
    hole = torch.rand(rows, length, generator=g) < 0.5
    hole[:, 3:5] = True
    hole[0, 0] = True
    return x.masked_fill(hole, 12)


def test_block_causal_prefix_cache_stays_exact_with_a_template():
    m = _transformer(block_size=8)
    template = _holes(3, 24, seed=1)
    for unmasker in (TopK(2), Threshold(0.5)):
        kw = dict(template=template, block_size=8, unmasker=unmasker, seed=5, temperature=1.0)
        ref = mdm.sample(m, **kw)
        got = mdm.sample(m, cache="prefix", **kw)
        assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_approximate_caches_refreshed_every_pass_are_the_uncached_run(mode):
    m = _transformer()
    kw = dict(template=_holes(3, 16, seed=2), block_size=4, unmasker=TopK(2), seed=3)
    ref = mdm.sample(m, **kw)
    got = mdm.sample(m, cache=mode, cache_refresh=1, **kw)
    assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)


class TimeSpy:
    """Records the ``t`` each pass receives (uniform logits otherwise)."""

    time_conditioned = True
    vocab_size, mask_id = 5, 4

    def __init__(self):
        self.ts = []

    def __call__(self, x, attention_mask=None, t=None):
        self.ts.append(t.clone())
        return torch.zeros(*x.shape, self.vocab_size)


def test_time_counts_fixed_interior_positions_as_revealed():
    spy = TimeSpy()
    template = torch.tensor([[0, 1, 4, 4, 2, 4]])  # prompt [0, 1]; region [4, 4, 2, 4]: 3/4 masked
    mdm.sample(spy, template=template, unmasker=TopK(1))
    assert [round(float(t), 6) for t in torch.cat(spy.ts)] == [0.75, 0.5, 0.25]


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    (dict(length=4), SamplingError, "without length"),
    (dict(prompt=torch.tensor([1])), SamplingError, "without length"),
    (dict(unmasker=ReMDM(8)), SamplingError, "remask"),
    (dict(stop=[2]), SamplingError, "stop="),
    (dict(cfg_scale=1.0), SamplingError, "cfg_scale"),
    (dict(block_size=2), SamplingError, r"blocks start at the first column to generate \(1\)"),
])
def test_invalid_combinations_raise(hmm, kwargs, error, words):
    den = hmm.denoiser()
    template = torch.tensor([1, den.mask_id, 2, den.mask_id])
    with pytest.raises(error, match=words):
        mdm.sample(den, template=template, **kwargs)


@pytest.mark.parametrize(("template", "error", "words"), [
    (torch.tensor([[1, 4, 2], [1, 2, 3]]), SamplingError, "row 1 has no mask"),
    (torch.tensor([1.0, 4.0]), TokenError, "integer tensor"),
    (torch.tensor([1, 9, 4]), TokenError, "template"),
])
def test_bad_templates_raise(hmm, template, error, words):
    with pytest.raises(error, match=words):
        mdm.sample(hmm.denoiser(), template=template)
    assert issubclass(error, MDMError)
