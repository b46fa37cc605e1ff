import itertools
import math

import pytest
import torch

import mdm
from mdm.losses import LossOutput, diffusion_loss, elbo, elbo_draws
from mdm.schedules import BetaEnergy, Cosine, Linear, Polynomial, Schedule
from mdm.variance import AntitheticTime, BernoulliMask, StratifiedTime, UniformTime


# --------------------------------------------------------------------------- exact test oracle
class EnumeratedOracle:
    """All V^L sequences with Dirichlet(1) probabilities; the exact p(x_l | clean positions) for every
    position, by summing over the sequences that agree with the clean ones.  ``power`` < 1 flattens
    the conditionals (a deliberately wrong denoiser)."""

    def __init__(self, vocab=3, length=4, seed=0, power=1.0):
        g = torch.Generator().manual_seed(seed)
        self.seqs = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
        gam = -torch.rand(len(self.seqs), generator=g, dtype=torch.float64).log()
        self.probs = gam / gam.sum()
        self.onehot = torch.nn.functional.one_hot(self.seqs, vocab).double()  # [S, L, V]
        self.vocab, self.length, self.power = vocab, length, power
        self.vocab_size, self.mask_id = vocab + 1, vocab
        self.inputs = []

    def _index(self, x):
        return (x * self.vocab ** torch.arange(self.length - 1, -1, -1)).sum(-1)

    def log_prob(self, x):
        return self.probs[self._index(x)].log()

    def __call__(self, x, attention_mask=None):
        self.inputs.append(x.clone())
        clean = x != self.mask_id
        agree = ((self.seqs.unsqueeze(0) == x.unsqueeze(1)) | ~clean.unsqueeze(1)).all(-1)  # [B, S]
        marg = torch.einsum("bs,slv->blv", agree * self.probs, self.onehot)
        logp = (marg / marg.sum(-1, keepdim=True)).log() * self.power
        return torch.cat([logp, torch.full_like(logp[..., :1], -math.inf)], dim=-1)


class TimeRecorder(EnumeratedOracle):
    time_conditioned = True

    def __call__(self, x, attention_mask=None, t=None):
        self.times.append((x.clone(), t.clone()))
        return super().__call__(x)


def exact_estimator_mean(denoiser, x, prompt_len=0):
    """The exact expectation of the discrete estimator for a time-free denoiser and each row of x
    ``[N, L]``, by enumerating all masks: sum_k 1/k E_{|M|=k} sum_{l in M} -log q(x_l | x outside M)."""
    n, length = x.shape
    resp = length - prompt_len
    subsets = [m for m in itertools.product([False, True], repeat=resp) if any(m)]
    masks = torch.tensor([[False] * prompt_len + list(m) for m in subsets])  # [K, L]
    xs = x.repeat_interleave(len(masks), 0)  # row i * K + j: sequence i under mask j
    masks = masks.repeat(n, 1)
    logits = denoiser(xs.masked_fill(masks, denoiser.mask_id))
    logp = torch.log_softmax(logits, -1).gather(-1, xs.unsqueeze(-1)).squeeze(-1)
    per = torch.where(masks, -logp, torch.zeros_like(logp)).sum(1)
    k = masks.sum(1).double()
    n_subsets = torch.tensor([math.comb(resp, j) for j in range(resp + 1)], dtype=torch.float64)[masks.sum(1)]
    return (per / k / n_subsets).view(n, -1).sum(1)


def mean_and_se(draws):
    return draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])


@pytest.fixture(scope="module")
def oracle():
    return EnumeratedOracle(vocab=3, length=4, seed=0)


def _test_sequences(oracle):
    # the most and least probable sequences and two in between
    order = oracle.probs.argsort(descending=True)
    return oracle.seqs[order[[0, 1, 40, -1]]]


# --------------------------------------------------------------------------- discrete ELBO (mdm.elbo)
def test_exact_estimator_mean_is_minus_log_p_for_the_exact_oracle(oracle):
    # Sanity of the test helper itself: any-order chain rule.
    torch.testing.assert_close(exact_estimator_mean(oracle, oracle.seqs), -oracle.log_prob(oracle.seqs),
                               rtol=0, atol=1e-10)


