"""mdm.sample(..., cache=...): approximate caches equal the uncached run when refreshed every pass,
the block-causal cache is exact (same tokens; the exact law on a block-factorised toy), cache rows
follow rows leaving the batch, and bad settings raise MDMError."""

from __future__ import annotations

import itertools

import pytest
import torch

import mdm
from mdm.errors import MDMError
from mdm.languages import HMM
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Ancestral, EntropyBounded, Scheduled, Threshold, TopK

V, MASK = 13, 12


def make(seed: int = 0, scale: float = 6.0, **kw) -> TransformerDenoiser:
    """A random transformer with weights scaled up so that its distributions are peaked: no
    near-ties in the rankings, so float rounding cannot flip a choice."""
    torch.manual_seed(seed)
    cfg = dict(vocab_size=V, mask_id=MASK, d_model=32, n_layers=2, n_heads=4, max_len=48,
               learned_positions=True)
    cfg.update(kw)
    m = TransformerDenoiser(TransformerConfig(**cfg)).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(scale)
    return m


@pytest.fixture(scope="module")
def prompts():
    return torch.randint(0, MASK, (3, 8), generator=torch.Generator().manual_seed(1))


UNMASKERS = [TopK(2), Scheduled(12), Threshold(0.5), Ancestral(12), EntropyBounded(1.0)]


@pytest.mark.parametrize("mode", ["prefix", "dual"])
@pytest.mark.parametrize("unmasker", UNMASKERS)
def test_refreshing_every_pass_is_the_uncached_run(prompts, mode, unmasker):
    m = make()
    for temperature, block_size in [(0.0, 4), (1.0, 8), (1.0, None)]:
        kw = dict(prompt=prompts, length=16, block_size=block_size, unmasker=unmasker, seed=3,
                  temperature=temperature)
        ref = mdm.sample(m, **kw)
        got = mdm.sample(m, cache=mode, cache_refresh=1, **kw)
        assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)


def test_time_conditioned_model_refreshed_every_pass(prompts):
    m = make(time_conditioned=True)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "ada" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    kw = dict(prompt=prompts, length=16, block_size=4, unmasker=TopK(2), seed=0)
    assert torch.equal(mdm.sample(m, cache="dual", cache_refresh=1, **kw).tokens, mdm.sample(m, **kw).tokens)


class Spy:
    """A transformer that records the width of every forward pass."""

    def __init__(self, model):
        self.model, self.widths = model, []
        for k in ("vocab_size", "mask_id", "supports_output_mask", "supports_kv_cache", "block_size"):
            setattr(self, k, getattr(model, k))

    def new_cache(self, length):
        return self.model.new_cache(length)

    def __call__(self, x, **kw):
        self.widths.append(x.shape[1])
        return self.model(x, **kw)


@pytest.mark.parametrize("mode, refresh, widths", [
    # P = 8, length 16 in blocks of 8, TopK(2): 4 passes per block
    ("prefix", None, [24, 16, 16, 16, 24, 8, 8, 8]),
    ("dual", None, [24, 8, 8, 8, 24, 8, 8, 8]),
    ("dual", 2, [24, 8, 24, 8, 24, 8, 24, 8]),
])
def test_cached_passes_only_recompute_the_span(prompts, mode, refresh, widths):
    spy = Spy(make())
    out = mdm.sample(spy, prompt=prompts, length=16, block_size=8, unmasker=TopK(2), cache=mode,
                     cache_refresh=refresh)
    assert spy.widths == widths and out.nfe.tolist() == [8, 8, 8]


@pytest.mark.parametrize("unmasker", UNMASKERS)
@pytest.mark.parametrize("block_size", [4, 8])
def test_block_causal_cache_gives_the_uncached_tokens(prompts, unmasker, block_size):
    m = make(block_size=8)
    for temperature in (0.0, 1.0):
        kw = dict(prompt=prompts, length=24, block_size=block_size, unmasker=unmasker, seed=5,
                  temperature=temperature)
        ref = mdm.sample(m, **kw)
        got = mdm.sample(m, cache="prefix", **kw)
        assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)


def test_block_causal_cache_commits_clean_blocks_only(prompts):
    spy = Spy(make(block_size=8))
    mdm.sample(spy, prompt=prompts, length=16, block_size=4, unmasker=TopK(4), cache="prefix")
    # block [8, 16) in two sub-blocks, then [16, 24) in two: each pass runs from the first model
    # block not yet committed (the prompt's on the first pass) to the end of the current one
    assert spy.widths == [16, 8, 16, 8]


