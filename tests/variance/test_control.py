"""ISAD's likelihood-ratio reweighting, the EMA control variate's (null) gradient effect, clipping."""

import itertools

import pytest
import torch

from mdm.errors import MDMError
from mdm.languages import Enumerated
from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.variance import ISAD, EMAControlVariate, UniformTime, clip_per_sample


@pytest.fixture(scope="module")
def oracle():
    # token 2 plays the answer delimiter; it sits at different positions in different strings
    seqs = torch.tensor([s for s in itertools.product([0, 1, 2], repeat=4) if s.count(2) == 1])
    probs = torch.rand(len(seqs), generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 2
    lang = Enumerated(seqs, probs / probs.sum())
    return lang, lang.sample(4, 4, torch.Generator().manual_seed(1))


def test_isad_is_unbiased_and_masks_delimiters_more(oracle):
    # 6,000 draws per sequence, t ~ U[0, 1]: with an exact denoiser the NELBO is -log p(x0), and the
    # reweighted ISAD estimate hits it within 4 SE per sequence; delimiters are masked at ~E[min(1, t +
    # 0.2)] = 0.68 instead of 0.5, other tokens at 0.5.
    lang, x = oracle
    n = 6000
    isad = ISAD(delimiters=(2,), delta=0.2)
    out = isad.loss(lang.denoiser(), x.repeat(n, 1), time_sampler=UniformTime(eps=0.0, dtype=torch.float64),
                    generator=torch.Generator().manual_seed(2))
    draws = out.per_sample.view(n, 4)
    se = draws.std(0) / n ** 0.5
    assert ((draws.mean(0) + lang.log_prob(x)).abs() < 4 * se).all()
    delim = x.repeat(n, 1) == 2
    assert abs(out.masked[delim].double().mean() - 0.68) < 0.01
    assert abs(out.masked[~delim].double().mean() - 0.5) < 0.01


def test_isad_without_weights_would_be_biased(oracle):
    # The check above can fail: dropping the likelihood ratio moves the mean by many SE.
    lang, x = oracle
    n = 6000
    isad = ISAD(delimiters=(2,), delta=0.6)
    t, _ = UniformTime(eps=0.0, dtype=torch.float64)(4 * n, generator=torch.Generator().manual_seed(3))
    probs = t.unsqueeze(1).expand(-1, 4)
    masked, log_w = isad.draw(x.repeat(n, 1), t, probs, generator=torch.Generator().manual_seed(4))
    assert (log_w != 0).any()

    class Given:
        def __init__(self, v):
            self.v = v

        def __call__(self, *a, **k):
            return self.v

    out = diffusion_loss(lang.denoiser(), x.repeat(n, 1), time_sampler=Given((t, torch.ones_like(t))),
                         mask_sampler=Given(masked))
    draws = out.per_sample.view(n, 4)
    gap = (draws.mean(0) + lang.log_prob(x)).abs() / (draws.std(0) / n ** 0.5)
    assert (gap > 4).any()


def test_isad_bad_settings():
    for bad in (dict(delta=-0.1), dict(delta=1.5), dict(delimiters=()), dict(delimiters=(-1,))):
        with pytest.raises(MDMError):
            ISAD(**{"delimiters": (2,), **bad})


def test_detached_ema_baseline_leaves_the_gradient_unchanged():
    # Measured, not assumed: gradient of mean(l - b) vs mean(l) for a small transformer, after the
    # baseline has warmed up.  The difference is exactly 0.0 (the baseline is a constant to autograd).
    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=5, mask_id=4, d_model=16, n_layers=1, n_heads=2))
    x = torch.randint(0, 4, (16, 6), generator=torch.Generator().manual_seed(0))
    cv = EMAControlVariate(bins=4, decay=0.5)

    def grads(use_cv):
        model.zero_grad()
        out = diffusion_loss(model, x, normalize="sequence", generator=torch.Generator().manual_seed(5))
        loss = cv(out.per_sample, out.t).mean() if use_cv else out.per_sample.mean()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()]), out

    for _ in range(3):
        grads(True)  # warm the baseline up
    assert cv.seen.any() and cv.baseline.abs().max() > 0
    g_cv, out = grads(True)
    g_plain, _ = grads(False)
    assert torch.equal(g_cv, g_plain)
    centred = cv(out.per_sample.detach(), out.t)  # it does change the value (and its spread)
    assert not torch.equal(centred, out.per_sample.detach())


def test_clip_and_cv_bad_input():
    v = torch.tensor([1.0, 12.0, 3.0], requires_grad=True)
    c = clip_per_sample(v, 10.0)
    assert c.tolist() == [1.0, 10.0, 3.0]
    c.sum().backward()
    assert v.grad.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(MDMError):
        clip_per_sample(v, 0)
    with pytest.raises(MDMError):
        EMAControlVariate(bins=0)
    with pytest.raises(MDMError):
        EMAControlVariate(decay=1.0)