def test_elbo_is_unbiased_for_an_exact_oracle(oracle):
    # 2,000 draws per sequence; the mean is within 3 standard errors of the true -log p(x).
    x = _test_sequences(oracle)
    draws = elbo_draws(oracle, x, samples=2000, seed=0)
    assert draws.shape == (2000, 4) and draws.dtype == torch.float64
    mean, se = mean_and_se(draws)
    truth = -oracle.log_prob(x)
    assert ((mean - truth).abs() <= 3 * se).all(), (mean, truth, se)
    assert (se < 0.03 * truth).all()  # tight enough to catch a bias of a few percent
    # mdm.elbo is the mean of the same draws
    torch.testing.assert_close(mdm.elbo(oracle, x, samples=2000, seed=0), mean, rtol=1e-12, atol=0)


def test_elbo_bound_holds_strictly_for_a_wrong_denoiser(oracle):
    wrong = EnumeratedOracle(vocab=3, length=4, seed=0, power=0.5)  # conditionals flattened
    x = _test_sequences(oracle)[:2]
    draws = elbo_draws(wrong, x, samples=2000, seed=1)
    mean, se = mean_and_se(draws)
    exact = exact_estimator_mean(wrong, x)
    assert ((mean - exact).abs() <= 3 * se).all()  # unbiased for any denoiser
    truth = -oracle.log_prob(x)
    assert (mean - truth > 10 * se).all(), (mean, truth, se)
    # in expectation over x ~ p (exact, every sequence) the bound exceeds the entropy: Gibbs
    all_exact = exact_estimator_mean(wrong, oracle.seqs)
    entropy = -(oracle.probs * oracle.probs.log()).sum()
    assert (oracle.probs * all_exact).sum() > entropy + 0.05


def test_elbo_with_prompt_scores_the_conditional_and_never_masks_the_prompt(oracle):
    x = _test_sequences(oracle)
    prompt_len = 2
    oracle.inputs.clear()
    draws = elbo_draws(oracle, x, samples=2000, prompt_len=prompt_len, seed=2)
    assert all((inp[:, :prompt_len] != oracle.mask_id).all() for inp in oracle.inputs)
    prefix = (oracle.seqs[:, :prompt_len].unsqueeze(0) == x[:, None, :prompt_len]).all(-1)  # [4, S]
    truth = -(oracle.log_prob(x) - (prefix * oracle.probs).sum(1).log())
    mean, se = mean_and_se(draws)
    assert ((mean - truth).abs() <= 3 * se).all(), (mean, truth, se)


def test_elbo_is_deterministic_and_independent_of_chunking(oracle):
    x = _test_sequences(oracle)
    a = elbo_draws(oracle, x, samples=10, seed=3)
    for max_rows in (1, 7):
        torch.testing.assert_close(elbo_draws(oracle, x, samples=10, seed=3, max_rows=max_rows), a,
                                   rtol=1e-14, atol=0)
    assert not torch.equal(elbo_draws(oracle, x, samples=10, seed=4), a)


def test_elbo_passes_the_masked_fraction_to_time_conditioned_denoisers():
    rec = TimeRecorder(vocab=3, length=4, seed=0)
    rec.times = []
    x = rec.seqs[:3]
    elbo(rec, x, samples=20, prompt_len=1, seed=5)
    for xt, t in rec.times:
        frac = (xt == rec.mask_id).sum(1).float() / 3  # L' = 3 response positions
        torch.testing.assert_close(t, frac)


def test_elbo_with_an_hmm_from_mdm_languages():
    languages = pytest.importorskip("mdm.languages")
    hmm = languages.HMM.random(3, 4, seed=0)
    x = hmm.sample(3, 6, generator=torch.Generator().manual_seed(0))
    draws = elbo_draws(hmm.denoiser(), x, samples=2000, seed=6)
    mean, se = mean_and_se(draws)
    truth = -hmm.log_prob(x).double()
    assert ((mean - truth).abs() <= 3 * se).all(), (mean, truth, se)