def _stop_token(model, prompts, **kw):
    """A token that some rows generate and others do not, so rows stop at different steps."""
    gen = mdm.sample(model, prompt=prompts, **kw).tokens[:, prompts.shape[1]:][:, :8]  # first block
    for v in range(V - 1):
        has = (gen == v).any(dim=1)
        if 0 < int(has.sum()) < gen.shape[0]:
            return v
    raise AssertionError("no discriminating token")


@pytest.mark.parametrize("block_model, mode, p, length, block_size", [
    (None, "prefix", 8, 24, 8), (None, "dual", 8, 24, 8), (8, "prefix", 8, 24, 8),
    # a block-causal model, its blocks not dividing the prompt or the length: cached or not
    (8, None, 6, 19, 4), (8, "prefix", 6, 19, 4),
])
def test_stop_rule_rows_leaving_the_batch_take_their_cache_rows(block_model, mode, p, length, block_size):
    m = make(block_size=block_model)
    prompts = torch.randint(0, MASK, (5, p), generator=torch.Generator().manual_seed(7))
    kw = dict(length=length, block_size=block_size, unmasker=TopK(2), cache=mode)
    stop = _stop_token(m, prompts, **kw)
    together = mdm.sample(m, prompt=prompts, stop=[stop], pad_id=0, **kw)
    assert len(set(together.nfe.tolist())) > 1  # rows really left at different steps
    for i in range(prompts.shape[0]):
        alone = mdm.sample(m, prompt=prompts[i], stop=[stop], pad_id=0, **kw)
        assert torch.equal(alone.tokens[0], together.tokens[i]) and alone.nfe[0] == together.nfe[i]


class _TokenCache:
    """The toy's 'keys/values': the tokens themselves."""

    def __init__(self, length, tokens=None):
        self.length, self.tokens = length, tokens

    def select(self, rows):
        return _TokenCache(self.length, None if self.tokens is None else self.tokens[rows])

    @property
    def batch(self):
        return None if self.tokens is None else self.tokens.shape[0]

    def put(self, rows, other, batch):
        if self.tokens is None:
            self.tokens = torch.full((batch, self.length), BlockToy.mask_id)
        self.tokens[rows] = other.tokens