def test_elbo_input_validation(oracle):
    x = oracle.seqs[:2]
    with pytest.raises(mdm.ConfigError):
        elbo(oracle, x, samples=0)
    with pytest.raises(mdm.TokenError, match="prompt_len"):
        elbo(oracle, x, prompt_len=4)
    with pytest.raises(mdm.TokenError, match="prompt_len"):
        elbo(oracle, x, prompt_len=-1)
    with pytest.raises(mdm.TokenError):
        elbo(oracle, x.float())
    with pytest.raises(mdm.TokenError, match="mask token"):
        elbo(oracle, x.masked_fill(torch.eye(2, 4, dtype=torch.bool), oracle.mask_id))
    with pytest.raises(mdm.TokenError, match="outside"):
        elbo(oracle, x + 5)
    with pytest.raises(mdm.ModelConfigError, match="vocab_size"):
        elbo(lambda x, attention_mask=None: x, x)


# --------------------------------------------------------------------------- continuous NELBO
@pytest.mark.parametrize(
    "schedule, sampler",
    [(Linear(), UniformTime()), (Cosine(), StratifiedTime()), (Polynomial(3.0), AntitheticTime()),
     (BetaEnergy(0.9, 0.3), UniformTime(eps=0.0))],
    ids=["linear-uniform", "cosine-stratified", "poly3-antithetic", "beta-uniform-eps0"],
)
def test_continuous_nelbo_matches_the_likelihood_for_an_exact_oracle(oracle, schedule, sampler):
    # The NELBO of a time-free exact denoiser is -log p(x) whatever the schedule's shape.
    # 4,000 rows per sequence; mean within 3 standard errors (the eps = 1e-3 cut-off shifts the mean by
    # < 0.1%, far below that); the discrete estimator agrees likewise.
    n = 4000
    for x in _test_sequences(oracle)[:2]:
        out = diffusion_loss(oracle, x.repeat(n, 1), schedule=schedule, time_sampler=sampler,
                             generator=torch.Generator().manual_seed(7))
        mean, se = out.per_sample.mean().item(), out.per_sample.std().item() / math.sqrt(n)
        truth = -oracle.log_prob(x).item()
        assert abs(mean - truth) <= 3 * se, (mean, truth, se)
        assert se < 0.25
        assert out.loss.item() == pytest.approx(out.per_sample.sum().item() / (4 * n), rel=1e-12)


def test_loss_normalizations_match_the_sft_formula(oracle):
    # normalize="sequence" with a linear schedule is 1/(P t) * sum over masked of CE (LLaDA SFT,
    # StableDLLM); recompute it by hand from the returned t and mask.
    x0 = oracle.seqs[torch.tensor([3, 17, 50, 80, 44, 9])]
    eligible = torch.ones(6, 4, dtype=torch.bool)
    eligible[:3, :2] = False  # three rows with a 2-token prompt
    out = diffusion_loss(oracle, x0, eligible=eligible, normalize="sequence",
                         generator=torch.Generator().manual_seed(8))
    assert isinstance(out, LossOutput)
    xt = x0.masked_fill(out.masked, oracle.mask_id)
    logp = torch.log_softmax(oracle(xt), -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
    ce = torch.where(out.masked, -logp, torch.zeros_like(logp)).sum(1)
    p_count = eligible.sum(1).double()
    expected = ce / (p_count * out.t.double())
    torch.testing.assert_close(out.per_sample, expected, rtol=1e-6, atol=1e-9)
    assert out.loss.item() == pytest.approx(expected.mean().item(), rel=1e-6)
    assert not (out.masked & ~eligible).any()
    assert out.num_eligible.item() == 18 and out.num_masked.item() == out.masked.sum().item()
    # same draws, token normalization: per-sequence sums over the batch's eligible-token count
    tok = diffusion_loss(oracle, x0, eligible=eligible, normalize="tokens",
                         generator=torch.Generator().manual_seed(8))
    assert torch.equal(tok.masked, out.masked) and torch.equal(tok.t, out.t)
    torch.testing.assert_close(tok.per_sample, expected * p_count, rtol=1e-6, atol=1e-9)
    assert tok.loss.item() == pytest.approx((expected * p_count).sum().item() / 18, rel=1e-6)


def test_importance_weights_scale_each_sample(oracle):
    class Weighted:
        def __call__(self, batch_size, *, generator=None, device=None):
            t, _ = UniformTime()(batch_size, generator=generator, device=device)
            return t, torch.linspace(0.5, 2.0, batch_size)

    x0 = oracle.seqs[:8]
    plain = diffusion_loss(oracle, x0, generator=torch.Generator().manual_seed(9))
    weighted = diffusion_loss(oracle, x0, time_sampler=Weighted(), generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(weighted.per_sample, plain.per_sample * torch.linspace(0.5, 2.0, 8).double())


# --------------------------------------------------------------------------- trainable-model paths
class TinyDenoiser(torch.nn.Module):
    """Embedding, a mean-pooled context mix, a head; optional cheap masked-only output and time input."""

    def __init__(self, vocab_size=7, dim=8, *, supports_output_mask=True, time_conditioned=False, seed=0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.emb = torch.nn.Embedding(vocab_size, dim)
            self.mix = torch.nn.Linear(dim, dim)
            self.head = torch.nn.Linear(dim, vocab_size)
        self.vocab_size, self.mask_id = vocab_size, vocab_size - 1
        self.supports_output_mask, self.time_conditioned = supports_output_mask, time_conditioned
        self.calls = []

    def forward(self, x, attention_mask=None, t=None, output_mask=None):
        self.calls.append({"output_mask": output_mask, "t": t, "attention_mask": attention_mask})
        h = self.emb(x)
        keep = torch.ones_like(x, dtype=h.dtype) if attention_mask is None else attention_mask.to(h.dtype)
        ctx = (h * keep.unsqueeze(-1)).sum(1, keepdim=True) / keep.sum(1).clamp(min=1)[:, None, None]
        h = torch.tanh(h + self.mix(ctx))
        if self.time_conditioned:
            h = h + t[:, None, None]
        if output_mask is not None:
            h = h[output_mask]
        return self.head(h)


def mask_nothing(mask_prob, *, generator=None):
    return torch.zeros_like(mask_prob, dtype=torch.bool)


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("time_conditioned", [False, True])
@pytest.mark.parametrize("normalize", ["tokens", "sequence"])
def test_masked_only_logits_equal_the_full_path(time_conditioned, normalize):
    model = TinyDenoiser(time_conditioned=time_conditioned)
    x0 = torch.randint(0, 6, (5, 12), generator=torch.Generator().manual_seed(10))
    attention_mask = torch.ones(5, 12, dtype=torch.long)
    attention_mask[1, 9:] = 0
    outs, grads = [], []
    for masked_only in (True, False):
        model.zero_grad()
        model.calls.clear()
        out = diffusion_loss(model, x0, attention_mask=attention_mask, normalize=normalize,
                             masked_logits_only=masked_only, generator=torch.Generator().manual_seed(11))
        out.loss.backward()
        (call,) = model.calls
        assert (call["output_mask"] is not None) == masked_only
        assert call["attention_mask"] is attention_mask
        assert (call["t"] is not None) == time_conditioned
        if time_conditioned:
            assert torch.equal(call["t"], out.t)
        outs.append(out)
        grads.append(_grads(model))
    assert torch.equal(outs[0].masked, outs[1].masked)
    assert not outs[0].masked[1, 9:].any()  # padding never masked
    assert outs[0].num_eligible.item() == 57
    torch.testing.assert_close(outs[0].loss, outs[1].loss)
    torch.testing.assert_close(outs[0].per_sample, outs[1].per_sample)
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b)


def test_models_without_output_mask_support_get_the_full_path():
    model = TinyDenoiser(supports_output_mask=False)
    x0 = torch.randint(0, 6, (3, 8), generator=torch.Generator().manual_seed(12))
    diffusion_loss(model, x0, masked_logits_only=True, generator=torch.Generator().manual_seed(13))
    assert model.calls[0]["output_mask"] is None


def test_the_mask_token_is_never_predicted():
    class LovesMask(torch.nn.Module):
        vocab_size, mask_id = 5, 4

        def forward(self, x, attention_mask=None):
            logits = torch.zeros(*x.shape, 5)
            logits[..., 4] = 100.0  # would take all the mass without SUBS
            return logits

    x0 = torch.randint(0, 4, (4, 6), generator=torch.Generator().manual_seed(14))
    out = diffusion_loss(LovesMask(), x0, normalize="tokens", generator=torch.Generator().manual_seed(15))
    # every masked token costs log 4 (uniform over the 4 real tokens) times its weight 1/t
    expected = (out.masked.sum(1) * math.log(4) / out.t).double()
    torch.testing.assert_close(out.per_sample.double(), expected, rtol=1e-5, atol=1e-6)


def test_rows_with_nothing_masked_and_t_zero_are_safe():
    class NoneInFirstRow:
        def __call__(self, mask_prob, *, generator=None):
            masked = BernoulliMask()(mask_prob, generator=generator)
            masked[0] = False
            return masked

    class ZeroTimes:
        def __call__(self, batch_size, *, generator=None, device=None):
            t = torch.rand(batch_size, generator=generator)
            t[:2] = 0.0  # weight 1/t = inf, but nothing can be masked there
            return t, torch.ones(batch_size)

    model = TinyDenoiser()
    x0 = torch.randint(0, 6, (6, 10), generator=torch.Generator().manual_seed(16))
    for sampler_kw in ({"mask_sampler": NoneInFirstRow()}, {"time_sampler": ZeroTimes()}):
        model.zero_grad()
        out = diffusion_loss(model, x0, generator=torch.Generator().manual_seed(17), **sampler_kw)
        out.loss.backward()
        assert out.per_sample[0] == 0 and torch.isfinite(out.loss)
        assert all(torch.isfinite(g).all() for g in _grads(model))

    # nothing masked anywhere: the loss is an exact 0 that still backpropagates
    model.zero_grad()
    out = diffusion_loss(model, x0, mask_sampler=mask_nothing, generator=torch.Generator().manual_seed(18))
    out.loss.backward()
    assert out.loss.item() == 0 and out.num_masked.item() == 0
    assert all((g == 0).all() for g in _grads(model))


def test_same_generator_same_loss():
    model = TinyDenoiser()
    x0 = torch.randint(0, 6, (4, 10), generator=torch.Generator().manual_seed(19))
    a = diffusion_loss(model, x0, generator=torch.Generator().manual_seed(20))
    b = diffusion_loss(model, x0, generator=torch.Generator().manual_seed(20))
    assert torch.equal(a.masked, b.masked) and torch.equal(a.loss, b.loss)


def test_diffusion_loss_input_validation():
    model = TinyDenoiser()
    x0 = torch.randint(0, 6, (2, 5), generator=torch.Generator().manual_seed(21))
    with pytest.raises(mdm.ConfigError, match="normalize"):
        diffusion_loss(model, x0, normalize="batch")
    with pytest.raises(mdm.TokenError, match="mask token"):
        diffusion_loss(model, x0.masked_fill(torch.eye(2, 5, dtype=torch.bool), model.mask_id))
    # a mask id where nothing is eligible (e.g. a prompt placeholder) is not scored, so it is allowed
    eligible = ~torch.eye(2, 5, dtype=torch.bool)
    diffusion_loss(model, x0.masked_fill(~eligible, model.mask_id), eligible=eligible)
    with pytest.raises(mdm.TokenError, match="eligible"):
        diffusion_loss(model, x0, eligible=eligible.long())
    with pytest.raises(mdm.DataError, match="no eligible"):
        diffusion_loss(model, x0, eligible=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(mdm.TokenError, match="attention_mask"):
        diffusion_loss(model, x0, attention_mask=torch.ones(2, 4))
    with pytest.raises(mdm.TokenError):
        diffusion_loss(model, x0[0])

    class BadShape(TinyDenoiser):
        def forward(self, x, attention_mask=None, t=None, output_mask=None):
            return super().forward(x, attention_mask, t, None)  # ignores output_mask

    with pytest.raises(mdm.ModelConfigError, match="output_mask"):
        diffusion_loss(BadShape(), x0, generator=torch.Generator().manual_seed(22))


def test_masked_only_path_on_the_transformer_denoiser():
    transformer = pytest.importorskip("mdm.models.transformer")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformer.TransformerDenoiser(transformer.TransformerConfig(
            vocab_size=11, mask_id=10, d_model=16, n_layers=1, n_heads=2, max_len=16, time_conditioned=True))
    x0 = torch.randint(0, 10, (4, 12), generator=torch.Generator().manual_seed(23))
    attention_mask = torch.ones(4, 12, dtype=torch.bool)
    attention_mask[2, 8:] = False
    losses, grads = [], []
    for masked_only in (True, False):
        model.zero_grad()
        out = diffusion_loss(model, x0, attention_mask=attention_mask, masked_logits_only=masked_only,
                             generator=torch.Generator().manual_seed(24))
        out.loss.backward()
        losses.append(out.loss)
        grads.append(_grads(model))
    torch.testing.assert_close(losses[0], losses[1])
    for a, b in zip(grads[0], grads[1]):
        torch.testing.assert_close(a, b)
    # an all-clean draw still runs the model (empty output mask) and backpropagates zeros
    model.zero_grad()
    out = diffusion_loss(model, x0, mask_sampler=mask_nothing)
    out.loss.backward()
    assert out.loss.item() == 0


@pytest.mark.gpu
def test_a_cpu_generator_gives_the_same_draws_on_cuda(oracle):
    model = TinyDenoiser()
    x0 = torch.randint(0, 6, (8, 10), generator=torch.Generator().manual_seed(25))
    cpu = diffusion_loss(model, x0, generator=torch.Generator().manual_seed(26))
    gpu = diffusion_loss(model.cuda(), x0.cuda(), generator=torch.Generator().manual_seed(26))
    assert torch.equal(cpu.masked, gpu.masked.cpu()) and torch.equal(cpu.t, gpu.t.cpu())
    torch.testing.assert_close(cpu.loss, gpu.loss.cpu())
    x = _test_sequences(oracle)
    torch.testing.assert_close(elbo(oracle, x, samples=20, seed=0),
                               elbo(_CudaOracle(oracle), x.cuda(), samples=20, seed=0).cpu())


class _CudaOracle:
    def __init__(self, oracle):
        self.oracle, self.vocab_size, self.mask_id = oracle, oracle.vocab_size, oracle.mask_id

    def __call__(self, x, attention_mask=None):
        return self.oracle(x.cpu()).to(x.device)


# --------------------------------------------------------------------------- per-position schedules
class PerPositionPoly(Schedule):
    """alpha_l(t) = 1 - t**w_l (learned-order paper's per-position schedule); ``w`` may need grad."""

    def __init__(self, w):
        self.w = w

    def _alpha(self, t):
        return 1.0 - t**self.w

    def _dalpha(self, t):
        return -self.w * t ** (self.w - 1.0)

    def _inverse(self, a):  # pragma: no cover - not one time for every position
        raise NotImplementedError


def test_per_position_schedule_nelbo_matches_the_likelihood_for_an_exact_oracle(oracle):
    # Position l masked with probability t^w_l and weighted by w_l / t: for an exact denoiser the
    # multivariate NELBO is -log p(x) (a mixture of exact autoregressive orders).  4,000 rows, 3 SE.
    # Weighting by the shared 1/t instead (masking per position) is off by many SE.
    schedule = PerPositionPoly(torch.tensor([1.0, 1.5, 2.0, 3.0], dtype=torch.float64))
    n = 4000
    for x in _test_sequences(oracle)[:2]:
        out = diffusion_loss(oracle, x.repeat(n, 1), schedule=schedule, time_sampler=UniformTime(eps=0.0),
                             generator=torch.Generator().manual_seed(3))
        mean, se = out.per_sample.mean().item(), out.per_sample.std().item() / math.sqrt(n)
        truth = -oracle.log_prob(x).item()
        assert abs(mean - truth) <= 3 * se and se < 0.3, (mean, truth, se)
        p_mask = out.masked.double().mean(0)  # per-position masking rate E[t^w] = 1 / (w + 1)
        torch.testing.assert_close(p_mask, 1 / (schedule.w + 1), atol=0.025, rtol=0)


def test_per_position_schedule_gradients_flow_through_weights_and_mask_log_prob(oracle):
    w = torch.tensor([1.0, 1.5, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    x = _test_sequences(oracle)[:1].repeat(64, 1)
    out = diffusion_loss(oracle, x, schedule=PerPositionPoly(w), generator=torch.Generator().manual_seed(0),
                         mask_log_prob=True)
    (grad_path,) = torch.autograd.grad(out.loss, w, retain_graph=True)
    (grad_score,) = torch.autograd.grad(out.mask_log_prob.sum(), w)
    assert torch.isfinite(grad_path).all() and grad_path.abs().sum() > 0
    assert torch.isfinite(grad_score).all() and grad_score.abs().sum() > 0


def test_mask_log_prob_is_the_bernoulli_log_likelihood_of_the_drawn_mask(oracle):
    x = _test_sequences(oracle).repeat(8, 1)
    eligible = torch.ones_like(x, dtype=torch.bool)
    eligible[:, 0] = False  # a prompt position: never masked, contributes nothing
    out = diffusion_loss(oracle, x, schedule=Cosine(), eligible=eligible, mask_log_prob=True,
                         generator=torch.Generator().manual_seed(2))
    p = (1 - Cosine().alpha(out.t.double())).unsqueeze(1).expand_as(x)
    m = out.masked.double()
    expected = ((m * p.log() + (1 - m) * (1 - p).log()) * eligible).sum(1)
    torch.testing.assert_close(out.mask_log_prob.double(), expected, rtol=1e-5, atol=1e-6)
    assert diffusion_loss(oracle, x, generator=torch.Generator().manual_seed(2)).mask_log_prob is None


def test_a_schedule_of_the_wrong_width_is_a_clear_error(oracle):
    with pytest.raises(mdm.ScheduleError, match="per position"):
        diffusion_loss(oracle, _test_sequences(oracle), schedule=PerPositionPoly(torch.ones(3)))


# --------------------------------------------------------------------------- paired masks
def mirrored(mask_prob, *, generator=None):
    """MIRROR's pair (Jia et al., arXiv 2511.18159) from one shared uniform per token: U < p and
    1 - U < p.  Each copy's marginal is Bernoulli(p)."""
    u = torch.rand(mask_prob.shape, dtype=torch.float64, generator=generator)
    return torch.stack([u < mask_prob, (1 - u) < mask_prob])


class Fixed:
    def __init__(self, value):
        self.value = value

    def __call__(self, *args, **kwargs):
        return self.value


def test_paired_masks_average_the_two_single_mask_losses(oracle):
    x = _test_sequences(oracle).repeat(4, 1)
    t, ones = torch.linspace(0.2, 0.95, len(x)), torch.ones(len(x))
    times = Fixed((t, ones))
    probs = (1 - Cosine().alpha(t)).unsqueeze(1).expand_as(x)
    pair = mirrored(probs, generator=torch.Generator().manual_seed(0))
    oracle.inputs.clear()
    both = diffusion_loss(oracle, x, schedule=Cosine(), time_sampler=times, mask_sampler=Fixed(pair),
                          mask_log_prob=True)
    assert len(oracle.inputs) == 1 and oracle.inputs[0].shape == (2 * len(x), 4)  # one forward pass
    singles = [diffusion_loss(oracle, x, schedule=Cosine(), time_sampler=times, mask_sampler=Fixed(m),
                              mask_log_prob=True) for m in pair]
    torch.testing.assert_close(both.per_sample, (singles[0].per_sample + singles[1].per_sample) / 2)
    torch.testing.assert_close(both.loss, (singles[0].loss + singles[1].loss) / 2)
    assert both.masked.shape == (2, *x.shape) and torch.equal(both.masked, pair)
    torch.testing.assert_close(both.mask_log_prob, torch.stack([s.mask_log_prob for s in singles]))
    assert both.num_masked == pair.sum()


def test_mirrored_pairs_are_unbiased_for_an_exact_oracle(oracle):
    n = 4000
    for x in _test_sequences(oracle)[:2]:
        out = diffusion_loss(oracle, x.repeat(n, 1), mask_sampler=mirrored,
                             generator=torch.Generator().manual_seed(5))
        mean, se = out.per_sample.mean().item(), out.per_sample.std().item() / math.sqrt(n)
        assert abs(mean + oracle.log_prob(x).item()) <= 3 * se, (mean, se)


def test_a_mask_sampler_of_the_wrong_shape_is_a_clear_error(oracle):
    x = _test_sequences(oracle)
    with pytest.raises(mdm.ConfigError, match="mask sampler"):
        diffusion_loss(oracle, x, mask_sampler=Fixed(torch.zeros(4, dtype=torch.bool)))