class BlockToy:
    """p(x) over 2 blocks of 2 binary tokens, with exact per-block conditionals given the clean
    earlier block, which a cached pass reads ONLY from its cache (a block diffusion model that is
    exact, BD3-LM's factorisation p(x) = p(x^0) p(x^1 | x^0)).  Like a model trained on whole
    blocks only, it refuses a pass that ends inside a block."""

    vocab_size, mask_id, block_size = 3, 2, 2
    supports_output_mask = supports_kv_cache = True

    def __init__(self, probs):
        self.seqs = torch.tensor(list(itertools.product(range(2), repeat=4)))  # [16, 4]
        self.probs = probs

    def new_cache(self, length):
        return _TokenCache(length)

    def __call__(self, x, attention_mask=None, output_mask=None, cache=None, start=0):
        assert (start + x.shape[1]) % self.block_size == 0, "a pass must end at a block boundary"
        if cache is not None:
            if cache.tokens is None:
                cache.tokens = torch.full((x.shape[0], cache.length), self.mask_id)
            cache.tokens[:, start:start + x.shape[1]] = x
            full = torch.cat([cache.tokens[:, :start], x], dim=1)
        else:
            full = x
        logits = torch.full((*x.shape, 3), float("-inf"), dtype=torch.float64)
        for j in range(x.shape[1]):
            a = start + j
            seen = torch.arange(full.shape[1]) < (a // 2 + 1) * 2  # own block and earlier ones
            known = (full != self.mask_id) & seen
            ok = ((self.seqs[None, :, :full.shape[1]] == full[:, None]) | ~known[:, None]).all(-1)  # [B, 16]
            w = ok.double() * self.probs
            for v in range(2):
                logits[:, j, v] = (w * (self.seqs[:, a] == v)).sum(-1).log()
        return logits if output_mask is None else logits[output_mask]


def test_block_causal_cache_has_the_exact_law_at_temperature_one():
    g = torch.Generator().manual_seed(0)
    # x^1 strongly depends on x^0: a cache that lost the first block would show
    probs = torch.rand(16, generator=g, dtype=torch.float64) + 10.0 * (torch.arange(16) % 5 == 0)
    toy = BlockToy(probs / probs.sum())
    n = 4000
    for unmasker in (TopK(1), Scheduled(4)):
        kw = dict(batch_size=n, length=4, block_size=2, unmasker=unmasker, temperature=1.0, seed=11)
        cached = mdm.sample(toy, cache="prefix", **kw)
        assert torch.equal(cached.tokens, mdm.sample(toy, **kw).tokens)
        codes = (cached.tokens * torch.tensor([8, 4, 2, 1])).sum(1)
        freq = torch.bincount(codes, minlength=16).double() / n
        tv = 0.5 * (freq - toy.probs).abs().sum()
        assert tv < 0.05, tv  # n = 4000 over 16 cells: sampling TV ~0.02


@pytest.mark.parametrize("unmasker", [TopK(1), TopK(1, proxy="random"), Scheduled(4)])
@pytest.mark.parametrize("prompt, length", [((), 3), ((0,), 2)])
def test_block_causal_any_length_has_the_exact_law_at_temperature_one(unmasker, prompt, length):
    # ends mid-block (the last block completed with a masked position it marginalises out); the
    # prompt (0,) also starts mid-block (blocks [1, 2), [2, 3)): the law is p(x_1, x_2 | x_0 = 0).
    # Peaks at 0000, 0011, 0110, 1001, ...: x_2 depends on x_1 given x_0, so revealing x_2 before
    # block 0 is clean (a sampling block straddling two model blocks) would show
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(16, generator=g, dtype=torch.float64) + 10.0 * (torch.arange(16) % 3 == 0)
    toy = BlockToy(probs / probs.sum())
    n, p = 4000, len(prompt)
    kw = dict(batch_size=n, length=length, block_size=2, unmasker=unmasker, temperature=1.0,
              seed=11, prompt=torch.tensor(prompt, dtype=torch.long) if p else None)
    cached = mdm.sample(toy, cache="prefix", **kw)
    assert torch.equal(cached.tokens, mdm.sample(toy, **kw).tokens)
    real = p + length
    weights = 2 ** torch.arange(real - 1, -1, -1)
    law = torch.zeros(2**real, dtype=torch.float64).index_add_(0, (toy.seqs[:, :real] * weights).sum(1),
                                                                 toy.probs)
    law = law[prompt[0] << length:][:2**length] if p else law  # given the prompt
    law = law / law.sum()
    codes = (cached.tokens[:, p:] * weights[p:]).sum(1)
    freq = torch.bincount(codes, minlength=2**length).double() / n
    tv = 0.5 * (freq - law).abs().sum()
    assert tv < 0.05, tv  # n = 4000 over at most 8 cells: sampling TV ~0.02


@pytest.mark.parametrize("unmasker", UNMASKERS)
@pytest.mark.parametrize("p, length, block_size", [(8, 20, 8), (5, 13, 4), (3, 9, 8)])
def test_block_causal_any_length_gives_the_uncached_tokens(unmasker, p, length, block_size):
    m = make(block_size=8)
    prompt = torch.randint(0, MASK, (3, p), generator=torch.Generator().manual_seed(2))
    for temperature in (0.0, 1.0):
        kw = dict(prompt=prompt, length=length, block_size=block_size, unmasker=unmasker, seed=5,
                  temperature=temperature)
        ref = mdm.sample(m, **kw)
        got = mdm.sample(m, cache="prefix", **kw)
        assert got.tokens.shape == (3, p + length) and not (got.tokens == MASK).any()
        assert torch.equal(got.tokens, ref.tokens) and torch.equal(got.nfe, ref.nfe)


def test_block_causal_partial_blocks_pass_whole_model_blocks_and_cost_their_steps():
    spy = Spy(make(block_size=8))
    prompt = torch.randint(0, MASK, (2, 5), generator=torch.Generator().manual_seed(2))
    # sampling blocks [5, 8), [8, 16), [16, 18) on the model's grid; TopK(4): 1 + 2 + 1 passes, each
    # from the first uncommitted model block to the end of the current one, [16, 18) completed to 24
    out = mdm.sample(spy, prompt=prompt, length=13, block_size=8, unmasker=TopK(4), cache="prefix")
    assert spy.widths == [8, 16, 8, 16] and out.nfe.tolist() == [4, 4]
    spy.widths.clear()
    out = mdm.sample(spy, prompt=prompt, length=13, block_size=8, unmasker=TopK(4))
    assert spy.widths == [24] * 4 and out.nfe.tolist() == [4, 4]


def test_bad_cache_settings_raise(prompts):
    m, mb = make(), make(block_size=8)
    hmm = HMM.random(n_states=3, vocab_size=4, seed=0).denoiser()
    kw = dict(prompt=prompts, length=16)
    with pytest.raises(MDMError, match="KV cache"):
        mdm.sample(hmm, length=4, cache="prefix")
    with pytest.raises(MDMError, match="cache must be"):
        mdm.sample(m, cache="suffix", **kw)
    with pytest.raises(MDMError, match="cache_refresh"):
        mdm.sample(m, cache="prefix", cache_refresh=0, **kw)
    with pytest.raises(MDMError, match="cache_refresh"):
        mdm.sample(m, cache_refresh=2, **kw)
    with pytest.raises(MDMError, match="does not divide the model's block size"):
        mdm.sample(mb, block_size=16, cache="prefix", **kw)
    with pytest.raises(MDMError, match="does not divide the model's block size"):
        mdm.sample(mb, **kw)  # block_size defaults to the whole generation
    with pytest.raises(MDMError, match="prefix"):
        mdm.sample(mb, block_size=8, cache="dual", **kw)
    with pytest.raises(MDMError, match="does not combine with prompt_mask or cfg_scale"):
        mdm.sample(m, cache="prefix", cfg_scale=1.0, **kw)
    with pytest.raises(MDMError, match="does not combine with prompt_mask or cfg_scale"):
        padded = torch.ones_like(prompts, dtype=torch.bool)
        padded[0, :2] = False  # row 0 left-padded by two
        mdm.sample(m, cache="dual", prompt_mask=padded, **kw)


@pytest.mark.gpu
def test_caches_on_cuda_match_the_uncached_run(prompts):
    # Ancestral forwards subsets of rows (cache rows copied out and back); the stop rule drops rows;
    # the last case's blocks divide neither the prompt nor the length
    for block_model, mode, refresh, p, length in [(None, "dual", 1, 8, 24), (None, "prefix", 1, 8, 24),
                                                  (8, "prefix", None, 8, 24), (8, "prefix", None, 5, 19)]:
        m = make(block_size=block_model).cuda()
        for unmasker in (Ancestral(12), TopK(2)):
            kw = dict(prompt=prompts[:, :p].cuda(), length=length, block_size=8, unmasker=unmasker, seed=0,
                      stop=[3], pad_id=0, temperature=1.0)
            ref = mdm.sample(m, **kw)
            got = mdm.sample(m, cache=mode, cache_refresh=refresh, **kw)
            assert got.tokens.is_cuda and torch.equal(got.tokens, ref.tokens)
            assert torch.equal(got.nfe, ref.nfe)


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_rows_of_different_ages_get_the_pass_they_would_get_alone(mode):
    # cache_refresh=2 and passes over different rows, so rows of one pass have different ages:
    # pass 3 (rows 1, 2, 3) refreshes row 2 and reuses rows 1 and 3; pass 4 (all rows) refreshes
    # rows 0, 1, 3 and reuses row 2 -- one batch, two kinds of pass, over a subset and the whole.
    # Oracle: each row alone through the model's own cache API (no SampleCache), refreshed when
    # two passes have run since its last refresh.
    from mdm.sampling.cache import make_cache

    m, lo, hi, n, b = make(), 8, 16, 24, 4
    passes = [None, [0, 2], [1, 2, 3], None]  # the rows of each pass (None: the whole batch)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randint(0, MASK, (b, n), generator=g) for _ in passes]
    for x in xs:
        x[:, lo:hi].masked_fill_(torch.rand(b, hi - lo, generator=g) < 0.5, MASK)
    cache = make_cache(m, mode, 2, total_len=n, batch=b)
    kvs, ages, end = [m.new_cache(n) for _ in range(b)], [2] * b, n if mode == "prefix" else hi
    with torch.no_grad():
        for x, rows in zip(xs, passes):
            idx = list(range(b)) if rows is None else rows
            where = x[idx, lo:hi] == MASK
            got = cache.logits(x[idx], {}, lo, hi, where, None if rows is None else torch.tensor(rows))
            expected = []
            for j, r in enumerate(idx):
                start = 0 if ages[r] >= 2 else lo
                ages[r] = 1 if start == 0 else ages[r] + 1
                out = m(x[r:r + 1, start:end if start else n], cache=kvs[r], start=start)
                expected.append(out[0, lo - start:hi - start][where[j]])
            torch.testing.assert_close(got, torch.cat(expected), atol=1e-5, rtol=1e-5)
        assert cache.age.tolist() == ages == [1, 1, 2, 1]
